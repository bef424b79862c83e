// Job tools (seed 002): create_job, update_job (plan, fail), zip_job (complete + download).
// A job's files are written and read with the file tools, with project = the job id.
import { z } from 'zod';
import { JOB_TTL_HOURS, planSchema } from '../store/jobs/plan.js';
import type { Project } from '../store/projects.js';
import { artifactUri } from '../resource-uris.js';
import { defineTool } from './define.js';

const jobArg = z.string().describe('From create_job');

const jobSchema = {
  job: z.string().describe('Job id: pass it as project to the file tools'),
  name: z.string(),
  status: z.enum(['generating', 'complete', 'failed', 'expired']),
  plan: planSchema.nullable(),
  error: z.string().nullable(),
  expires_at: z.string().nullable(),
  created_at: z.string(),
};

const jobOf = (p: Project) => ({
  job: p.name,
  name: p.description ?? p.name,
  status: p.status as z.infer<typeof jobSchema.status>,
  plan: (p.plan ?? null) as z.infer<typeof planSchema> | null,
  error: p.error,
  expires_at: p.expires_at,
  created_at: p.created_at,
});

const createJob = defineTool({
  name: 'create_job',
  toolset: 'jobs',
  title: 'Create job',
  description:
    'Start a generation job, deleted after ttl_hours (default 48): write its files with project = job id, then zip_job.',
  input: {
    name: z.string().min(1).max(200).describe("Also the zip's name"),
    ttl_hours: z.number().min(JOB_TTL_HOURS.min).max(JOB_TTL_HOURS.max).optional(),
    plan: planSchema.optional(),
  },
  output: jobSchema,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handle({ name, ttl_hours, plan }, { stowage, principal, access }) {
    const job = await stowage.jobs.create(
      { name, ttlHours: ttl_hours, plan, ownerProjects: access.unrestricted ? undefined : access.patterns },
      principal,
    );
    return {
      structured: jobOf(job),
      summary: `created job ${job.name} (expires ${job.expires_at}): write files with project '${job.name}', then zip_job`,
    };
  },
});

const updateJob = defineTool({
  name: 'update_job',
  toolset: 'jobs',
  title: 'Update job',
  description:
    "Replace a generating job's plan, and/or fail it with an error (final: no more writes or zip).",
  input: {
    job: jobArg,
    plan: planSchema.optional(),
    fail: z.strictObject({ error: z.string().min(1).max(4000) }).optional(),
  },
  output: jobSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  projectOf: (args) => args.job,
  async handle({ job: name, plan, fail }, { stowage, principal }) {
    const job = await stowage.jobs.update(name, { plan, error: fail?.error }, principal);
    const what = [plan && 'plan set', fail && 'marked failed'].filter(Boolean).join(', ');
    return { structured: jobOf(job), summary: `job ${job.name}: ${what} (status ${job.status})` };
  },
});

const zipJob = defineTool({
  name: 'zip_job',
  toolset: 'jobs',
  title: 'Complete and zip job',
  description:
    "Complete a job and zip its files (each workspace's changes over the committed ones): a resource link and, over HTTP, an expiring URL.",
  input: {
    job: jobArg,
    workspace: z.string().optional().describe('Zip only this workspace'),
    allow_secrets: z.boolean().optional(),
  },
  output: {
    job: z.string(),
    status: z.literal('complete'),
    expires_at: z.string().nullable(),
    zip: z.object({
      id: z.string(),
      uri: z.string().describe('Readable as a blob resource'),
      name: z.string(),
      files: z.number(),
      size: z.number(),
      sha256: z.string(),
      created_at: z.string(),
    }),
    download_url: z.string().optional().describe('Absent over stdio: read zip.uri instead'),
    download_expires_at: z.string().optional(),
    reused: z.boolean().describe('True when the job was already complete'),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  projectOf: (args) => args.job,
  async handle({ job: name, workspace, allow_secrets }, { stowage, principal, downloads, signal, progress }) {
    const { job, artifact, reused } = await stowage.jobs.zip(
      name,
      { principal },
      { signal, progress },
      workspace,
      allow_secrets,
    );
    const uri = artifactUri(job.name, artifact.id);
    const download = await downloads?.link(artifact);
    return {
      structured: {
        job: job.name,
        status: 'complete' as const,
        expires_at: job.expires_at,
        zip: {
          id: artifact.id,
          uri,
          name: artifact.name,
          files: artifact.files,
          size: artifact.size,
          sha256: artifact.sha256,
          created_at: artifact.created_at,
        },
        ...(download ? { download_url: download.url, download_expires_at: download.expires_at } : {}),
        reused,
      },
      summary: `${reused ? 'job was already complete: ' : ''}${artifact.name}, ${artifact.files} file(s), ${artifact.size} bytes${download ? `; download until ${download.expires_at}` : `; read ${uri}`}`,
      links: [
        {
          type: 'resource_link' as const,
          uri,
          name: artifact.name,
          mimeType: 'application/zip',
          size: artifact.size,
        },
      ],
    };
  },
});

export default [createJob, updateJob, zipJob];
