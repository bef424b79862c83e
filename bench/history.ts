// Bench (issue 18): time travel. Listing 1,000 versions of one path (target ≤ 50 ms), a
// checkpoint of a workspace with 2,000 drafts (≤ 100 ms), restore of a 2,000-file project to an
// earlier point vs `git checkout` of the same commit in a local clone (≤ 1.0×), and a diff of 50
// changed files between two commits vs `git diff --stat` + `git diff` in that clone (≤ 1.0×).
// Versions are not coalesced here (HISTORY_COALESCE_SECONDS=0), so each write is one.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { median, ms, ratio, run, searchIndexed, time, type Call } from './timing.js';

export interface HistoryBench {
  /** A client on a Stowage whose versions do not coalesce. */
  call: Call;
  /** Its database, settled (CHECKPOINT, VACUUM) before the timed steps, as the load bench is. */
  databaseUrl: string;
  home: string;
  /** The bench's 2,000-file repository, its files' paths and contents, and git's auth flags. */
  url: string;
  auth: string[];
  paths: string[];
  content: (i: number, edit?: string) => string;
}

export async function benchHistory({
  call,
  databaseUrl,
  home,
  url,
  auth,
  paths,
  content,
}: HistoryBench): Promise<string[]> {
  const lines: string[] = [];

  // 1,000 versions of one path.
  await call('create_project', { name: 'hist-versions' });
  for (let i = 0; i < 1000; i++) {
    await call('write_file', { project: 'hist-versions', path: 'notes.md', content: `version ${i}\n` });
  }
  const listings: number[] = [];
  for (let r = 0; r < 5; r++) {
    listings.push(
      await time(() => call('file_history', { project: 'hist-versions', path: 'notes.md', limit: 1000 })),
    );
  }
  lines.push(
    `file_history of 1,000 versions of one path: ${ms(median(listings))} (median of 5; target ≤ 50 ms)`,
  );

  // A checkpoint of 2,000 drafts.
  await call('create_project', { name: 'hist-checkpoint' });
  const batches = (edit: string, of = paths) =>
    Array.from({ length: Math.ceil(of.length / 200) }, (_, b) =>
      of.slice(b * 200, b * 200 + 200).map((path) => ({ path, content: content(paths.indexOf(path), edit) })),
    );
  for (const files of batches('// draft\n')) await call('write_files', { project: 'hist-checkpoint', files });
  const checkpoints: number[] = [];
  for (let r = 0; r < 5; r++) {
    checkpoints.push(await time(() => call('checkpoint', { project: 'hist-checkpoint', name: `cp-${r}` })));
  }
  lines.push(
    `checkpoint of a workspace with 2,000 drafts: ${ms(median(checkpoints))} (median of 5; target ≤ 100 ms)`,
  );

  // The same history in Stowage and in a local clone: A (imported), B (every file changed), C (50).
  const project = 'hist-travel';
  await call('create_project', { name: project, remote: { url } });
  await call('checkpoint', { project, name: 'imported' });
  // Ten calls of 200 files each onto the 2,000 committed ones, then one commit of all 2,000:
  // printed whole, as each used to grow with the drafts or files already there (migrations 0027-28).
  const writeCalls: number[] = [];
  for (const files of batches('// all\n'))
    writeCalls.push(await time(() => call('write_files', { project, files })));
  const commitAll2000 = await time(() =>
    call('commit_task', { project, task: { id: 'h1', title: 'Change every file' }, push: false }),
  );
  lines.push(
    `write_files of 200 files into a 2,000-file project, 10 calls: first ${ms(writeCalls[0]!)}, last ${ms(writeCalls.at(-1)!)}; then commit_task of all 2,000 (no push): ${ms(commitAll2000)}`,
  );
  const fifty = paths.filter((_, i) => i % 40 === 0);
  for (const files of batches('// all\n// fifty\n', fifty)) await call('write_files', { project, files });
  await call('commit_task', { project, task: { id: 'h2', title: 'Change fifty' }, push: false });

  const clone = await mkdtemp(join(home, 'history-clone-'));
  const git = (...args: string[]) =>
    run('git', ['-C', clone, '-c', 'user.name=b', '-c', 'user.email=b@x', ...args]);
  await run('git', [...auth, 'clone', '--quiet', url, clone]);
  const a = (await git('rev-parse', 'HEAD')).stdout.trim();
  const commitAll = async (of: string[], edit: string, message: string) => {
    await Promise.all(of.map((path) => writeFile(join(clone, path), content(paths.indexOf(path), edit))));
    await git('add', '-A');
    await git('commit', '--quiet', '-m', message);
    return (await git('rev-parse', 'HEAD')).stdout.trim();
  };
  const b = await commitAll(paths, '// all\n', 'every file');
  const c = await commitAll(fifty, '// all\n// fifty\n', 'fifty');

  // The bench's earlier steps leave dirty pages and dead rows (the load bench, a 200 MB restore):
  // a checkpoint or vacuum falling inside one measurement would be charged to it alone.
  const admin = new pg.Client(databaseUrl);
  await admin.connect();
  await searchIndexed(
    { query: async <R>(text: string, params: unknown[]) => (await admin.query(text, params)).rows as R[] },
    project,
  );
  await admin.query('CHECKPOINT');
  await admin.query('VACUUM ANALYZE');
  await admin.end();
  const restores: number[] = [];
  const checkouts: number[] = [];
  for (let r = 0; r < 5; r++) {
    restores.push(await time(() => call('restore', { project, to: 'imported' })));
    await call('restore', { project, to: 'Task #h2' });
    checkouts.push(await time(() => git('checkout', '--quiet', a)));
    await git('checkout', '--quiet', c);
  }
  lines.push(
    `restore of 2,000 files to an earlier point (median of 5): ${ms(median(restores))} vs git checkout of that commit ${ms(median(checkouts))} → ${ratio(restores, checkouts)} (target ≤ 1.0×)`,
  );

  const diffs: number[] = [];
  const gitDiffs: number[] = [];
  for (let r = 0; r < 5; r++) {
    diffs.push(
      await time(() => call('diff', { project, from: 'Task #h1', to: 'Task #h2', max_chars: 1_000_000 })),
    );
    gitDiffs.push(
      await time(async () => {
        await git('diff', '--stat', b, c);
        await git('diff', b, c);
      }),
    );
  }
  lines.push(
    `diff of 50 changed files between two commits of 2,000: ${ms(median(diffs))} vs git diff --stat + git diff ${ms(median(gitDiffs))} → ${ratio(diffs, gitDiffs)} (target ≤ 1.0×)`,
  );
  return lines;
}
