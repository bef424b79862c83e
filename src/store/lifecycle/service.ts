// Project lifecycle (seed 003): archive a project's committed tree into a tar.gz artifact and free
// its files, restore it, export and import backups, and archive idle projects for the sweeper.
// Everything streams one file at a time (tarball.ts, tree-transfer.ts); whatever is read in is
// stored blob first and made visible by one final transaction, so a failure leaves nothing.
//
// Decisions:
// - A project with drafts is not archived: the archive holds the committed tree, and drafts
//   would either be lost or linger unreadable. The error names list_changes, commit_task and
//   discard_changes; the idle sweeper skips such projects.
// - Archived means: no files rows (their blobs become garbage for cleanup), writes and syncs
//   refused (assertWritable), listing and reading refused with an error naming restore_project
//   (workspace/service.ts assertReadable); get_project and list_projects still show the project.
// - The archive artifact has no expiry (it is the only copy) and is deleted once a restore has
//   committed: every file was checked against its manifest record and the artifact's SHA-256
//   first, and keeping a stale second copy would cost what archiving was meant to free.
// - The archive's row is written by the transaction that archives the project: a crash before it
//   leaves only bytes without a row, which cleanup reclaims (artifact-gc.ts), never a second
//   archive that a retry, a restore and cleanup would all keep.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { alreadyExists, conflict, invalidInput, notFound, StowageError } from '../../errors.js';
import type { Artifact, ArtifactService } from '../artifacts.js';
import { measuring } from '../../formats/measuring-stream.js';
import { recordChange } from '../changes.js';
import type { CallContext } from '../../call-context.js';
import {
  committedTotals,
  deleteAllFiles,
  pauseHistory,
  deleteArtifact,
  draftCountsByWorkspace,
  readOnlySnapshot,
  selectIdleProjects,
  selectProjectVersion,
} from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { walkDirectory } from '../../formats/directory-walk.js';
import { assertProjectName } from '../../paths.js';
import { getProject, type Project, type ProjectService } from '../projects.js';
import { refuseOverTotal, type QuotaLimits } from '../quota.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { openTarGz, packTarGz } from '../../formats/tarball.js';
import { committedFiles, createTreeIngest, insertCommittedFiles } from '../commits/tree-transfer.js';

/** Who the sweeper's archives are recorded as. */
export const SYSTEM_PRINCIPAL = 'stowage';
/** Entries an import may hold (directories included): past this, an archive is hostile or a mistake. */
export const MAX_IMPORT_ENTRIES = 200_000;
// A restore trusts its own archive's sizes (limits may have been lowered since) up to this.
const RESTORE_MAX_FILE_BYTES = 1024 * 1024 * 1024;

export interface LifecycleCall extends CallContext {
  /** Recorded in the event log; default SYSTEM_PRINCIPAL. */
  principal?: string | undefined;
}

export interface ArchiveResult {
  project: Project;
  artifact: Artifact;
  files: number;
  bytes: number;
}

export interface RestoreResult {
  project: Project;
  /** The archive it was restored from, now deleted. */
  artifact: Artifact;
  files: number;
  bytes: number;
}

export interface ExportResult {
  files: number;
  /** Size and SHA-256 of the tar.gz written. */
  size: number;
  sha256: string;
}

export interface ImportResult {
  project: Project;
  files: number;
  bytes: number;
  /** Repository directories a directory import left out (`.git`). */
  skipped: string[];
}

export type ImportSource = Readable | { directory: string };

/** What the lifecycle service is built from (stowage.ts wires it). */
export interface LifecycleDeps {
  sql: Sql;
  /** Restores and imports write through the store, not the cache (tree-transfer.ts). */
  blobs: BlobStore;
  projects: ProjectService;
  artifacts: ArtifactService;
  limits: QuotaLimits & { fileBytes: number };
  settings: { autoArchiveDays: number };
}

export function createLifecycleService(base: LifecycleDeps) {
  const { sql, limits, settings } = base;
  const ingest = createTreeIngest({ sql, blobs: base.blobs });

  /** Streams the committed tree as `tx` sees it, as a tarball, into `consume`; returns once the
   *  tree is no longer being read, so `tx` may end. */
  async function packTree<T>(
    tx: Queryable,
    project: Project,
    call: CallContext,
    what: string,
    consume: (source: Readable, files: number) => Promise<T>,
  ): Promise<T & { files: number; bytes: number }> {
    const { files, bytes } = await committedTotals(tx, project.id);
    const { stream, finished } = packTarGz(
      committedFiles(tx, base.blobs, project.id, { ...call, total: files, what }),
    );
    try {
      return { ...(await consume(stream, files)), files, bytes };
    } finally {
      stream.destroy(); // a no-op once it has ended; stops the producer when `consume` failed
      await finished;
    }
  }

  /** Runs `fn` on one consistent snapshot of the project's tree (a read-only transaction). */
  const onSnapshot = <T>(fn: (tx: Queryable) => Promise<T>) =>
    sql.transaction(async (tx) => {
      await readOnlySnapshot(tx);
      return fn(tx);
    });

  async function latestArchive(project: Project): Promise<Artifact> {
    const [artifact] = await base.artifacts.list(project.id, 'archive');
    if (!artifact) {
      throw notFound(
        `project '${project.name}' is archived but its archive is missing: import a backup with 'stowage import'`,
      );
    }
    return artifact;
  }

  async function archive(name: string, call: LifecycleCall = {}): Promise<ArchiveResult> {
    const project = await getProject(sql, name);
    assertArchivable(project);
    await refuseDrafts(sql, project);
    const written = await onSnapshot(async (tx) => {
      const version = await selectProjectVersion(tx, project.id);
      const packed = await packTree(tx, project, call, 'archived', async (source) => ({
        stored: await base.artifacts.write(source),
      }));
      return { ...packed, version };
    });
    const { stored, files, bytes } = written;
    try {
      const archived = await sql.transaction(async (tx) => {
        const locked = await getProject(tx, name, { forUpdate: true });
        // Every change (write, commit, sync) bumps the version: equal means the archive is current.
        if (locked.id !== project.id || locked.version !== written.version || locked.status !== 'active') {
          throw conflict(
            `project '${name}' changed while it was being archived: check list_changes, then retry archive_project`,
          );
        }
        const artifact = await base.artifacts.record(tx, project.id, stored, {
          kind: 'archive',
          name: `${project.name}.tar.gz`,
          files,
        });
        await pauseHistory(tx); // the files move into the archive: no change to record
        await deleteAllFiles(tx, project.id);
        await recordStatus(tx, project, 'archived', call, 'project.archive', {
          artifact: artifact.id,
          files,
          bytes,
        });
        return { project: await getProject(tx, name), artifact };
      });
      return { ...archived, files, bytes };
    } catch (err) {
      await base.artifacts.store.delete(stored.id).catch(() => undefined);
      throw err;
    }
  }

  async function restore(name: string, call: LifecycleCall = {}): Promise<RestoreResult> {
    const project = await getProject(sql, name);
    if (project.status !== 'archived') {
      throw conflict(`project '${name}' is ${project.status}, not archived: there is nothing to restore`);
    }
    const artifact = await latestArchive(project);
    const { stream } = await base.artifacts.open(project.id, artifact.id);
    const tarball = openTarGz(stream, {
      maxFileBytes: Math.max(limits.fileBytes, RESTORE_MAX_FILE_BYTES),
      maxTotalBytes: Number.MAX_SAFE_INTEGER,
      maxEntries: artifact.files,
      keepCaseTwins: true,
    });
    const { files, bytes } = await ingest(tarball.files(), {
      ...call,
      total: artifact.files,
      what: 'restored',
      requireManifest: true,
    });
    const digest = tarball.digest();
    if (
      digest.sha256 !== artifact.sha256 ||
      digest.size !== artifact.size ||
      files.length !== artifact.files
    ) {
      throw new StowageError(
        'internal',
        `the archive of '${name}' does not match its record (SHA-256, size or file count): it is damaged, so the project stays archived`,
      );
    }
    const restored = await sql.transaction(async (tx) => {
      const locked = await getProject(tx, name, { forUpdate: true });
      if (locked.id !== project.id || locked.status !== 'archived') {
        throw conflict(`project '${name}' was restored meanwhile: check get_project`);
      }
      const version = await recordStatus(tx, project, 'active', call, 'project.restore', {
        artifact: artifact.id,
        files: files.length,
        bytes,
      });
      await pauseHistory(tx); // the files come back as they were archived
      await insertCommittedFiles(tx, project.id, version, files);
      // Archiving took its files out of the total; bringing them back must fit in it again.
      if (bytes > 0) await refuseOverTotal(tx, limits.totalBytes, `restoring '${name}'`);
      await deleteArtifact(tx, project.id, artifact.id);
      return getProject(tx, name);
    });
    // The row is gone with the restore; bytes left behind by a failure here are unreferenced.
    await base.artifacts.store.delete(artifact.id).catch(() => undefined);
    return { project: restored, artifact, files: files.length, bytes };
  }

  /** Writes the committed tree (drafts are not included) as a tar.gz; an archived project's
   *  archive as it is stored. */
  async function exportProject(
    name: string,
    destination: Writable,
    call: CallContext = {},
  ): Promise<ExportResult> {
    const project = await getProject(sql, name);
    const meter = measuring();
    if (project.status === 'archived') {
      const artifact = await latestArchive(project);
      const { stream } = await base.artifacts.open(project.id, artifact.id);
      await pipeline(stream, meter, destination);
      const { size, sha256 } = meter.result();
      if (sha256 !== artifact.sha256) {
        throw new StowageError(
          'internal',
          `the archive of '${name}' does not match its record: it is damaged`,
        );
      }
      return { files: artifact.files, size, sha256 };
    }
    return onSnapshot(async (tx) => {
      const { files } = await packTree(tx, project, call, 'exported', (source) =>
        pipeline(source, meter, destination).then(() => ({})),
      );
      return { files, ...meter.result() };
    });
  }

  /** Creates project `name` from a tar.gz stream or a local directory. Every entry is checked
   *  while its content streams into the blob store; the project appears only when all passed. */
  async function importProject(
    name: string,
    source: ImportSource,
    options: CallContext & { principal: string; description?: string | undefined },
  ): Promise<ImportResult> {
    assertProjectName(name);
    if ((await base.projects.names(name, 1))[0] === name) {
      throw alreadyExists(`project '${name}' already exists: import under another name, or delete it first`);
    }
    const rules = {
      maxFileBytes: limits.fileBytes,
      maxTotalBytes: limits.projectBytes,
      maxEntries: MAX_IMPORT_ENTRIES,
    };
    const walk = 'directory' in source ? walkDirectory(source.directory, rules) : undefined;
    const entries = walk ? walk.files() : openTarGz(source as Readable, rules).files();
    const { files, bytes } = await ingest(entries, { ...options, what: 'imported', requireManifest: false });
    const project = await base.projects.create(
      { name, description: options.description },
      options.principal,
      async (tx, created) => {
        const version = await recordStatus(tx, created, 'active', options, 'import', {
          source: walk ? 'directory' : 'archive',
          files: files.length,
          bytes,
        });
        // A new project has no remote: nothing it holds is waiting for a push.
        await insertCommittedFiles(
          tx,
          created.id,
          version,
          files.map((f) => ({ ...f, local: false })),
        );
        if (bytes > 0) await refuseOverTotal(tx, limits.totalBytes, `importing '${name}'`);
        return getProject(tx, name);
      },
    );
    return { project, files: files.length, bytes, skipped: walk?.skipped ?? [] };
  }

  /** Archives projects with no event for `days` (default AUTO_ARCHIVE_DAYS; 0: off). Projects
   *  with drafts are skipped: someone has work in progress there. Called by the sweeper, and by
   *  cleanup {archive_idle_days} (`within`: the caller's projects; `dryRun`: names them only). */
  async function archiveIdleProjects(
    options: {
      days?: number | undefined;
      signal?: AbortSignal | undefined;
      dryRun?: boolean | undefined;
      within?: ((name: string) => boolean) | undefined;
    } = {},
  ): Promise<{ archived: string[]; skipped: { project: string; reason: string }[] }> {
    const days = options.days ?? settings.autoArchiveDays;
    const archived: string[] = [];
    const skipped: { project: string; reason: string }[] = [];
    if (!(days > 0)) return { archived, skipped };
    const idle = await selectIdleProjects(sql, days);
    for (const { name, drafts } of idle) {
      if (options.signal?.aborted) break;
      if (options.within && !options.within(name)) continue;
      if (drafts) {
        skipped.push({ project: name, reason: 'it has drafts' });
        continue;
      }
      if (options.dryRun) {
        archived.push(name);
        continue;
      }
      try {
        await archive(name, { principal: SYSTEM_PRINCIPAL, signal: options.signal });
        archived.push(name);
      } catch (err) {
        if (!(err instanceof StowageError)) throw err;
        skipped.push({ project: name, reason: err.message });
      }
    }
    return { archived, skipped };
  }

  return { archive, restore, exportProject, importProject, archiveIdleProjects };
}

export type LifecycleService = ReturnType<typeof createLifecycleService>;

function assertArchivable(project: Project): void {
  if (project.kind === 'job') {
    throw invalidInput(
      `'${project.name}' is a job: jobs are not archived, they expire (zip_job keeps their files)`,
    );
  }
  if (project.status === 'archived') {
    throw conflict(`project '${project.name}' is already archived: restore_project brings it back`);
  }
}

async function refuseDrafts(tx: Queryable, project: Project): Promise<void> {
  const drafts = await draftCountsByWorkspace(tx, project.id);
  if (!drafts.length) return;
  const where = drafts.map((d) => `${d.workspace} (${d.changes})`).join(', ');
  throw conflict(
    `project '${project.name}' has uncommitted changes in workspace(s) ${where}: an archive holds only the committed tree, ` +
      `so review them with list_changes, then commit_task or discard_changes, and archive again`,
    { workspaces: drafts.map((d) => d.workspace) },
  );
}

/** Sets the status with the version bump and logs the event (changes.ts); returns the new version. */
function recordStatus(
  tx: Queryable,
  project: Project,
  status: 'active' | 'archived',
  call: LifecycleCall,
  kind: string,
  detail: Record<string, unknown>,
): Promise<number> {
  return recordChange(tx, project.id, {
    principal: call.principal ?? SYSTEM_PRINCIPAL,
    kind,
    detail,
    status,
  });
}
