// archive_project / restore_project of a ~200 MB project: time, and the peak RSS they add over the
// process's RSS just before (sampled every 20 ms; target ≤ 64 MB, seed 003's streaming rule).
// The project is written through the domain (not the MCP client): 200 files of 1 MiB of
// pseudo-random source-like text. Archive and restore run in a fresh child process: in the
// process that built the project (or ran other benches), the allocator keeps hundreds of MB it
// already has, and RSS would hide any growth. Run alone with `tsx bench/lifecycle.ts` (embedded
// Postgres, or DATABASE_URL), or call benchArchive from bench/run.ts.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createGitAdapters } from '../src/git/index.js';
import { createFsArtifactStore } from '../src/store/blobs/artifact-store.js';
import { createBlobCache } from '../src/store/blobs/blob-cache.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createSql, type Sql } from '../src/store/db/sql.js';
import { createStowage } from '../src/store/stowage.js';
import { ranDirectly, runAlone } from './alone.js';

const MiB = 1024 * 1024;
const WORDS = ['const', 'value', 'return', 'function', 'options', 'input', 'await', 'export', 'if', 'result'];

/** `bytes` of text from a xorshift PRNG: compresses like source code, differs per seed. */
function pseudoText(seed: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let x = seed * 2654435761 + 1;
  let i = 0;
  while (i < bytes) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const word = (x >>> 0) % 97 < 8 ? `${x >>> 0}` : WORDS[(x >>> 0) % WORDS.length]!;
    i += out.write((x & 15) === 0 ? `${word};\n` : `${word} `, i);
  }
  return out;
}

interface Measured {
  ms: number;
  /** Peak RSS above the RSS just before. */
  peakMb: number;
  /** Peak of live JS memory (V8 heap + Buffers) above the same just before: unlike RSS, not
   *  hidden by memory the allocator kept from earlier work. */
  peakLiveMb: number;
  rssBeforeMb: number;
}

const live = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Runs `fn`, sampling memory every 20 ms; returns its time and peaks above the start. */
async function measure(fn: () => Promise<unknown>): Promise<Measured> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = { rss: process.memoryUsage().rss, live: live() };
  const peak = { ...before };
  const sample = () => {
    peak.rss = Math.max(peak.rss, process.memoryUsage().rss);
    peak.live = Math.max(peak.live, live());
  };
  const timer = setInterval(sample, 20);
  const start = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - start;
  sample();
  return {
    ms,
    peakMb: (peak.rss - before.rss) / MiB,
    peakLiveMb: (peak.live - before.live) / MiB,
    rssBeforeMb: before.rss / MiB,
  };
}

function openStowage(sql: Sql, home: string, projectBytes: number) {
  const config = loadConfig({});
  const blobs = createFsBlobStore(join(home, 'lifecycle-blobs'));
  return createStowage({
    sql,
    blobs,
    artifacts: createFsArtifactStore(join(home, 'lifecycle-artifacts')),
    cache: createBlobCache(blobs, config.cacheMaxBytes),
    limits: { ...config.limits, projectBytes },
    git: createGitAdapters(config.git, home),
    lifecycle: config.lifecycle,
    logger: pino({ level: 'silent' }),
  });
}

interface Job {
  databaseUrl: string;
  home: string;
  project: string;
  projectBytes: number;
}

/** The measured part, in a fresh process so earlier work cannot hide RSS growth. */
async function measureInChild(
  job: Job,
): Promise<{ archive: Measured; restore: Measured; archiveBytes: number }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_LIFECYCLE_JOB: JSON.stringify(job) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`lifecycle bench child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as never;
}

async function runJob(job: Job) {
  const sql = createSql(job.databaseUrl);
  try {
    const stowage = openStowage(sql, job.home, job.projectBytes);
    let archiveBytes = 0;
    const archive = await measure(async () => {
      archiveBytes = (await stowage.lifecycle.archive(job.project)).artifact.size;
    });
    const restore = await measure(() => stowage.lifecycle.restore(job.project));
    return { archive, restore, archiveBytes };
  } finally {
    await sql.close();
  }
}

/** Builds a `files` × `fileBytes` project, then archives and restores it in a fresh process. */
export async function benchArchive(options: {
  databaseUrl: string;
  home: string;
  files?: number;
  fileBytes?: number;
}): Promise<string[]> {
  const files = options.files ?? 200;
  const fileBytes = options.fileBytes ?? MiB;
  const projectBytes = files * fileBytes * 2;
  // Content unique to this run: blob rows in a reused database must not claim these blobs are
  // already stored (this bench has its own blob directory).
  const salt = Math.floor(Math.random() * 1e9);
  const project = `bench-archive-${salt}`;
  const sql = createSql(options.databaseUrl);
  try {
    const stowage = openStowage(sql, options.home, projectBytes);
    const actor = { principal: 'bench' };
    await stowage.projects.create({ name: project }, actor.principal);
    for (let i = 0; i < files; i += 4) {
      const batch = Array.from({ length: Math.min(4, files - i) }, (_, k) => ({
        path: `src/m${(i + k) % 20}/f${i + k}.ts`,
        content: pseudoText(salt + i + k + 1, fileBytes),
      }));
      await stowage.workspace.write(project, actor, batch);
    }
    await stowage.commits.commitTask(project, actor, { task: { id: 'bench', title: 'Bench tree' } });
  } finally {
    await sql.close();
  }

  const { archive, restore, archiveBytes } = await measureInChild({
    databaseUrl: options.databaseUrl,
    home: options.home,
    project,
    projectBytes,
  });
  const size = `${Math.round((files * fileBytes) / 1e6)} MB`;
  const line = (what: string, m: Measured, extra = '') =>
    `${what} ${size}: ${m.ms.toFixed(0)} ms (${((files * fileBytes) / 1e6 / (m.ms / 1000)).toFixed(0)} MB/s), ` +
    `peak RSS +${m.peakMb.toFixed(1)} MB (target ≤ 64 MB; from ${m.rssBeforeMb.toFixed(0)} MB), ` +
    `peak heap + buffers +${m.peakLiveMb.toFixed(1)} MB${extra}`;
  return [
    line('archive', archive, `, tar.gz ${(archiveBytes / 1e6).toFixed(1)} MB`),
    line('restore', restore),
  ];
}

const job = process.env.BENCH_LIFECYCLE_JOB;
if (job) {
  // The child: measure, print the figures as the last line of stdout.
  console.log(JSON.stringify(await runJob(JSON.parse(job) as Job)));
} else if (ranDirectly(import.meta.url)) {
  await runAlone('lifecycle', (databaseUrl, home) => benchArchive({ databaseUrl, home }));
}
