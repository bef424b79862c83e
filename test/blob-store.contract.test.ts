// The BlobStore contract, run unchanged against every backend: the filesystem store in a temp
// directory and the S3 store against a real S3-compatible server (s3rver) on loopback.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageError, type ErrorCode } from '../src/errors.js';
import { createFsArtifactStore, type ArtifactStore } from '../src/store/blobs/artifact-store.js';
import { createS3ArtifactStore } from '../src/store/blobs/artifact-store-s3.js';
import {
  sha256,
  type BlobStore,
  type ReclaimableStore,
  type StoredEntry,
} from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createS3BlobStore, createS3Client } from '../src/store/blobs/blob-store-s3.js';
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
  /** An artifact store on the same storage. */
  artifacts: ArtifactStore;
  /** Puts `content` at `name` under the stores' root (or prefix), as something else would. */
  putForeign(name: string, content?: string): Promise<void>;
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
        artifacts: createFsArtifactStore(join(dir, 'artifacts')),
        async putForeign(name, content = 'foreign') {
          // Artifact names go to the artifact directory, the rest to the blob directory.
          const path = name.startsWith('artifacts/') ? join(dir, name) : join(dir, 'blobs', name);
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, content);
        },
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
        artifacts: createS3ArtifactStore(server.config),
        async putForeign(name, content = 'foreign') {
          await createS3Client(server.config).send(
            new PutObjectCommand({
              Bucket: server.bucket,
              Key: `${server.config.prefix}${name}`,
              Body: content,
            }),
          );
        },
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

  it('probes a write that leaves nothing behind, and fails the probe of unreachable storage', async () => {
    const before = keysOf(await listAll(store));
    await expect(store.probe()).resolves.toBeUndefined();
    expect(keysOf(await listAll(store))).toEqual(before);
    const err = await expectCode(backend.unreachable.probe(), 'unavailable');
    expect(err.message).toContain(backend.fixHint);
  });

  it('lists the blobs it holds with their size and age, and nothing it did not write', async () => {
    const content = Buffer.from(`listed ${Math.random()}`);
    const hash = sha256(content);
    await store.put(hash, content);
    const foreign = ['README', `ab/${'a'.repeat(64)}`, `${hash.slice(0, 2)}/not-a-blob`, 'artifacts/x'];
    for (const name of foreign) await backend.putForeign(name);
    const entries = await listAll(store);
    const mine = entries.find((e) => e.id === hash);
    expect(mine).toMatchObject({ size: content.byteLength });
    expect(Math.abs(Date.now() - mine!.modified.getTime())).toBeLessThan(60_000);
    expect(entries.filter((e) => foreign.some((f) => e.key.endsWith(f)))).toEqual([]);
    expect(entries.every((e) => e.id === undefined || /^[0-9a-f]{64}$/.test(e.id))).toBe(true);
  });

  it('reclaims a blob last written before the cutoff, and keeps one written since', async () => {
    const content = Buffer.from(`reclaimed ${Math.random()}`);
    const hash = sha256(content);
    await store.put(hash, content);
    const entry = (await listAll(store)).find((e) => e.id === hash)!;
    expect(await store.reclaim(entry, new Date(entry.modified.getTime() - 60_000))).toBe(false);
    expect(await store.has(hash)).toBe(true);
    expect(await store.reclaim(entry, new Date(Date.now() + 60_000))).toBe(true);
    expect(await store.has(hash)).toBe(false);
    expect(await store.reclaim(entry, new Date(Date.now() + 60_000))).toBe(false);
  });

  it.each([
    ['small', 1024],
    ['large', LARGE_BYTES],
  ])('moves the age of a %s blob put again, so a reclaim listed before keeps it', async (_label, size) => {
    const content = randomBytes(size);
    const hash = sha256(content);
    await store.put(hash, content);
    const listed = (await listAll(store)).find((e) => e.id === hash)!;
    // S3 keeps Last-Modified in whole seconds: the cutoff is a second boundary after the first put.
    await sleep(1100);
    const cutoff = new Date(Math.floor(Date.now() / 1000) * 1000);
    await store.put(hash, content);
    expect(await store.reclaim(listed, cutoff)).toBe(false);
    expect((await store.get(hash)).equals(content)).toBe(true);
  });

  it('refuses to reclaim a key it did not list, before touching storage', async () => {
    for (const key of HOSTILE_KEYS) {
      const entry = { id: undefined, key, size: 0, modified: new Date(0) };
      await expectCode(backend.unreachable.reclaim(entry, new Date()), 'invalid_input');
      await expectCode(
        backend.unreachable.reclaim({ ...entry, id: 'a'.repeat(64) }, new Date()),
        'invalid_input',
      );
    }
  });

  it('lists its artifacts by id with size and age, and reclaims one last written before the cutoff', async () => {
    const { artifacts } = backend;
    const id = randomUUID();
    const { size } = await artifacts.write(id, Readable.from([Buffer.from(`artifact ${id}`)]));
    await backend.putForeign(`artifacts/${'not-an-id'}`);
    const entries = await listAll(artifacts);
    const entry = entries.find((e) => e.id === id);
    expect(entry).toMatchObject({ size });
    expect(entries.filter((e) => e.key.endsWith('not-an-id'))).toEqual([]);
    expect(await artifacts.reclaim(entry!, new Date(entry!.modified.getTime() - 60_000))).toBe(false);
    expect(await artifacts.reclaim(entry!, new Date(Date.now() + 60_000))).toBe(true);
    await expectCode(artifacts.read(id), 'not_found');
    for (const key of [...HOSTILE_KEYS, `artifacts/${id}/..`]) {
      await expectCode(
        artifacts.reclaim({ id, key, size: 0, modified: new Date(0) }, new Date()),
        'invalid_input',
      );
    }
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

describe('fs stores: leftovers of interrupted writes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-leftovers-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists a blob temp file as a leftover (no id) and reclaims it once older than the cutoff', async () => {
    const store = createFsBlobStore(join(dir, 'blobs'));
    const hash = sha256(Buffer.from('interrupted'));
    const temp = join(dir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), `.${hash}.0123456789ab.tmp`);
    await mkdir(dirname(temp), { recursive: true });
    await writeFile(temp, 'half a blob');
    const [entry] = await listAll(store);
    expect(entry).toMatchObject({
      id: undefined,
      key: `${hash.slice(0, 2)}/${hash.slice(2, 4)}/.${hash}.0123456789ab.tmp`,
    });
    expect(await store.reclaim(entry!, new Date(Date.now() - 60_000))).toBe(false);
    expect(await store.reclaim(entry!, new Date(Date.now() + 60_000))).toBe(true);
    expect(await listAll(store)).toEqual([]);
  });

  it('lists an artifact temp file as a leftover (no id)', async () => {
    const store = createFsArtifactStore(join(dir, 'artifacts'));
    const name = `${randomUUID()}.0123456789ab.tmp`;
    await mkdir(join(dir, 'artifacts'), { recursive: true });
    await writeFile(join(dir, 'artifacts', name), 'half a zip');
    const entries = await listAll(store);
    expect(entries).toEqual([{ id: undefined, key: name, size: 10, modified: expect.any(Date) }]);
    expect(await store.reclaim(entries[0]!, new Date(Date.now() + 60_000))).toBe(true);
    expect(await readdir(join(dir, 'artifacts'))).toEqual([]);
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

  it('puts content above the threshold as a multipart upload, also when already stored', async () => {
    const content = randomBytes(LARGE_BYTES);
    const hash = sha256(content);
    const key = `/${server.bucket}/objects/${hash.slice(0, 2)}/${hash}`;
    await store.put(hash, content);
    const first = requestsFor(key);
    expect(first.filter((r) => /^POST .*[?&]uploads/.test(r))).toHaveLength(1);
    expect(first.filter((r) => /^PUT .*x-id=UploadPart/.test(r))).toHaveLength(3);
    expect(first.filter((r) => /^POST .*[?&]uploadId=/.test(r))).toHaveLength(1);
    expect((await store.get(hash)).equals(content)).toBe(true);

    // Stored already: written again all the same, so its Last-Modified moves (see BlobStore.put).
    const before = requestsFor(key).length;
    await store.put(hash, content);
    const again = requestsFor(key).slice(before);
    expect(again.filter((r) => /^POST .*[?&]uploads/.test(r))).toHaveLength(1);
    expect(again.filter((r) => /^HEAD /.test(r))).toEqual([]);
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

const HOSTILE_KEYS = [
  '',
  '../x',
  '/etc/passwd',
  'README',
  `ab/cd/${'a'.repeat(64)}`,
  `aa/aa/../../${'a'.repeat(64)}`,
  `aa/${'a'.repeat(63)}`,
  `.${'a'.repeat(64)}.tmp`,
];

async function listAll(store: ReclaimableStore): Promise<StoredEntry[]> {
  const entries: StoredEntry[] = [];
  for await (const page of store.list()) entries.push(...page);
  return entries;
}

const keysOf = (entries: readonly StoredEntry[]) => entries.map((e) => e.key).sort();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
