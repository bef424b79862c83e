// Bringing a remote's tree into the committed tree: import when a project is created with a
// remote, sync_project later. Files are compared by git blob SHA, so only what changed is
// fetched and stored; drafts on changed paths are merged with the change in the same
// transaction (draft-rebase.ts), and files the remote cannot hold (symlinks, submodules,
// oversize or binary files, unsafe paths) are reported, not silently dropped.
//
// A remote tree may hold case twins ('Readme.md' beside 'README.md', case-twins.ts), which
// nobody can fix through Stowage: the import is not refused for them. One spelling comes in and
// the others are reported as skipped ('case_twin'): the one the committed tree already has, else
// the first in path order. Renaming one on the remote brings it in at the next sync.
import { alreadyExists, conflict, invalidInput } from '../../errors.js';
import { checkBranchName } from '../../git/branch-name.js';
import type { GitRemote, RemoteEntry, RemoteRef } from '../../git/types.js';
import { createBlobBatcher, type BlobWriter } from '../blobs/writer.js';
import { sha256 } from '../blobs/blob-store.js';
import { twinsArriving } from '../case-twins.js';
import { recordChange } from '../changes.js';
import type { CallContext } from '../../call-context.js';
import { asText } from '../../formats/content.js';
import { deleteFiles, selectFilesForSync, setHeadSha, upsertRemoteFiles } from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import type { DraftRebaser } from './draft-rebase.js';
import { normalizePath } from '../../paths.js';
import { loadDescriber, type FileFacts } from '../project-facts.js';
import { checkRemoteTree, refuseOverTotal } from '../quota.js';
import { assertWritable, getProject, sameRemote, type Project, type ProjectService } from '../projects.js';
import type { Actor } from '../workspace/service.js';

export type SkipReason =
  'symlink' | 'submodule' | 'too_large' | 'binary' | 'invalid_path' | 'case_twin' | 'file_directory_clash';

interface Fetched {
  head: string;
  upserts: (FileFacts & { path: string; hash: string; size: number; gitSha: string; mode: number })[];
  removals: string[];
  skipped: { path: string; reason: SkipReason }[];
  /** Committed locally without a push and different on the remote: kept, reported. */
  keptLocal: string[];
}

export function createRemoteSync(deps: {
  sql: Sql;
  remote: GitRemote;
  storeBlobs: BlobWriter;
  projects: ProjectService;
  limits: { fileBytes: number; projectBytes: number; totalBytes?: number | undefined };
  /** Refuses a URL git must not contact (protocol, credentials in it, a host not allowed). */
  checkUrl: (url: string) => Promise<void>;
  /** Merges the drafts on the paths a sync changed. */
  rebaser: DraftRebaser;
  /** Settles push intents a dead process left (push-intents.ts) before the tree moves. */
  reconcile: (project: Project, actor: Actor, call: CallContext) => Promise<void>;
}) {
  const { sql, remote, storeBlobs, limits } = deps;

  /** The remote tree against what is committed, the changed blobs already in the blob store. */
  async function fetchTree(
    ref: RemoteRef,
    committed: Map<string, { git_sha: string; local: boolean }>,
    /** The project's own quota_bytes (null: none), and what to do when the tree is over it. */
    quota: { bytes: number | null; fix: string },
    call: CallContext,
  ): Promise<Fetched> {
    const upserts: Fetched['upserts'] = [];
    const skipped: Fetched['skipped'] = [];
    const keptLocal: string[] = [];
    const canonical = new Map<string, string>();
    const batcher = createBlobBatcher(storeBlobs, { overlap: true });
    const describe = await loadDescriber();

    const snapshot = await remote.snapshot(ref, {
      signal: call.signal,
      progress: call.progress,
      want(entry) {
        const reason = skipReason(entry, limits.fileBytes);
        const path = reason ? undefined : canonicalPath(entry.path);
        if (reason || !path) {
          skipped.push({ path: entry.path, reason: reason ?? 'invalid_path' });
          return false;
        }
        canonical.set(entry.path, path);
        const mine = committed.get(path);
        if (mine?.git_sha === entry.sha) return false;
        if (mine?.local) {
          keptLocal.push(path);
          return false;
        }
        return true;
      },
      async onBlob(entry, content) {
        if (asText(content) === undefined) {
          skipped.push({ path: entry.path, reason: 'binary' });
          return;
        }
        const hash = sha256(content);
        const path = canonical.get(entry.path)!;
        upserts.push({
          path,
          hash,
          size: content.byteLength,
          gitSha: entry.sha,
          mode: entry.mode,
          ...describe(path, content),
        });
        await batcher.add({ hash, content });
      },
    });
    await batcher.flush();

    const onRemote = new Set(canonical.values());
    const skippedPaths = new Set(skipped.map((s) => s.path));
    const removals = [...committed.entries()]
      .filter(([path, f]) => !onRemote.has(path) && !skippedPaths.has(path) && !f.local)
      .map(([path]) => path);
    // New paths that twin one the tree keeps, or an earlier new one, stay out (their blobs,
    // fetched with the rest, are collected as unreferenced).
    const removed = new Set(removals);
    const twins = twinsArriving(
      [...committed.keys()].filter((path) => !removed.has(path)),
      upserts.filter((u) => !committed.has(u.path)).map((u) => u.path),
    );
    for (const twin of twins) canonical.delete(twin.path);
    skipped.push(...twins);
    const twinPaths = new Set(twins.map((t) => t.path));
    const total = snapshot.entries.filter((e) => canonical.has(e.path)).reduce((n, e) => n + e.size, 0);
    checkRemoteTree(total, quota, limits);
    return {
      head: snapshot.head,
      upserts: twins.length ? upserts.filter((u) => !twinPaths.has(u.path)) : upserts,
      removals,
      skipped,
      keptLocal,
    };
  }

  /** Writes the fetched changes into the committed tree, inside the caller's transaction. */
  async function apply(tx: Queryable, project: Project, fetched: Fetched, version: number) {
    const { upserts, removals } = fetched;
    if (upserts.length) await upsertRemoteFiles(tx, project.id, version, upserts);
    if (removals.length) await deleteFiles(tx, project.id, removals);
    await setHeadSha(tx, project.id, fetched.head);
  }

  const report = (fetched: Fetched) => ({
    head: fetched.head,
    updated: fetched.upserts.map((u) => u.path).sort(),
    removed: fetched.removals.sort(),
    skipped: fetched.skipped.sort((a, b) => (a.path < b.path ? -1 : 1)),
    kept_local: fetched.keptLocal.sort(),
  });

  return {
    /** Validates a remote before anything is stored. */
    async checkRemote(ref: RemoteRef) {
      checkBranchName(ref.branch, 'remote.branch', 'name an existing branch, e.g. main');
      await deps.checkUrl(ref.url);
    },

    /** Creates a project with a remote, importing its tree in the same transaction. */
    async createWithImport(
      input: Parameters<ProjectService['create']>[0] & { remote: RemoteRef },
      principal: string,
      call: CallContext,
    ) {
      await this.checkRemote(input.remote);
      await deps.projects.names(input.name, 1).then((names) => {
        if (names[0] === input.name) {
          throw alreadyExists(
            `project '${input.name}' already exists: choose another name, or use it as it is`,
          );
        }
      });
      const fetched = await fetchTree(
        input.remote,
        new Map(),
        { bytes: input.quota_bytes ?? null, fix: 'pass a larger quota_bytes, or none' },
        call,
      );
      const project = await deps.projects.create(input, principal, async (tx, created) => {
        const version = await recordChange(tx, created.id, {
          principal,
          kind: 'import',
          detail: { head: fetched.head, files: fetched.upserts.length },
        });
        await apply(tx, created, fetched, version);
        await refuseOverTotal(tx, limits.totalBytes, `importing the remote tree of '${input.name}'`);
        return getProject(tx, created.name);
      });
      return { project, import: report(fetched) };
    },

    /** Brings the committed tree up to the remote head, merging the drafts on the paths it
     *  changed (draft-rebase.ts); reports those merged and those left in conflict. */
    async sync(projectName: string, actor: Actor, call: CallContext) {
      const project = await getProject(sql, projectName);
      assertWritable(project);
      if (!project.remote) {
        throw invalidInput(
          `project '${projectName}' has no remote to sync from: create it with remote {url, branch}`,
        );
      }
      // A commit whose push landed before its process died is applied first: bringing its files
      // in as the remote's would merge its own drafts with themselves.
      await deps.reconcile(project, actor, call);
      const committed = new Map((await selectFilesForSync(sql, project.id)).map((f) => [f.path, f]));
      const fetched = await fetchTree(
        project.remote,
        committed,
        {
          bytes: project.quota_bytes,
          fix: 'raise quota_bytes with update_project, or remove files on the remote branch',
        },
        call,
      );
      const changed = [...fetched.upserts.map((u) => u.path), ...fetched.removals];
      const growth =
        fetched.upserts.reduce((n, u) => n + u.size - (committed.get(u.path)?.size ?? 0), 0) -
        fetched.removals.reduce((n, path) => n + (committed.get(path)?.size ?? 0), 0);
      const result = await sql.transaction(async (tx) => {
        const locked = await getProject(tx, projectName, { forUpdate: true });
        assertWritable(locked); // archived while the remote was being fetched
        if (!sameRemote(locked.remote, project.remote)) {
          throw conflict(`the remote of '${projectName}' changed during the sync: call sync_project again`);
        }
        let version = locked.version;
        if (changed.length || locked.head_sha !== fetched.head) {
          // A head that moved with no file changed is still logged, as one event without a path.
          version = await recordChange(tx, locked.id, {
            principal: actor.principal,
            kind: 'sync',
            paths: changed.length ? changed : undefined,
            detail: { head: fetched.head },
          });
          await apply(tx, locked, fetched, version);
          if (growth > 0) await refuseOverTotal(tx, limits.totalBytes, `syncing '${projectName}'`);
        }
        const moved = [
          ...fetched.upserts.map((u) => ({ path: u.path, hash: u.hash })),
          ...fetched.removals.map((path) => ({ path, hash: null })),
        ];
        return { version, rebased: await deps.rebaser.rebase(tx, locked.id, moved, version) };
      });
      return {
        ...report(fetched),
        version: result.version,
        merged: byPath(result.rebased.merged),
        conflicts: byPath(result.rebased.conflicts),
      };
    },
  };
}

export type RemoteSync = ReturnType<typeof createRemoteSync>;

/** Drafts grouped by path: [{path, workspaces}], sorted. */
function byPath(drafts: readonly { workspace: string; path: string }[]) {
  const paths = new Map<string, string[]>();
  for (const d of drafts) paths.set(d.path, [...(paths.get(d.path) ?? []), d.workspace]);
  return [...paths]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, workspaces]) => ({ path, workspaces: workspaces.sort() }));
}

function skipReason(entry: RemoteEntry, maxBytes: number): SkipReason | undefined {
  const type = entry.mode & 0o170000;
  if (type === 0o120000) return 'symlink';
  if (type === 0o160000) return 'submodule';
  if (entry.size > maxBytes) return 'too_large';
  return undefined;
}

/** The path as Stowage stores it, or undefined when it is not one Stowage accepts as is. */
function canonicalPath(path: string): string | undefined {
  try {
    const canonical = normalizePath(path);
    return canonical === path ? canonical : undefined;
  } catch {
    return undefined;
  }
}
