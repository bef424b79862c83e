// Restoring one backup: every file's content read from the target and hashed before anything is
// created, then the project made in one transaction: a new one (a free name, or one whose project
// was deleted), or over an archived one.
//
// Decisions:
// - Any content that is missing, of another size or of another SHA-256 refuses the restore,
//   naming every such file, and nothing is created. Content already checked is stored blob first
//   (and, unreferenced, collected by cleanup), as an import's is.
// - A new project gets the backup's description, tags, metadata, template flag and quota, but no
//   remote: attaching one is checked against the caller's rights (update_project {remote}), and
//   the backup's remote is reported so the caller can. Its files are then nobody's unpushed work.
// - Over an archived project: its row, settings, remote and history stay, its committed tree
//   becomes the backup's and its archive is deleted, as restore_project does. With a remote, a
//   file keeps its pushed state only if the backup was of the same remote at the same head;
//   otherwise every file is treated as unpushed (sync_project keeps them, never overwrites them).
// - An active project is never restored over: the caller restores under another name, or
//   archives or deletes it first. The MAX_TOTAL_BYTES total is checked; like restore_project, a
//   restore brings back what was, even over a project limit lowered since.
import type { CallContext } from '../../call-context.js';
import { conflict, invalidInput, isStowageError } from '../../errors.js';
import type { BackupFile, BackupManifest } from '../../formats/backup-manifest.js';
import { sha256Of, type ArchiveFile } from '../../formats/tarball.js';
import { assertProjectName } from '../../paths.js';
import type { ArtifactService } from '../artifacts.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { recordChange } from '../changes.js';
import { createTreeIngest, insertCommittedFiles } from '../commits/tree-transfer.js';
import { deleteArtifact, selectProject, updateProjectFields } from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { getProject, sameRemote, type Project, type ProjectService } from '../projects.js';
import { refuseOverTotal } from '../quota.js';
import type { BackupTarget } from './target.js';

const AHEAD = 8;
const NAMED = 20;

export interface RestoredBackup {
  project: Project;
  backup: string;
  files: number;
  bytes: number;
  /** The backup's remote, when it was not attached (a new project): update_project attaches it. */
  detached_remote: { url: string; branch: string } | null;
}

export interface RestoreDeps {
  sql: Sql;
  blobs: BlobStore;
  projects: ProjectService;
  artifacts: ArtifactService;
  target: BackupTarget;
  limits: { totalBytes?: number | undefined };
}

export function createBackupRestorer({ sql, blobs, projects, artifacts, target, limits }: RestoreDeps) {
  const ingest = createTreeIngest({ sql, blobs });

  /** The files of `m` as read from the target: those that check out, while none has failed;
   *  `bad` collects the paths of those that do not. */
  async function* checked(m: BackupManifest, local: (f: BackupFile) => boolean, bad: string[]) {
    const read = (f: BackupFile) =>
      target.blobs.get(f.hash).catch((err: unknown) => {
        if (isStowageError(err, 'not_found')) return undefined;
        throw err;
      });
    const ahead: Promise<Buffer | undefined>[] = [];
    for (let i = 0; i < m.files.length; i++) {
      while (ahead.length < AHEAD && i + ahead.length < m.files.length) {
        const next = read(m.files[i + ahead.length]!);
        next.catch(() => undefined); // awaited in order below; never unhandled meanwhile
        ahead.push(next);
      }
      const f = m.files[i]!;
      const content = await ahead.shift()!;
      if (!content || content.byteLength !== f.size || sha256Of(content) !== f.hash) {
        bad.push(f.path);
        continue;
      }
      if (bad.length) continue; // checked still, to name every damaged file; stored no more
      const file: ArchiveFile = {
        path: f.path,
        mode: f.mode,
        content,
        sha256: f.hash,
        local: local(f),
        claimed: { sha256: f.hash, local: local(f) },
      };
      yield file;
    }
  }

  /** Restores `m` as project `into`: new, or over the archived project of that name. */
  async function restore(
    m: BackupManifest,
    into: string,
    call: CallContext & { principal: string },
  ): Promise<RestoredBackup> {
    assertProjectName(into);
    const existing = await selectProject(sql, into, false);
    if (existing && (existing.kind !== 'project' || existing.status !== 'archived')) {
      throw conflict(
        `project '${into}' exists and is ${existing.status}: restore the backup under another name (project), or archive or delete '${into}' first`,
      );
    }
    const pushed =
      sameRemote(existing?.remote ?? null, m.settings.remote) && existing?.head_sha === m.settings.head_sha;
    const local = (f: BackupFile) => (existing?.remote ? !pushed || f.local : false);
    const bad: string[] = [];
    const { files, bytes } = await ingest(checked(m, local, bad), {
      ...call,
      total: m.files.length,
      what: 'restored',
      requireManifest: true,
    });
    if (bad.length) {
      const named =
        bad.slice(0, NAMED).join(', ') + (bad.length > NAMED ? ` and ${bad.length - NAMED} more` : '');
      throw invalidInput(
        `backup ${m.id} is damaged in the backup target: the content of ${named} is missing or does not match its SHA-256; nothing was restored: restore another backup (backup {list: true, project: '${m.project}'})`,
        { files: bad },
      );
    }
    const detail = { backup: m.id, files: files.length, bytes };
    const populate = async (tx: Queryable, project: Project) => {
      const version = await recordChange(tx, project.id, {
        principal: call.principal,
        kind: 'project.restore',
        detail,
        status: 'active',
      });
      await insertCommittedFiles(tx, project.id, version, files);
      if (bytes > 0) await refuseOverTotal(tx, limits.totalBytes, `restoring '${into}'`);
      return getProject(tx, into);
    };
    if (!existing) {
      const { description, tags, metadata, quota_bytes, template } = m.settings;
      const created = await projects.create(
        {
          name: into,
          description: description ?? undefined,
          tags,
          metadata,
          quota_bytes: quota_bytes ?? undefined,
        },
        call.principal,
        async (tx, project) => {
          if (template) await updateProjectFields(tx, project.id, { template });
          return populate(tx, project);
        },
      );
      return {
        project: created,
        backup: m.id,
        files: files.length,
        bytes,
        detached_remote: m.settings.remote,
      };
    }
    const archives = await artifacts.list(existing.id, 'archive');
    const restored = await sql.transaction(async (tx) => {
      const locked = await getProject(tx, into, { forUpdate: true });
      if (locked.id !== existing.id || locked.status !== 'archived') {
        throw conflict(`project '${into}' was restored or replaced meanwhile: check get_project, then retry`);
      }
      for (const archive of archives) await deleteArtifact(tx, locked.id, archive.id);
      return populate(tx, locked);
    });
    // Its rows went with the restore; bytes a failure here leaves are collected by cleanup.
    for (const archive of archives) await artifacts.store.delete(archive.id).catch(() => undefined);
    return { project: restored, backup: m.id, files: files.length, bytes, detached_remote: null };
  }

  return { restore };
}

export type BackupRestorer = ReturnType<typeof createBackupRestorer>;
