// The stowage processes using a home's embedded Postgres, one file each in
// <data dir>/stowage-members/, named by pid (and a random tag, one per start in a process) and
// holding the process's start time. The last one
// out stops the server only if no other member is alive, so the decision does not depend on
// other processes' presence sessions, which every connection reset (a killed backend, a crash
// restart) drops until their owners reopen them.
//
// Decisions:
// - Files, not sessions: a member is alive exactly as long as its process, whatever its
//   connections are doing. The start time tells a live member from a reused pid.
// - Presence sessions still count too (embedded-presence.ts): a process in another pid namespace
//   (another container on a shared volume) cannot be seen in /proc, and its file looks dead here.
// - A member removes its own file before it lets go of the lifecycle lock, so the next one out
//   never counts a process that has already left. A killed member leaves its file behind: it
//   names a dead pid, and whoever registers next removes it.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, isAlive } from './postmaster.js';

const DIR = 'stowage-members';

export interface Membership {
  /** Other members whose process is still alive. */
  othersAlive(): Promise<number>;
  /** Removes this process's file. Idempotent. */
  leave(): Promise<void>;
}

export async function joinMembers(dataDir: string, pid = process.pid): Promise<Membership> {
  const dir = join(dataDir, DIR);
  // Readable by the postgres user, whose data dir this is: its fsync walk after a crash reads it.
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const own = `${pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(join(dir, own), (await startTime(pid)) ?? '', { mode: 0o644 });
  const others = async () => {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n !== own);
    return Promise.all(names.map(async (name) => ({ name, alive: await isMember(dir, name) })));
  };
  // Files of members that died without leaving.
  for (const { name, alive } of await others()) if (!alive) await rm(join(dir, name), { force: true });
  let left = false;
  return {
    othersAlive: async () => (await others()).filter((m) => m.alive).length,
    async leave() {
      if (left) return;
      left = true;
      await rm(join(dir, own), { force: true });
    },
  };
}

async function isMember(dir: string, name: string): Promise<boolean> {
  const pid = Number(/^(\d+)\.\w+$/.exec(name)?.[1]);
  if (!Number.isInteger(pid) || !isAlive(pid)) return false;
  const recorded = await readFile(join(dir, name), 'utf8').catch((err: unknown) => {
    if (hasCode(err, 'ENOENT')) return undefined; // it left while we looked
    throw err;
  });
  if (recorded === undefined) return false;
  const now = await startTime(pid);
  // Without /proc there is no start time to compare, and a live pid is taken at its word.
  return recorded === '' || now === undefined || recorded === now;
}

/** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), if known. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return 'exited';
  return fields[19];
}
