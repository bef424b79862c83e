// Spawn to the first tools/list answer over stdio: `stowage serve --stdio` (dist/: npm run bench
// builds first) beside the reference filesystem server (@modelcontextprotocol/server-filesystem,
// a dev dependency), each spawned the same way and sent the same three lines, alternating, five
// times each (target ≤ 1.0×). Stowage runs on the bench's home, with its Postgres already up,
// both as every start after the first is (answers kept by the start before) and as the first.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ROUNDS = 5;
const ms = (t: number) => `${t.toFixed(0)} ms`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Milliseconds from spawn to the tools/list answer (initialize, initialized, tools/list). */
function firstToolsList(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'ignore'], env });
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
    let buffered = '';
    child.on('error', reject);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const message = JSON.parse(buffered.slice(0, end)) as { id?: number };
        buffered = buffered.slice(end + 1);
        if (message.id === 1) {
          send({ jsonrpc: '2.0', method: 'notifications/initialized' });
          send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
        } else if (message.id === 2) {
          resolve(performance.now() - started);
          child.kill();
        }
      }
    });
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    });
  });
}

export async function benchStartup(databaseUrl: string, home: string): Promise<string[]> {
  const filesystem = createRequire(import.meta.url).resolve(
    '@modelcontextprotocol/server-filesystem/dist/index.js',
  );
  const root = await mkdtemp(join(home, 'fs-server-'));
  const stowageHome = join(home, 'startup');
  const env = { PATH: process.env.PATH, STOWAGE_HOME: stowageHome, DATABASE_URL: databaseUrl };
  const stowage = [join(import.meta.dirname, '../dist/index.js'), 'serve', '--stdio'];
  await mkdir(stowageHome, { recursive: true }); // as after any earlier session on it
  const first: number[] = [];
  const later: number[] = [];
  const reference: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await rm(join(stowageHome, 'cache'), { recursive: true, force: true });
    first.push(await firstToolsList(stowage, env));
    later.push(await firstToolsList(stowage, env));
    reference.push(await firstToolsList([filesystem, root], { PATH: process.env.PATH }));
  }
  const ratio = (xs: number[]) => `${(median(xs) / median(reference)).toFixed(2)}×`;
  return [
    `spawn to first tools/list over stdio: ${ms(median(later))} vs server-filesystem ${ms(median(reference))} → ${ratio(later)} (target ≤ 1.0×)`,
    `  first start on a home (nothing kept yet): ${ms(median(first))} → ${ratio(first)}`,
  ];
}
