// Generation jobs (seed 002): a job is a project of kind 'job' with a plan, a TTL and a status
// generating → complete | failed → expired. Its files are written with the file tools; `zip`
// completes it and streams the files into a zip artifact, a bounded batch at a time. A job's
// files only ever leave as a zip, so its inline drafts are deflated as they are written
// (workspace/writer.ts) and the zip only assembles them; the others (blobs, committed files, moved
// drafts, drafts written before the deflate was stored) are deflated here.
import { randomInt } from 'node:crypto';
import { conflict, invalidInput, isStowageError, StowageError, tooLarge } from '../../errors.js';
import type { Artifact, ArtifactService } from '../artifacts.js';
import { recordChange, type EventDetail } from '../changes.js';
import {
  completeJob,
  latestJobZipId,
  readInlineDrafts,
  selectDraftWorkspaces,
  startJob,
  updateJob,
} from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { normalizePath } from '../paths.js';
import { getProject, JOB_PREFIX, type Project, type ProjectService } from '../projects.js';
import { checkJobBytes, type QuotaLimits } from '../quota.js';
import type { CallContext } from '../../call-context.js';
import { packedBuffer, type Deflated, type Deflater, type PackedFiles } from '../../formats/deflater.js';
import { createCaseIndex } from '../case-twins.js';
import { createZipWriter } from '../../formats/zip-writer.js';
import type { Actor, WorkspaceService } from '../workspace/service.js';
import { JOB_TTL_HOURS, planSchema, type JobPlan } from './plan.js';
import { readView, type ViewEntry } from '../workspace/view.js';

const PLAN_MAX_CHARS = 256 * 1024;
const ERROR_MAX_CHARS = 4000;
// Zipping reads a batch of files while the one before is deflated and the one before that is
// written: at most two batches of contents (plus one file over the batch size) and one batch of
// deflated contents are ever in memory. Each batch costs a query and a round trip to the
// deflater, so batches are large: 256 files of 4 KiB zipped faster than 64 or 128 (measured
// side by side, 59 vs 63 ms for 500 files).
const BATCH_BYTES = 1024 * 1024;
const BATCH_FILES = 256;
const FETCH_CONCURRENCY = 8;

export interface ZipResult {
  job: Project;
  artifact: Artifact;
  /** True when the job was already complete and its existing zip is returned. */
  reused: boolean;
}

/** A file of a job's output, and the workspace whose draft (or committed file) it is. */
type JobFile = ViewEntry & { workspace: string };

interface Disagreement {
  path: string;
  workspaces: string[];
}

/**
 * A job's output: with `workspace`, what that workspace sees; else the union of every
 * workspace's drafts over the committed files, as parallel writer agents (each in its own
 * workspace) leave it. A path changed differently in two workspaces (other content, or written
 * in one and deleted in another) is a disagreement naming the path and the workspaces, which a
 * zip refuses: nothing is left out silently.
 */
async function jobFiles(
  tx: Queryable,
  job: Project,
  workspace: string | undefined,
): Promise<{ files: JobFile[]; disagreements: Disagreement[] }> {
  // A workspace name no draft can have: the committed files alone.
  const COMMITTED = '';
  const sources = workspace !== undefined ? [workspace] : await selectDraftWorkspaces(tx, job.id);
  if (sources.length <= 1) {
    const only = sources[0] ?? COMMITTED;
    const view = await readView(tx, job.id, only, { present: true });
    return { files: view.map((e) => ({ ...e, workspace: only })), disagreements: [] };
  }
  const committed = await readView(tx, job.id, COMMITTED, { present: true });
  const chosen = new Map<string, JobFile>(committed.map((e) => [e.path, { ...e, workspace: COMMITTED }]));
  const outcomes = new Map<string, Map<string, string[]>>();
  for (const source of sources) {
    for (const e of await readView(tx, job.id, source, { changedOnly: true })) {
      const outcome = e.state === 'deleted' ? 'deleted' : `${e.hash} ${e.mode}`;
      const byOutcome = outcomes.get(e.path) ?? new Map<string, string[]>();
      byOutcome.set(outcome, [...(byOutcome.get(outcome) ?? []), source]);
      outcomes.set(e.path, byOutcome);
      if (e.state === 'deleted') chosen.delete(e.path);
      else chosen.set(e.path, { ...e, workspace: source });
    }
  }
  const disagreements = [...outcomes]
    .filter(([, byOutcome]) => byOutcome.size > 1)
    .map(([path, byOutcome]) => ({ path, workspaces: [...byOutcome.values()].flat().sort() }));
  const files = [...chosen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Each workspace's view is free of paths differing only in case; two views together may not
  // be, and one would overwrite the other when the zip is unpacked on macOS or Windows.
  const index = createCaseIndex('project');
  for (const file of files) {
    const twin = index.collision(file.path)?.details?.existing;
    if (typeof twin !== 'string') index.add(file.path);
    else {
      const other = chosen.get(twin)?.workspace ?? '';
      disagreements.push({
        path: `${file.path} (case twin of ${twin})`,
        workspaces: [file.workspace, other],
      });
    }
  }
  return { files, disagreements };
}

const disagreeing = (job: Project, disagreements: readonly Disagreement[]) => {
  const named = disagreements.slice(0, 10).map((d) => `${d.path} (${d.workspaces.join(', ')})`);
  return conflict(
    `job '${job.name}' has files its workspaces changed differently: ${named.join('; ')}${disagreements.length > 10 ? '; …' : ''}. Write the same content in each, or discard one side (discard_changes {workspace, paths}), or zip one workspace with workspace; nothing was completed`,
    { conflicts: disagreements },
  );
};

/** A batch read for the zip: the stored deflates, and the contents still to deflate. */
interface FetchedBatch {
  /** In the batch's order; undefined where the file is in `rest`. */
  stored: (Deflated | undefined)[];
  /** The files without a stored deflate, in the batch's order, packed for the deflater. */
  rest: PackedFiles;
}

/** What the job service is built from (stowage.ts wires it). */
export interface JobDeps {
  sql: Sql;
  projects: ProjectService;
  workspace: WorkspaceService;
  artifacts: ArtifactService;
  /** Deflates what a zip takes that has no stored deflate. */
  deflater: Deflater;
  limits: QuotaLimits;
  settings: { jobTtlHours: number };
}

export function createJobService(base: JobDeps) {
  const { sql, projects, artifacts, settings, deflater } = base;

  /** The job row locked for the change; refuses projects that are not jobs. */
  async function lockJob(tx: Queryable, name: string): Promise<Project> {
    const job = await getProject(tx, name, { forUpdate: true });
    if (job.kind !== 'job') {
      throw invalidInput(`'${name}' is a project, not a job: create one with create_job`);
    }
    return job;
  }

  const finished = (job: Project) =>
    conflict(`job '${job.name}' is ${job.status} and can no longer change: create a new job with create_job`);

  /** A job's plan, failure and completion leave its files alone: logged at its version. */
  const logEvent = (tx: Queryable, job: Project, principal: string, kind: string, detail?: EventDetail) =>
    recordChange(tx, job.id, { principal, kind, detail, at: job.version });

  /** Streams the files of `entries` into a new zip artifact of `job`; all or nothing. */
  async function writeZip(
    tx: Queryable,
    job: Project,
    entries: JobFile[],
    { signal, progress }: CallContext,
  ) {
    const zip = createZipWriter();
    let files = 0;
    const creating = artifacts.create(
      job.id,
      {
        kind: 'job_zip',
        name: zipFileName(job.description ?? job.name),
        source: zip.stream,
        files: () => files,
        expiresAt: job.expires_at ? new Date(job.expires_at) : undefined,
      },
      tx,
    );
    // A store that gives up stops reading: unblock the feeder below by closing the archive.
    creating.catch(() => zip.destroy());
    try {
      const date = new Date();
      const batches = batchesOf(entries);
      // The stages overlap: Postgres reads batch i+1 while batch i's files without a stored
      // deflate are deflated on the deflater's worker and batch i-1 is written into the archive.
      const append = async (batch: JobFile[], deflated: Deflated[]) => {
        for (const [j, entry] of batch.entries()) {
          signal?.throwIfAborted();
          await zip.add(entry.path, deflated[j]!, { mode: entry.mode, mtime: date });
          files++;
          progress?.(files, entries.length, `zipped ${entry.path}`);
        }
      };
      let fetching = fetchBatch(tx, job.id, batches[0]!);
      let previous: { batch: JobFile[]; deflating: Promise<Deflated[]> } | undefined;
      for (let i = 0; i < batches.length; i++) {
        const fetched = await fetching;
        if (i + 1 < batches.length) {
          fetching = fetchBatch(tx, job.id, batches[i + 1]!);
          fetching.catch(() => undefined); // awaited on the next turn; a failure must not go unhandled
        }
        const deflating = deflateRest(fetched);
        deflating.catch(() => undefined);
        if (previous) await append(previous.batch, await previous.deflating);
        previous = { batch: batches[i]!, deflating };
      }
      await append(previous!.batch, await previous!.deflating);
      zip.finish(); // its outcome arrives through `creating`
    } catch (err) {
      // Closed before we closed it: the store gave up first, and its error is the cause.
      const closedByStore = zip.stream.destroyed;
      zip.destroy();
      const storeError = await creating.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw closedByStore && storeError ? storeError : err;
    }
    return creating;
  }

  /** One batch: inline drafts read in one query, their stored deflates taken as they are and
   *  the other contents written straight into one buffer for the deflater, blobs read through
   *  the cache. */
  async function fetchBatch(tx: Queryable, projectId: string, batch: JobFile[]): Promise<FetchedBatch> {
    // Inline drafts, by the workspace each comes from (one query each; a zip of one workspace: one).
    const inlinePaths = new Map<string, string[]>();
    for (const e of batch.filter((f) => !f.blobHash)) {
      inlinePaths.set(e.workspace, [...(inlinePaths.get(e.workspace) ?? []), e.path]);
    }
    const [inline, blobs] = await Promise.all([
      Promise.all(
        [...inlinePaths].map(([workspace, paths]) => readInlineDrafts(tx, projectId, workspace, paths)),
      ).then((parts) => parts.flat()),
      mapBounded(
        batch.filter((e) => e.blobHash),
        FETCH_CONCURRENCY,
        async (entry) => ({
          path: entry.path,
          size: entry.size,
          text: null,
          content: await base.workspace.contentOf(entry),
        }),
      ),
    ]);
    const stored = new Map<string, Deflated>();
    for (const { path, deflated, crc, size } of inline) {
      // A bigint: a number through sql.ts's int8 parser, a string without it.
      if (deflated) stored.set(path, { deflated, crc: Number(crc), size });
    }
    const rest = batch.filter((e) => !stored.has(e.path));
    const data = packedBuffer(rest.reduce((n, e) => n + e.size, 0));
    const spans = new Map<string, [number, number]>();
    let end = 0;
    for (const file of [...inline.filter((f) => !f.deflated), ...blobs]) {
      const written = file.text !== null ? data.write(file.text, end, 'utf8') : file.content!.copy(data, end);
      if (written !== file.size) {
        throw new StowageError('internal', `'${file.path}' changed size while zipping`);
      }
      spans.set(file.path, [end, (end += written)]);
    }
    const packed = new Uint32Array(rest.length * 2);
    for (const [k, entry] of rest.entries()) {
      const span = spans.get(entry.path);
      if (!span) throw new StowageError('internal', `'${entry.path}' vanished while zipping`);
      packed.set(span, 2 * k);
    }
    return { stored: batch.map((e) => stored.get(e.path)), rest: { data, spans: packed } };
  }

  /** A fetched batch's files deflated, in its order: the stored deflates, and the rest from the
   *  deflater (no round trip to it when there is no rest). */
  async function deflateRest({ stored, rest }: FetchedBatch): Promise<Deflated[]> {
    const fresh = await deflater.deflate(rest);
    let k = 0;
    return stored.map((d) => d ?? fresh[k++]!);
  }

  return {
    /** A new job: status generating, expiring after `ttlHours` (default JOB_TTL_HOURS). */
    async create(
      input: {
        name: string;
        ttlHours?: number | undefined;
        plan?: unknown;
        /** The creating token's project patterns: with its principal, the job's owner
         *  (store/ownership.ts). Absent: a one-user caller. */
        ownerProjects?: readonly string[] | undefined;
      },
      principal: string,
    ): Promise<Project> {
      const name = input.name.trim();
      if (!name) throw invalidInput('name is empty: give the job a human name, e.g. "my-react-app"');
      if (
        input.ttlHours !== undefined &&
        !(input.ttlHours >= JOB_TTL_HOURS.min && input.ttlHours <= JOB_TTL_HOURS.max)
      ) {
        throw invalidInput(
          `ttl_hours ${input.ttlHours} is out of range: pass ${JOB_TTL_HOURS.min} to ${JOB_TTL_HOURS.max}`,
        );
      }
      const ttlSeconds = (input.ttlHours ?? settings.jobTtlHours) * 3600;
      const plan = input.plan === undefined ? null : JSON.stringify(parsePlan(input.plan));
      for (let attempt = 0; ; attempt++) {
        const id = jobId(name);
        try {
          return await projects.create(
            { name: id, kind: 'job', description: name },
            principal,
            async (tx, row) => {
              await startJob(tx, row.id, {
                plan,
                ttlSeconds,
                ownerProjects: input.ownerProjects ?? null,
              });
              return getProject(tx, row.name);
            },
          );
        } catch (err) {
          // Six random characters rarely collide; when they do, draw again.
          if (isStowageError(err, 'already_exists') && attempt < 3) continue;
          throw err;
        }
      }
    },

    /** Sets (replaces) the plan and/or marks the job failed; only while it is generating.
     *  Failing a job that already failed changes nothing. */
    async update(
      name: string,
      input: { plan?: unknown; error?: string | undefined },
      principal: string,
    ): Promise<Project> {
      if (input.plan === undefined && input.error === undefined) {
        throw invalidInput('nothing to change: pass plan, fail, or both');
      }
      const plan = input.plan === undefined ? undefined : parsePlan(input.plan);
      const error = input.error?.trim();
      if (error !== undefined && !error) throw invalidInput('fail.error is empty: say why the job failed');
      return sql.transaction(async (tx) => {
        const job = await lockJob(tx, name);
        if (job.status === 'failed' && plan === undefined) return job;
        if (job.status !== 'generating') throw finished(job);
        await updateJob(tx, job.id, {
          plan: plan === undefined ? null : JSON.stringify(plan),
          error: error?.slice(0, ERROR_MAX_CHARS) ?? null,
        });
        if (plan !== undefined) await logEvent(tx, job, principal, 'job.plan', { tasks: plan.tasks.length });
        if (error !== undefined) await logEvent(tx, job, principal, 'job.fail');
        return getProject(tx, name);
      });
    },

    /** The files a job's zip holds (see jobFiles): their count and bytes, for get_project. */
    async measure(job: Project) {
      const { files } = await jobFiles(sql, job, undefined);
      return { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
    },

    /** Completes the job with a zip of its output: every workspace's drafts over the committed
     *  files (or, with `workspace`, that workspace's view alone). A complete job returns its
     *  existing zip; an empty job, or one whose workspaces disagree on a path, is refused. The job
     *  stays locked while zipping, so no write slips in between the listing and the last byte. */
    async zip(name: string, actor: Actor, call: CallContext = {}, only?: string): Promise<ZipResult> {
      const workspace =
        only === undefined ? undefined : base.workspace.workspaceOf({ ...actor, workspace: only });
      let created: Artifact | undefined;
      try {
        return await sql.transaction(async (tx) => {
          const job = await lockJob(tx, name);
          if (job.status === 'complete') {
            const artifact = await latestJobZipId(tx, job.id);
            if (!artifact) throw finished(job);
            return { job, artifact: await artifacts.get(job.id, artifact), reused: true };
          }
          if (job.status !== 'generating') throw finished(job);
          const { files: entries, disagreements } = await jobFiles(tx, job, workspace);
          if (disagreements.length) throw disagreeing(job, disagreements);
          if (!entries.length) {
            throw invalidInput(
              `job '${name}' has no files${workspace ? ` in workspace '${workspace}'` : ''}: write them with write_files (project = '${name}') first, or mark the job failed with update_job`,
            );
          }
          const total = entries.reduce((n, e) => n + e.size, 0);
          checkJobBytes(name, total, base.limits);
          created = await writeZip(tx, job, entries, call);
          await completeJob(tx, job.id);
          await logEvent(tx, job, actor.principal, 'job.complete', {
            artifact: created.id,
            files: created.files,
            bytes: created.size,
          });
          return { job: { ...job, status: 'complete' }, artifact: created, reused: false };
        });
      } catch (err) {
        // The row went with the rollback; the bytes must go too.
        if (created) await artifacts.store.delete(created.id).catch(() => undefined);
        throw err;
      }
    },
  };
}

export type JobService = ReturnType<typeof createJobService>;

/** Validates a plan and normalises the file paths it names. */
export function parsePlan(input: unknown): JobPlan {
  const parsed = planSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidInput(
      `plan is invalid at ${issue.path.join('.') || 'top level'}: ${issue.message}; expected {tasks: [{name, files: [paths]}], metadata?}`,
    );
  }
  const plan = parsed.data;
  plan.tasks = plan.tasks.map((task, i) => {
    if (!task.files) return task;
    try {
      return { ...task, files: task.files.map((p) => normalizePath(p)) };
    } catch (err) {
      throw invalidInput(`plan.tasks.${i}.files: ${(err as Error).message}`);
    }
  });
  if (JSON.stringify(plan).length > PLAN_MAX_CHARS) {
    throw tooLarge(`plan is over ${PLAN_MAX_CHARS} characters of JSON: keep file contents out of it`);
  }
  return plan;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `job-<slug of the name>-<6 random>`: a valid project name, recognisable in listings. */
export function jobId(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40)
    .replace(/^-+|-+$/g, '');
  const suffix = Array.from({ length: 6 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('');
  return `${JOB_PREFIX}${slug ? `${slug}-` : ''}${suffix}`;
}

/** The zip's file name: the job's human name, without characters file systems or headers refuse. */
export function zipFileName(name: string): string {
  const safe = name
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/[\u0000-\u001f\u007f"*/:<>?\\|]+/g, '_')
    .trim()
    .slice(0, 100);
  return `${safe || 'job'}.zip`;
}

function batchesOf<E extends ViewEntry>(entries: readonly E[]): E[][] {
  const batches: E[][] = [];
  let batch: E[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (batch.length && (bytes + entry.size > BATCH_BYTES || batch.length >= BATCH_FILES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += entry.size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}
