// File resources: stowage://{project}/{+path}, read as text or blob from the caller's default
// workspace, with completions for projects and paths; and one listed resource per project,
// stowage://{project}, whose content is its file listing.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CompleteRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  McpError,
  type Resource,
} from '@modelcontextprotocol/sdk/types.js';
import type { Access, AccessOf } from '../access.js';
import type { Logger } from '../logger.js';
import { canSee } from '../store/visibility.js';
import { asText } from '../formats/content.js';
import { decodeCursor, encodeCursor } from '../formats/cursor.js';
import type { Storage, Stowage } from '../store/stowage.js';
import { isStowageError, StowageError } from '../errors.js';
import {
  FILE_URI_TEMPLATE,
  fileMimeType,
  fileUri,
  LISTING_MIME_TYPE,
  LISTING_URI_TEMPLATE,
  listingUri,
} from '../resource-uris.js';
import { RESOURCE_NOT_FOUND, resourceError } from './errors.js';

const PAGE_SIZE = 100;
const COMPLETIONS = 100;

export function registerFileResources(
  server: McpServer,
  storage: Storage,
  accessOf: AccessOf,
  logger: Logger,
): void {
  const template = new ResourceTemplate(FILE_URI_TEMPLATE, { list: undefined }); // paginated below

  server.registerResource(
    'project-file',
    template,
    { title: 'Project file', description: 'A file of a Stowage project, as your default workspace sees it' },
    async (uri, variables, extra) => {
      const project = String(variables.project);
      try {
        const stowage = await storage();
        const access = accessOf(extra.authInfo);
        const path = decodePath(String(variables.path));
        await assertReadable(stowage, access, project, uri.href);
        const { entry, content } = await stowage.workspace.read(project, access, path);
        const text = asText(content);
        const base = {
          uri: fileUri(project, entry.path),
          mimeType: fileMimeType(entry.path, text !== undefined),
        };
        return {
          contents: [text !== undefined ? { ...base, text } : { ...base, blob: content.toString('base64') }],
        };
      } catch (err) {
        throw resourceError(err, logger, uri);
      }
    },
  );

  // Completions for project names and paths, with the rights of the request that asks (the SDK's
  // template callbacks are not told who asks).
  server.server.registerCapabilities({ completions: {} });
  server.server.setRequestHandler(CompleteRequestSchema, async (request, extra) => {
    const { ref, argument, context } = request.params;
    if (ref.type !== 'ref/resource' || ref.uri !== String(template.uriTemplate)) {
      throw new McpError(ErrorCode.InvalidParams, `no completions for ${JSON.stringify(ref)}`);
    }
    const access = accessOf(extra.authInfo);
    try {
      const stowage = await storage();
      const values = await complete(
        stowage,
        access,
        argument.name,
        argument.value,
        context?.arguments?.project,
      );
      return { completion: { values, total: values.length, hasMore: false } };
    } catch (err) {
      throw resourceError(err, logger);
    }
  });

  async function complete(
    stowage: Stowage,
    access: Access,
    name: string,
    value: string,
    project: string | undefined,
  ) {
    if (!access.scopes.includes('read')) return [];
    if (name === 'project') {
      // Over-fetch, so a caller limited to some projects still gets a useful list.
      const refs = await stowage.projects.refs(value, access.unrestricted ? COMPLETIONS : COMPLETIONS * 10);
      return refs
        .filter((p) => canSee(access, p))
        .map((p) => p.name)
        .slice(0, COMPLETIONS);
    }
    if (name !== 'path' || !project) return [];
    try {
      await stowage.ownership.assertProject(access, project);
      return await stowage.reader.completePaths(project, access, value, COMPLETIONS);
    } catch {
      return [];
    }
  }

  // The listing: one resource per project (its files, read below), never one per file — a
  // client that reads every page at start-up and after each list_changed (Gemini CLI) would
  // fetch the whole tree each time. Files are reached through the template above.
  server.registerResource(
    'project-listing',
    new ResourceTemplate(LISTING_URI_TEMPLATE, { list: undefined }), // paginated below
    {
      title: 'Project files',
      description: `The files of a Stowage project as your default workspace sees it (path and bytes, the first ${LISTING_MAX})`,
      mimeType: LISTING_MIME_TYPE,
    },
    async (uri, variables, extra) => {
      const project = String(variables.project);
      try {
        const stowage = await storage();
        const access = accessOf(extra.authInfo);
        await assertReadable(stowage, access, project, uri.href);
        const { workspace, entries } = await stowage.workspace.list(project, access, {
          present: true,
          limit: LISTING_MAX + 1,
        });
        return {
          contents: [
            { uri: uri.href, mimeType: LISTING_MIME_TYPE, text: listing(project, workspace, entries) },
          ],
        };
      } catch (err) {
        // Listed like any project: its listing says how to get its files back.
        if (err instanceof StowageError && err.details?.reason === 'archived') {
          return { contents: [{ uri: uri.href, mimeType: LISTING_MIME_TYPE, text: `# ${err.message}\n` }] };
        }
        throw resourceError(err, logger, uri);
      }
    },
  );

  server.server.setRequestHandler(ListResourcesRequestSchema, async (request, extra) => {
    const access = accessOf(extra.authInfo);
    const found: string[] = [];
    try {
      const stowage = await storage();
      await assertReadable(stowage, access, undefined, '');
      const cursor = request.params?.cursor;
      let from = cursor ? parseListCursor(cursor) : undefined;
      // Over-fetch: a caller limited to some projects still gets full pages.
      while (found.length <= PAGE_SIZE) {
        const refs = await stowage.projects.refs('', PAGE_SIZE * 2, from, false);
        found.push(...refs.filter((ref) => canSee(access, ref)).map((ref) => ref.name));
        if (refs.length < PAGE_SIZE * 2) break;
        from = refs.at(-1)!.name;
      }
    } catch (err) {
      throw resourceError(err, logger);
    }
    const page = found.slice(0, PAGE_SIZE);
    const resources: Resource[] = page.map((name) => ({
      uri: listingUri(name),
      name,
      title: `${name} (files)`,
      mimeType: LISTING_MIME_TYPE,
    }));
    return found.length > PAGE_SIZE
      ? { resources, nextCursor: encodeCursor(JSON.stringify(page.at(-1))) }
      : { resources };
  });
}

/** Files named in a listing; past it, the listing says how to page through the rest. */
const LISTING_MAX = 1000;

function listing(project: string, workspace: string, entries: readonly { path: string; size: number }[]) {
  const shown = entries.slice(0, LISTING_MAX);
  const lines = [
    `# project '${project}', as workspace '${workspace}' sees it: path<TAB>bytes`,
    ...shown.map((e) => `${e.path}\t${e.size}`),
  ];
  if (entries.length > LISTING_MAX) {
    lines.push(`# more files follow: call list_files {project: '${project}'} to page through them all`);
  }
  return `${lines.join('\n')}\n`;
}

/** Resources need the read scope; a project the caller may not see (outside its patterns, or
 *  another's job) reads as not found, as it would in a listing. */
export async function assertReadable(
  stowage: Stowage,
  access: Access,
  project: string | undefined,
  uri: string,
): Promise<void> {
  if (!access.scopes.includes('read')) {
    throw new McpError(
      ErrorCode.InvalidRequest,
      "forbidden: reading resources needs the 'read' scope: use a token created with --scopes including read",
    );
  }
  if (project === undefined) return;
  try {
    await stowage.ownership.assertProject(access, project);
  } catch (err) {
    if (isStowageError(err, 'forbidden') || isStowageError(err, 'not_found')) {
      throw new McpError(RESOURCE_NOT_FOUND, `project '${project}' not found`, { uri });
    }
    throw err;
  }
}

function parseListCursor(cursor: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeCursor(cursor, 'resources/list'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'string') {
    throw new McpError(
      ErrorCode.InvalidParams,
      'invalid cursor: pass nextCursor from the previous resources/list page',
    );
  }
  return parsed;
}

export function decodePath(raw: string): string {
  try {
    return raw.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `resource path '${raw}' is not valid percent-encoding`);
  }
}
