// The seam every blob backend implements: immutable content addressed by its SHA-256 (hex).
import { createHash } from 'node:crypto';

/** An entry found by listing a store, for reclaiming what no metadata row records. */
export interface StoredEntry {
  /** What it holds: a blob's hash or an artifact's id; undefined for what an interrupted write
   *  left (a temp file). */
  id: string | undefined;
  /** Its own name in the store (a path under the root, an object key); `reclaim` takes it back. */
  key: string;
  size: number;
  /** When it was last written (or, for a blob, last reused: see `put`). */
  modified: Date;
}

/** A store whose entries can be listed and reclaimed (blob and artifact stores). */
export interface ReclaimableStore {
  /** Pages of what the store holds that it wrote itself (entries and leftovers of interrupted
   *  writes); anything else under its root or prefix is left out. */
  list(): AsyncIterable<StoredEntry[]>;
  /** Removes a listed entry unless it was written or reused at or after `cutoff`; true when it
   *  removed it. */
  reclaim(entry: StoredEntry, cutoff: Date): Promise<boolean>;
}

export interface BlobStore extends ReclaimableStore {
  readonly kind: 'fs' | 's3';
  /** Stores `content` under `hash` (its SHA-256, computed by the caller). Atomic and idempotent.
   *  When the blob is already stored it is marked as written now instead (its `modified` moves),
   *  so reclaiming, which only takes entries older than its cutoff, leaves it alone. */
  put(hash: string, content: Uint8Array): Promise<void>;
  /** The content stored under `hash`; a StowageError `not_found` when there is none. */
  get(hash: string): Promise<Buffer>;
  has(hash: string): Promise<boolean>;
  /** Removes the blob; no error when it is already gone. */
  delete(hash: string): Promise<void>;
  /** Throws when the store cannot be reached (readiness checks). */
  ping(): Promise<void>;
  /** Writes and removes a small probe entry: throws when the store cannot take writes now. */
  probe(): Promise<void>;
  /** Bytes free for the store's writes; undefined where that has no meaning (S3). */
  freeBytes(): Promise<number | undefined>;
}

export const sha256 = (content: Uint8Array): string => createHash('sha256').update(content).digest('hex');

/** The SHA-1 git gives this content as a blob, kept beside the SHA-256 for cheap remote comparison. */
export const gitBlobSha = (content: Uint8Array): string =>
  createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');

export const isSha256Hex = (hash: string): boolean => /^[0-9a-f]{64}$/.test(hash);
