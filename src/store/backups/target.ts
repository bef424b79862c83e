// Where backups go (BACKUP_TARGET): a content-addressed store of its own plus manifests, in a
// directory or under an S3 prefix (target-s3.ts), never the blob store it backs up. Layout:
//   <target>/blobs/…              content by SHA-256, laid out as the fs or S3 blob store lays it
//   <target>/manifests/<project>/<stamp>-<random>-<files>f-<bytes>b.json   one per backup
// A directory target's files are 0600 and its directories 0700, as the blob store's are.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../../config.js';
import { invalidInput, notFound, StowageError } from '../../errors.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { createFsBlobStore } from '../blobs/blob-store-fs.js';

export interface BackupTarget {
  /** The directory, or s3://bucket/prefix: for messages (it holds no credential). */
  readonly where: string;
  /** The backed-up content, by SHA-256. */
  readonly blobs: BlobStore;
  /** The manifests' keys (`<project>/<name>.json`), of one project or of all. */
  listManifests(project?: string): Promise<string[]>;
  /** A manifest's bytes; `not_found` when it is gone. */
  readManifest(key: string): Promise<Buffer>;
  /** Writes a manifest, atomically: it is whole or absent. */
  writeManifest(key: string, bytes: Buffer): Promise<void>;
  deleteManifest(key: string): Promise<void>;
}

export type TargetConfig = NonNullable<Config['backup']['target']>;

const PROJECT = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const NAME = /^[0-9A-Za-z-]+\.json$/;

/** A manifest key, checked before it becomes part of a path or an object key. */
export function checkManifestKey(key: string): string {
  const [project, name, ...rest] = key.split('/');
  if (rest.length || !PROJECT.test(project ?? '') || !NAME.test(name ?? '')) {
    throw invalidInput(`'${key}' is not a manifest key of the backup target`);
  }
  return key;
}

/** The target BACKUP_TARGET names; the S3 SDK is loaded only for an s3:// one. */
export async function openBackupTarget(config: TargetConfig): Promise<BackupTarget> {
  if (config.kind === 's3') return (await import('./target-s3.js')).createS3BackupTarget(config);
  return createDirectoryTarget(config.directory);
}

export function createDirectoryTarget(root: string): BackupTarget {
  const fix = 'check that BACKUP_TARGET is a writable directory with free space';
  const blobs = createFsBlobStore(join(root, 'blobs'), { store: 'the backup target', fix });
  const manifests = join(root, 'manifests');
  const fail = (err: unknown, operation: string) => {
    const code = (err as { code?: unknown }).code;
    if (err instanceof StowageError || typeof code !== 'string') return err;
    return new StowageError('unavailable', `cannot ${operation} the backup target (${code}): ${fix}`, {
      cause: code,
    });
  };

  return {
    where: root,
    blobs,

    async listManifests(project) {
      try {
        const projects =
          project === undefined ? (await names(manifests)).filter((n) => PROJECT.test(n)) : [project];
        const keys = await Promise.all(
          projects.map(async (p) =>
            (await names(join(manifests, p))).filter((n) => NAME.test(n)).map((n) => `${p}/${n}`),
          ),
        );
        return keys.flat().sort();
      } catch (err) {
        throw fail(err, 'list');
      }
    },

    async readManifest(key) {
      try {
        return await readFile(join(manifests, checkManifestKey(key)));
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT')
          throw notFound(`manifest ${key} is not in the backup target`);
        throw fail(err, 'read');
      }
    },

    async writeManifest(key, bytes) {
      const path = join(manifests, checkManifestKey(key));
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        const file = await open(temp, 'wx', 0o600);
        try {
          await file.writeFile(bytes);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temp, path);
      } catch (err) {
        await rm(temp, { force: true });
        throw fail(err, 'write');
      }
    },

    async deleteManifest(key) {
      try {
        await rm(join(manifests, checkManifestKey(key)), { force: true });
      } catch (err) {
        throw fail(err, 'write');
      }
    },
  };
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return [];
    throw err;
  }
}
