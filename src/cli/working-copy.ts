// `stowage checkout`, `push-dir` and `pull-dir`: a directory as a working copy of one workspace,
// edited offline and brought back in line through the workspace and history services. The local
// side (state file, base copies, scan, safe writes) is working-copy-files.ts.
//
// Decisions:
// - Both directions use the three-way rule drafts are rebased by (threeWay, with git merge-file
//   for text): base = the file as the state file records it, ours = the side being sent, theirs
//   = the side receiving. Hashes decide first, so an unchanged side costs no merge.
// - push-dir sends with if_match (the etag it merged against), so a write landing meanwhile
//   refuses that file instead of being overwritten; a batch refused that way is retried file by
//   file, so one moved file does not hold back the others.
// - A file one side deleted while the other changed it is a conflict, except when pull-dir finds
//   the local deletion: the workspace's newer version comes back, reported.
import { mkdir } from 'node:fs/promises';
import { conflict, isStowageError, type StowageError } from '../errors.js';
import { mapBounded } from '../formats/map-bounded.js';
import type { MergeText } from '../git/types.js';
import { sha256 } from '../store/blobs/blob-store.js';
import { threeWay, type MergeSide } from '../store/commits/draft-rebase.js';
import type { Stowage } from '../store/stowage.js';
import type { BatchEntry } from '../store/workspace/batch-read.js';
import type { Actor } from '../store/workspace/core.js';
import {
  conflictCopyOf,
  findState,
  isEmptyDir,
  readBase,
  readLocal,
  readState,
  removeLocal,
  saveBase,
  saveConflictCopy,
  saveState,
  scanLocal,
  writeLocal,
  type CheckoutState,
  REGULAR,
} from './working-copy-files.js';

export interface WorkingCopyDeps {
  stowage: Stowage;
  mergeText: MergeText;
  principal: string;
}

export interface Outcome {
  summary: string;
  /** Files refused or left in conflict, each with the fix; any makes the command fail. */
  problems: { path: string; reason: string }[];
  /** Files the user should look at, though nothing was refused. */
  notes?: { path: string; reason: string }[];
}

/** Files read or written at once. */
const IO_CONCURRENCY = 16;

interface RemoteFile {
  path: string;
  hash: string;
  mode: number;
  etag: string;
  read(): Promise<Buffer>;
}

/** The workspace's view now, or at a point; with content readers. */
async function remoteView(
  { stowage }: WorkingCopyDeps,
  project: string,
  actor: Actor,
  at?: string,
): Promise<RemoteFile[]> {
  if (at !== undefined) {
    // The CLI runs as the operator: any workspace's points are readable.
    const source = await stowage.history.sourceAt(project, actor, at, async () => {});
    // Its entries are history's (entryOf in history/service.ts), which carry hash and mode
    // beyond what batch_read shows. A version without a mode (a draft that kept its file's)
    // is written as a regular file.
    const entries = (await source.entries([], '')) as (BatchEntry & {
      hash?: string;
      mode?: number | null;
    })[];
    return entries.map((e) => {
      if (typeof e.hash !== 'string') throw new Error(`the version of '${e.path}' has no hash`);
      const mode = e.mode ?? REGULAR;
      return { path: e.path, hash: e.hash, mode, etag: e.etag ?? '', read: () => source.content(e) };
    });
  }
  const { entries } = await stowage.workspace.list(project, actor, { present: true, withContent: true });
  return entries
    .filter((e) => e.hash !== null)
    .map((e) => ({
      path: e.path,
      hash: e.hash!,
      mode: e.mode,
      etag: e.etag!,
      read: () => stowage.workspace.contentOf(e),
    }));
}

export async function checkout(
  deps: WorkingCopyDeps,
  project: string,
  dir: string,
  options: { workspace?: string | undefined; at?: string | undefined } = {},
): Promise<Outcome> {
  const actor = { principal: deps.principal, workspace: options.workspace };
  const workspace = deps.stowage.workspace.workspaceOf(actor);
  const existing = await findState(dir);
  if (existing?.project === project && existing.workspace === workspace && options.at === undefined) {
    return pullDir(deps, dir);
  }
  if (existing || !(await isEmptyDir(dir))) {
    const what = existing
      ? `a checkout of '${existing.project}' (workspace '${existing.workspace}')`
      : `not empty and not a checkout of '${project}'`;
    throw conflict(`'${dir}' is ${what}: check out into a new or empty directory`);
  }
  const files = await remoteView(deps, project, actor, options.at);
  await mkdir(dir, { recursive: true });
  const state: CheckoutState = { project, workspace, at: options.at, files: {} };
  const problems: Outcome['problems'] = [];
  await mapBounded(files, IO_CONCURRENCY, async (f) => {
    const content = await f.read();
    try {
      await writeLocal(dir, f.path, content, f.mode);
    } catch (err) {
      if (!isStowageError(err)) throw err;
      problems.push({ path: f.path, reason: err.message });
      return;
    }
    await saveBase(dir, f.hash, content);
    state.files[f.path] = { hash: f.hash, mode: f.mode };
  });
  await saveState(dir, state);
  const point = options.at === undefined ? '' : ` at '${options.at}'`;
  return {
    summary: `checked out ${files.length - problems.length} file(s) of '${project}' (workspace '${workspace}')${point} into ${dir}`,
    problems,
  };
}

const side = (hash: string | null, read: () => Promise<Buffer>): MergeSide => ({ hash, read });

/** Applies `items` a batch per call; a refused batch is retried item by item, so only the
 *  culprits stay back (each handed to `refuse`). Returns the items applied. */
async function inBatches<T extends { path: string }>(
  items: readonly T[],
  size: number,
  apply: (batch: T[]) => Promise<unknown>,
  refuse: (path: string, err: StowageError) => void,
): Promise<T[]> {
  const done: T[] = [];
  const attempt = (batch: T[]) =>
    apply(batch).then(
      () => (done.push(...batch), true as const),
      (err: unknown) => {
        if (!isStowageError(err)) throw err;
        return err;
      },
    );
  for (let i = 0; i < items.length; i += size) {
    const batch = items.slice(i, i + size);
    if ((await attempt(batch)) === true) continue;
    for (const item of batch) {
      const outcome = await attempt([item]);
      if (outcome !== true) refuse(item.path, outcome);
    }
  }
  return done;
}

export async function pushDir(deps: WorkingCopyDeps, dir: string): Promise<Outcome> {
  const { stowage, mergeText } = deps;
  const state = await readState(dir);
  const actor = { principal: deps.principal, workspace: state.workspace };
  const scan = await scanLocal(dir);
  const problems = scan.refused.map(({ path, reason }) => ({ path, reason }));
  const changed = new Set<string>();
  for (const f of scan.files.values()) {
    const was = state.files[f.path];
    if (!was || was.hash !== f.hash || was.mode !== f.mode) changed.add(f.path);
  }
  for (const path of Object.keys(state.files)) {
    if (!scan.files.has(path) && !scan.ignored(path)) changed.add(path);
  }
  const paths = [...changed].sort();
  const { entries } = await stowage.workspace.lookup(state.project, actor, paths);
  const server = new Map(entries.map((e) => [e.path, e]));
  const pullFirst = `run stowage pull-dir ${dir} first, then push-dir again`;

  const writes: { path: string; content: Buffer; mode: number; ifMatch: string | undefined }[] = [];
  const deletes: { path: string; ifMatch: string }[] = [];
  let merged = 0;
  let already = 0;
  await mapBounded(paths, IO_CONCURRENCY, async (path) => {
    const base = state.files[path];
    const local = await readLocal(dir, path);
    const theirs = server.get(path);
    if (base?.unresolved !== undefined && local?.hash === base.unresolved) {
      const reason = `still in conflict since pull-dir: resolve it (the merge is in ${conflictCopyOf(path)}), then push-dir again`;
      problems.push({ path, reason });
      return;
    }
    const send = (content: Buffer) =>
      writes.push({ path, content, mode: local!.mode, ifMatch: theirs?.etag ?? undefined });
    if ((theirs?.hash ?? null) === (base?.hash ?? null)) {
      if (local) send(local.content);
      else if (theirs) deletes.push({ path, ifMatch: theirs.etag! });
      else delete state.files[path];
      return;
    }
    if (local && base && local.hash === base.hash) {
      problems.push({ path, reason: `its mode changed here and its content in the workspace: ${pullFirst}` });
      return;
    }
    const result = await threeWay(
      side(base?.hash ?? null, () => readBase(dir, base!.hash)),
      side(local?.hash ?? null, () => Promise.resolve(local!.content)),
      side(theirs?.hash ?? null, () => stowage.workspace.contentOf(theirs!)),
      mergeText,
    );
    if (result.take === 'conflict') {
      const reason = `changed in workspace '${state.workspace}' since your checkout, overlapping your change: ${pullFirst}`;
      problems.push({ path, reason });
    } else if (result.take === 'theirs') {
      already++;
      if (theirs) state.files[path] = { hash: theirs.hash!, mode: theirs.mode };
      else delete state.files[path];
    } else if (result.take === 'ours') {
      if (local) send(local.content);
      else deletes.push({ path, ifMatch: theirs!.etag! });
    } else {
      merged++;
      send(result.content);
    }
  });

  const sent = { added: 0, modified: 0, deleted: 0 };
  const refuse = (path: string, err: StowageError) =>
    problems.push({ path, reason: `${err.message} (${pullFirst})` });
  const { batchFiles } = stowage.limits;
  const written = await inBatches(
    writes,
    batchFiles,
    (batch) => stowage.workspace.write(state.project, actor, batch),
    refuse,
  );
  for (const w of written) {
    sent[server.has(w.path) ? 'modified' : 'added']++;
    const hash = sha256(w.content);
    state.files[w.path] = { hash, mode: w.mode };
    await saveBase(dir, hash, w.content);
    // A merged file takes its merge here too: the directory matches what was sent.
    if (hash !== scan.files.get(w.path)?.hash) await writeLocal(dir, w.path, w.content, w.mode);
  }
  const deleted = await inBatches(
    deletes,
    batchFiles,
    (batch) =>
      stowage.workspace.delete(
        state.project,
        actor,
        batch.map((d) => d.path),
        new Map(batch.map((d) => [d.path, d.ifMatch])),
      ),
    refuse,
  );
  for (const d of deleted) delete state.files[d.path];
  sent.deleted = deleted.length;
  await saveState(dir, state);
  const extra = [
    merged && `${merged} merged with the workspace's changes`,
    already && `${already} already there`,
  ]
    .filter(Boolean)
    .join(', ');
  return {
    summary:
      `push-dir to '${state.project}' (workspace '${state.workspace}'): ${sent.added} added, ${sent.modified} modified, ` +
      `${sent.deleted} deleted${extra ? ` (${extra})` : ''}, ${problems.length} refused`,
    problems,
  };
}

export async function pullDir(deps: WorkingCopyDeps, dir: string): Promise<Outcome> {
  const { stowage, mergeText } = deps;
  const state = await readState(dir);
  const actor = { principal: deps.principal, workspace: state.workspace };
  const { entries } = await stowage.workspace.list(state.project, actor, { present: true });
  const listed = new Map(entries.filter((e) => e.hash !== null).map((e) => [e.path, e]));
  const moved = [...new Set([...listed.keys(), ...Object.keys(state.files)])].filter((path) => {
    const [now, was] = [listed.get(path), state.files[path]];
    return now?.hash !== was?.hash || now?.mode !== was?.mode || was?.unresolved !== undefined;
  });
  // Content comes with the lookup (inline drafts) or from the blob store.
  const server = new Map<string, (typeof entries)[number]>();
  for (let i = 0; i < moved.length; i += stowage.limits.batchFiles) {
    const batch = moved.slice(i, i + stowage.limits.batchFiles);
    for (const e of (await stowage.workspace.lookup(state.project, actor, batch)).entries)
      server.set(e.path, e);
  }
  const problems: Outcome['problems'] = [];
  const notes: Outcome['problems'] = [];
  const counts = { updated: 0, deleted: 0, merged: 0, restored: 0 };
  const pullOne = async (path: string) => {
    const base = state.files[path];
    const theirs = server.get(path);
    const local = await readLocal(dir, path);
    if (base?.unresolved !== undefined && local?.hash === base.unresolved) {
      problems.push({ path, reason: `still in conflict: resolve it (see ${conflictCopyOf(path)})` });
      return;
    }
    const theirsContent = () => stowage.workspace.contentOf(theirs!);
    const track = async (content?: Buffer) => {
      if (!theirs) return void delete state.files[path];
      state.files[path] = { hash: theirs.hash!, mode: theirs.mode };
      await saveBase(dir, theirs.hash!, content ?? (await theirsContent()));
    };
    // The mode follows the side that changed it.
    const mode = local && base && local.mode !== base.mode ? local.mode : (theirs?.mode ?? local?.mode ?? 0);
    if (base && !local && theirs && theirs.hash !== base.hash) {
      const content = await theirsContent();
      await writeLocal(dir, path, content, theirs.mode);
      await track(content);
      counts.restored++;
      const reason = `you deleted it, and workspace '${state.workspace}' changed it meanwhile: it is back; delete it again and push-dir if it should go`;
      notes.push({ path, reason });
      return;
    }
    const result = await threeWay(
      side(base?.hash ?? null, () => readBase(dir, base!.hash)),
      side(local?.hash ?? null, () => Promise.resolve(local!.content)),
      side(theirs?.hash ?? null, theirsContent),
      mergeText,
    );
    if (result.take === 'conflict') {
      if (!theirs || !local) {
        const reason = `deleted in workspace '${state.workspace}' while you changed it: delete it to agree, or rename it to keep it`;
        problems.push({ path, reason });
        return;
      }
      const content = await theirsContent();
      await saveConflictCopy(dir, path, result.marked ?? content);
      await track(content);
      state.files[path]!.unresolved = local.hash;
      const what = result.marked ? 'the merge with conflict markers' : "the workspace's version";
      const reason = `changed here and in workspace '${state.workspace}', overlapping: your file is left as it was; ${what} is in ${conflictCopyOf(path)}: edit your file to the result, then push-dir`;
      problems.push({ path, reason });
    } else if (result.take === 'theirs') {
      if (!theirs) {
        if (local) await removeLocal(dir, path);
        counts.deleted++;
        return void (await track());
      }
      const content = await theirsContent();
      if (local?.hash !== theirs.hash || local.mode !== mode) {
        await writeLocal(dir, path, content, mode);
        counts.updated++;
      }
      await track(content);
    } else {
      if (result.take === 'merged') {
        await writeLocal(dir, path, result.content, mode);
        counts.merged++;
      }
      await track();
    }
  };
  // A path the directory cannot hold (under .stowage/, through a link) is refused, not fatal.
  await mapBounded(moved, IO_CONCURRENCY, (path) =>
    pullOne(path).catch((err: unknown) => {
      if (!isStowageError(err)) throw err;
      problems.push({ path, reason: err.message });
    }),
  );
  delete state.at;
  await saveState(dir, state);
  return {
    summary:
      `pull-dir from '${state.project}' (workspace '${state.workspace}'): ${counts.updated} updated, ` +
      `${counts.deleted} deleted, ${counts.merged} merged with your changes, ${counts.restored} restored, ${problems.length} in conflict`,
    problems,
    notes,
  };
}
