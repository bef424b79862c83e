// npm run bench: figures for the foundation, each beside the comparison it names, in one run on
// this machine (ratios, not absolute times, are what to compare across machines).
//   1. embedded Postgres: initialise and start of a fresh STOWAGE_HOME
//   2. batch_read of 100 files in one call vs 100 read_file calls (seed 001: 100 files < 3 s)
//   3. autosave: write_file latency into a workspace, inline drafts
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { pino } from 'pino';
import { loadConfig, TOOLSETS } from '../dist/config.js';
import { createGitAdapters } from '../dist/git/index.js';
import { createServer } from '../dist/server.js';
import { createBlobCache } from '../dist/store/blobs/blob-cache.js';
import { createFsBlobStore } from '../dist/store/blobs/blob-store-fs.js';
import { startEmbeddedPostgres } from '../dist/store/db/embedded-postgres.js';
import { migrate } from '../dist/store/db/migrate.js';
import { createSql } from '../dist/store/db/sql.js';
import { createStowage } from '../dist/store/stowage.js';

const logger = pino({ level: 'silent' });
const ms = (t) => `${t.toFixed(1)} ms`;
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const home = await mkdtemp(join(tmpdir(), 'stowage-bench-'));
await chmod(home, 0o755);
try {
  // 1. Embedded Postgres.
  let t = performance.now();
  const first = await startEmbeddedPostgres({ home, logger });
  const initAndStart = performance.now() - t;
  await first.release();
  t = performance.now();
  const pg = await startEmbeddedPostgres({ home, logger });
  const start = performance.now() - t;
  console.log(
    `embedded postgres: initialise + start ${ms(initAndStart)}, start of an initialised home ${ms(start)}`,
  );

  const sql = createSql(pg.url);
  await migrate(sql);
  const config = loadConfig({});
  const blobs = createFsBlobStore(join(home, 'blobs'));
  // A client on its own Stowage, so each measurement can start with a cold blob cache.
  const open = async () => {
    const stowage = createStowage({
      sql,
      blobs,
      cache: createBlobCache(blobs, config.cacheMaxBytes),
      limits: config.limits,
      git: createGitAdapters(config.git, home),
    });
    const server = createServer({
      stowage,
      principal: 'bench',
      toolsets: [...TOOLSETS],
      readOnly: false,
      logger,
    });
    const [c, s] = InMemoryTransport.createLinkedPair();
    await server.connect(s);
    const client = new Client({ name: 'bench', version: '1' });
    await client.connect(c);
    const call = async (name, args) => {
      const r = await client.callTool({ name, arguments: args });
      if (r.isError) throw new Error(`${name}: ${r.content[0].text}`);
      return r.structuredContent;
    };
    return { stowage, client, call };
  };
  const { client, call } = await open();

  // A 2,000-file project (~4 KiB each), committed so content is in the blob store.
  await call('create_project', { name: 'bench' });
  const line = 'export const value = compute(input, options); // a typical line of source\n';
  const content = (i) => `// file ${i}\n${line.repeat(55)}`;
  for (let i = 0; i < 2000; i += 200) {
    const files = Array.from({ length: 200 }, (_, j) => ({
      path: `src/m${(i + j) % 40}/f${i + j}.ts`,
      content: content(i + j),
    }));
    await call('write_files', { project: 'bench', files });
  }
  await call('commit_task', { project: 'bench', task: { id: 'seed', title: 'Seed the project' } });
  const paths = Array.from({ length: 100 }, (_, i) => `src/m${(i * 7) % 40}/f${i * 7}.ts`);

  // 2. batch_read vs read_file, each from a cold cache.
  const runs = 5;
  const batch = [];
  const single = [];
  for (let r = 0; r < runs; r++) {
    let cold = await open();
    t = performance.now();
    const out = await cold.call('batch_read', { project: 'bench', paths, max_chars: 1_000_000 });
    batch.push(performance.now() - t);
    if (out.files.filter((f) => f.content).length !== 100)
      throw new Error('batch_read did not return 100 files');
    await cold.client.close();
    cold = await open();
    t = performance.now();
    for (const path of paths) await cold.call('read_file', { project: 'bench', path });
    single.push(performance.now() - t);
    await cold.client.close();
  }
  const b = pct(batch, 50);
  const sgl = pct(single, 50);
  console.log(
    `batch_read 100 files (~4 KiB, cold cache, median of ${runs}): ${ms(b)} vs 100 read_file calls ${ms(sgl)} → ${(b / sgl).toFixed(2)}× (seed 001 target: < 3000 ms)`,
  );

  // 3. Autosave latency: 500 sequential write_file calls of 4 KiB into one workspace.
  const lat = [];
  for (let i = 0; i < 500; i++) {
    t = performance.now();
    await call('write_file', {
      project: 'bench',
      path: `src/m${i % 40}/f${i}.ts`,
      content: `${content(i)}// edit ${i}\n`,
      workspace: 'autosave',
    });
    lat.push(performance.now() - t);
  }
  const total = lat.reduce((a, x) => a + x, 0);
  console.log(
    `write_file 4 KiB autosave, sequential: p50 ${ms(pct(lat, 50))}, p99 ${ms(pct(lat, 99))}, ${(500 / (total / 1000)).toFixed(0)} writes/s on one connection`,
  );

  await client.close();
  await sql.close();
  await pg.release();
} finally {
  await rm(home, { recursive: true, force: true });
}
