// The filesystem blob backend: content-addressed files under one root, each written atomically.
// Directories are created 0700 and files 0600 whatever the umask: content is the users' own.
// Layout: <root>/<hash[0..2]>/<hash[2..4]>/<hash>; a write in progress is `.<hash>.<random>.tmp`
// beside it, and a readiness probe `.probe.<random>.tmp` in the root.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  utimes,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StowageError, invalidInput, notFound } from '../../errors.js';
import { pauseAt } from '../../test-pause.js';
import { isSha256Hex, type BlobStore, type StoredEntry } from './blob-store.js';

const PAGE = 1000;
const SHARD = /^[0-9a-f]{2}$/;
const TEMP = /^\.([0-9a-f]{64})\.[0-9a-f]{12}\.tmp$/;
const PROBE = /^\.probe\.[0-9a-f]{12}\.tmp$/;
/** The keys `list` hands out: `<xx>/<yy>/` and a blob or a blob's temp file, or a probe's. */
const BLOB_KEY = /^([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/;
const TEMP_KEY = /^(?:[0-9a-f]{2}\/[0-9a-f]{2}\/\.[0-9a-f]{64}\.[0-9a-f]{12}|\.probe\.[0-9a-f]{12})\.tmp$/;

const suffix = () => randomBytes(6).toString('hex');

/** What errors call the directory and how to fix it; default the blob directory's (STOWAGE_HOME). */
export interface FsLabels {
  store: string;
  fix: string;
}

const BLOB_DIRECTORY: FsLabels = {
  store: 'the blob directory',
  fix: 'check that STOWAGE_HOME is a writable directory with free space',
};

export function createFsBlobStore(root: string, labels: FsLabels = BLOB_DIRECTORY): BlobStore {
  const translate = (err: unknown, operation: 'read' | 'write') => translated(err, operation, labels);
  // The hash is validated before it becomes part of a path, so no input can leave `root`.
  const pathOf = (hash: string): string => {
    if (!isSha256Hex(hash)) throw invalidInput('blob hash must be a SHA-256 as 64 lowercase hex characters');
    return join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
  };

  /** What the entries of one directory are; `name` → hash, or undefined for a leftover. */
  async function entriesOf(
    dir: string,
    prefix: string,
    classify: (name: string) => { id: string | undefined } | null,
  ): Promise<StoredEntry[]> {
    const found = (await names(dir)).flatMap((name) => {
      const kind = classify(name);
      return kind ? [{ name, id: kind.id }] : [];
    });
    const entries = await Promise.all(
      found.map(async ({ name, id }) => {
        const info = await lstatOrUndefined(join(dir, name));
        if (!info?.isFile()) return undefined;
        return { id, key: `${prefix}${name}`, size: info.size, modified: info.mtime };
      }),
    );
    return entries.filter((e): e is StoredEntry => e !== undefined);
  }

  return {
    kind: 'fs',

    async put(hash, content) {
      const path = pathOf(hash);
      try {
        if (await touch(path)) return;
        const dir = dirname(path);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        // A unique temp name in the same directory, so `rename` is atomic and concurrent puts of
        // one hash each replace the file with identical bytes.
        const temp = join(dir, `.${hash}.${suffix()}.tmp`);
        try {
          const file = await open(temp, 'wx', 0o600);
          try {
            await file.writeFile(content);
            // Flush before the rename makes the name visible: metadata will point at this blob.
            await file.sync();
          } finally {
            await file.close();
          }
          await pauseAt('blob-temp');
          await rename(temp, path);
        } catch (err) {
          await rm(temp, { force: true });
          throw err;
        }
        await pauseAt('blob-stored');
      } catch (err) {
        throw translate(err, 'write');
      }
    },

    async get(hash) {
      const path = pathOf(hash);
      try {
        return await readFile(path);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') throw notFound(`blob ${hash} is not in the blob store`);
        throw translate(err, 'read');
      }
    },

    async has(hash) {
      const path = pathOf(hash);
      try {
        return await isFile(path);
      } catch (err) {
        throw translate(err, 'read');
      }
    },

    async delete(hash) {
      const path = pathOf(hash);
      try {
        await rm(path, { force: true });
      } catch (err) {
        throw translate(err, 'write');
      }
    },

    async ping() {
      try {
        await mkdir(root, { recursive: true, mode: 0o700 });
        await access(root, constants.R_OK | constants.W_OK);
      } catch (err) {
        throw translate(err, 'write');
      }
    },

    async probe() {
      const path = join(root, `.probe.${suffix()}.tmp`);
      try {
        await mkdir(root, { recursive: true, mode: 0o700 });
        const file = await open(path, 'wx', 0o600);
        try {
          await file.writeFile('probe');
          await file.sync();
        } finally {
          await file.close();
          await rm(path, { force: true });
        }
      } catch (err) {
        throw translate(err, 'write');
      }
    },

    async freeBytes() {
      try {
        await mkdir(root, { recursive: true, mode: 0o700 });
        const fs = await statfs(root);
        return fs.bavail * fs.bsize;
      } catch (err) {
        throw translate(err, 'read');
      }
    },

    async *list() {
      let page: StoredEntry[] = [];
      try {
        page.push(...(await entriesOf(root, '', (name) => (PROBE.test(name) ? { id: undefined } : null))));
        for (const a of (await names(root)).filter((n) => SHARD.test(n)).sort()) {
          for (const b of (await names(join(root, a))).filter((n) => SHARD.test(n)).sort()) {
            const shard = a + b;
            const leaf = await entriesOf(join(root, a, b), `${a}/${b}/`, (name) => {
              if (isSha256Hex(name) && name.startsWith(shard)) return { id: name };
              const temp = TEMP.exec(name);
              return temp?.[1]?.startsWith(shard) ? { id: undefined } : null;
            });
            page.push(...leaf);
            if (page.length >= PAGE) {
              yield page;
              page = [];
            }
          }
        }
      } catch (err) {
        throw translate(err, 'read');
      }
      if (page.length) yield page;
    },

    async reclaim(entry, cutoff) {
      const blob = BLOB_KEY.exec(entry.key);
      const hash = blob?.[3];
      if (blob ? blob[1]! + blob[2]! !== hash!.slice(0, 4) : !TEMP_KEY.test(entry.key)) {
        throw invalidInput(`'${entry.key}' is not an entry of the blob store`);
      }
      const path = join(root, entry.key);
      try {
        if (hash === undefined) {
          // Leftovers of a write: nobody ever writes to that name again.
          const info = await lstatOrUndefined(path);
          if (!info || info.mtime >= cutoff) return false;
          await rm(path, { force: true });
          return true;
        }
        // A blob a writer may be reusing right now: its put touches the file (see `touch`). Moved
        // aside first, then judged, so a touch either lands before the move (seen below, and the
        // blob is put back) or finds no file and writes the blob anew.
        const aside = join(dirname(path), `.${hash}.${suffix()}.tmp`);
        try {
          await rename(path, aside);
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') return false;
          throw err;
        }
        // Gone meanwhile: another cleanup took it for a leftover (it was as old as one).
        const info = await lstatOrUndefined(aside);
        if (!info) return false;
        if (info.mtime >= cutoff) {
          await rename(aside, path);
          return false;
        }
        await rm(aside, { force: true });
        return true;
      } catch (err) {
        throw translate(err, 'write');
      }
    },
  };
}

/** Marks an existing blob as written now; false when there is none. */
async function touch(path: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return false;
    // Another user's file (an earlier run as root): it can still be reused, just not marked.
    if (code === 'EPERM' || code === 'EACCES') return isFile(path);
    throw err;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

const errnoCode = (err: unknown): string | undefined =>
  err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

// Errors the operator can fix become `unavailable`; anything else stays as is (an internal error).
const OPERATOR_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EMFILE', 'EIO']);

function translated(err: unknown, operation: 'read' | 'write', labels: FsLabels): unknown {
  const code = errnoCode(err);
  if (code === undefined || !OPERATOR_ERRORS.has(code)) return err;
  const failure = new StowageError(
    'unavailable',
    `cannot ${operation} ${labels.store} (${code}): ${labels.fix}`,
  );
  failure.cause = err;
  return failure;
}
