// A real S3-compatible server (s3rver) on loopback for tests: a fresh temp directory and bucket,
// and a log of the requests it answered so tests can see which S3 API a store used.
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';

// s3rver is CommonJS without type declarations; this is the part of it the tests use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  allowMismatchedSignatures: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('@20minutes/s3rver') as S3rverConstructor;

export interface TestS3Server {
  endpoint: string;
  bucket: string;
  /** The S3 settings a Stowage config would hold for this server (path style, WHEN_REQUIRED checksums). */
  config: NonNullable<Config['s3']>;
  /** `METHOD /path?query` of every request answered so far, oldest first. */
  requests(): readonly string[];
  close(): Promise<void>;
}

export async function startS3Server(bucket = 'stowage-test'): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'stowage-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    // s3rver 4.0.4 verifies SigV4 for bucket-level requests against `/bucket` while the SDK signs
    // `/bucket/`, so HeadBucket (ping) would always fail SignatureDoesNotMatch. Access key ids are
    // still checked: an unknown one gets 403 InvalidAccessKeyId.
    allowMismatchedSignatures: true,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const requests: string[] = [];
  server.httpServer.on('request', (req: IncomingMessage) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? '?'}`);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    config: {
      bucket,
      endpoint,
      region: 'us-east-1',
      prefix: 'blobs/',
      // The SDK already addresses an IP endpoint path-style; explicit, as for any local S3.
      forcePathStyle: true,
      // s3rver's built-in account.
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      // What loadConfig picks for a custom endpoint: s3rver rejects aws-chunked bodies with a
      // checksum trailer, which WHEN_SUPPORTED sends for streamed bodies.
      checksum: 'WHEN_REQUIRED',
    },
    requests: () => requests,
    async close() {
      server.httpServer.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
