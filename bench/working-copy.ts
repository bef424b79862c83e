// Bench (issue 20): working copies through the built CLI. `stowage checkout` of the 2,000-file
// project vs `git clone` of the same repository, and `stowage push-dir` vs `git add -A && git
// commit` of the same files: 50 of the 2,000 edited, and 2,000 new files into an empty project.
// Each CLI figure includes the process start and opening the storage, as a user would see it.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { median, ms, ratio, run, time, type Call } from './timing.js';

export interface WorkingCopyBench {
  call: Call;
  databaseUrl: string;
  home: string;
  /** The imported 2,000-file project, its repository and git's auth flags. */
  project: string;
  url: string;
  auth: string[];
  paths: string[];
  content: (i: number, edit?: string) => string;
}

export async function benchWorkingCopy(b: WorkingCopyBench): Promise<string[]> {
  const { home, auth, url, paths, content } = b;
  const cli = join(import.meta.dirname, '..', 'dist', 'index.js');
  const env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: b.databaseUrl,
    STOWAGE_HOME: home,
    LOG_LEVEL: 'warn',
  };
  const stowage = (...args: string[]) =>
    run(process.execPath, [cli, ...args], { env: { ...env, STOWAGE_PRINCIPAL: 'wc-bench' } });
  const git = (dir: string, ...args: string[]) =>
    run('git', ['-C', dir, '-c', 'user.name=b', '-c', 'user.email=b@x', ...args]);
  const fifty = paths.filter((_, i) => i % 40 === 0);
  const edit = (dir: string, of: string[], mark: string) =>
    Promise.all(of.map((p) => writeFile(join(dir, p), content(paths.indexOf(p), mark))));
  const lines: string[] = [];

  const checkouts: number[] = [];
  const clones: number[] = [];
  const pushes: number[] = [];
  const commits: number[] = [];
  for (let r = 0; r < 3; r++) {
    const copy = join(await mkdtemp(join(home, 'wc-')), 'copy');
    checkouts.push(await time(() => stowage('checkout', b.project, copy, '--workspace', `wc-${r}`)));
    const clone = join(await mkdtemp(join(home, 'wc-clone-')), 'clone');
    clones.push(await time(() => run('git', [...auth, 'clone', '--quiet', url, clone])));
    await edit(copy, fifty, `// wc ${r}\n`);
    await edit(clone, fifty, `// wc ${r}\n`);
    pushes.push(await time(() => stowage('push-dir', copy)));
    commits.push(
      await time(async () => {
        await git(clone, 'add', '-A');
        await git(clone, 'commit', '--quiet', '-m', 'fifty');
      }),
    );
    await rm(dirname(copy), { recursive: true, force: true });
    await rm(dirname(clone), { recursive: true, force: true });
  }
  lines.push(
    `stowage checkout of 2,000 files: ${ms(median(checkouts))} vs git clone ${ms(median(clones))} → ${ratio(checkouts, clones)} (median of 3)`,
    `stowage push-dir of 50 edited files of 2,000: ${ms(median(pushes))} vs git add -A && git commit ${ms(median(commits))} → ${ratio(pushes, commits)} (median of 3)`,
  );

  // 2,000 new files: an empty project checked out, filled and pushed; an empty repository, filled and committed.
  const fresh: number[] = [];
  const firstCommits: number[] = [];
  for (let r = 0; r < 3; r++) {
    await b.call('create_project', { name: `wc-fresh-${r}` });
    const copy = join(await mkdtemp(join(home, 'wc-')), 'copy');
    await stowage('checkout', `wc-fresh-${r}`, copy);
    const repo = await mkdtemp(join(home, 'wc-repo-'));
    await git(repo, 'init', '--quiet');
    for (const dir of [copy, repo]) {
      await Promise.all(
        paths.map(async (p, i) => {
          await mkdir(dirname(join(dir, p)), { recursive: true });
          await writeFile(join(dir, p), content(i));
        }),
      );
    }
    fresh.push(await time(() => stowage('push-dir', copy)));
    firstCommits.push(
      await time(async () => {
        await git(repo, 'add', '-A');
        await git(repo, 'commit', '--quiet', '-m', 'all');
      }),
    );
    await rm(dirname(copy), { recursive: true, force: true });
    await rm(repo, { recursive: true, force: true });
  }
  lines.push(
    `stowage push-dir of 2,000 new files: ${ms(median(fresh))} vs git add -A && git commit ${ms(median(firstCommits))} → ${ratio(fresh, firstCommits)} (median of 3)`,
  );
  return lines;
}
