// `stowage export <project> <file.tar.gz>` and `stowage import <project> <file.tar.gz|dir>`: local
// files around the lifecycle service's streams. An export is written to a temporary file and
// renamed into place, so a failed export never leaves a partial backup under the real name.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { invalidInput, alreadyExists } from '../errors.js';
import type { CallContext } from '../call-context.js';
import type { ExportResult, ImportResult } from '../store/lifecycle/index.js';
import type { Stowage } from '../store/stowage.js';

/** Writes the project's committed tree to `file` (a new file) as a tar.gz. */
export async function runExport(
  stowage: Stowage,
  project: string,
  file: string,
  call: CallContext = {},
  /** Export a committed tree holding likely secrets (secrets.ts) all the same. */
  options: { allowSecrets?: boolean } = {},
): Promise<ExportResult> {
  if (!options.allowSecrets) await stowage.secrets.refuseCommitted(project, 'export', '--allow-secrets');
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists) throw alreadyExists(`'${file}' already exists: choose another file name, or remove it first`);
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const result = await stowage.lifecycle.exportProject(
      project,
      // A backup holds every file of the project: readable by its owner only, whatever the umask.
      createWriteStream(temp, { flags: 'wx', mode: 0o600 }),
      call,
    );
    await rename(temp, file);
    return result;
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Creates `project` from a tar.gz file or a directory; refuses anything unsafe and then writes nothing. */
export async function runImport(
  stowage: Stowage,
  project: string,
  fileOrDir: string,
  principal: string,
  call: CallContext = {},
): Promise<ImportResult> {
  const info = await stat(fileOrDir).catch(() => {
    throw invalidInput(`'${fileOrDir}' does not exist: give a .tar.gz file or a directory`);
  });
  if (info.isDirectory()) {
    return stowage.lifecycle.importProject(project, { directory: fileOrDir }, { ...call, principal });
  }
  if (!info.isFile()) throw invalidInput(`'${fileOrDir}' is neither a file nor a directory`);
  return stowage.lifecycle.importProject(project, createReadStream(fileOrDir), { ...call, principal });
}
