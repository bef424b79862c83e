// Artifacts (job zips, project archives, backups) are written as streams, never whole in memory,
// and kept under their own id rather than their hash: the hash is only known once the last byte
// has gone by. Backends: a local directory (0700, files 0600; `<id>`, and `<id>.<random>.tmp`
// while one is written), or S3 (with presigned download URLs).
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidInput, notFound, StowageError } from '../../errors.js';
import { measuring } from '../../formats/measuring-stream.js';
import { pauseAt } from '../../test-pause.js';
import type { ReclaimableStore, StoredEntry } from './blob-store.js';

/** Artifacts are listed to reclaim those no row records (see store/maintenance/artifact-gc.ts). */
export interface ArtifactStore extends ReclaimableStore {
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
const TEMP = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[0-9a-f]{12}\.tmp$/;

export const isArtifactId = (id: string): boolean => ID.test(id);

export function assertArtifactId(id: string): string {
  if (!ID.test(id)) throw invalidInput(`artifact id '${id}' is not a UUID`);
  return id;
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
        await pauseAt('artifact-temp');
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
    async *list() {
      let names: string[];
      try {
        names = await readdir(root);
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return;
        throw unavailable('list', err);
      }
      for (let i = 0; i < names.length; i += LIST_PAGE) {
        const page = await Promise.all(
          names.slice(i, i + LIST_PAGE).map(async (name): Promise<StoredEntry | undefined> => {
            const id = ID.test(name) ? name : TEMP.test(name) ? undefined : null;
            if (id === null) return undefined;
            const info = await lstat(join(root, name)).catch(() => undefined);
            return info?.isFile() ? { id, key: name, size: info.size, modified: info.mtime } : undefined;
          }),
        );
        yield page.filter((e): e is StoredEntry => e !== undefined);
      }
    },
    // Ids are never reused, so nothing writes to a listed entry again: its age is checked again
    // only because a write may have been in progress when it was listed.
    async reclaim(entry, cutoff) {
      if (!ID.test(entry.key) && !TEMP.test(entry.key)) {
        throw invalidInput(`'${entry.key}' is not an entry of the artifact store`);
      }
      const path = join(root, entry.key);
      try {
        const info = await lstat(path);
        if (info.mtime >= cutoff) return false;
        await rm(path, { force: true });
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return false;
        throw unavailable('reclaim', err);
      }
    },
  };
}

const LIST_PAGE = 1000;

const unavailable = (operation: string, err: unknown) =>
  new StowageError('unavailable', `could not ${operation} the artifact directory: check STOWAGE_HOME`, {
    cause: String(err),
  });
