// Runs the built CLI (`node dist/index.js …`) as a user would, with only the environment given
// (plus PATH), and waits for an HTTP server's start-up line when asked.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Spawned {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code, once it has exited. */
  exited: Promise<number | null>;
  /** The exit code and everything printed, once it has exited. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function spawnStowage(args: readonly string[], env: Record<string, string>): Spawned {
  const proc = spawn(process.execPath, [join(ROOT, 'dist/index.js'), ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((ok) => proc.on('exit', ok));
  const done = exited.then((code) => ({ code, stdout, stderr }));
  return { proc, stdout: () => stdout, stderr: () => stderr, exited, done };
}

/** `stowage serve --http --port 0`; resolves with its /mcp URL once it listens. */
export async function spawnHttpServer(env: Record<string, string>, args: readonly string[] = []) {
  const server = spawnStowage(['serve', '--http', '--port', '0', ...args], env);
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the server did not start: ${server.stderr()}`)), 60_000);
    server.proc.stderr!.on('data', () => {
      const m = /Stowage on (http:\/\/\S+\/mcp)/.exec(server.stderr());
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    });
    void server.exited.then((code) => fail(new Error(`the server exited with ${code}: ${server.stderr()}`)));
  });
  return {
    ...server,
    url,
    /** SIGTERM, then its exit code. */
    async stop() {
      server.proc.kill('SIGTERM');
      return server.exited;
    },
  };
}
