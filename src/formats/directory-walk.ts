// A local directory as a stream of checked files, for `stowage import <project> <dir>`: the same
// entry rules as an archive (tarball.ts). Nothing is followed: entries are typed by lstat
// (readdir's own types), and files are opened with O_NOFOLLOW and checked again on the open
// descriptor, so a file swapped for a symlink mid-walk is refused rather than read through.
import { constants } from 'node:fs';
import { open, opendir, realpath } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { invalidInput } from '../errors.js';
import {
  createEntryChecker,
  fileMode,
  refusal,
  sha256Of,
  type ArchiveFile,
  type EntryRules,
  type EntryType,
} from './tarball.js';

export interface DirectoryWalk {
  files(): AsyncGenerator<ArchiveFile>;
  /** Repository directories left out: a checkout's `.git` is git's data, not project files. */
  skipped: string[];
}

export function walkDirectory(root: string, rules: EntryRules): DirectoryWalk {
  const checker = createEntryChecker(rules);
  const skipped: string[] = [];

  async function* files(): AsyncGenerator<ArchiveFile> {
    // The root is what the caller named, so it may itself be a link; nothing below it is followed.
    const base = await realpath(root).catch(() => {
      throw invalidInput(`'${root}' is not a readable directory: check the path`);
    });
    const pending: string[] = [''];
    while (pending.length) {
      const dir = pending.pop()!;
      const entries: Dirent[] = [];
      for await (const entry of await opendir(join(base, dir))) entries.push(entry);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: string[] = [];
      for (const entry of entries) {
        const relative = dir ? `${dir}/${entry.name}` : entry.name;
        if (entry.name === '.git') {
          skipped.push(relative);
          continue;
        }
        const type = typeOf(entry);
        if (type === 'directory') {
          checker.check(`${relative}/`, 'directory', 0);
          subdirs.push(relative);
          continue;
        }
        if (type !== 'file') throw refusal(relative, type);
        yield await readFile(base, relative, checker);
      }
      // Onto the stack in reverse, so the first subdirectory by name is walked next.
      pending.push(...subdirs.reverse());
    }
  }

  return { files, skipped };
}

async function readFile(
  base: string,
  relative: string,
  checker: ReturnType<typeof createEntryChecker>,
): Promise<ArchiveFile> {
  const handle = await open(join(base, relative), constants.O_RDONLY | constants.O_NOFOLLOW).catch(
    (err: NodeJS.ErrnoException) => {
      // ELOOP: the file was swapped for a symlink after it was listed.
      throw err.code === 'ELOOP' ? refusal(relative, 'symlink') : err;
    },
  );
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refusal(relative, 'other');
    const path = checker.check(relative, 'file', stat.size)!;
    const content = await handle.readFile();
    if (content.byteLength !== stat.size) {
      throw invalidInput(
        `'${relative}' changed while it was being imported: import again; nothing was written`,
      );
    }
    return {
      path,
      mode: fileMode(stat.mode),
      content,
      sha256: sha256Of(content),
      local: false,
      claimed: undefined,
    };
  } finally {
    await handle.close();
  }
}

function typeOf(entry: Dirent): EntryType {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'directory';
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'fifo';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice() || entry.isBlockDevice()) return 'device';
  return 'other';
}
