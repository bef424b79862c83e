// Project tools: create, update, list, get (with stats).
import { z } from 'zod';
import { metadataSchema } from '../store/jobs/plan.js';
import type { Project } from '../store/projects.js';
import { canSee, mayUseWorkspace } from '../store/visibility.js';
import { defineTool, DESTRUCTIVE, projectArg, READ } from './define.js';

const projectSchema = {
  name: z.string(),
  kind: z.enum(['project', 'job']),
  description: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  status: z.string(),
  version: z.number(),
  created_by: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  remote: z.object({ url: z.string(), branch: z.string() }).nullable(),
  head_sha: z.string().nullable(),
  plan: z.unknown().describe("A job's plan"),
  error: z.string().nullable().describe('Why a job failed'),
  expires_at: z.string().nullable(),
  quota_bytes: z.number().nullable(),
  template: z.boolean(),
};

// What create_project sets and update_project changes, bounded alike. The bounds of tags and
// quota_bytes are checked (refine) but not listed, as a job's plan's are: definitions are paid
// for on every turn, and the refusal names the bound. (A description's is listed: a nullable
// string without one would be listed as a list of types, which some clients refuse.)
const descriptionArg = z.string().max(2000);
const tagsArg = z
  .array(z.string())
  .refine(
    (t) => t.length <= 32 && t.every((tag) => tag.length >= 1 && tag.length <= 64),
    'at most 32 tags of 1-64 characters',
  );
const quotaArg = z
  .number()
  .int()
  .refine((n) => n > 0, 'a positive number of bytes');

/** What callers see of a project: not its id, nor the patterns of a job's owning token. */
const publicProject = <P extends Project>({ id: _id, owner_projects: _owner, ...rest }: P) => rest;

const createProject = defineTool({
  name: 'create_project',
  toolset: 'files',
  title: 'Create project',
  description:
    "Create a project (a-z 0-9 . _ -, max 63 chars); a remote's branch (default main) is imported unless import: false; remote.create makes the GitHub repo.",
  input: {
    name: z.string(),
    description: descriptionArg.optional(),
    tags: tagsArg.optional(),
    metadata: metadataSchema.optional(),
    remote: z
      .strictObject({
        url: z.string(),
        branch: z.string().optional(),
        create: z.boolean().optional(),
      })
      .optional(),
    import: z.boolean().optional(),
    quota_bytes: quotaArg.optional(),
    from: z.string().optional().describe("'<project>[@<point>]': start with its files"),
  },
  output: {
    ...projectSchema,
    import: z
      .object({
        head: z.string(),
        updated: z.array(z.string()),
        skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
      })
      .optional(),
    repository_created: z.boolean().optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  projectOf: (args) => args.name,
  async handle(args, { stowage, principal, access, signal, progress }) {
    const { project, imported, repositoryCreated } = await stowage.remotes.createProject(
      args,
      { principal, access },
      { signal, progress },
    );
    if (!args.remote) {
      return { structured: publicProject(project), summary: `created project ${project.name}` };
    }
    const extra = repositoryCreated !== undefined ? { repository_created: repositoryCreated } : {};
    if (!imported) {
      return {
        structured: { ...publicProject(project), ...extra },
        summary: `created project ${project.name} (not imported)`,
      };
    }
    const { head, updated, skipped } = imported;
    return {
      structured: { ...publicProject(project), import: { head, updated, skipped }, ...extra },
      summary: `created project ${project.name}: imported ${updated.length} file(s) at ${head.slice(0, 12)}${skipped.length ? `, ${skipped.length} skipped (see import.skipped)` : ''}`,
    };
  },
});

const updateProject = defineTool({
  name: 'update_project',
  toolset: 'files',
  title: 'Update project',
  description: 'Change what create_project set; null clears.',
  input: {
    project: projectArg,
    description: descriptionArg.nullable().optional(),
    tags: tagsArg.optional(),
    metadata: metadataSchema.optional(),
    quota_bytes: quotaArg.nullable().optional(),
    remote: z
      .strictObject({
        url: z.string(),
        branch: z.string().optional(),
      })
      .nullable()
      .optional(),
    template: z.boolean().optional(),
  },
  output: projectSchema,
  annotations: { ...DESTRUCTIVE, idempotentHint: true },
  async handle({ project: name, ...changes }, { stowage, principal, access }) {
    const project = await stowage.remotes.updateProject(name, changes, { principal, access });
    const changed = Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined);
    const next = changes.remote && project.head_sha === null ? '; sync_project brings its files in' : '';
    return {
      structured: publicProject(project),
      summary: `updated project ${project.name}: ${changed.join(', ')} (version ${project.version})${next}`,
    };
  },
});

// Checked, not listed (as quota_bytes is): the refusal names the bound.
const bytesArg = z
  .number()
  .int()
  .refine((n) => n >= 0, 'a number of bytes, 0 or more');

const listProjects = defineTool({
  name: 'list_projects',
  toolset: 'files',
  title: 'List projects',
  description:
    'List projects matching all filters given (query: in name/description); sort bytes/updated: largest/latest first.',
  input: {
    status: z.enum(['active', 'archived', 'generating', 'complete', 'failed', 'expired']).optional(),
    tag: z.string().optional(),
    template: z.boolean().optional(),
    query: z.string().optional(),
    language: z.string().optional(),
    framework: z.string().optional(),
    min_bytes: bytesArg.optional(),
    max_bytes: bytesArg.optional(),
    sort: z.enum(['name', 'bytes', 'updated']).optional(),
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(200).optional(),
  },
  output: {
    projects: z.array(z.object({ ...projectSchema, bytes: z.number().describe('Committed') })),
    next_cursor: z.string().optional(),
  },
  annotations: READ,
  async handle(args, { stowage, access }) {
    const visible = access.unrestricted ? undefined : (p: Project) => canSee(access, p);
    const { projects, next_cursor } = await stowage.projects.list(args, visible);
    const more = next_cursor ? '; more with next_cursor' : '';
    return {
      structured: { projects: projects.map(publicProject), ...(next_cursor ? { next_cursor } : {}) },
      summary: `${projects.length} project(s)${more}`,
    };
  },
});

const getProject = defineTool({
  name: 'get_project',
  toolset: 'files',
  title: 'Get project',
  description: 'One project with stats: committed files and bytes, drafts per workspace.',
  input: { project: projectArg },
  output: {
    ...projectSchema,
    stats: z.object({
      files: z.number(),
      bytes: z.number(),
      drafts: z.array(z.object({ workspace: z.string(), changes: z.number(), bytes: z.number() })),
    }),
    // What the committed tree holds (store/project-facts.ts); an archived project's: its archive's.
    facts: z.object({
      bytes: z.number(),
      files: z.number(),
      languages: z
        .array(z.object({ name: z.string(), bytes: z.number(), files: z.number() }))
        .describe('GitHub Linguist names, largest first'),
      frameworks: z.array(z.string()),
      pending: z.boolean().optional().describe('Languages and frameworks counted once it is restored'),
    }),
    // Likely secrets (store/secrets.ts); workspace null: committed.
    findings: z
      .array(
        z.object({ path: z.string(), line: z.number(), rule: z.string(), workspace: z.string().nullable() }),
      )
      .optional(),
  },
  annotations: READ,
  async handle({ project: name }, { stowage, access }) {
    const project = await stowage.projects.get(name);
    const { drafts: all, ...committed } = await stowage.projects.stats(project);
    // A job's output is every workspace's changes over its committed files (zip_job).
    const counts = project.kind === 'job' ? await stowage.jobs.measure(project) : committed;
    const stats = {
      ...counts,
      drafts: all
        .filter((d) => mayUseWorkspace(access, d.workspace, d.owner))
        .map(({ owner: _owner, ...d }) => d),
    };
    const drafts = stats.drafts.reduce((n, d) => n + d.changes, 0);
    const shown = new Set(stats.drafts.map((d) => d.workspace));
    const findings = (await stowage.secrets.open(project.id)).filter(
      (f) => f.workspace === null || shown.has(f.workspace),
    );
    const facts = await stowage.facts.of(project);
    const uses = [...facts.languages.slice(0, 3).map((l) => l.name), ...facts.frameworks];
    return {
      structured: { ...publicProject(project), stats, facts, ...(findings.length ? { findings } : {}) },
      summary: `${project.name}: ${stats.files} ${project.kind === 'job' ? 'file(s) across its workspaces' : 'committed file(s)'}, ${stats.bytes} bytes, ${drafts} draft change(s)${uses.length ? `; ${uses.join(', ')}` : ''}${findings.length ? `, ${findings.length} likely secret(s) (findings)` : ''}`,
    };
  },
});

export default [createProject, updateProject, listProjects, getProject];
