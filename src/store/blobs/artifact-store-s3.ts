// Artifacts in S3: streamed in with lib-storage's multipart Upload (parts buffered, never the
// whole archive), read as a stream, and downloadable through presigned URLs.
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import type { Config } from '../../config.js';
import { notFound, StowageError } from '../../errors.js';
import { measuring } from '../../formats/measuring-stream.js';
import { assertArtifactId, isArtifactId, type ArtifactStore } from './artifact-store.js';
import { createS3Client, s3Reclaimable } from './blob-store-s3.js';

export function createS3ArtifactStore(config: NonNullable<Config['s3']>): ArtifactStore {
  const client = createS3Client(config);
  const prefix = `${config.prefix}artifacts/`;
  const key = (id: string) => `${prefix}${assertArtifactId(id)}`;
  /** The id a key of this store names; undefined for any other key. */
  const idOf = (objectKey: string) => {
    const id = objectKey.slice(prefix.length);
    return objectKey.startsWith(prefix) && isArtifactId(id) ? id : undefined;
  };
  const unavailable = (operation: string, err: unknown) =>
    new StowageError(
      'unavailable',
      `S3 ${operation} of an artifact failed: check S3_ENDPOINT and S3_BUCKET`,
      {
        cause: (err as { name?: string }).name,
      },
    );

  return {
    kind: 's3',
    async write(id, source) {
      const meter = measuring();
      source.on('error', (err) => meter.destroy(err));
      const upload = new Upload({
        client,
        params: { Bucket: config.bucket, Key: key(id), Body: source.pipe(meter) },
        queueSize: 2,
        partSize: 8 * 1024 * 1024,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (err) {
        throw unavailable('upload', err);
      }
      return meter.result();
    },
    async read(id) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key: key(id) }));
        return response.Body as Readable;
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound')
          throw notFound(`artifact ${id} is gone (expired or cleaned up)`);
        throw unavailable('read', err);
      }
    },
    async delete(id) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key(id) }));
      } catch (err) {
        throw unavailable('delete', err);
      }
    },
    presign(id, { expiresInSeconds, filename }) {
      const command = new GetObjectCommand({
        Bucket: config.bucket,
        Key: key(id),
        ResponseContentDisposition: `attachment; filename="${filename.replace(/["\\\r\n]/g, '_')}"`,
      });
      return getSignedUrl(client, command, { expiresIn: expiresInSeconds });
    },
    // An upload in progress is no object until it completes; parts a crash leaves are for the
    // bucket's lifecycle rule (AbortIncompleteMultipartUpload), as S3 recommends.
    ...s3Reclaimable(client, config.bucket, prefix, idOf, {
      what: 'artifact store',
      fail: (err, operation) => unavailable(operation, err),
    }),
  };
}
