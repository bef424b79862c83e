// The BlobStore contract, run unchanged against every backend: the filesystem store in a temp
// directory and the S3 store against a real S3-compatible server (s3rver) on loopback.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageError, type ErrorCode } from '../src/errors.js';
import { sha256, type BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createS3BlobStore } from '../src/store/blobs/blob-store-s3.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';

const MiB = 1024 * 1024;
// Small enough to keep the suite fast, above S3's 5 MiB minimum part so the upload has 3 parts.
const MULTIPART_THRESHOLD = 6 * MiB;
const LARGE_BYTES = 12 * MiB;

interface Backend {
  /** A store on working storage. */
  store: BlobStore;
  /** A store whose storage cannot be reached: any operation that touches storage fails. */
  unreachable: BlobStore;
  /** The setting an `unavailable` message must name. */
  fixHint: string;
  close(): Promise<void>;
}

const backends: { kind: string; start: () => Promise<Backend> }[] = [
  {
    kind: 'fs',
    async start() {
      const dir = await mkdtemp(join(tmpdir(), 'stowage-blobs-'));
      // A root below a regular file: every path under it fails with ENOTDIR.
      await writeFile(join(dir, 'not-a-directory'), '');
      return {
        store: createFsBlobStore(join(dir, 'blobs')),
        unreachable: createFsBlobStore(join(dir, 'not-a-directory', 'blobs')),
        fixHint: 'STOWAGE_HOME',
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    kind: 's3',
    async start() {
      const server = await startS3Server();
      return {
        store: createS3BlobStore(server.config, {
          multipartThresholdBytes: MULTIPART_THRESHOLD,
          partBytes: 5 * MiB,
        }),
        unreachable: createS3BlobStore({
          ...server.config,
          endpoint: `http://127.0.0.1:${await closedPort()}`,
        }),
        fixHint: 'S3_ENDPOINT',
        close: () => server.close(),
      };
    },
  },
];

const HOSTILE_HASHES = [
  '',
  'abc',
  '../../../../etc/passwd',
  `../${'a'.repeat(61)}`,
  `${'a'.repeat(62)}/.`,
  `${'a'.repeat(64)}/../x`,
  'A'.repeat(64),
  'g'.repeat(64),
  'a'.repeat(63),
  'a'.repeat(65),
  ` ${'a'.repeat(63)}`,
  `${'a'.repeat(63)}\n`,
  `${'a'.repeat(63)}\0`,
];

describe.each(backends)('$kind blob store', ({ start }) => {
  let backend: Backend;
  let store: BlobStore;
  beforeAll(async () => {
    backend = await start();
    store = backend.store;
  });
  afterAll(() => backend?.close());

  it.each([
    ['text', Buffer.from('export const answer = 42;\n// naïve café ✓\n')],
    ['binary with NUL bytes', Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))],
    ['empty', Buffer.alloc(0)],
  ])('round-trips %s content', async (_label, content) => {
    const hash = sha256(content);
    await store.put(hash, content);
    expect(await store.has(hash)).toBe(true);
    const read = await store.get(hash);
    expect(Buffer.isBuffer(read)).toBe(true);
    expect(read.equals(content)).toBe(true);
  });

  it('accepts a second put of the same hash', async () => {
    const content = Buffer.from(`idempotent ${Math.random()}`);
    const hash = sha256(content);
    await store.put(hash, content);
    await store.put(hash, content);
    expect((await store.get(hash)).equals(content)).toBe(true);
  });

  it('survives concurrent puts of the same hash', async () => {
    const content = randomBytes(256 * 1024);
    const hash = sha256(content);
    await Promise.all(Array.from({ length: 8 }, () => store.put(hash, content)));
    expect((await store.get(hash)).equals(content)).toBe(true);
  });

  it('reports with has whether a blob is stored', async () => {
    const content = Buffer.from(`has ${Math.random()}`);
    const hash = sha256(content);
    expect(await store.has(hash)).toBe(false);
    await store.put(hash, content);
    expect(await store.has(hash)).toBe(true);
  });

  it('deletes a blob, and deleting a missing blob is not an error', async () => {
    const content = Buffer.from(`delete ${Math.random()}`);
    const hash = sha256(content);
    await store.put(hash, content);
    await store.delete(hash);
    expect(await store.has(hash)).toBe(false);
    await expectCode(store.get(hash), 'not_found');
    await expect(store.delete(hash)).resolves.toBeUndefined();
  });

  it('answers not_found for a blob never stored', async () => {
    await expectCode(store.get(sha256(Buffer.from(`never stored ${Math.random()}`))), 'not_found');
  });

  it('rejects a malformed hash as invalid_input before touching storage', async () => {
    // On the unreachable store any storage access would fail as `unavailable` instead.
    const { unreachable } = backend;
    for (const hash of HOSTILE_HASHES) {
      await expectCode(unreachable.put(hash, Buffer.from('x')), 'invalid_input');
      await expectCode(unreachable.get(hash), 'invalid_input');
      await expectCode(unreachable.has(hash), 'invalid_input');
      await expectCode(unreachable.delete(hash), 'invalid_input');
    }
  });

  it(`round-trips a ${LARGE_BYTES / MiB} MiB blob`, async () => {
    const content = randomBytes(LARGE_BYTES);
    const hash = sha256(content);
    await store.put(hash, content);
    expect((await store.get(hash)).equals(content)).toBe(true);
  });

  it('pings working storage, and reports unreachable storage as unavailable naming the setting', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const err = await expectCode(backend.unreachable.ping(), 'unavailable');
    expect(err.message).toContain(backend.fixHint);
  });
});

describe('fs blob store layout', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-blobs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('stores content at <root>/<hash[0..2]>/<hash[2..4]>/<hash> and leaves no temp files', async () => {
    const store = createFsBlobStore(dir);
    const content = randomBytes(64 * 1024);
    const hash = sha256(content);
    await Promise.all(Array.from({ length: 8 }, () => store.put(hash, content)));
    const leaf = join(dir, hash.slice(0, 2), hash.slice(2, 4));
    expect(await readdir(leaf)).toEqual([hash]);
    expect((await stat(join(leaf, hash))).size).toBe(content.byteLength);
  });
});

describe('s3 blob store against s3rver', () => {
  let server: TestS3Server;
  let store: BlobStore;
  beforeAll(async () => {
    server = await startS3Server();
    store = createS3BlobStore(
      { ...server.config, prefix: 'objects/' },
      { multipartThresholdBytes: MULTIPART_THRESHOLD, partBytes: 5 * MiB },
    );
  });
  afterAll(() => server?.close());

  const requestsFor = (key: string) =>
    server.requests().filter((r) => r.split(' ')[1]!.split('?')[0]!.endsWith(key));

  it('puts small content with one PutObject at <prefix><hash[0..2]>/<hash>', async () => {
    const content = Buffer.from('small');
    const hash = sha256(content);
    await store.put(hash, content);
    const requests = requestsFor(`/${server.bucket}/objects/${hash.slice(0, 2)}/${hash}`);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^PUT .*x-id=PutObject/);
  });

  it('puts content above the threshold as a multipart upload, and skips it when already stored', async () => {
    const content = randomBytes(LARGE_BYTES);
    const hash = sha256(content);
    const key = `/${server.bucket}/objects/${hash.slice(0, 2)}/${hash}`;
    await store.put(hash, content);
    const first = requestsFor(key);
    expect(first.filter((r) => /^POST .*[?&]uploads/.test(r))).toHaveLength(1);
    expect(first.filter((r) => /^PUT .*x-id=UploadPart/.test(r))).toHaveLength(3);
    expect(first.filter((r) => /^POST .*[?&]uploadId=/.test(r))).toHaveLength(1);
    expect((await store.get(hash)).equals(content)).toBe(true);

    const before = requestsFor(key).length;
    await store.put(hash, content);
    expect(requestsFor(key).slice(before)).toEqual([`HEAD ${key}`]);
  });

  it('reports rejected credentials as unavailable without echoing them', async () => {
    const keyId = 'AKIAUNKNOWNKEYID';
    const secret = 'secret-never-echoed';
    const denied = createS3BlobStore({
      ...server.config,
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
    });
    const hash = sha256(Buffer.from('x'));
    // Thunks: a rejection nobody awaits yet would be reported as unhandled.
    for (const attempt of [
      () => denied.ping(),
      () => denied.get(hash),
      () => denied.put(hash, Buffer.from('x')),
    ]) {
      const err = await expectCode(attempt(), 'unavailable');
      expect(err.message).toContain('S3_ACCESS_KEY_ID');
      expect(err.message).not.toContain(keyId);
      expect(err.message).not.toContain(secret);
    }
  });

  it('reports a missing bucket as unavailable naming S3_BUCKET', async () => {
    const lost = createS3BlobStore({ ...server.config, bucket: 'no-such-bucket' });
    const err = await expectCode(lost.get(sha256(Buffer.from('x'))), 'unavailable');
    expect(err.message).toContain('S3_BUCKET');
  });
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<StowageError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StowageError);
  expect((err as StowageError).code).toBe(code);
  return err as StowageError;
}

/** A loopback port nothing listens on: bound and released again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
