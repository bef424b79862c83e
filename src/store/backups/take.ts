// Taking one project's backup: its settings and committed tree as a manifest in the target, with
// only the content the target lacks sent, and every hash the manifest names verified there.
//
// Decisions:
// - A backup holds the committed tree and the project's settings, as `stowage export` and
//   archive_project do; drafts are work in progress in a workspace, not the project's state.
// - An archived project is backed up from its archive (every file checked against the archive's
//   manifest and the artifact's SHA-256); if its version is the one its previous backup recorded
//   (archiving bumps it, and nothing changes an archived project), that backup's tree is reused
//   without reading the archive.
// - Verified, when written: content the target lacks is read back after it is written and its
//   SHA-256 compared; content it already holds is read and hashed (a damaged copy is replaced);
//   content the project's previous backup (or an earlier backup of the same run) names was
//   verified when that backup was written, and is not read again: pruning never removes content a
//   kept backup names, and the newest backup of a project is always kept. The manifest is read
//   back and its checksum checked. A restore verifies everything again.
// - Everything happens under a shared transaction advisory lock that pruning takes exclusively,
//   so a prune never removes content a backup in progress counts on (nor the previous backup).
import { randomBytes } from 'node:crypto';
import type { CallContext } from '../../call-context.js';
import { invalidInput, isStowageError, StowageError } from '../../errors.js';
import {
  backupStamp,
  decodeManifest,
  encodeManifest,
  manifestKey,
  parseManifestKey,
  type BackupFile,
  type BackupManifest,
  MANIFEST_FORMAT,
} from '../../formats/backup-manifest.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { openTarGz, sha256Of } from '../../formats/tarball.js';
import type { ArtifactService } from '../artifacts.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { advisoryXactLockShared, readOnlySnapshot, selectFilePage } from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { getProject, type Project } from '../projects.js';
import type { BackupTarget } from './target.js';

/** Shared by every backup being taken, exclusive for a prune (service.ts). */
export const TARGET_LOCK = 0x5707_bac1;

const PAGE = 1000;
const PARALLEL = 8;

export interface BackupSummary {
  /** `<project>/<stamp>-<random>`. */
  id: string;
  project: string;
  /** When it was taken (ISO). */
  time: string;
  files: number;
  bytes: number;
}

export interface TakenBackup extends BackupSummary {
  /** The content the target lacked, sent now (unique contents and their bytes). */
  uploaded: { files: number; bytes: number };
}

export interface TakeDeps {
  sql: Sql;
  /** The blob store backed up (read straight, not through the cache). */
  blobs: BlobStore;
  artifacts: ArtifactService;
  target: BackupTarget;
}

export function createBackupTaker({ sql, blobs, artifacts, target }: TakeDeps) {
  /** The project's newest backup, when one is there and sound. */
  async function previousOf(project: string): Promise<BackupManifest | undefined> {
    const keys = (await target.listManifests(project)).map(parseManifestKey).filter((k) => !!k);
    const newest = keys.at(-1);
    if (!newest) return undefined;
    try {
      return decodeManifest(await target.readManifest(newest.key), newest.id);
    } catch (err) {
      if (isStowageError(err, 'invalid_input') || isStowageError(err, 'not_found')) return undefined;
      throw err;
    }
  }

  /** Puts `hash` in the target unless it holds it intact; returns the bytes sent. */
  async function ensure(hash: string, load: () => Promise<Buffer>): Promise<number> {
    const held = await target.blobs.get(hash).catch((err: unknown) => {
      if (isStowageError(err, 'not_found')) return undefined;
      throw err;
    });
    if (held && sha256Of(held) === hash) return 0;
    const content = await load();
    if (held) await target.blobs.delete(hash); // a damaged copy: written anew
    await target.blobs.put(hash, content);
    if (sha256Of(await target.blobs.get(hash)) !== hash) {
      throw new StowageError(
        'unavailable',
        `the backup target (${target.where}) gave back other bytes than were written for content ${hash}: check the target; no backup was recorded`,
      );
    }
    return content.byteLength;
  }

  /** Backs up the project named `name`; `verified`: content known to be in the target already
   *  (a run's earlier backups), which grows with this one's. */
  async function take(name: string, call: CallContext, verified: Set<string>): Promise<TakenBackup> {
    return sql.transaction(async (tx) => {
      await readOnlySnapshot(tx);
      await advisoryXactLockShared(tx, TARGET_LOCK);
      const project = await getProject(tx, name);
      if (project.kind === 'job') {
        throw invalidInput(
          `'${name}' is a job: jobs are not backed up, they expire (zip_job keeps their files)`,
        );
      }
      const previous = await previousOf(name);
      const trusted = new Set([...verified, ...(previous?.files.map((f) => f.hash) ?? [])]);
      const uploaded = { files: 0, bytes: 0 };
      const sent = (bytes: number) => {
        if (!bytes) return;
        uploaded.files++;
        uploaded.bytes += bytes;
      };
      let files: BackupFile[];
      if (project.status !== 'archived') {
        files = await committedEntries(tx, project.id);
        const byHash = new Map(files.filter((f) => !trusted.has(f.hash)).map((f) => [f.hash, f.path]));
        let done = 0;
        await mapBounded([...byHash], PARALLEL, async ([hash, path]) => {
          if (call.signal?.aborted) throw cancelled(name);
          sent(await ensure(hash, () => readBlob(hash, path)));
          call.progress?.(++done, byHash.size, `backed up ${path}`);
        });
      } else if (previous?.source.project_id === project.id && previous.source.version === project.version) {
        files = previous.files;
      } else {
        files = [];
        await fromArchive(project, call, async (file, content) => {
          files.push(file);
          if (!trusted.has(file.hash)) sent(await ensure(file.hash, () => Promise.resolve(content)));
          trusted.add(file.hash);
        });
      }
      const manifest = manifestOf(project, files, new Date());
      await write(manifest);
      for (const f of files) verified.add(f.hash);
      const { id, totals, taken_at } = manifest;
      return { id, project: name, time: taken_at, ...totals, uploaded };
    });
  }

  async function readBlob(hash: string, path: string): Promise<Buffer> {
    const content = await blobs.get(hash);
    if (sha256Of(content) !== hash) {
      throw new StowageError(
        'internal',
        `the stored content of '${path}' does not match its hash: the blob store is damaged; no backup was recorded`,
      );
    }
    return content;
  }

  /** Streams the project's archive, each file checked against the archive's own records. */
  async function fromArchive(
    project: Project,
    call: CallContext,
    each: (file: BackupFile, content: Buffer) => Promise<void>,
  ): Promise<void> {
    const [archive] = await artifacts.list(project.id, 'archive');
    if (!archive) {
      throw new StowageError('conflict', `project '${project.name}' is archived but its archive is missing`);
    }
    const { stream } = await artifacts.open(project.id, archive.id);
    const tarball = openTarGz(stream, {
      maxFileBytes: Number.MAX_SAFE_INTEGER,
      maxTotalBytes: Number.MAX_SAFE_INTEGER,
      maxEntries: archive.files,
      keepCaseTwins: true,
    });
    let done = 0;
    for await (const file of tarball.files()) {
      if (call.signal?.aborted) throw cancelled(project.name);
      if (file.claimed?.sha256 !== file.sha256) {
        throw new StowageError('internal', `the archive of '${project.name}' is damaged at '${file.path}'`);
      }
      const { path, sha256: hash, mode, local, content } = file;
      await each({ path, hash, size: content.byteLength, mode, local }, content);
      call.progress?.(++done, archive.files, `backed up ${path}`);
    }
    const digest = tarball.digest();
    if (digest.sha256 !== archive.sha256 || done !== archive.files) {
      throw new StowageError(
        'internal',
        `the archive of '${project.name}' does not match its record (SHA-256 or file count): no backup was recorded`,
      );
    }
  }

  /** Writes the manifest and reads it back: a backup is listed only once it is whole. */
  async function write(manifest: BackupManifest): Promise<void> {
    const key = manifestKey(manifest);
    const bytes = encodeManifest(manifest);
    await target.writeManifest(key, bytes);
    const back = await target.readManifest(key);
    if (!back.equals(bytes)) {
      await target.deleteManifest(key).catch(() => undefined);
      throw new StowageError(
        'unavailable',
        `the backup target (${target.where}) gave back another manifest than was written: check the target; no backup was recorded`,
      );
    }
    decodeManifest(back, manifest.id);
  }

  return { take, previousOf };
}

export type BackupTaker = ReturnType<typeof createBackupTaker>;

async function committedEntries(tx: Queryable, projectId: string): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  let after = '';
  for (;;) {
    const rows = await selectFilePage(tx, projectId, after, PAGE);
    for (const r of rows) {
      files.push({ path: r.path, hash: r.blob_hash, size: Number(r.size), mode: r.mode, local: r.local });
    }
    if (rows.length < PAGE) return files;
    after = rows.at(-1)!.path;
  }
}

function manifestOf(project: Project, files: BackupFile[], time: Date): BackupManifest {
  return {
    format: MANIFEST_FORMAT,
    id: `${project.name}/${backupStamp(time)}-${randomBytes(3).toString('hex')}`,
    project: project.name,
    taken_at: time.toISOString(),
    settings: {
      description: project.description,
      tags: project.tags,
      metadata: project.metadata,
      template: project.template,
      quota_bytes: project.quota_bytes === null ? null : Number(project.quota_bytes),
      remote: project.remote ? { url: project.remote.url, branch: project.remote.branch } : null,
      head_sha: project.head_sha,
    },
    source: {
      project_id: project.id,
      version: Number(project.version),
      status: project.status === 'archived' ? 'archived' : 'active',
    },
    files,
    totals: { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) },
  };
}

const cancelled = (project: string) =>
  new StowageError('unavailable', `the backup of '${project}' was cancelled; no backup was recorded`);
