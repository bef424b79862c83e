// Lifecycle tools: archive a project into a tar.gz artifact (freeing its files) and restore it,
// from its archive or from a backup; back projects up to BACKUP_TARGET and list the backups.
import { z } from 'zod';
import type { Access } from '../access.js';
import type { Artifact } from '../store/artifacts.js';
import type { ArchiveResult } from '../store/lifecycle/index.js';
import { defineTool, projectArg } from './define.js';

/** The projects a caller may back up, list and restore from: all with `*`, else its patterns. */
const withinOf = (access: Access) => (access.global ? undefined : (name: string) => access.allows(name));

const artifactSchema = z.object({
  id: z.string(),
  name: z.string(),
  size: z.number().describe('Bytes of the tar.gz'),
  sha256: z.string(),
});

const output = {
  project: z.string(),
  status: z.string(),
  files: z.number(),
  bytes: z.number().describe('Bytes of file content'),
  artifact: artifactSchema,
};

const artifactOf = ({ id, name, size, sha256 }: Artifact) => ({ id, name, size, sha256 });

const structuredOf = (r: ArchiveResult) => ({
  project: r.project.name,
  status: r.project.status,
  files: r.files,
  bytes: r.bytes,
  artifact: artifactOf(r.artifact),
});

const archiveProject = defineTool({
  name: 'archive_project',
  toolset: 'admin',
  title: 'Archive project',
  description:
    'Archive a project as tar.gz; files unavailable until restore_project. Refused while workspaces hold changes.',
  input: { project: projectArg },
  output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handle({ project: name }, { stowage, principal, signal, progress }) {
    const result = await stowage.lifecycle.archive(name, { principal, signal, progress });
    const { project, artifact, files, bytes } = result;
    return {
      structured: structuredOf(result),
      summary: `archived ${project.name}: ${files} file(s), ${bytes} bytes into ${artifact.name} (${artifact.size} bytes); restore_project brings it back`,
    };
  },
});

const restoreProject = defineTool({
  name: 'restore_project',
  toolset: 'admin',
  title: 'Restore project',
  description:
    'Restore an archived project, or with backup (an id, or a project: its newest) into project, new or archived. Every file verified.',
  input: { project: projectArg, backup: z.string().optional() },
  output: {
    ...output,
    artifact: artifactSchema.optional().describe('The archive restored from (now deleted)'),
    backup: z.string().optional(),
    detached_remote: z
      .object({ url: z.string(), branch: z.string() })
      .nullable()
      .optional()
      .describe("The backup's remote, not attached: update_project {remote} attaches it"),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handle({ project: name, backup }, { stowage, principal, access, signal, progress }) {
    if (backup !== undefined) {
      const r = await stowage.backups.restore(backup, {
        into: name,
        principal,
        allowed: withinOf(access),
        signal,
        progress,
      });
      const remote = r.detached_remote
        ? `; reattach ${r.detached_remote.url} with update_project {remote}`
        : '';
      return {
        structured: {
          project: r.project.name,
          status: r.project.status,
          files: r.files,
          bytes: r.bytes,
          backup: r.backup,
          detached_remote: r.detached_remote,
        },
        summary: `restored ${r.project.name} from backup ${r.backup}: ${r.files} file(s), ${r.bytes} bytes, each matching its SHA-256${remote}`,
      };
    }
    const result = await stowage.lifecycle.restore(name, { principal, signal, progress });
    const { project, files, bytes } = result;
    return {
      structured: structuredOf(result),
      summary: `restored ${project.name}: ${files} file(s), ${bytes} bytes, each matching its SHA-256`,
    };
  },
});

const backupSchema = z.object({
  id: z.string(),
  project: z.string(),
  time: z.string(),
  files: z.number(),
  bytes: z.number(),
  uploaded: z.object({ files: z.number(), bytes: z.number() }).optional().describe('Content sent now'),
  kept: z.number().optional().describe('Backups kept of the project'),
});

const backup = defineTool({
  name: 'backup',
  toolset: 'admin',
  title: 'Back up projects',
  description:
    'Back up a project (or all) now, sending only content the target lacks. list: true lists backups instead.',
  input: { project: projectArg.optional(), list: z.boolean().optional() },
  output: {
    backups: z.array(backupSchema),
    skipped: z.array(z.object({ project: z.string(), reason: z.string() })).optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handle({ project, list }, { stowage, access, signal, progress }) {
    const within = withinOf(access);
    if (list) {
      const backups = await stowage.backups.list(project, within);
      const what =
        project === undefined
          ? `${backups.length} project(s) backed up (each one's newest backup)`
          : `${backups.length} backup(s) of ${project}${backups[0] ? `, newest ${backups[0].id}` : ''}`;
      return {
        structured: { backups },
        summary: `${what}; restore one with restore_project {project, backup}`,
      };
    }
    if (project !== undefined) {
      const b = await stowage.backups.take(project, { signal, progress });
      return {
        structured: { backups: [b] },
        summary: `backed up ${project} as ${b.id}: ${b.files} file(s), ${b.bytes} bytes; sent ${b.uploaded.files} new content(s), ${b.uploaded.bytes} bytes`,
      };
    }
    const { backups, skipped } = await stowage.backups.takeAll({ select: within, signal, progress });
    const sent = backups.reduce((n, b) => n + b.uploaded.bytes, 0);
    return {
      structured: { backups, skipped },
      summary: `backed up ${backups.length} project(s), sending ${sent} bytes of new content${skipped.length ? `; ${skipped.length} failed (see skipped)` : ''}`,
    };
  },
});

export default [archiveProject, restoreProject, backup];
