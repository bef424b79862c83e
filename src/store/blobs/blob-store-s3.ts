// The S3 blob backend: content-addressed objects in one bucket, large ones uploaded in parts.
// S3 errors are translated here, where they cross into Stowage; nothing past this file sees them.
// Keys: <prefix><hash[0..2]>/<hash>; the readiness probe is <prefix>readiness-probe.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Config } from '../../config.js';
import { StowageError, invalidInput, notFound } from '../../errors.js';
import { isSha256Hex, type BlobStore, type ReclaimableStore, type StoredEntry } from './blob-store.js';

const MiB = 1024 * 1024;
/** S3 rejects parts smaller than this, except the last. */
const MIN_PART_BYTES = 5 * MiB;

export interface S3BlobStoreOptions {
  /** Content larger than this goes through a multipart upload. Default 8 MiB. */
  multipartThresholdBytes?: number;
  /** Size of each part of a multipart upload; at least 5 MiB. Default 8 MiB. */
  partBytes?: number;
  /** What errors call the store and its settings; default the blob store's (S3_*). */
  labels?: S3Labels;
}

/** The store and the settings an error's fix names. */
export interface S3Labels {
  store: string;
  bucket: string;
  keys: string;
  endpoint: string;
}

const BLOB_STORE_LABELS: S3Labels = {
  store: 'blob store (S3)',
  bucket: 'S3_BUCKET',
  keys: 'S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY',
  endpoint: 'S3_ENDPOINT',
};

/** One S3 client per store, configured from S3_*; the checksum mode suits custom endpoints. */
export function createS3Client(config: NonNullable<Config['s3']>): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    credentials: config.credentials,
    requestChecksumCalculation: config.checksum,
    responseChecksumValidation: config.checksum,
  });
}

export function createS3BlobStore(
  config: NonNullable<Config['s3']>,
  options: S3BlobStoreOptions = {},
): BlobStore {
  const threshold = options.multipartThresholdBytes ?? 8 * MiB;
  const partBytes = options.partBytes ?? 8 * MiB;
  if (partBytes < MIN_PART_BYTES) throw new RangeError(`partBytes must be at least ${MIN_PART_BYTES}`);

  const client = createS3Client(config);
  const bucket = config.bucket;
  const labels = options.labels ?? BLOB_STORE_LABELS;
  const translate = s3ErrorTranslator(labels);

  const keyOf = (hash: string): string => {
    if (!isSha256Hex(hash)) throw invalidInput('blob hash must be a SHA-256 as 64 lowercase hex characters');
    return `${config.prefix}${hash.slice(0, 2)}/${hash}`;
  };
  /** The hash a key of this store names; undefined for any other key under the prefix. */
  const hashOf = (key: string): string | undefined => {
    if (!key.startsWith(config.prefix)) return undefined;
    const rest = key.slice(config.prefix.length);
    const hash = rest.slice(3);
    return rest[2] === '/' && isSha256Hex(hash) && rest.startsWith(hash.slice(0, 2)) ? hash : undefined;
  };

  return {
    kind: 's3',

    // Always written, even when the object exists: its Last-Modified moving is what keeps a
    // reclaim away from a blob being reused (BlobStore.put), and S3-compatible stores do not all
    // move it for a copy onto itself. Only blobs without a row are put (blobs/writer.ts), so a
    // second upload is rare: two writers of the same new content, or a stray being reused.
    async put(hash, content) {
      const key = keyOf(hash);
      if (content.byteLength <= threshold) {
        try {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: content }));
        } catch (err) {
          throw translate(err, 'PutObject');
        }
        return;
      }
      try {
        const upload = new Upload({
          client,
          params: { Bucket: bucket, Key: key, Body: content },
          partSize: partBytes,
          leavePartsOnError: false,
        });
        await upload.done();
      } catch (err) {
        throw translate(err, 'multipart upload');
      }
    },

    async get(hash) {
      const key = keyOf(hash);
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!response.Body) return Buffer.alloc(0);
        const bytes = await response.Body.transformToByteArray();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (err) {
        if (isMissing(err)) throw notFound(`blob ${hash} is not in the blob store`);
        throw translate(err, 'GetObject');
      }
    },

    async has(hash) {
      const key = keyOf(hash);
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw translate(err, 'HeadObject');
      }
    },

    async delete(hash) {
      const key = keyOf(hash);
      try {
        // S3 answers 204 whether or not the object existed.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (err) {
        if (isMissing(err)) return;
        throw translate(err, 'DeleteObject');
      }
    },

    async ping() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
      } catch (err) {
        // HeadBucket has no body, so a missing bucket is only a bare 404.
        if (statusOf(err) === 404) {
          throw unavailable(labels.store, 'HeadBucket', '404 NotFound', `check ${labels.bucket}`, err);
        }
        throw translate(err, 'HeadBucket');
      }
    },

    async probe() {
      const key = `${config.prefix}readiness-probe`;
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'probe' }));
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (err) {
        throw translate(err, 'probe write');
      }
    },

    freeBytes: () => Promise.resolve(undefined),

    ...s3Reclaimable(client, bucket, config.prefix, hashOf, { what: labels.store, fail: translate }),
  };
}

/** Listing and reclaiming what a store wrote under `prefix` (ReclaimableStore), for the blob and
 *  artifact stores alike; `idOf` names the objects the store wrote, and nothing else is listed.
 *  No conditional delete is portable across S3-compatible stores: the age is checked just
 *  before the delete, and a put of the same content always moves it (see `put`). */
export function s3Reclaimable(
  client: S3Client,
  bucket: string,
  prefix: string,
  idOf: (key: string) => string | undefined,
  { what, fail }: { what: string; fail: (err: unknown, operation: string) => unknown },
): ReclaimableStore {
  return {
    async *list() {
      let token: string | undefined;
      do {
        let page;
        try {
          page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
        } catch (err) {
          throw fail(err, 'ListObjectsV2');
        }
        const entries: StoredEntry[] = [];
        for (const object of page.Contents ?? []) {
          const id = object.Key === undefined ? undefined : idOf(object.Key);
          if (id === undefined || !object.LastModified) continue;
          entries.push({ id, key: object.Key!, size: object.Size ?? 0, modified: object.LastModified });
        }
        if (entries.length) yield entries;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },

    async reclaim(entry, cutoff) {
      if (idOf(entry.key) === undefined) throw invalidInput(`'${entry.key}' is not an entry of the ${what}`);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: entry.key }));
        if (!head.LastModified || head.LastModified >= cutoff) return false;
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: entry.key }));
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw fail(err, 'reclaim');
      }
    },
  };
}

const statusOf = (err: unknown): number | undefined =>
  err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;

export function isMissing(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  if (err.name === 'NoSuchBucket') return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || statusOf(err) === 404;
}

const CREDENTIAL_ERRORS = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'CredentialsProviderError',
]);

/**
 * Problems the operator must fix become `unavailable` with a message naming the settings to check;
 * anything else is rethrown as is (an internal error). Messages hold S3 error names and errno codes
 * only: never the endpoint (it may embed userinfo), the SDK's message or a key.
 */
export const s3ErrorTranslator =
  (labels: S3Labels) =>
  (err: unknown, operation: string): unknown => {
    if (!(err instanceof Error)) return err;
    const status = statusOf(err);
    let fix: string;
    if (err.name === 'NoSuchBucket') {
      fix = `check ${labels.bucket}`;
    } else if (status === 401 || status === 403 || CREDENTIAL_ERRORS.has(err.name)) {
      fix = `check ${labels.bucket}, ${labels.keys} and the bucket policy`;
    } else if ((status !== undefined && status >= 500) || (status === undefined && isTransportError(err))) {
      fix = `check ${labels.endpoint} and ${labels.bucket}`;
    } else {
      return err;
    }
    const reason = errnoCode(err) ?? (status === undefined ? err.name : `${status} ${err.name}`);
    return unavailable(labels.store, operation, reason, fix, err);
  };

function unavailable(
  store: string,
  operation: string,
  reason: string,
  fix: string,
  cause?: unknown,
): StowageError {
  const err = new StowageError('unavailable', `${store} ${operation} failed (${reason}): ${fix}`);
  err.cause = cause;
  return err;
}

/** The request never got an HTTP answer: refused, reset, unresolvable host or timed out. */
const isTransportError = (err: Error): boolean => errnoCode(err) !== undefined || err.name === 'TimeoutError';

const errnoCode = (err: Error): string | undefined =>
  'code' in err && typeof err.code === 'string' ? err.code : undefined;
