// The filesystem blob backend: content-addressed files under one root, each written atomically.
// Directories are created 0700 and files 0600 whatever the umask: content is the users' own.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StowageError, invalidInput, notFound } from '../../errors.js';
import { isSha256Hex, type BlobStore } from './blob-store.js';

export function createFsBlobStore(root: string): BlobStore {
  // The hash is validated before it becomes part of a path, so no input can leave `root`.
  const pathOf = (hash: string): string => {
    if (!isSha256Hex(hash)) throw invalidInput('blob hash must be a SHA-256 as 64 lowercase hex characters');
    return join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
  };

  return {
    kind: 'fs',

    async put(hash, content) {
      const path = pathOf(hash);
      try {
        if (await isFile(path)) return;
        const dir = dirname(path);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        // A unique temp name in the same directory, so `rename` is atomic and concurrent puts of
        // one hash each replace the file with identical bytes.
        const temp = join(dir, `.${hash}.${randomBytes(6).toString('hex')}.tmp`);
        try {
          const file = await open(temp, 'wx', 0o600);
          try {
            await file.writeFile(content);
            // Flush before the rename makes the name visible: metadata will point at this blob.
            await file.sync();
          } finally {
            await file.close();
          }
          await rename(temp, path);
        } catch (err) {
          await rm(temp, { force: true });
          throw err;
        }
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
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

const errnoCode = (err: unknown): string | undefined =>
  err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

// Errors the operator can fix become `unavailable`; anything else stays as is (an internal error).
const OPERATOR_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EMFILE', 'EIO']);

function translate(err: unknown, operation: 'read' | 'write'): unknown {
  const code = errnoCode(err);
  if (code === undefined || !OPERATOR_ERRORS.has(code)) return err;
  const translated = new StowageError(
    'unavailable',
    `cannot ${operation} the blob directory (${code}): check that STOWAGE_HOME is a writable directory with free space`,
  );
  translated.cause = err;
  return translated;
}
