// The blob cache in front of a real filesystem blob store, whose reads are counted by a thin wrapper.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageError } from '../src/errors.js';
import { createBlobCache } from '../src/store/blobs/blob-cache.js';
import { sha256, type BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';

let dir: string;
let fsStore: BlobStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-cache-'));
  fsStore = createFsBlobStore(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The fs store, with a count of the reads that reached it per hash. */
function countingStore(): { store: BlobStore; reads: (hash: string) => number } {
  const counts = new Map<string, number>();
  const store: BlobStore = {
    ...fsStore,
    get(hash) {
      counts.set(hash, (counts.get(hash) ?? 0) + 1);
      return fsStore.get(hash);
    },
  };
  return { store, reads: (hash) => counts.get(hash) ?? 0 };
}

let serial = 0;
/** Stores a fresh blob of `size` bytes and returns its hash and content. */
async function blob(size: number): Promise<{ hash: string; content: Buffer }> {
  const content = Buffer.alloc(size, `blob ${serial++} `);
  const hash = sha256(content);
  await fsStore.put(hash, content);
  return { hash, content };
}

describe('blob cache', () => {
  it('serves repeated reads from memory and counts hits and misses', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 10_000);
    const { hash, content } = await blob(100);

    expect((await cache.get(hash)).equals(content)).toBe(true);
    expect((await cache.get(hash)).equals(content)).toBe(true);
    expect((await cache.get(hash)).equals(content)).toBe(true);

    expect(reads(hash)).toBe(1);
    expect(cache.stats()).toEqual({ hits: 2, misses: 1, bytes: 100, entries: 1, maxBytes: 10_000 });
  });

  it('shares one store read among concurrent reads of one hash', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 10_000);
    const { hash, content } = await blob(100);

    const results = await Promise.all(Array.from({ length: 10 }, () => cache.get(hash)));

    expect(reads(hash)).toBe(1);
    for (const result of results) expect(result.equals(content)).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 9, misses: 1 });
  });

  it('keeps the cached bytes within maxBytes, evicting the least recently used', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 1000);
    const blobs = [];
    for (let i = 0; i < 10; i++) blobs.push(await blob(200));

    for (const { hash } of blobs) {
      await cache.get(hash);
      expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
    }
    expect(cache.stats()).toMatchObject({ bytes: 1000, entries: 5 });

    const newest = blobs.at(-1)!;
    const oldest = blobs[0]!;
    await cache.get(newest.hash);
    await cache.get(oldest.hash);
    expect(reads(newest.hash)).toBe(1);
    expect(reads(oldest.hash)).toBe(2);
  });

  it('serves a blob over the entry limit without caching it or evicting others', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 1000); // entries up to 250 bytes
    const small = await blob(200);
    const huge = await blob(251);

    await cache.get(small.hash);
    expect((await cache.get(huge.hash)).equals(huge.content)).toBe(true);
    expect((await cache.get(huge.hash)).equals(huge.content)).toBe(true);
    await cache.get(small.hash);

    expect(reads(huge.hash)).toBe(2);
    expect(reads(small.hash)).toBe(1);
    expect(cache.stats()).toMatchObject({ bytes: 200, entries: 1 });
  });

  it('propagates not_found and does not cache the miss', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 10_000);
    const content = Buffer.from(`stored later ${serial++}`);
    const hash = sha256(content);

    const err: unknown = await cache.get(hash).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StowageError);
    expect((err as StowageError).code).toBe('not_found');
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });

    await fsStore.put(hash, content);
    expect((await cache.get(hash)).equals(content)).toBe(true);
    expect(reads(hash)).toBe(2);
  });

  it('caches an empty blob', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 10_000);
    const empty = Buffer.alloc(0);
    const hash = sha256(empty);
    await fsStore.put(hash, empty);

    expect((await cache.get(hash)).byteLength).toBe(0);
    expect((await cache.get(hash)).byteLength).toBe(0);
    expect(reads(hash)).toBe(1);
  });

  it('serves primed content without a store read, unaffected by later changes to the caller’s bytes', async () => {
    const { store, reads } = countingStore();
    const cache = createBlobCache(store, 10_000);
    const { hash, content } = await blob(100);
    const written = Buffer.from(content);

    cache.prime(hash, written);
    written.fill(0);

    expect((await cache.get(hash)).equals(content)).toBe(true);
    expect(reads(hash)).toBe(0);
  });
});
