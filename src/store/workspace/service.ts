// Workspace operations: every write lands as a draft in a workspace, every read sees
// drafts ⊕ committed. Blob first, then metadata; each call is one transaction, all or nothing.
import { conflict, invalidInput, notFound, tooLarge } from '../../errors.js';
import { sha256 } from '../blobs/blob-store.js';
import { recordChange } from '../changes.js';
import { refuseTwinsWithin, viewCaseIndex } from '../case-twins.js';
import { asText, etagOf } from '../../formats/content.js';
import { checkEdits, type TextEdit } from '../../formats/text-edit.js';
import type { CpuWork } from '../../workers/cpu-work.js';
import { deleteDrafts, upsertDeletionDrafts, upsertDraft } from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import type { Deflater } from '../../formats/deflater.js';
import { normalizePath } from '../../paths.js';
import { getProject, type Project } from '../projects.js';
import { readView, type ViewEntry, type ViewFilter } from './view.js';
import type { Actor, WorkspaceCore } from './core.js';
import {
  checkEtag,
  createDraftWriter,
  type FileWrite,
  type PreparedWrite,
  type WriteResult,
} from './writer.js';

export type { Actor, FileWrite, WriteResult };

/** A version of a file other than the workspace's: its draft's base, or the committed one. */
export type ReadSide = 'base' | 'theirs';

export interface Limits {
  fileBytes: number;
  /** Per project, unless the project has its own (smaller) quota_bytes. */
  projectBytes: number;
  batchFiles: number;
  inlineBytes: number;
  /** Over all live projects' committed files and drafts; 0 or absent: none (MAX_TOTAL_BYTES). */
  totalBytes?: number | undefined;
  /** Per edit_file edit (MAX_OLD_TEXT_CHARS); absent: none. */
  oldTextChars?: number | undefined;
}

export interface WorkspaceDeps {
  sql: Sql;
  core: WorkspaceCore;
  limits: Limits;
  /** Coalesce concurrent writes to a project into one transaction (default on). */
  groupCommit?: boolean | undefined;
  /** Deflates a job's inline drafts as they are written. */
  deflater: Deflater;
  /** Runs edit matching off the event loop when the file is large. */
  cpu: CpuWork;
}

export function createWorkspaceService({
  sql,
  core,
  limits,
  groupCommit = true,
  deflater,
  cpu,
}: WorkspaceDeps) {
  const { storeBlobs, workspaceOf, withWritableProject, contentOf } = core;
  const drafts = createDraftWriter({ core, limits, groupCommit, deflater });

  function prepare(files: readonly FileWrite[]): PreparedWrite[] {
    if (!files.length) throw invalidInput('no files given: pass at least one {path, content}');
    if (files.length > limits.batchFiles) {
      throw tooLarge(
        `${files.length} files in one call exceeds the limit of ${limits.batchFiles}: split the batch`,
      );
    }
    const seen = new Set<string>();
    const prepared = files.map((f): PreparedWrite => {
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
    refuseTwinsWithin(prepared.map((f) => f.path));
    return prepared;
  }

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

    /** The file as the workspace sees it, or with `side` another version of it: `base`, what
     *  its draft was based on, or `theirs`, the committed one (a conflict's two other sides).
     *  For a side, the entry's hash, etag and size are that version's. */
    async read(projectName: string, actor: Actor, rawPath: string, side?: ReadSide) {
      const path = normalizePath(rawPath);
      const workspace = workspaceOf(actor);
      const project = assertReadable(await getProject(sql, projectName));
      const [found] = await readView(sql, project.id, workspace, { paths: [path], withContent: true });
      const where = `in project '${projectName}' (workspace '${workspace}')`;
      if (side) {
        const hash = side === 'theirs' ? found?.committedHash : found?.baseHash;
        if (!found || !hash) {
          throw notFound(
            side === 'theirs'
              ? `'${path}' is not in the committed tree (theirs) ${where}: it was deleted there, or never committed`
              : `'${path}' did not exist at the base of your changes ${where}: you added it`,
          );
        }
        const content = await contentOf({ ...found, inline: null, blobHash: hash });
        const entry = { ...found, hash, etag: etagOf(hash), size: content.byteLength };
        return { project, workspace, entry, content };
      }
      if (!found || found.state === 'deleted') {
        const fix = found?.conflict
          ? `you deleted it, and the committed version changed meanwhile (conflict): read side 'theirs', then delete_file or write_file it again, or discard_changes`
          : 'check list_files';
        throw notFound(`'${path}' not found ${where}: ${fix}`);
      }
      return { project, workspace, entry: found, content: await contentOf(found) };
    },

    /** Writes files as drafts, all or nothing. Identical content is a no-op; content equal to
     *  the committed version drops the draft. */
    async write(projectName: string, actor: Actor, files: readonly FileWrite[]): Promise<WriteResult[]> {
      const workspace = workspaceOf(actor);
      const prepared = prepare(files);
      const big = prepared.filter((f) => f.stored === 'blob');
      if (big.length) {
        await getProject(sql, projectName); // fail fast before storing any blob
        await storeBlobs(big, { searchText: false }); // a draft: indexed when first searched
      }

      return drafts.write(projectName, actor, workspace, prepared);
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
      checkEdits(edits, limits.oldTextChars);
      const { entry, content } = await this.read(projectName, actor, rawPath);
      checkEtag(entry, options.ifMatch, entry.path);
      const text = asText(content);
      if (text === undefined)
        throw invalidInput(`'${entry.path}' is binary: use write_file with encoding 'base64'`);
      const { content: next, diff } = await cpu.applyEdits(text, edits, entry.path);
      if (options.dryRun) {
        return { path: entry.path, diff, etag: entry.etag!, written: false, content: undefined };
      }
      const written = Buffer.from(next, 'utf8');
      const [result] = await this.write(projectName, actor, [
        { path: entry.path, content: written, ifMatch: entry.etag! },
      ]);
      // `content`, what was written, is for the caller's secret scan (secrets.ts).
      return { path: entry.path, diff, etag: result!.etag, written: true, content: written };
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
        const version = await recordChange(tx, project.id, {
          principal: actor.principal,
          workspace,
          kind: 'file.delete',
          paths,
        });
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
        // The source leaves as the destination arrives: renaming only its case is allowed.
        const twins = await viewCaseIndex(tx, project.id, [{ workspace, path: to }], from);
        const twin = twins.get(workspace)!.collision(to);
        if (twin) throw twin;
        const version = await recordChange(tx, project.id, {
          principal: actor.principal,
          workspace,
          kind: 'file.move',
          paths: [from, to],
          detail: { from, to },
        });
        // The destination reuses the source's bytes: its blob, or its inline draft content.
        // Based on what is committed at `to` (a conflicted deletion there is resolved).
        await upsertDraft(tx, {
          projectId: project.id,
          workspace,
          path: to,
          inline: source.blobHash ? null : source.inline,
          blobHash: source.blobHash,
          hash: source.hash,
          size: source.size,
          mode: source.mode,
          version,
          principal: actor.principal,
        });
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
        const version = await recordChange(tx, project.id, {
          principal: actor.principal,
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

/** An archived project keeps its files in its archive only: say how to get them back rather
 *  than show an empty tree. `reason` lets listings across projects skip it. */
export function assertReadable(project: Project): Project {
  if (project.status !== 'archived') return project;
  throw conflict(
    `project '${project.name}' is archived: its files cannot be listed or read until it is restored (restore_project)`,
    { reason: 'archived' },
  );
}

async function markDeleted(
  tx: Queryable,
  projectId: string,
  workspace: string,
  entries: readonly ViewEntry[],
  version: number,
  principal: string,
) {
  const added = entries.filter((e) => !e.committedHash).map((e) => e.path);
  const committed = entries.filter((e) => e.committedHash);
  if (added.length) await deleteDrafts(tx, projectId, workspace, added);
  if (committed.length) {
    // A new deletion is based on the committed file; one of a conflicted draft resolves it.
    await upsertDeletionDrafts(tx, {
      projectId,
      workspace,
      version,
      principal,
      paths: committed.map((e) => e.path),
      bases: committed.map((e) => e.committedHash),
    });
  }
}
