// Artifacts (job zips, project archives, backups) are written as streams, never whole in memory,
// and kept under their own id rather than their hash: the hash is only known once the last byte
// has gone by. Backends: a local directory (0700, files 0600), or S3 (with presigned download
// URLs).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidInput, notFound, StowageError } from '../../errors.js';

export interface ArtifactStore {
  readonly kind: 'fs' | 's3';
  /** Streams `source` into artifact `id`; atomic: a failed write leaves nothing behind. */
  write(id: string, source: Readable): Promise<{ size: number; sha256: string }>;
  /** The artifact's bytes as a stream; `not_found` when it is gone. */
  read(id: string): Promise<Readable>;
  delete(id: string): Promise<void>;
  /** A URL the store serves itself for `expiresInSeconds` (S3 presigned); undefined for fs. */
  presign?(id: string, options: { expiresInSeconds: number; filename: string }): Promise<string>;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function assertArtifactId(id: string): string {
  if (!ID.test(id)) throw invalidInput(`artifact id '${id}' is not a UUID`);
  return id;
}

/** A pass-through that counts and hashes what flows through it. */
export function measuring(): Transform & { result(): { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  let digest: string | undefined;
  return Object.assign(transform, {
    result: () => ({ size, sha256: (digest ??= hash.digest('hex')) }),
  });
}

export function createFsArtifactStore(root: string): ArtifactStore {
  const pathOf = (id: string) => join(root, assertArtifactId(id));
  return {
    kind: 'fs',
    async write(id, source) {
      const path = pathOf(id);
      await mkdir(root, { recursive: true, mode: 0o700 });
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      const meter = measuring();
      // Open before streaming: a stream that fails early would otherwise still open (and so
      // create) the temp file after the cleanup below has run.
      const file = await open(temp, 'wx', 0o600);
      try {
        await pipeline(source, meter, file.createWriteStream());
        await rename(temp, path);
      } catch (err) {
        await file.close().catch(() => undefined);
        await rm(temp, { force: true });
        throw err;
      }
      return meter.result();
    },
    async read(id) {
      const path = pathOf(id);
      try {
        await stat(path);
      } catch {
        throw notFound(`artifact ${id} is gone (expired or cleaned up)`);
      }
      return createReadStream(path);
    },
    async delete(id) {
      await rm(pathOf(id), { force: true }).catch((err: unknown) => {
        throw new StowageError('unavailable', `could not delete artifact ${id}: check STOWAGE_HOME`, {
          cause: String(err),
        });
      });
    },
  };
}
