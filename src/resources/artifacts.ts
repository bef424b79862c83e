// Artifact resources: stowage-artifact://{project}/{id} — a job zip (or archive) read back as a
// blob, up to a size cap; past it, the error names the download URL as the way to get it.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../logger.js';
import type { AccessOf } from '../access.js';
import type { Storage } from '../store/stowage.js';
import type { Artifact } from '../store/artifacts.js';
import { assertArtifactId } from '../store/blobs/artifact-store.js';
import type { DownloadLinks } from '../call-context.js';
import { ARTIFACT_URI_TEMPLATE, artifactMimeType, artifactUri } from '../resource-uris.js';
import { assertReadable } from './files.js';
import { StowageError } from '../errors.js';
import { resourceError } from './errors.js';

export interface ArtifactResourceOptions {
  accessOf: AccessOf;
  logger: Logger;
  /** Largest artifact returned inline (base64 in the response). */
  maxBytes: number;
  downloads?: DownloadLinks | undefined;
}

export function registerArtifactResources(
  server: McpServer,
  storage: Storage,
  options: ArtifactResourceOptions,
): void {
  const template = new ResourceTemplate(ARTIFACT_URI_TEMPLATE, { list: undefined });
  server.registerResource(
    'artifact',
    template,
    {
      title: 'Artifact',
      description: 'A job zip or project archive, as a blob',
      mimeType: 'application/zip',
    },
    async (uri, variables, extra) => {
      const name = String(variables.project);
      const id = String(variables.id);
      try {
        const stowage = await storage();
        await assertReadable(stowage, options.accessOf(extra.authInfo), name, uri.href);
        assertArtifactId(id);
        const project = await stowage.projects.get(name);
        const artifact = await stowage.artifacts.get(project.id, id);
        if (artifact.expires_at && Date.parse(artifact.expires_at) <= Date.now()) {
          throw new StowageError('not_found', `artifact ${id} expired at ${artifact.expires_at}`);
        }
        if (artifact.size > options.maxBytes) throw await tooBig(artifact);
        const stream = await stowage.artifacts.store.read(artifact.id);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return {
          contents: [
            {
              uri: artifactUri(name, id),
              mimeType: artifactMimeType(artifact.name),
              blob: Buffer.concat(chunks).toString('base64'),
            },
          ],
        };
      } catch (err) {
        throw resourceError(err, options.logger, uri);
      }
    },
  );

  async function tooBig(artifact: Artifact): Promise<McpError> {
    const over = `${artifact.name} is ${artifact.size} bytes, over the ${options.maxBytes}-byte limit of a resource read`;
    const link = await options.downloads?.link(artifact).catch(() => undefined);
    return new McpError(
      ErrorCode.InvalidRequest,
      link
        ? `${over}: download it from ${link.url} (valid until ${link.expires_at})`
        : `${over}: download it from the download_url zip_job returns over HTTP`,
    );
  }
}
