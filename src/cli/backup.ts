// `stowage export <project> <file.tar.gz>` and `stowage import <project> <file.tar.gz|dir>`: local
// files around the lifecycle service's streams. An export is written to a temporary file and
// renamed into place, so a failed export never leaves a partial backup under the real name.
// `stowage backup` and `stowage restore-backup`: backups to and from BACKUP_TARGET (a listing's
// rows on stdout, one per line and tab-separated; what was done on stderr).
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { invalidInput, alreadyExists, StowageError } from '../errors.js';
import type { CallContext } from '../call-context.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { RestoredBackup, TakenBackup } from '../store/backups/index.js';
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

export interface BackupFlags {
  list?: boolean | undefined;
  as?: string | undefined;
  all?: boolean | undefined;
}

/** `stowage backup [project] [--list]` and `stowage restore-backup <backup> [--as NAME] | --all`;
 *  returns the exit code (1: some project could not be backed up or restored). */
export async function runBackupCommand(
  command: 'backup' | 'restore-backup',
  args: string[],
  flags: BackupFlags,
  config: Config,
  logger: Logger,
  usage: string,
): Promise<number> {
  const restoring = command === 'restore-backup';
  const fits = restoring
    ? !flags.list && (flags.all ? !args.length && !flags.as : args.length === 1)
    : !flags.as && !flags.all && args.length <= 1;
  if (!fits) throw invalidInput(usage);
  if (!config.backup.target) {
    throw new StowageError(
      'unavailable',
      'no backup target: set BACKUP_TARGET to a directory or s3://bucket/prefix (see the README, Backups)',
    );
  }
  const { openRuntime } = await import('../runtime.js');
  const runtime = await openRuntime(config, logger);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);
  const backups = runtime.stowage.backups;
  try {
    if (restoring) {
      const call = { principal: config.principal };
      if (!flags.all) {
        err(restoredLine(await backups.restore(args[0]!, { ...call, into: flags.as })));
        return 0;
      }
      const { restored, present, failed } = await backups.restoreAll(call);
      for (const r of restored) err(restoredLine(r));
      if (present.length) err(`left alone (a project of that name is here): ${present.join(', ')}`);
      for (const f of failed) err(`not restored ${f.project}: ${f.reason}`);
      return failed.length ? 1 : 0;
    }
    if (flags.list) {
      const listed = await backups.list(args[0]);
      if (!listed.length)
        err(`no backups in ${config.backup.target.where}${args[0] ? ` of ${args[0]}` : ''}`);
      for (const b of listed) {
        out(
          [b.id, b.time, `${b.files} files`, `${b.bytes} bytes`, ...(b.kept ? [`${b.kept} kept`] : [])].join(
            '\t',
          ),
        );
      }
      return 0;
    }
    if (args[0] !== undefined) {
      err(takenLine(await backups.take(args[0])));
      return 0;
    }
    // Every project, then the retention: what a daily cron job of `stowage backup` needs.
    const { backups: taken, skipped } = await backups.takeAll();
    for (const b of taken) err(takenLine(b));
    for (const s of skipped) err(`not backed up ${s.project}: ${s.reason}`);
    const pruned = await backups.prune();
    err(
      pruned.skipped
        ? `not pruned: ${pruned.skipped}`
        : `pruned ${pruned.manifests} backup(s) past BACKUP_RETENTION_DAYS (${config.backup.retentionDays}) and ${pruned.blobs.count} content(s), ${pruned.blobs.bytes} bytes`,
    );
    return skipped.length ? 1 : 0;
  } finally {
    await runtime.close();
  }
}

const takenLine = (b: TakenBackup) =>
  `backed up ${b.project} as ${b.id}: ${b.files} file(s), ${b.bytes} bytes; sent ${b.uploaded.files} new content(s), ${b.uploaded.bytes} bytes`;

const restoredLine = (r: RestoredBackup) =>
  `restored ${r.project.name} from ${r.backup}: ${r.files} file(s), ${r.bytes} bytes, each matching its SHA-256` +
  (r.detached_remote
    ? `; its remote ${r.detached_remote.url} is not attached (update_project {remote})`
    : '');
