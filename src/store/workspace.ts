// Workspace operations: every write lands as a draft in a workspace, every read sees
// drafts ⊕ committed. Blob first, then metadata; each call is one transaction, all or nothing.
import { conflict, invalidInput, notFound, tooLarge } from '../errors.js';
import { sha256 } from './blobs/blob-store.js';
import { asText, etagOf } from './content.js';
import { applyEdits, type TextEdit } from './text-edit.js';
import type { Queryable, Sql } from './db/sql.js';
import { normalizePath } from './paths.js';
import { getProject, type Project } from './projects.js';
import { readView, viewBytes, type ViewEntry, type ViewFilter } from './workspace-view.js';
import { deleteDrafts, type Actor, type WorkspaceCore } from './workspace-core.js';

export type { Actor };

export interface Limits {
  fileBytes: number;
  /** Per project, unless the project has its own (smaller) quota_bytes. */
  projectBytes: number;
  batchFiles: number;
  inlineBytes: number;
  /** Over all live projects' committed files and drafts; 0 or absent: none (MAX_TOTAL_BYTES). */
  totalBytes?: number | undefined;
}

export interface FileWrite {
  path: string;
  content: Buffer;
  ifMatch?: string | undefined;
  mode?: number | undefined;
}

export interface WriteResult {
  path: string;
  etag: string;
  size: number;
  state: 'added' | 'modified' | 'committed';
  /** False when the file already had exactly this content. */
  changed: boolean;
}

export interface WorkspaceDeps {
  sql: Sql;
  core: WorkspaceCore;
  limits: Limits;
}

interface PreparedWrite extends FileWrite {
  hash: string;
  stored: 'inline' | 'blob';
}

export function createWorkspaceService({ sql, core, limits }: WorkspaceDeps) {
  const { storeBlobs, workspaceOf, withWritableProject, recordChange, contentOf } = core;

  function prepare(files: readonly FileWrite[]): PreparedWrite[] {
    if (!files.length) throw invalidInput('no files given: pass at least one {path, content}');
    if (files.length > limits.batchFiles) {
      throw tooLarge(
        `${files.length} files in one call exceeds the limit of ${limits.batchFiles}: split the batch`,
      );
    }
    const seen = new Set<string>();
    return files.map((f) => {
      const path = normalizePath(f.path);
      if (seen.has(path)) throw invalidInput(`'${path}' appears twice in one call: send each path once`);
      seen.add(path);
      if (f.content.byteLength > limits.fileBytes) {
        throw tooLarge(
          `'${path}' is ${f.content.byteLength} bytes, over the per-file limit of ${limits.fileBytes} bytes: split the file`,
        );
      }
      return {
        ...f,
        path,
        hash: sha256(f.content),
        stored: f.content.byteLength > limits.inlineBytes ? 'blob' : 'inline',
      };
    });
  }

  const checkEtag = (entry: ViewEntry | undefined, ifMatch: string | undefined, path: string) => {
    if (ifMatch === undefined) return;
    if (!entry || entry.state === 'deleted') {
      throw conflict(`if_match failed: '${path}' does not exist; omit if_match to create it`, { path });
    }
    if (entry.etag !== ifMatch) {
      throw conflict(
        `if_match failed: '${path}' changed (etag is now ${entry.etag}, you sent ${ifMatch}): read it again and reapply your change`,
        { path, etag: entry.etag },
      );
    }
  };

  /** The project's quota (its own quota_bytes, else MAX_PROJECT_BYTES), then the total one. */
  const checkQuota = async (tx: Queryable, project: Project, workspace: string, delta: number) => {
    if (delta <= 0) return;
    const total = (await viewBytes(tx, project.id, workspace)) + delta;
    if (project.quota_bytes !== null && total > project.quota_bytes) {
      throw tooLarge(
        `this write would bring project '${project.name}' to ${total} bytes, over its quota_bytes of ${project.quota_bytes}: delete files or discard changes first`,
      );
    }
    if (total > limits.projectBytes) {
      throw tooLarge(
        `this write would bring project '${project.name}' to ${total} bytes, over its limit of ${limits.projectBytes}: delete files or raise MAX_PROJECT_BYTES`,
      );
    }
    if (limits.totalBytes) {
      const all = (await storedBytes(tx)) + delta;
      if (all > limits.totalBytes) {
        throw tooLarge(
          `this write would bring all projects to ${all} bytes, over the total limit of ${limits.totalBytes}: free space (cleanup, delete_project) or raise MAX_TOTAL_BYTES`,
        );
      }
    }
  };

  return {
    workspaceOf,
    contentOf,

    /** The workspace view, filtered; no content. */
    async list(projectName: string, actor: Actor, filter: ViewFilter = {}) {
      const workspace = workspaceOf(actor);
      const project = assertReadable(await getProject(sql, projectName));
      return { project, workspace, entries: await readView(sql, project.id, workspace, filter) };
    },

    /** Entries for the given paths (inline content included), in one query. */
    async lookup(projectName: string, actor: Actor, paths: readonly string[]) {
      const workspace = workspaceOf(actor);
      const project = assertReadable(await getProject(sql, projectName));
      const entries = await readView(sql, project.id, workspace, { paths, withContent: true, present: true });
      return { project, workspace, entries };
    },

    async read(projectName: string, actor: Actor, rawPath: string) {
      const path = normalizePath(rawPath);
      const { project, workspace, entries } = await this.lookup(projectName, actor, [path]);
      const entry = entries[0];
      if (!entry) {
        throw notFound(
          `'${path}' not found in project '${projectName}' (workspace '${workspace}'): check list_files`,
        );
      }
      return { project, workspace, entry, content: await contentOf(entry) };
    },

    /** Writes files as drafts, all or nothing. Identical content is a no-op; content equal to
     *  the committed version drops the draft. */
    async write(projectName: string, actor: Actor, files: readonly FileWrite[]): Promise<WriteResult[]> {
      const workspace = workspaceOf(actor);
      const prepared = prepare(files);
      const big = prepared.filter((f) => f.stored === 'blob');
      if (big.length) {
        await getProject(sql, projectName); // fail fast before storing any blob
        await storeBlobs(big);
      }

      return withWritableProject(projectName, async (tx, project) => {
        const current = new Map(
          (await readView(tx, project.id, workspace, { paths: prepared.map((f) => f.path) })).map((e) => [
            e.path,
            e,
          ]),
        );
        for (const f of prepared) checkEtag(current.get(f.path), f.ifMatch, f.path);

        const upserts: PreparedWrite[] = [];
        const reverts: string[] = [];
        const results: WriteResult[] = [];
        let delta = 0;
        for (const f of prepared) {
          const entry = current.get(f.path);
          const size = f.content.byteLength;
          const sameMode = f.mode === undefined || f.mode === entry?.mode;
          if (entry && entry.state !== 'deleted' && entry.hash === f.hash && sameMode) {
            results.push({
              path: f.path,
              etag: etagOf(f.hash),
              size,
              state: publicState(entry),
              changed: false,
            });
            continue;
          }
          delta += size - (entry && entry.state !== 'deleted' ? entry.size : 0);
          if (entry?.committedHash === f.hash && sameMode) {
            reverts.push(f.path);
            results.push({ path: f.path, etag: etagOf(f.hash), size, state: 'committed', changed: true });
          } else {
            upserts.push(f);
            const state = entry?.committedHash ? 'modified' : 'added';
            results.push({ path: f.path, etag: etagOf(f.hash), size, state, changed: true });
          }
        }
        if (!upserts.length && !reverts.length) return results;
        await checkQuota(tx, project, workspace, delta);

        const version = await recordChange(tx, {
          project,
          actor,
          workspace,
          kind: 'file.write',
          paths: [...upserts.map((f) => f.path), ...reverts],
        });
        if (upserts.length) {
          await tx.query(
            `INSERT INTO drafts (project_id, workspace, path, op, content, blob_hash, content_hash, size, mode, version, updated_by)
             SELECT $1, $2, t.path, 'upsert', t.content, t.blob, t.hash, t.size, t.mode, $3, $4
             FROM unnest($5::text[], $6::bytea[], $7::text[], $8::text[], $9::bigint[], $10::int[])
                  AS t(path, content, blob, hash, size, mode)
             ON CONFLICT (project_id, workspace, path) DO UPDATE SET
               op = 'upsert', content = excluded.content, blob_hash = excluded.blob_hash,
               content_hash = excluded.content_hash, size = excluded.size, mode = excluded.mode,
               version = excluded.version, updated_by = excluded.updated_by, updated_at = now()`,
            [
              project.id,
              workspace,
              version,
              actor.principal,
              upserts.map((f) => f.path),
              upserts.map((f) => (f.stored === 'inline' ? f.content : null)),
              upserts.map((f) => (f.stored === 'blob' ? f.hash : null)),
              upserts.map((f) => f.hash),
              upserts.map((f) => f.content.byteLength),
              upserts.map((f) => f.mode ?? current.get(f.path)?.mode ?? null),
            ],
          );
        }
        if (reverts.length) await deleteDrafts(tx, project.id, workspace, reverts);
        return results;
      });
    },

    /** Applies exact-then-tolerant text edits to one file; writes only if it did not change
     *  meanwhile (the read's etag guards the write). */
    async edit(
      projectName: string,
      actor: Actor,
      rawPath: string,
      edits: readonly TextEdit[],
      options: { dryRun: boolean; ifMatch?: string | undefined },
    ) {
      const { entry, content } = await this.read(projectName, actor, rawPath);
      checkEtag(entry, options.ifMatch, entry.path);
      const text = asText(content);
      if (text === undefined)
        throw invalidInput(`'${entry.path}' is binary: use write_file with encoding 'base64'`);
      const { content: next, diff } = applyEdits(text, edits, entry.path);
      if (options.dryRun) return { path: entry.path, diff, etag: entry.etag!, written: false };
      const [result] = await this.write(projectName, actor, [
        { path: entry.path, content: Buffer.from(next, 'utf8'), ifMatch: entry.etag! },
      ]);
      return { path: entry.path, diff, etag: result!.etag, written: true };
    },

    /** Deletes files in the workspace: an added file's draft goes away, a committed file gets a
     *  deletion draft. Every path must exist, or nothing changes. */
    async delete(
      projectName: string,
      actor: Actor,
      rawPaths: readonly string[],
      ifMatch?: ReadonlyMap<string, string>,
    ) {
      const workspace = workspaceOf(actor);
      if (!rawPaths.length) throw invalidInput('no paths given: pass path or paths');
      if (rawPaths.length > limits.batchFiles) {
        throw tooLarge(
          `${rawPaths.length} paths in one call exceeds the limit of ${limits.batchFiles}: split the batch`,
        );
      }
      const paths = [...new Set(rawPaths.map((p) => normalizePath(p)))];
      return withWritableProject(projectName, async (tx, project) => {
        const entries = await readView(tx, project.id, workspace, { paths, present: true });
        const found = new Set(entries.map((e) => e.path));
        const missing = paths.filter((p) => !found.has(p));
        if (missing.length) {
          throw notFound(
            `not found in workspace '${workspace}': ${missing.join(', ')}; nothing was deleted (check list_files)`,
            {
              missing,
            },
          );
        }
        for (const e of entries) checkEtag(e, ifMatch?.get(e.path), e.path);
        const version = await recordChange(tx, { project, actor, workspace, kind: 'file.delete', paths });
        await markDeleted(tx, project.id, workspace, entries, version, actor.principal);
        return { version, deleted: paths };
      });
    },

    async move(projectName: string, actor: Actor, rawFrom: string, rawTo: string, ifMatch?: string) {
      const workspace = workspaceOf(actor);
      const from = normalizePath(rawFrom);
      const to = normalizePath(rawTo);
      if (from === to) throw invalidInput(`from and to are the same path ('${from}'): nothing to move`);
      return withWritableProject(projectName, async (tx, project) => {
        const entries = new Map(
          (
            await readView(tx, project.id, workspace, { paths: [from, to], present: true, withContent: true })
          ).map((e) => [e.path, e]),
        );
        const source = entries.get(from);
        if (!source) throw notFound(`'${from}' not found in workspace '${workspace}': check list_files`);
        checkEtag(source, ifMatch, from);
        const target = entries.get(to);
        if (target) {
          throw conflict(`'${to}' already exists: delete it first or choose another destination`, {
            path: to,
            etag: target.etag,
          });
        }
        const version = await recordChange(
          tx,
          { project, actor, workspace, kind: 'file.move', paths: [from, to] },
          { from, to },
        );
        // The destination reuses the source's bytes: its blob, or its inline draft content.
        await upsertDraftRow(tx, project.id, workspace, to, source, version, actor.principal);
        await markDeleted(tx, project.id, workspace, [source], version, actor.principal);
        return { version, from, to, etag: source.etag!, size: source.size };
      });
    },

    /** Drops drafts (all, or the given paths) so the workspace sees the committed tree again. */
    async discard(projectName: string, actor: Actor, rawPaths?: readonly string[]) {
      const workspace = workspaceOf(actor);
      const paths = rawPaths?.length ? [...new Set(rawPaths.map((p) => normalizePath(p)))] : undefined;
      return withWritableProject(projectName, async (tx, project) => {
        const changed = await readView(tx, project.id, workspace, {
          changedOnly: true,
          ...(paths ? { paths } : {}),
        });
        if (paths) {
          const found = new Set(changed.map((e) => e.path));
          const missing = paths.filter((p) => !found.has(p));
          if (missing.length) {
            throw notFound(
              `no changes to discard for: ${missing.join(', ')}; nothing was discarded (check list_changes)`,
              {
                missing,
              },
            );
          }
        }
        if (!changed.length) return { version: project.version, discarded: [] as ViewEntry[] };
        const dropped = changed.map((e) => e.path);
        const version = await recordChange(tx, {
          project,
          actor,
          workspace,
          kind: 'changes.discard',
          paths: dropped,
        });
        await deleteDrafts(tx, project.id, workspace, dropped);
        return { version, discarded: changed };
      });
    },
  };
}

export type WorkspaceService = ReturnType<typeof createWorkspaceService>;

/** Bytes of every live project's committed files and drafts: one aggregate over both tables, so
 *  linear in all files (measured: ~0.5 ms for 2,000 files, ~20 ms for 200,000). It runs only when
 *  MAX_TOTAL_BYTES is set and a write grows its workspace. */
async function storedBytes(tx: Queryable): Promise<number> {
  const [row] = await tx.query<{ bytes: number }>(
    `SELECT (SELECT coalesce(sum(f.size), 0) FROM files f JOIN projects p ON p.id = f.project_id
             WHERE p.deleted_at IS NULL)
          + (SELECT coalesce(sum(d.size), 0) FROM drafts d JOIN projects p ON p.id = d.project_id
             WHERE p.deleted_at IS NULL) AS bytes`,
  );
  return Number(row!.bytes);
}

/** An archived project keeps its files in its archive only: say how to get them back rather
 *  than show an empty tree. `reason` lets listings across projects skip it. */
export function assertReadable(project: Project): Project {
  if (project.status !== 'archived') return project;
  throw conflict(
    `project '${project.name}' is archived: its files cannot be listed or read until it is restored (restore_project)`,
    { reason: 'archived' },
  );
}

/** What a caller sees of a present file's state (deletions are never returned by reads). */
const publicState = (entry: ViewEntry): 'added' | 'modified' | 'committed' =>
  entry.state === 'deleted' ? 'modified' : entry.state;

async function markDeleted(
  tx: Queryable,
  projectId: string,
  workspace: string,
  entries: readonly ViewEntry[],
  version: number,
  principal: string,
) {
  const added = entries.filter((e) => !e.committedHash).map((e) => e.path);
  const committed = entries.filter((e) => e.committedHash).map((e) => e.path);
  if (added.length) await deleteDrafts(tx, projectId, workspace, added);
  if (committed.length) {
    await tx.query(
      `INSERT INTO drafts (project_id, workspace, path, op, version, updated_by)
       SELECT $1, $2, p, 'delete', $3, $4 FROM unnest($5::text[]) AS p
       ON CONFLICT (project_id, workspace, path) DO UPDATE SET op = 'delete', content = NULL, blob_hash = NULL,
         content_hash = NULL, size = 0, mode = NULL, version = excluded.version,
         updated_by = excluded.updated_by, updated_at = now()`,
      [projectId, workspace, version, principal, committed],
    );
  }
}

async function upsertDraftRow(
  tx: Queryable,
  projectId: string,
  workspace: string,
  path: string,
  source: ViewEntry,
  version: number,
  principal: string,
) {
  const blobHash = source.blobHash;
  const inline = blobHash ? null : source.inline;
  await tx.query(
    `INSERT INTO drafts (project_id, workspace, path, op, content, blob_hash, content_hash, size, mode, version, updated_by)
     VALUES ($1, $2, $3, 'upsert', $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (project_id, workspace, path) DO UPDATE SET op = 'upsert', content = excluded.content,
       blob_hash = excluded.blob_hash, content_hash = excluded.content_hash, size = excluded.size,
       mode = excluded.mode, version = excluded.version, updated_by = excluded.updated_by, updated_at = now()`,
    [projectId, workspace, path, inline, blobHash, source.hash, source.size, source.mode, version, principal],
  );
}
