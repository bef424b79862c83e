// Generation jobs (seed 002): a job is a project of kind 'job' with a plan, a TTL and a status
// generating → complete | failed → expired. Its files are written with the file tools; `zip`
// completes it with a zip artifact of its output (job-files.ts says what that is, job-zip.ts
// writes it). A job's files only ever leave as a zip.
import type { SecretService } from '../secrets.js';
import { randomInt } from 'node:crypto';
import { conflict, invalidInput, isStowageError, tooLarge } from '../../errors.js';
import type { Artifact, ArtifactService } from '../artifacts.js';
import { recordChange, type EventDetail } from '../changes.js';
import { completeJob, latestJobZipId, startJob, updateJob } from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { normalizePath } from '../../paths.js';
import { getProject, JOB_PREFIX, type Project, type ProjectService } from '../projects.js';
import { checkJobBytes, type QuotaLimits } from '../quota.js';
import type { CallContext } from '../../call-context.js';
import type { Deflater } from '../../formats/deflater.js';
import type { Actor, WorkspaceService } from '../workspace/service.js';
import { disagreeing, jobFiles } from './job-files.js';
import { createJobZipper } from './job-zip.js';
import { JOB_TTL_HOURS, planSchema, type JobPlan } from './plan.js';

const PLAN_MAX_CHARS = 256 * 1024;
const ERROR_MAX_CHARS = 4000;

export interface ZipResult {
  job: Project;
  artifact: Artifact;
  /** True when the job was already complete and its existing zip is returned. */
  reused: boolean;
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
  secrets: Pick<SecretService, 'refuse'>;
}

export function createJobService(base: JobDeps) {
  const { sql, projects, artifacts, settings } = base;
  const { writeZip } = createJobZipper(base);

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
    async zip(
      name: string,
      actor: Actor,
      call: CallContext = {},
      only?: string,
      allowSecrets = false,
    ): Promise<ZipResult> {
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
          if (!allowSecrets) await base.secrets.refuse(tx, job.id, entries, 'zip_job', 'allow_secrets: true');
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
