// The push clone of a remote branch, kept for the next commit to it. A commit_task clones the
// branch (bare, blob-less, depth 1), builds its commit and pushes it; the next commit to that
// branch would clone the very commit it just pushed. So a clone whose push landed is kept, one per
// remote URL and branch, and the next commit whose expected head is that push takes it instead
// of cloning: the clone's round trips and its process start are saved, and nothing is sent that
// the remote does not have. The remote is still the judge: a branch that moved meanwhile rejects
// the push, and the commit fetches and builds again, as with a fresh clone.
//
// Decisions:
// - A kept clone is used by one commit at a time: it is taken by renaming it into the commit's
//   own scratch directory (atomic; whoever loses the race clones), and kept again by renaming
//   it back. Nothing is ever shared while in use, so a crash leaves it in a scratch directory of
//   a dead process, which start-up removes (scratch-dirs.ts).
// - It records the commit it pushed; one that is not the commit's expected head is dropped.
// - Each use adds a pack (fast-import's); after MAX_USES uses it is dropped and the next commit
//   clones afresh, so it never grows far past a fresh clone.
// - Only what a fresh clone holds is kept: no credential is ever in it (git gets them from its
//   environment), and it is owner-only, as STOWAGE_HOME is.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_USES = 20;
/** The file in a kept clone naming the commit it pushed, and how often it was used. */
const STATE = 'stowage-kept';

export interface PushCache {
  /** Moves the clone kept for `url`/`branch` to `into` when it pushed `head`; false otherwise. */
  take(url: string, branch: string, head: string | null | undefined, into: string): Promise<boolean>;
  /** Keeps the clone at `repo`, which has just pushed `head` to `url`/`branch`. */
  keep(url: string, branch: string, head: string, repo: string): Promise<void>;
}

export function createPushCache(dir: string): PushCache {
  const slot = (url: string, branch: string) =>
    join(dir, createHash('sha256').update(`${url}\n${branch}`).digest('hex').slice(0, 32));

  return {
    async take(url, branch, head, into) {
      if (!head) return false;
      try {
        await rename(slot(url, branch), into);
      } catch {
        return false; // none kept, or another commit took it first
      }
      const state = await readState(into);
      if (state?.head === head && state.uses < MAX_USES) return true;
      await rm(into, { recursive: true, force: true });
      return false;
    },

    async keep(url, branch, head, repo) {
      const uses = ((await readState(repo))?.uses ?? 0) + 1;
      await writeFile(join(repo, STATE), JSON.stringify({ head, uses }), { mode: 0o600 });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // A slot another commit filled meanwhile is kept; this clone goes with its scratch directory.
      await rename(repo, slot(url, branch)).catch(() => undefined);
    },
  };
}

async function readState(repo: string): Promise<{ head: string; uses: number } | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(repo, STATE), 'utf8')) as {
      head?: unknown;
      uses?: unknown;
    };
    return typeof parsed.head === 'string' && typeof parsed.uses === 'number'
      ? { head: parsed.head, uses: parsed.uses }
      : undefined;
  } catch {
    return undefined;
  }
}
