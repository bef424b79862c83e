// /readyz tells whether the blob store can take writes, not only whether it answers. Real
// `stowage serve --http` processes (dist/index.js: run `npm run build` first) on a real Postgres:
// one on a real S3-compatible server behind a front that can refuse writes (credentials that may
// only read, a bucket over its quota), which is 503 naming the check and then 200 once fixed; and
// on the local blob directory, 503 naming blobs_free_space when its disk has less free than
// READY_MIN_FREE_BYTES.
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { startS3WriteGate, type S3WriteGate } from './support/s3-write-gate.js';
import { spawnHttpServer } from './support/spawn.js';

const MiB = 1024 * 1024;

let root: string;
let db: TestDatabase;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-readiness-'));
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

type Server = Awaited<ReturnType<typeof spawnHttpServer>>;

async function readyz(server: Server) {
  const res = await fetch(new URL('/readyz', server.url));
  return { status: res.status, body: await res.json() };
}

const OK = { status: 200, body: { status: 'ok' } };
const failing = (...failed: string[]) => ({ status: 503, body: { status: 'unavailable', failed } });
// Probes are kept for 5 s (blob-readiness.ts): a change shows within that.
const SOON = { timeout: 20_000, interval: 250 };

describe('/readyz on S3', () => {
  let s3: TestS3Server;
  let gate: S3WriteGate;
  let server: Server;
  beforeAll(async () => {
    s3 = await startS3Server();
    gate = await startS3WriteGate(s3.endpoint);
    server = await spawnHttpServer({
      STOWAGE_HOME: join(root, 's3-home'),
      DATABASE_URL: db.url,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: gate.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      CLEANUP_INTERVAL_MINUTES: '0',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await gate?.close();
    await s3?.close();
  });

  it('is 503 naming blobs_writable while the bucket refuses writes, and 200 once it takes them', async () => {
    expect(await readyz(server)).toEqual(OK);
    gate.refuseWrites(true);
    // The bucket still answers (HeadBucket): only the write check fails.
    await expect.poll(() => readyz(server), SOON).toEqual(failing('blobs_writable'));
    gate.refuseWrites(false);
    await expect.poll(() => readyz(server), SOON).toEqual(OK);
  });
});

describe('/readyz on the local blob directory', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  const serve = async (name: string, minFreeBytes: number) => {
    const server = await spawnHttpServer({
      STOWAGE_HOME: join(root, name),
      DATABASE_URL: db.url,
      READY_MIN_FREE_BYTES: String(minFreeBytes),
      CLEANUP_INTERVAL_MINUTES: '0',
    });
    servers.push(server);
    return server;
  };

  // Thresholds on either side of the disk's free space by far, rather than a ballast that fills
  // the disk: another suite writing beside this one moves the free space by hundreds of MiB.
  it('is 503 naming blobs_free_space when its disk has less free than READY_MIN_FREE_BYTES', async () => {
    const { bavail, bsize } = await statfs(root);
    const free = bavail * bsize;
    const short = await serve('short-home', free + 1024 * 1024 * MiB);
    await expect.poll(() => readyz(short), SOON).toEqual(failing('blobs_free_space'));
    const roomy = await serve('roomy-home', MiB);
    await expect.poll(() => readyz(roomy), SOON).toEqual(OK);
  });
});
