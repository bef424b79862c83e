// Bench: zip_job of a 500-file job (~4 KiB files) vs `zip -r` of the same files on disk, median
// of 5 after unmeasured warm-up rounds on each side (a server zips many jobs: the steady state is
// what its users see). zip_job includes the MCP call, reading every file from the store and
// writing the artifact; `zip -r` includes its process start. The write_files calls that fill each
// job are timed too, beside it. bench/run.ts prints the lines.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

type Call = (name: string, args: Record<string, unknown>) => Promise<Record<string, any>>;

const run = promisify(execFile);
const FILES = 500;
const ROUNDS = 5;
const WARMUP = 3;
const ZIP = '/usr/bin/zip';
const BATCH = 100; // under the default 200-file limit of write_files

const line = 'export const value = compute(input, options); // a typical line of source\n';
const content = (i: number) => `// file ${i}\n${line.repeat(55)}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t: number) => `${t.toFixed(1)} ms`;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Times zip_job against `zip -r` (when installed); `home` holds the on-disk copy. */
export async function benchZip(call: Call, home: string): Promise<string[]> {
  const files = Array.from({ length: FILES }, (_, i) => ({
    path: `src/m${i % 25}/f${i}.ts`,
    content: content(i),
  }));
  const zips: number[] = [];
  const writes: number[] = [];
  let size = 0;
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    const { job } = await call('create_job', { name: `bench zip ${r}` });
    const wrote = await time(async () => {
      for (let i = 0; i < files.length; i += BATCH) {
        await call('write_files', { project: job, files: files.slice(i, i + BATCH) });
      }
    });
    if (r >= WARMUP) writes.push(wrote);
    const took = await time(async () => {
      size = (await call('zip_job', { job })).zip.size as number;
    });
    if (r >= WARMUP) zips.push(took);
  }
  const ours = `zip_job ${FILES} files (~4 KiB, ${(size / 1024).toFixed(0)} KiB zipped, median of ${ROUNDS}): ${ms(median(zips))}`;
  const written = `write_files of the ${FILES} files into the job (${FILES / BATCH} calls, median of ${ROUNDS}): ${ms(median(writes))} (each inline file deflated as it is written)`;
  if (!existsSync(ZIP)) return [`${ours} (zip not installed: no comparison)`, written];

  const dir = await mkdtemp(join(home, 'zip-bench-'));
  try {
    const tree = join(dir, 'tree');
    for (const f of files) {
      await mkdir(dirname(join(tree, f.path)), { recursive: true });
      await writeFile(join(tree, f.path), f.content);
    }
    const plain: number[] = [];
    for (let r = 0; r < WARMUP + ROUNDS; r++) {
      const out = join(dir, `out-${r}.zip`);
      const took = await time(() => run(ZIP, ['-q', '-r', out, '.'], { cwd: tree }));
      if (r >= WARMUP) plain.push(took);
    }
    const ratio = median(zips) / median(plain);
    return [`${ours} vs zip -r ${ms(median(plain))} → ${ratio.toFixed(2)}× (target ≤ 1.0×)`, written];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
