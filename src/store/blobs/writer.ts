// Blob first, then metadata: stores contents in the blob store (skipping those it already holds)
// and records them in the blobs table, before any row may point at them. Blobs it already holds
// are marked used now, so cleanup (blob-gc.ts) leaves them alone for its grace period. Their
// search texts (search-text.ts) are recorded just after, in the background: the trigram index
// costs about 1.5 ms per 9 KiB file, which an import of 2,000 files would otherwise wait for, and
// a search finds and records any text not there yet itself (workspace/search.ts).
import type { BlobCache } from './blob-cache.js';
import { gitBlobSha, type BlobStore } from './blob-store.js';
import { insertBlobs, insertSearchTexts, touchBlobs } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { searchTextOf } from './search-text.js';

export interface BlobItem {
  /** SHA-256 of `content`. */
  hash: string;
  content: Buffer;
}

/** Search text recorded per statement: a batch's texts at once, as strings and again as the
 *  statement's parameter, would hold several times its size. */
const TEXT_BYTES = 4 * 1024 * 1024;
/** How long no content may be stored before the queued texts are recorded. */
const QUIET_MS = 250;
/** Texts waiting to be recorded at most; past it they are left to the first search. */
const QUEUED_TEXT_BYTES = 32 * 1024 * 1024;

export interface StoreOptions {
  /** Record the contents' search texts (default). Drafts' blobs leave them to the first search
   *  that reads them: a large file autosaved stores a blob per save, most never searched. */
  searchText?: boolean;
}

export function createBlobWriter({
  sql,
  blobs,
  cache,
}: {
  sql: Queryable;
  blobs: BlobStore;
  cache: BlobCache;
}) {
  const queued: { hash: string; body: string | null }[] = [];
  let queuedBytes = 0;
  let recording = false;
  let pause: NodeJS.Timeout | undefined;
  /** Records the queued texts, a statement of about TEXT_BYTES at a time, until none is left. A
   *  failure loses nothing a search needs: it records what it finds missing. */
  async function record() {
    recording = true;
    while (queued.length) {
      let bytes = 0;
      let n = 0;
      while (n < queued.length && (n === 0 || bytes < TEXT_BYTES)) bytes += queued[n++]!.body?.length ?? 0;
      const batch = queued.splice(0, n);
      queuedBytes -= bytes;
      await insertSearchTexts(sql, batch).catch(() => undefined);
    }
    recording = false;
  }

  return async function storeBlobs(
    items: readonly BlobItem[],
    { searchText = true }: StoreOptions = {},
  ): Promise<void> {
    const unique = [...new Map(items.map((i) => [i.hash, i])).values()];
    if (!unique.length) return;
    // Lock (in hash order, so writers never deadlock) and touch every known row. The lock waits
    // for a cleanup that is deleting one of them; a row cleanup has condemned (created_at
    // -infinity) may have lost its bytes already, so it is rewritten like a missing one.
    const known = new Set(
      (
        await touchBlobs(
          sql,
          unique.map((i) => i.hash),
        )
      )
        .filter((r) => !r.condemned)
        .map((r) => r.hash),
    );
    const missing = unique.filter((i) => !known.has(i.hash));
    await mapBounded(missing, 8, (i) => blobs.put(i.hash, i.content));
    if (missing.length) {
      await insertBlobs(
        sql,
        missing.map(({ hash, content }) => ({ hash, size: content.byteLength, gitSha: gitBlobSha(content) })),
      );
    }
    for (const i of unique) cache.prime(i.hash, i.content);
    if (!searchText) return;
    for (const { hash, content } of missing) {
      const body = searchTextOf(content);
      const bytes = body?.length ?? 0;
      if (body === undefined || queuedBytes + bytes > QUEUED_TEXT_BYTES) continue;
      queued.push({ hash, body });
      queuedBytes += bytes;
    }
    // Recorded once the storing has paused: an import stores its files in batches, and its
    // texts recorded meanwhile made it a third slower.
    clearTimeout(pause);
    pause = setTimeout(() => {
      if (queued.length && !recording) void record();
    }, QUIET_MS);
    pause.unref();
  };
}

export type BlobWriter = ReturnType<typeof createBlobWriter>;

/** Collects blobs to store in batches of at most 200 files or 16 MiB: import, sync and restore
 *  stream many files, and one round trip per file would dominate. With `overlap`, a full batch
 *  is stored while the next one is collected (one batch storing at most): an import reads its
 *  next files out of git meanwhile, where it waited for each batch's round trips. */
export function createBlobBatcher(storeBlobs: BlobWriter, { overlap = false } = {}) {
  let batch: BlobItem[] = [];
  let bytes = 0;
  let storing: Promise<void> | undefined;
  const settle = async () => {
    const stored = storing;
    storing = undefined;
    await stored;
  };
  const send = async () => {
    const items = batch;
    batch = [];
    bytes = 0;
    await settle();
    storing = storeBlobs(items);
    storing.catch(() => undefined); // heard when settled: by the next batch, or flush
    if (!overlap) await settle();
  };
  return {
    async add(item: BlobItem) {
      batch.push(item);
      bytes += item.content.byteLength;
      if (batch.length >= 200 || bytes >= 16 * 1024 * 1024) await send();
    },
    /** Stores what is collected; settles once every batch is stored. */
    async flush() {
      await send();
      await settle();
    },
  };
}
