// Operating-system side of the embedded Postgres: postmaster.pid, /proc identity checks,
// signals, the postgres OS user, directory reachability and free ports. No SQL here.
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StowageError } from '../../errors.js';

export async function readPostmasterLock(dataDir: string): Promise<PostmasterLock | undefined> {
  let raw: string;
  try {
    raw = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  // Lines: pid, data dir, start time, port, socket dir, listen address, shmem key, status.
  const lines = raw.split('\n');
  return { raw, pid: Number(lines[0]), port: Number(lines[3]), status: (lines[7] ?? '').trim() };
}

/** Whether pid is a live postmaster of this data dir (its cwd), checked through /proc. */
export async function identify(pid: number, dataDir: string): Promise<'ours' | 'dead' | 'other'> {
  if (!Number.isInteger(pid) || pid <= 0) return 'dead';
  if (!(await exists('/proc/self/stat'))) return isAlive(pid) ? 'ours' : 'dead'; // no /proc: trust the pid
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'dead';
  }
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return 'dead';
  if (comm !== 'postgres') return 'other';
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  return cwd === dataDir ? 'ours' : 'other';
}

/** A postgres process in its last moments: its working directory (and lock file) already gone,
 *  so identify cannot say whose it is, but not yet a zombie. */
export async function exiting(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return false;
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (comm !== 'postgres' || state === 'Z' || state === 'X') return false;
  return readlink(`/proc/${pid}/cwd`).then(
    () => false,
    (err: unknown) => hasCode(err, 'ENOENT'),
  );
}

export async function processesIn(dataDir: string): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const pids = entries.filter((e) => /^\d+$/.test(e));
  const cwds = await Promise.all(pids.map((p) => readlink(`/proc/${p}/cwd`).catch(() => undefined)));
  return pids.filter((_, i) => cwds[i] === dataDir).map(Number);
}

/** Fast shutdown, then immediate, then SIGKILL, giving each a moment. */
export async function terminate(pid: number, dataDir: string): Promise<void> {
  const steps = [
    ['SIGINT', 2_000],
    ['SIGQUIT', 1_000],
    ['SIGKILL', 2_000],
  ] as const;
  for (const [signal, waitMs] of steps) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const until = Date.now() + waitMs;
    while (Date.now() < until) {
      if ((await identify(pid, dataDir)) !== 'ours') return;
      await sleep(50);
    }
  }
}

/** The first directory from / down to dir that the user cannot traverse (spawn drops other groups). */
export async function firstBlockedDir(dir: string, runAs: RunAs): Promise<string | undefined> {
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of chain) {
    const s = await stat(d);
    const bit = s.uid === runAs.uid ? 0o100 : s.gid === runAs.gid ? 0o010 : 0o001;
    if ((s.mode & bit) === 0) return d;
  }
  return undefined;
}

/**
 * The OS user postgres runs as when we are root. EmbeddedPostgres.initialise() would create it,
 * but too late for us: its uid must own our password file and pass the reachability check first.
 * So we create it the same way (groupadd + useradd) before that.
 */
export async function ensurePostgresUser(user: string): Promise<RunAs> {
  const id = async (flag: string) => Number((await run('id', [flag, user])).trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    try {
      await run('groupadd', [user]);
      await run('useradd', ['-g', user, user]);
      return { uid: await id('-u'), gid: await id('-g') };
    } catch (err) {
      throw new StowageError(
        'unavailable',
        `running as root, the embedded Postgres needs a "${user}" OS user, and creating one failed ` +
          `(${String(err)}); create it, or set DATABASE_URL`,
      );
    }
  }
}

export function run(file: string, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(file, args, (err, stdout) => (err ? fail(new Error(err.message)) : done(stdout))),
  );
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether 127.0.0.1:port can be listened on now (a racer may still take it before postgres). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.on('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return hasCode(err, 'EPERM');
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function hasCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}

export interface PostmasterLock {
  raw: string;
  pid: number;
  port: number;
  status: string;
}

export interface RunAs {
  uid: number;
  gid: number;
}
