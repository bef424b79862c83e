// npm run bench: measured figures, each beside the comparison it names, in one run on this
// machine (compare the ratios, not the absolute times, across machines).
//   1. embedded Postgres: initialise and start of a fresh STOWAGE_HOME
//   2. batch_read of 100 files in one call vs 100 read_file calls (seed 001: 100 files < 3 s)
//   3. autosave: write_file latency into a workspace (inline drafts)
//   4. import of a 2,000-file repository vs `git clone --depth 1` (target ≤ 0.6×), and the first
//      import (the only one that stores the blobs) beside its clone
//   5. commit_task of 50 changed files into it vs clone + write + add + commit + push (target ≤ 0.2×),
//      over the smart-HTTP server and over file://
//   6. zip_job of a 500-file job vs `zip -r` of the same files (target ≤ 1.0×)
//   7. archive and restore of a 200 MB project, with the peak RSS they add (target ≤ 64 MB)
//   8. 50 HTTP sessions autosaving 4 KiB files, group commit vs one write per transaction, and
//      50 clients of protocol revision 2026-07-28 (no sessions) beside the 2025-11-25 sessions
//      (target ≥ 2,500 acknowledged writes/s, p99 ≤ 50 ms, none missing)
//   9. a killed embedded postmaster: time to the first successful write (target ≤ 10 s)
//  10. spawn to the first tools/list over stdio vs the reference filesystem server (target ≤ 1.0×),
//      then sequential 4 KiB write_file calls over stdio vs the same server (target ≤ 2.0×), and
//      both servers' RSS after start and after the writes (target ≤ 1.2×) (single-write.ts)
//  11. history: listing 1,000 versions, a checkpoint of 2,000 drafts, restore vs git checkout and
//      diff vs git diff on 2,000 files (history.ts); its cost under load is part of 8.
//  12. backups: a daily backup of an unchanged 2,000-file project and of one with 50 changed
//      files, each vs `tar czf` of the same tree (backups.ts)
//  13. search_files over 1,000 files of ~9 KiB: a literal warm (target ≤ 20 ms) and first after a
//      restart (≤ 2× warm) vs grep -rF, and a regex vs grep -rE (search.ts)
// Git runs against a real smart-HTTP server on loopback (git http-backend), as in the tests.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { pino } from 'pino';
import { loadConfig, TOOLSETS } from '../src/config.js';
import { createGitAdapters } from '../src/git/index.js';
import { createServer } from '../src/server.js';
import { createFsArtifactStore } from '../src/store/blobs/artifact-store.js';
import { createBlobCache } from '../src/store/blobs/blob-cache.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { startEmbeddedPostgres } from '../src/store/db/embedded-postgres.js';
import { migrate } from '../src/store/db/migrate.js';
import { createSql } from '../src/store/db/sql.js';
import { createStowage } from '../src/store/stowage.js';
import { commitToBare, createBareRepo, readTree } from '../test/support/git-repos.js';
import { benchZip } from './jobs.js';
import { searchIndexed as waitForSearchTexts } from './timing.js';
import { benchHistory } from './history.js';
import { benchArchive } from './lifecycle.js';
import { benchBackups } from './backups.js';
import { benchRecovery } from './recovery.js';
import { benchSearch } from './search.js';
import { benchSingleWrite } from './single-write.js';
import { benchStartup } from './startup.js';
import { benchThroughput } from './throughput.js';
import { benchWorkingCopy } from './working-copy.js';
import { basicAuth, startGitServer } from '../test/support/git-server.js';

const run = promisify(execFile);
const logger = pino({ level: 'silent' });
const TOKEN = 'bench-token';
const ms = (t: number) => `${t.toFixed(1)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const time = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

const home = await mkdtemp(join(tmpdir(), 'stowage-bench-'));
await chmod(home, 0o755);
const remotes = join(home, 'remotes');
const server = await startGitServer({ root: remotes, token: TOKEN });
try {
  // 1. Embedded Postgres.
  const initAndStart = await time(async () => (await startEmbeddedPostgres({ home, logger })).release());
  let pg!: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  const start = await time(async () => (pg = await startEmbeddedPostgres({ home, logger })));
  console.log(
    `embedded postgres: initialise + start ${ms(initAndStart)}, start of an initialised home ${ms(start)}`,
  );

  const sql = createSql(pg.url);
  pg.onMoved((url) => sql.repoint(url)); // as src/runtime.ts does: 9. kills the postmaster
  await migrate(sql);
  // The token is scoped to the loopback git server's origin, which is allowed as a git host.
  const config = loadConfig({
    GIT_ALLOWED_PROTOCOLS: 'http,file',
    GIT_CREDENTIALS: `${server.url}=${TOKEN}`,
    GIT_ALLOWED_HOSTS: '127.0.0.1',
  });
  const blobs = createFsBlobStore(join(home, 'blobs'));
  // A client on its own Stowage, so each measurement can start with a cold blob cache.
  const open = async (db = sql) => {
    const stowage = createStowage({
      sql: db,
      blobs,
      artifacts: createFsArtifactStore(join(home, 'artifacts')),
      cache: createBlobCache(blobs, config.cacheMaxBytes),
      limits: config.limits,
      git: createGitAdapters(config.git, home),
      lifecycle: config.lifecycle,
      logger,
    });
    const mcp = createServer({
      stowage,
      principal: 'bench',
      toolsets: [...TOOLSETS],
      readOnly: false,
      logger,
    });
    const [c, s] = InMemoryTransport.createLinkedPair();
    await mcp.connect(s);
    const client = new Client({ name: 'bench', version: '1' });
    await client.connect(c);
    const call = async (name: string, args: Record<string, unknown>) => {
      const r = await client.callTool({ name, arguments: args });
      if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`);
      return r.structuredContent as Record<string, any>;
    };
    return { client, call };
  };
  const { client, call } = await open();

  // A 2,000-file repository (~4 KiB each) on the loopback smart-HTTP server.
  const line = 'export const value = compute(input, options); // a typical line of source\n';
  const content = (i: number, edit = '') => `// file ${i}\n${line.repeat(55)}${edit}`;
  const files = Object.fromEntries(
    Array.from({ length: 2000 }, (_, i) => [`src/m${i % 40}/f${i}.ts`, content(i)]),
  );
  const repo = await createBareRepo(remotes, 'bench/app', files);
  const url = repo.url(server);
  const auth = ['-c', `http.extraHeader=Authorization: ${basicAuth(TOKEN)}`];

  // New content's search texts are recorded in the background, after the call that stored it:
  // waited for (and the first import's timed) before the next measurement.
  const searchIndexed = (project: string) => waitForSearchTexts(sql, project);

  // 4. Import vs a plain shallow clone, alternating, median of 3.
  const imports: number[] = [];
  const clones: number[] = [];
  const indexing: number[] = [];
  for (let r = 0; r < 3; r++) {
    imports.push(await time(() => call('create_project', { name: `bench-${r}`, remote: { url } })));
    indexing.push(await searchIndexed(`bench-${r}`));
    const dir = await mkdtemp(join(home, 'clone-'));
    clones.push(await time(() => run('git', [...auth, 'clone', '--quiet', '--depth', '1', url, dir])));
    await rm(dir, { recursive: true, force: true });
  }
  console.log(
    `import 2,000 files (create_project with remote): ${ms(median(imports))} vs git clone --depth 1 ${ms(median(clones))} → ${(median(imports) / median(clones)).toFixed(2)}× (target ≤ 0.6×); the first import's search texts were recorded in the background within ${ms(indexing[0]!)} after it answered`,
  );
  // Only the first import stores the 2,000 blobs; the other two find them stored already (the
  // median above). An import of new content costs what the first does.
  console.log(
    `  the first import alone (every blob new to the store): ${ms(imports[0]!)} vs its git clone --depth 1 ${ms(clones[0]!)} → ${(imports[0]! / clones[0]!).toFixed(2)}×`,
  );

  // 5. commit_task of 50 changed files vs the naive clone + write + add + commit + push, over the
  // smart-HTTP server and over file:// (where git serves the clone itself: see LOCAL_UPLOAD_PACK).
  const benchCommit = async (project: string, remote: string, gitArgs: string[]) => {
    const commits: number[] = [];
    const naive: number[] = [];
    for (let r = 0; r < 3; r++) {
      const changed = Array.from({ length: 50 }, (_, i) => ({
        path: `src/m${i % 40}/f${i * 37}.ts`,
        content: content(i * 37, `// ${r}\n`),
      }));
      await call('write_files', { project, files: changed });
      commits.push(
        await time(() => call('commit_task', { project, task: { id: `b${r}`, title: 'Bench change' } })),
      );
      naive.push(
        await time(async () => {
          const dir = await mkdtemp(join(home, 'naive-'));
          await run('git', [...gitArgs, 'clone', '--quiet', '--depth', '1', remote, dir]);
          await Promise.all(changed.map((f) => writeFile(join(dir, f.path), `${f.content}// naive\n`)));
          await run('git', ['-C', dir, 'add', '-A']);
          await run('git', [
            '-C',
            dir,
            '-c',
            'user.name=n',
            '-c',
            'user.email=n@x',
            'commit',
            '--quiet',
            '-m',
            'naive',
          ]);
          await run('git', [...gitArgs, '-C', dir, 'push', '--quiet', 'origin', 'HEAD:main']);
          await rm(dir, { recursive: true, force: true });
        }),
      );
      await call('sync_project', { project });
    }
    return `${ms(median(commits))} vs clone + write + add + commit + push ${ms(median(naive))} → ${(median(commits) / median(naive)).toFixed(2)}×`;
  };
  console.log(
    `commit_task 50 of 2,000 files, pushed: ${await benchCommit('bench-0', url, auth)} (target ≤ 0.2×)`,
  );
  const local = await createBareRepo(remotes, 'bench/app-local', files);
  await call('create_project', { name: 'bench-local', remote: { url: `file://${local.dir}` } });
  await searchIndexed('bench-local');
  console.log(
    `  the same against a file:// remote (cloned blob-less there too): ${await benchCommit('bench-local', `file://${local.dir}`, [])}`,
  );
  // The same commit when a teammate changed other lines of those 50 files first: their blobs are
  // fetched in one request and each file is merged three ways (git merge-file) before the push.
  const merges: number[] = [];
  for (let r = 0; r < 3; r++) {
    const tree = await readTree(repo.dir);
    const paths = Array.from({ length: 50 }, (_, i) => `src/m${i % 40}/f${i * 37}.ts`);
    const base = (path: string) => tree.get(path)!.content.toString('utf8');
    await call('write_files', {
      project: 'bench-0',
      files: paths.map((path) => ({ path, content: `${base(path)}// merge ${r}\n` })),
    });
    await commitToBare(
      repo.dir,
      Object.fromEntries(paths.map((path) => [path, base(path).replace('\n', ` by a teammate\n`)])),
    );
    merges.push(
      await time(() =>
        call('commit_task', { project: 'bench-0', task: { id: `m${r}`, title: 'Bench merge' } }),
      ),
    );
    await call('sync_project', { project: 'bench-0' });
  }
  console.log(
    `commit_task 50 files the remote changed too (other lines, merged three ways at the push): ${ms(median(merges))}`,
  );

  // 2. batch_read vs read_file, each from a cold cache, on the imported project.
  const paths = Array.from({ length: 100 }, (_, i) => `src/m${(i * 7) % 40}/f${i * 7}.ts`);
  const batch: number[] = [];
  const single: number[] = [];
  for (let r = 0; r < 5; r++) {
    let cold = await open();
    batch.push(
      await time(() => cold.call('batch_read', { project: 'bench-1', paths, max_chars: 1_000_000 })),
    );
    await cold.client.close();
    cold = await open();
    single.push(
      await time(async () => {
        for (const path of paths) await cold.call('read_file', { project: 'bench-1', path });
      }),
    );
    await cold.client.close();
  }
  console.log(
    `batch_read 100 files (~4 KiB, cold cache, median of 5): ${ms(median(batch))} vs 100 read_file calls ${ms(median(single))} → ${(median(batch) / median(single)).toFixed(2)}× (seed 001 target: < 3000 ms)`,
  );

  // 3. Autosave latency: 500 sequential write_file calls of 4 KiB into one workspace.
  const lat: number[] = [];
  for (let i = 0; i < 500; i++) {
    const path = `src/m${i % 40}/f${i}.ts`;
    lat.push(
      await time(() =>
        call('write_file', {
          project: 'bench-1',
          path,
          content: content(i, `// edit ${i}\n`),
          workspace: 'autosave',
        }),
      ),
    );
  }
  const total = lat.reduce((a, x) => a + x, 0);
  console.log(
    `write_file 4 KiB autosave, sequential: p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}, ${(500 / (total / 1000)).toFixed(0)} writes/s on one connection`,
  );

  for (const line of await benchZip(call, home)) console.log(line);
  for (const line of await benchArchive({ databaseUrl: pg.url, home })) console.log(line);
  for (const line of await benchBackups({ databaseUrl: pg.url, home })) console.log(line);
  for (const line of await benchThroughput(pg.url, home)) console.log(line);
  for (const line of await benchRecovery(call, home, 'bench-1')) console.log(line);
  for (const line of await benchStartup(pg.url, home)) console.log(line);
  for (const line of await benchSearch(pg.url, home)) console.log(line);
  for (const line of await benchSingleWrite({ databaseUrl: pg.url, home, pgDataDir: join(home, 'pg') })) {
    console.log(line);
  }
  const unCoalesced = createSql(pg.url, { historyCoalesceSeconds: 0 });
  const historyClient = await open(unCoalesced);
  const paths2000 = Object.keys(files);
  for (const line of await benchHistory({
    call: historyClient.call,
    databaseUrl: pg.url,
    home,
    url,
    auth,
    paths: paths2000,
    content,
  })) {
    console.log(line);
  }
  await historyClient.client.close();
  await unCoalesced.close();
  const copies = {
    call,
    databaseUrl: pg.url,
    home,
    project: 'bench-1',
    url,
    auth,
    paths: paths2000,
    content,
  };
  for (const line of await benchWorkingCopy(copies)) console.log(line);

  await client.close();
  await sql.close();
  await pg.release();
} finally {
  await server.close();
  await rm(home, { recursive: true, force: true });
}
