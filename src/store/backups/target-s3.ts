// A backup target under an S3 prefix (BACKUP_TARGET=s3://bucket/prefix, on any S3-compatible store
// with BACKUP_S3_*): content through the S3 blob store under `<prefix>blobs/`, manifests as
// objects under `<prefix>manifests/`. A PutObject is atomic, so a manifest is whole or absent.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { notFound } from '../../errors.js';
import {
  createS3BlobStore,
  createS3Client,
  isMissing,
  s3ErrorTranslator,
  type S3Labels,
} from '../blobs/blob-store-s3.js';
import { checkManifestKey, type BackupTarget, type TargetConfig } from './target.js';

const LABELS: S3Labels = {
  store: 'backup target (S3)',
  bucket: 'BACKUP_TARGET',
  keys: 'BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY',
  endpoint: 'BACKUP_S3_ENDPOINT',
};

export function createS3BackupTarget(config: Extract<TargetConfig, { kind: 's3' }>): BackupTarget {
  const { s3 } = config;
  const client = createS3Client(s3);
  const fail = s3ErrorTranslator(LABELS);
  const root = `${s3.prefix}manifests/`;
  const objectKey = (key: string) => `${root}${checkManifestKey(key)}`;

  return {
    where: config.where,
    blobs: createS3BlobStore({ ...s3, prefix: `${s3.prefix}blobs/` }, { labels: LABELS }),

    async listManifests(project) {
      const keys: string[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({
              Bucket: s3.bucket,
              Prefix: project === undefined ? root : `${root}${project}/`,
              ContinuationToken: token,
            }),
          );
          for (const object of page.Contents ?? []) {
            if (object.Key?.startsWith(root)) keys.push(object.Key.slice(root.length));
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw fail(err, 'ListObjectsV2');
      }
      return keys.sort();
    },

    async readManifest(key) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey(key) }));
        return Buffer.from((await response.Body?.transformToByteArray()) ?? []);
      } catch (err) {
        if (isMissing(err)) throw notFound(`manifest ${key} is not in the backup target`);
        throw fail(err, 'GetObject');
      }
    },

    async writeManifest(key, bytes) {
      const Key = objectKey(key);
      try {
        await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: bytes }));
      } catch (err) {
        throw fail(err, 'PutObject');
      }
    },

    async deleteManifest(key) {
      const Key = objectKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key }));
      } catch (err) {
        if (!isMissing(err)) throw fail(err, 'DeleteObject');
      }
    },
  };
}
