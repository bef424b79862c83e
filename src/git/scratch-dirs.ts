// Scratch directories (ephemeral git clones, git's empty HOME) live in STOWAGE_HOME/tmp, each
// named `<purpose>-<pid>-<start>@<host>-<random>` after the process that made it, so that what a
// killed process left can be told from what a live one is using: several processes may share one
// STOWAGE_HOME.
//
// Decisions:
// - A process removes its own directories when it closes cleanly (runtime.ts).
// - At start-up, a process removes the directories of dead processes of its own host: a pid that
//   no longer runs (kill(pid, 0) answers ESRCH), or its own pid with another start time (a
//   predecessor whose pid was reused). Another host's (a volume shared between machines or
//   containers) are left alone: there is no telling from here whether that process lives.
// - A dead process's pid taken by an unrelated live process keeps its directories until that
//   process is gone too: the safe mistake.
// - Directories of the layout before (`home-XXXXXX`, `push-XXXXXX`, … with no process in the
//   name) are removed once older than the grace period: a clone never lives that long.
import { lstat, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

const HOST =
  hostname()
    .replace(/[^A-Za-z0-9.-]/g, '_')
    .slice(0, 64) || 'localhost';
/** This process: its pid and start time (ms, base 36), on this host. */
const OWN = { pid: process.pid, start: Math.floor(performance.timeOrigin).toString(36), host: HOST };

const NAME = /^[a-z]+-(\d+)-([0-9a-z]+)@(.+)-[A-Za-z0-9]{6}$/;
const LEGACY = /^(?:home|push|snapshot|holds|merge)-[A-Za-z0-9]{6}$/;

/** The prefix of a scratch directory of this process, for mkdtemp (which adds 6 characters). */
export const scratchPrefix = (purpose: string): string => `${purpose}-${OWN.pid}-${OWN.start}@${OWN.host}-`;

/** Removes this process's scratch directories under `root`. */
export async function removeOwnScratch(root: string): Promise<void> {
  for (const name of await entries(root)) {
    const owner = NAME.exec(name);
    if (owner && Number(owner[1]) === OWN.pid && owner[2] === OWN.start && owner[3] === OWN.host) {
      await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

/** Removes the scratch directories under `root` that dead processes left; returns their names. */
export async function removeDeadScratch(root: string, legacyGraceMs: number): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await entries(root)) {
    const owner = NAME.exec(name);
    const dead = owner
      ? owner[3] === OWN.host && !isAlive(Number(owner[1]), owner[2]!)
      : LEGACY.test(name) &&
        ((await lstat(join(root, name)).catch(() => undefined))?.mtimeMs ?? Infinity) <
          Date.now() - legacyGraceMs;
    if (!dead) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number, start: string): boolean {
  // Our own pid with another start time: a predecessor; pid 0 and below name process groups.
  if (pid === OWN.pid) return start === OWN.start;
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as { code?: string }).code !== 'ESRCH';
  }
}

async function entries(root: string): Promise<string[]> {
  try {
    return await readdir(root);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
}
