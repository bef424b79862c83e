// A bytes-bounded LRU in front of blob reads. Blobs are immutable, so entries never go stale and
// nothing is invalidated; concurrent reads of one hash share a single store read.
import { LRUCache } from 'lru-cache';
import { StowageError } from '../../errors.js';
import type { BlobStore } from './blob-store.js';

export interface BlobCacheStats {
  /** Reads served from memory, including reads that joined another read of the same hash. */
  hits: number;
  /** Reads that went to the store (failed ones included). */
  misses: number;
  bytes: number;
  entries: number;
  maxBytes: number;
}

export interface BlobCache {
  /** The blob's content. The buffer is shared with the cache: callers must not modify it. */
  get(hash: string): Promise<Buffer>;
  /** Caches content just written, so the next read needs no store round trip. */
  prime(hash: string, content: Uint8Array): void;
  stats(): BlobCacheStats;
}

export interface BlobCacheOptions {
  /** Larger blobs are served but not kept, so one cannot flush the rest. Default maxBytes / 4. */
  maxEntryBytes?: number;
}

export function createBlobCache(
  store: BlobStore,
  maxBytes: number,
  options: BlobCacheOptions = {},
): BlobCache {
  const maxEntryBytes = options.maxEntryBytes ?? Math.max(1, Math.floor(maxBytes / 4));
  let hits = 0;
  let misses = 0;

  const cache = new LRUCache<string, Buffer>({
    maxSize: maxBytes,
    maxEntrySize: maxEntryBytes,
    // lru-cache needs a positive size; an empty blob still occupies an entry.
    sizeCalculation: (content) => Math.max(1, content.byteLength),
    fetchMethod: (hash) => store.get(hash),
    // A fetch whose entry is evicted mid-flight still delivers its bytes to the readers waiting.
    ignoreFetchAbort: true,
  });

  return {
    async get(hash) {
      const status: LRUCache.Status<string, Buffer> = {};
      const pending = cache.fetch(hash, { status });
      if (status.fetch === 'hit' || status.fetch === 'inflight') hits++;
      else misses++;
      // A rejected fetch is removed from the cache, so a missing blob is asked for again next time.
      const content = await pending;
      if (content === undefined) throw new StowageError('internal', `blob ${hash} read was abandoned`);
      return content;
    },

    prime(hash, content) {
      if (content.byteLength > maxEntryBytes) return;
      // An unpooled copy: the caller's bytes may be reused, or be a view that pins a larger buffer.
      const copy = Buffer.allocUnsafeSlow(content.byteLength);
      copy.set(content);
      cache.set(hash, copy);
    },

    stats: () => ({ hits, misses, bytes: cache.calculatedSize, entries: cache.size, maxBytes }),
  };
}
