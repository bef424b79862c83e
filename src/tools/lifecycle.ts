// Lifecycle tools: archive a project into a tar.gz artifact (freeing its files) and restore it.
import { z } from 'zod';
import type { Artifact } from '../store/artifacts.js';
import type { ArchiveResult } from '../store/lifecycle/index.js';
import { defineTool, projectArg } from './define.js';

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
    "Restore an archived project, every file checked against its archive's manifest (then deleted).",
  input: { project: projectArg },
  output: { ...output, artifact: artifactSchema.describe('The archive restored from (now deleted)') },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handle({ project: name }, { stowage, principal, signal, progress }) {
    const result = await stowage.lifecycle.restore(name, { principal, signal, progress });
    const { project, files, bytes } = result;
    return {
      structured: structuredOf(result),
      summary: `restored ${project.name}: ${files} file(s), ${bytes} bytes, each matching its SHA-256`,
    };
  },
});

export default [archiveProject, restoreProject];
