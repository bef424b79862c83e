// Draft writes with group commit: write_file/write_files calls on one project that arrive while
// its previous transaction runs are queued and applied together in the next one — one project
// lock, one view query, one version bump, one insert each for events and drafts. Every call keeps
// its own outcome: an etag or quota refusal fails that call alone, and a batch whose transaction
// fails is retried call by call. Without group commit each call is its own transaction. A job's
// inline drafts are also deflated here, once, for its zip (jobs/job-zip.ts); other projects' writes do
// no deflate work.
import { isUtf8 } from 'node:buffer';
import { conflict } from '../../errors.js';
import type { CaseIndex } from '../../formats/case-index.js';
import { viewCaseIndex } from '../case-twins.js';
import { etagOf } from '../../formats/content.js';
import { storeDraftBatch, viewBytes, viewPairsStatement } from '../db/queries/index.js';
import type { Transaction } from '../db/sql.js';
import { packFiles, type Deflated, type Deflater } from '../../formats/deflater.js';
import { eventsOf, type Change } from '../changes.js';
import type { Project } from '../projects.js';
import { checkWorkspaceBytes, createTotalCheck, type QuotaLimits } from '../quota.js';
import { pairKey, viewOfPairs, type ViewEntry } from './view.js';
import type { Actor, WorkspaceCore } from './core.js';

export interface FileWrite {
  path: string;
  content: Buffer;
  ifMatch?: string | undefined;
  mode?: number | undefined;
}

/** A write whose path is normalised, content hashed, and content already stored when big. */
export interface PreparedWrite extends FileWrite {
  hash: string;
  stored: 'inline' | 'blob';
}

export interface WriteResult {
  path: string;
  etag: string;
  size: number;
  state: 'added' | 'modified' | 'committed';
  /** False when the file already had exactly this content. */
  changed: boolean;
}

interface Call {
  actor: Actor;
  workspace: string;
  files: readonly PreparedWrite[];
  resolve(results: WriteResult[]): void;
  reject(err: unknown): void;
}

/** What one call changes once accepted: drafts to upsert, drafts to drop (back to committed). */
interface Planned {
  call: Call;
  results: WriteResult[];
  /** `base`: the committed blob a new draft starts from (a draft keeps the base it has unless it
   *  is in conflict: a write resolves the conflict against the committed version). */
  upserts: { file: PreparedWrite; mode: number | null; base: string | null }[];
  reverts: string[];
  /** Paths this call brings into the view (for resource list_changed). */
  added: Set<string>;
}

// A batch's bound: its transaction holds the project lock, and its inline contents sit in memory.
const BATCH_CALLS = 256;
const BATCH_BYTES = 16 * 1024 * 1024;

export function createDraftWriter(options: {
  core: WorkspaceCore;
  limits: QuotaLimits;
  /** Off: one transaction per call (the comparison in `npm run bench`). */
  groupCommit: boolean;
  deflater: Deflater;
}) {
  const { core, limits, deflater } = options;
  const queues = new Map<string, Call[]>();

  /** Applies `calls` (all on `projectName`) in one transaction, then settles each call: no call
   *  hears its outcome before the transaction that decided it has committed. */
  async function flush(projectName: string, calls: Call[]): Promise<void> {
    let outcome: Awaited<ReturnType<typeof apply>>;
    try {
      // The view of every (workspace, path) the batch writes is read with the lock, in one trip.
      const pairs = calls.flatMap((c) => c.files.map((f) => ({ workspace: c.workspace, path: f.path })));
      outcome = await core.withWritableProject(
        projectName,
        (tx, project, [view]) => apply(tx, project, calls, viewOfPairs(view!)),
        [viewPairsStatement(projectName, pairs)],
      );
    } catch (err) {
      if (calls.length === 1) return calls[0]!.reject(err);
      // One call's trouble must not become the others': try each on its own.
      for (const call of calls) await flush(projectName, [call]);
      return;
    }
    for (const plan of outcome.accepted) plan.call.resolve(plan.results);
    for (const [call, err] of outcome.refused) call.reject(err);
  }

  /** Plans every call against the view as the calls before it leave it, refuses the ones that
   *  fail their etags or quotas, and writes the rest with one statement per table. */
  async function apply(tx: Transaction, project: Project, calls: Call[], view: Map<string, ViewEntry>) {
    // What the views and all projects held before this batch is read only if a call grows one.
    const workspaces = [...new Set(calls.map((c) => c.workspace))];
    let before: Map<string, number> | undefined;
    const checkTotal = createTotalCheck(tx, limits.totalBytes);
    const grown = new Map<string, number>(); // by the calls accepted so far
    let grownInAll = 0;
    // Paths a call brings into its view must not be case twins of what is there (case-twins.ts):
    // looked up once, only if a call adds a path, for every path the batch could add.
    let twins: Map<string, CaseIndex> | undefined;
    const absent = (c: Call) =>
      c.files
        .filter((f) => (view.get(pairKey(c.workspace, f.path))?.state ?? 'deleted') === 'deleted')
        .map((f) => ({ workspace: c.workspace, path: f.path }));

    const accepted: Planned[] = [];
    const refused: [Call, unknown][] = [];
    for (const call of calls) {
      try {
        const plan = planCall(call, view);
        if (plan.added.size) {
          twins ??= await viewCaseIndex(tx, project.id, calls.flatMap(absent));
          for (const path of plan.added) {
            const twin = twins.get(call.workspace)!.collision(path);
            if (twin) throw twin;
          }
        }
        const delta = plan.delta;
        const sofar = grown.get(call.workspace) ?? 0;
        if (delta > 0) {
          before ??= await viewBytes(tx, project.id, workspaces);
          checkWorkspaceBytes(project, (before.get(call.workspace) ?? 0) + sofar + delta, limits);
          await checkTotal(grownInAll + delta);
        }
        grown.set(call.workspace, sofar + delta);
        grownInAll += delta;
        for (const [key, entry] of plan.after) view.set(key, entry);
        for (const path of plan.added) twins!.get(call.workspace)!.add(path);
        accepted.push(plan);
      } catch (err) {
        refused.push([call, err]);
      }
    }
    const changing = accepted.filter((p) => p.upserts.length || p.reverts.length);
    if (changing.length) await store(tx, project, changing);
    return { accepted, refused };
  }

  /** One call against the current view: its results, its changes, and the view after it. */
  function planCall(call: Call, view: Map<string, ViewEntry>) {
    for (const f of call.files) checkEtag(view.get(pairKey(call.workspace, f.path)), f.ifMatch, f.path);
    const plan: Planned = { call, results: [], upserts: [], reverts: [], added: new Set() };
    const after = new Map<string, ViewEntry>();
    let delta = 0;
    for (const f of call.files) {
      const key = pairKey(call.workspace, f.path);
      const entry = view.get(key);
      const size = f.content.byteLength;
      const present = entry && entry.state !== 'deleted';
      const sameMode = f.mode === undefined || f.mode === entry?.mode;
      // Writing a conflicted draft resolves it, even with the content it already has.
      if (present && entry.hash === f.hash && sameMode && !entry.conflict) {
        const state = entry.state === 'deleted' ? 'modified' : entry.state;
        plan.results.push({ path: f.path, etag: etagOf(f.hash), size, state, changed: false });
        continue;
      }
      delta += size - (present ? entry.size : 0);
      const mode = f.mode ?? entry?.mode ?? null;
      const reverted = entry?.committedHash === f.hash && sameMode;
      const state = reverted ? 'committed' : entry?.committedHash ? 'modified' : 'added';
      if (reverted) plan.reverts.push(f.path);
      else plan.upserts.push({ file: f, mode, base: entry?.committedHash ?? null });
      if (!present) plan.added.add(f.path);
      plan.results.push({ path: f.path, etag: etagOf(f.hash), size, state, changed: true });
      after.set(key, {
        ...(entry ?? emptyEntry(f.path)),
        state,
        hash: f.hash,
        etag: etagOf(f.hash),
        size,
        mode: mode ?? 0o100644,
        baseHash:
          entry?.conflict || entry?.state === 'committed' ? entry.committedHash : (entry?.baseHash ?? null),
        conflict: false,
      });
    }
    return { ...plan, delta, after };
  }

  /** The accepted calls' versions, events and drafts, in one statement sent with the COMMIT:
   *  each round trip inside the transaction holds the project lock longer, and a busy server
   *  answers each later. */
  async function store(tx: Transaction, project: Project, plans: Planned[]) {
    // Call i is change i + 1 of the batch (changes.ts): its events and drafts carry its version.
    const changes = plans.map((p): Change => ({
      principal: p.call.actor.principal,
      workspace: p.call.workspace,
      kind: 'file.write',
      paths: [...p.upserts.map((u) => u.file.path), ...p.reverts],
      detail: (path) => (path !== null && p.added.has(path) ? { added: true } : null),
    }));
    // The last change of each (workspace, path) wins: one row each, as ON CONFLICT requires.
    const last = new Map<
      string,
      { plan: Planned; n: number; path: string; upsert?: Planned['upserts'][0] }
    >();
    plans.forEach((plan, i) => {
      for (const upsert of plan.upserts) {
        const path = upsert.file.path;
        last.set(pairKey(plan.call.workspace, path), { plan, n: i + 1, path, upsert });
      }
      for (const path of plan.reverts) last.set(pairKey(plan.call.workspace, path), { plan, n: i + 1, path });
    });
    const finals = [...last.values()];
    const upserts = finals.filter((f) => f.upsert);
    const reverts = finals.filter((f) => !f.upsert);
    const inline = upserts.map((u) => (u.upsert!.file.stored === 'inline' ? u.upsert!.file.content : null));
    const contents = joinParts(inline);
    // A job's files only ever leave as a zip: its inline drafts are deflated here, once, on the
    // deflater's worker, and zip_job only assembles them. Other projects pass empty arrays,
    // which unnest pads with NULLs: no work per file.
    const deflated = project.kind === 'job' ? await deflateEach(inline) : [];
    const deflates = joinParts(deflated.map((d) => d?.deflated ?? null));
    await storeDraftBatch(
      { query: tx.commitWith },
      {
        projectId: project.id,
        changes: changes.length,
        events: eventsOf(changes, 1),
        contents: contents.joined,
        upserts: upserts.map(({ plan, n, path, upsert }, i) => {
          const { file, mode, base } = upsert!;
          const content = inline[i];
          return {
            workspace: plan.call.workspace,
            path,
            offset: contents.offsets[i] ?? null,
            blobHash: file.stored === 'blob' ? file.hash : null,
            hash: file.hash,
            size: file.content.byteLength,
            mode,
            n,
            principal: plan.call.actor.principal,
            utf8: content ? isUtf8(content) && !content.includes(0) : null,
            base,
          };
        }),
        reverts: reverts.map((r) => ({ workspace: r.plan.call.workspace, path: r.path })),
        deflated: {
          joined: deflates.joined,
          offsets: deflates.offsets,
          sizes: deflated.map((d) => d?.deflated.byteLength ?? null),
          crcs: deflated.map((d) => d?.crc ?? null),
        },
      },
    );
  }

  /** Each content deflated, in one round trip to the deflater's worker; null stays null. */
  async function deflateEach(contents: readonly (Buffer | null)[]): Promise<(Deflated | null)[]> {
    const present = contents.filter((c) => c !== null);
    if (!present.length) return [];
    const deflated = await deflater.deflate(packFiles(present));
    let k = 0;
    return contents.map((c) => (c ? deflated[k++]! : null));
  }

  /** Takes the queue's head, up to a batch's bound. */
  function takeBatch(queue: Call[]): Call[] {
    let bytes = 0;
    let n = 0;
    while (n < queue.length && n < BATCH_CALLS) {
      bytes += queue[n]!.files.reduce(
        (sum, f) => sum + (f.stored === 'inline' ? f.content.byteLength : 0),
        0,
      );
      if (n > 0 && bytes > BATCH_BYTES) break;
      n++;
    }
    return queue.splice(0, n);
  }

  /** Drains the project's queue, a batch per transaction, while calls keep arriving. */
  async function drain(projectName: string, queue: Call[]) {
    while (queue.length) await flush(projectName, takeBatch(queue));
    queues.delete(projectName);
  }

  return {
    /** Writes `files` (prepared) into `actor`'s workspace; resolves once committed. */
    write(projectName: string, actor: Actor, workspace: string, files: readonly PreparedWrite[]) {
      return new Promise<WriteResult[]>((resolve, reject) => {
        const call: Call = { actor, workspace, files, resolve, reject };
        if (!options.groupCommit) return void flush(projectName, [call]);
        const queue = queues.get(projectName);
        if (queue) return void queue.push(call); // the running drain takes it next
        const fresh = [call];
        queues.set(projectName, fresh);
        void drain(projectName, fresh);
      });
    },
  };
}

export function checkEtag(entry: ViewEntry | undefined, ifMatch: string | undefined, path: string) {
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
}

/** Parts sent as one binary parameter, cut apart by offset in SQL (storeDraftBatch): pg sends a
 *  Buffer as binary, but an array of them as hex text, twice the bytes and a string to build. */
function joinParts(parts: readonly (Uint8Array | null)[]) {
  const offsets: (number | null)[] = [];
  let offset = 1; // substring() counts from 1
  for (const part of parts) {
    offsets.push(part ? offset : null);
    offset += part?.byteLength ?? 0;
  }
  return { joined: Buffer.concat(parts.filter((p) => p !== null)), offsets };
}

const emptyEntry = (path: string): ViewEntry => ({
  path,
  state: 'added',
  hash: null,
  etag: null,
  size: 0,
  mode: 0o100644,
  inline: null,
  blobHash: null,
  committedHash: null,
  committedSize: 0,
  committedGitSha: null,
  committedLocal: false,
  baseHash: null,
  conflict: false,
});
