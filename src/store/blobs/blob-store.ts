// The seam every blob backend implements: immutable content addressed by its SHA-256 (hex).
import { createHash } from 'node:crypto';

export interface BlobStore {
  readonly kind: 'fs' | 's3';
  /** Stores `content` under `hash` (its SHA-256, computed by the caller). Atomic and idempotent. */
  put(hash: string, content: Uint8Array): Promise<void>;
  /** The content stored under `hash`; a StowageError `not_found` when there is none. */
  get(hash: string): Promise<Buffer>;
  has(hash: string): Promise<boolean>;
  /** Removes the blob; no error when it is already gone. */
  delete(hash: string): Promise<void>;
  /** Throws when the store cannot be reached (readiness checks). */
  ping(): Promise<void>;
}

export const sha256 = (content: Uint8Array): string => createHash('sha256').update(content).digest('hex');

/** The SHA-1 git gives this content as a blob, kept beside the SHA-256 for cheap remote comparison. */
export const gitBlobSha = (content: Uint8Array): string =>
  createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');

export const isSha256Hex = (hash: string): boolean => /^[0-9a-f]{64}$/.test(hash);
