// Tree entries of the Git Data API: what a change becomes in a `POST git/trees` body, and
// whether a head's listed entry already is what a change makes of a path. Used by github.ts.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { invalidInput } from '../errors.js';
import type { FileChange } from './types.js';

/** One entry of a `POST git/trees` body: inline text, an uploaded blob, or `sha: null` to delete. */
export interface TreeEntry {
  path: string;
  mode: '100644' | '100755' | '120000';
  type: 'blob';
  sha?: string | null;
  content?: string;
}

export function gitMode(change: FileChange): TreeEntry['mode'] {
  const mode = (change.mode ?? 0o100644).toString(8);
  if (mode === '100644' || mode === '100755' || mode === '120000') return mode;
  throw invalidInput(`Mode ${mode} of ${change.path} cannot be committed: use 100644, 100755 or 120000`);
}

/** An entry of a tree as GitHub lists it. */
export interface HeadEntry {
  sha: string;
  type: string;
  mode: string;
}

/** Whether the head's entry at a change's path is exactly what the change makes of it. */
export function holdsAlready(entry: HeadEntry | undefined, change: FileChange): boolean {
  if (change.content === undefined) return entry === undefined;
  const sha = createHash('sha1').update(`blob ${change.content.byteLength}\0`).update(change.content);
  return entry?.sha === sha.digest('hex') && entry.mode === (change.mode ?? 0o100644).toString(8);
}

/** Text GitHub takes inline in a tree: valid UTF-8 without NUL. The rest goes up as a base64 blob. */
export const isText = (content: Buffer) => !content.includes(0) && isUtf8(content);
