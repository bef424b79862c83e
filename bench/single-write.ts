// One agent writing one file at a time over stdio: sequential 4 KiB write_file calls to
// `stowage serve --stdio` beside the reference filesystem server (@modelcontextprotocol/
// server-filesystem), each spawned the same way and driven by the same SDK client, taking turns
// (target ≤ 2.0×). The filesystem server does not fsync; Stowage acknowledges a write once its
// transaction's WAL is flushed. Where Stowage's time goes is shown by what can be measured from
// outside: a call that touches no storage (the MCP layer and stdio), and the same INSERT and
// COMMIT on the same Postgres (the flush). Also prints each server's RSS after start and after
// the writes, with the embedded Postgres's own memory beside them (issue 21 item 5).
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import pg from 'pg';
import { ranDirectly, runAlone } from './alone.js';

const WRITES = 200; // per round and server
const ROUNDS = 3;
const IDLE_MS = 3_000;
const CONTENT = (i: number) =>
  `// write ${i}\n${'export const value = compute(input); // 4 KiB of code\n'.repeat(76)}`;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (t: number) => `${t.toFixed(2)} ms`;

interface Spawned {
  client: Client;
  pid: number;
  close(): Promise<void>;
}

async function spawnStdio(args: string[], env: Record<string, string>): Promise<Spawned> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  return { client, pid: transport.pid!, close: () => client.close() };
}

/** Resident set of a process, in MiB (Linux /proc). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The embedded Postgres's memory: the proportional set size (shared buffers counted once across
 *  its processes) of the postmaster and its children. */
async function postgresPssMiB(postmasterPid: number): Promise<number> {
  let kb = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
    if (Number(entry) !== postmasterPid && ppid !== postmasterPid) continue;
    const rollup = await readFile(`/proc/${entry}/smaps_rollup`, 'utf8').catch(() => '');
    kb += Number(/Pss:\s+(\d+) kB/.exec(rollup)?.[1] ?? 0);
  }
  return kb / 1024;
}

async function timedWrites(call: (i: number) => Promise<unknown>, from: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const t = performance.now();
    await call(from + i);
    latencies.push(performance.now() - t);
  }
  return latencies;
}

export async function benchSingleWrite(opts: {
  databaseUrl: string;
  home: string;
  /** The embedded Postgres's data directory, whose postmaster.pid names the cluster to measure. */
  pgDataDir?: string;
}): Promise<string[]> {
  const filesystem = createRequire(import.meta.url).resolve(
    '@modelcontextprotocol/server-filesystem/dist/index.js',
  );
  const root = await mkdtemp(join(opts.home, 'single-write-fs-'));
  const stowageHome = await mkdtemp(join(opts.home, 'single-write-'));
  const stowage = await spawnStdio([join(import.meta.dirname, '../dist/index.js'), 'serve', '--stdio'], {
    STOWAGE_HOME: stowageHome,
    DATABASE_URL: opts.databaseUrl,
  });
  const reference = await spawnStdio([filesystem, root], {});
  const sql = new pg.Client(opts.databaseUrl);
  await sql.connect();
  try {
    // Idle: after both have sat quiet for a few seconds (Stowage gives back what its start-up
    // grew once it goes quiet: cli/idle-memory.ts).
    const settled = async () => {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      return { stowage: await rssMiB(stowage.pid), reference: await rssMiB(reference.pid) };
    };
    const idle = await settled();
    await stowage.client.callTool({ name: 'create_project', arguments: { name: 'single-write' } });
    const write = (i: number) =>
      stowage.client.callTool({
        name: 'write_file',
        arguments: { project: 'single-write', path: `src/f${i % 50}.ts`, content: CONTENT(i) },
      });
    const writeReference = (i: number) =>
      reference.client.callTool({
        name: 'write_file',
        arguments: { path: join(root, `f${i % 50}.ts`), content: CONTENT(i) },
      });
    // A call that touches no storage: the MCP layer and the pipes.
    const noop = () => stowage.client.ping();
    // The flush itself: the same bytes INSERTed and committed, as a write's transaction ends.
    await sql.query('CREATE TABLE IF NOT EXISTS bench_flush_probe (n int, body text)');
    const flush = async (i: number) => {
      await sql.query('BEGIN');
      await sql.query('INSERT INTO bench_flush_probe VALUES ($1, $2)', [i, CONTENT(i)]);
      await sql.query('COMMIT');
    };
    for (let i = 0; i < 20; i++) await Promise.all([write(-1 - i), writeReference(-1 - i)]); // warm up
    const ours: number[] = [];
    const theirs: number[] = [];
    const noops: number[] = [];
    const flushes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push(...(await timedWrites(write, r * WRITES)));
      theirs.push(...(await timedWrites(writeReference, r * WRITES)));
      noops.push(...(await timedWrites(noop, 0)));
      flushes.push(...(await timedWrites(flush, r * WRITES)));
    }
    await sql.query('DROP TABLE bench_flush_probe');
    const after = await settled();
    const p50 = pct(ours, 50);
    const rest = p50 - pct(noops, 50) - pct(flushes, 50);
    const lines = [
      `write_file 4 KiB over stdio, sequential (${ROUNDS} × ${WRITES}): p50 ${ms(p50)}, p99 ${ms(pct(ours, 99))} vs server-filesystem p50 ${ms(pct(theirs, 50))}, p99 ${ms(pct(theirs, 99))} → ${(p50 / pct(theirs, 50)).toFixed(2)}× (target ≤ 2.0×)`,
      `  where a write's time goes (p50s): MCP layer and stdio (a storage-free call) ${ms(pct(noops, 50))}, Postgres INSERT + COMMIT with its WAL flush ${ms(pct(flushes, 50))}, the rest (Stowage's own work, its other statements) ${ms(Math.max(0, rest))}`,
      `idle RSS (${IDLE_MS / 1000} s quiet) after start: Stowage ${idle.stowage.toFixed(0)} MiB vs server-filesystem ${idle.reference.toFixed(0)} MiB → ${(idle.stowage / idle.reference).toFixed(2)}× (target ≤ 1.2×); after the writes: ${after.stowage.toFixed(0)} vs ${after.reference.toFixed(0)} MiB → ${(after.stowage / after.reference).toFixed(2)}×`,
    ];
    if (opts.pgDataDir) {
      const postmaster = Number(
        (await readFile(join(opts.pgDataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      );
      lines.push(
        `  the embedded Postgres beside it (PSS of all its processes): ${(await postgresPssMiB(postmaster)).toFixed(0)} MiB`,
      );
    }
    return lines;
  } finally {
    await sql.end();
    await stowage.close();
    await reference.close();
  }
}

if (ranDirectly(import.meta.url)) {
  await runAlone('single-write', (databaseUrl, home) =>
    benchSingleWrite({
      databaseUrl,
      home,
      pgDataDir: process.env.DATABASE_URL ? undefined : join(home, 'pg'),
    }),
  );
}
