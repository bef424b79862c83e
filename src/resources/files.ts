// File resources: stowage://{project}/{+path} — listed with pagination across projects, read as
// text or blob from the caller's default workspace, with completions for projects and paths.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CompleteRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  McpError,
  type Resource,
} from '@modelcontextprotocol/sdk/types.js';
import type { Access } from '../access.js';
import type { AccessOf } from '../server.js';
import { canSee } from '../store/ownership.js';
import { asText } from '../store/content.js';
import { decodeCursor, encodeCursor } from '../store/cursor.js';
import type { Stowage } from '../store/stowage.js';
import { fileUri } from '../tools/define.js';
import { isStowageError, StowageError } from '../errors.js';
import { RESOURCE_NOT_FOUND, resourceError } from './errors.js';

const PAGE_SIZE = 100;
const COMPLETIONS = 100;

const TEXT_TYPES: Record<string, string> = {
  md: 'text/markdown',
  json: 'application/json',
  html: 'text/html',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  ts: 'text/x-typescript',
  py: 'text/x-python',
  yaml: 'application/yaml',
  yml: 'application/yaml',
};
const mimeOf = (path: string, text: boolean) =>
  text
    ? (TEXT_TYPES[path.slice(path.lastIndexOf('.') + 1).toLowerCase()] ?? 'text/plain')
    : 'application/octet-stream';

export function registerFileResources(server: McpServer, stowage: Stowage, accessOf: AccessOf): void {
  const template = new ResourceTemplate('stowage://{project}/{+path}', { list: undefined }); // paginated below

  server.registerResource(
    'project-file',
    template,
    { title: 'Project file', description: 'A file of a Stowage project, as your default workspace sees it' },
    async (uri, variables, extra) => {
      const access = accessOf(extra.authInfo);
      const project = String(variables.project);
      const path = decodePath(String(variables.path));
      await assertReadable(stowage, access, project, uri.href);
      try {
        const { entry, content } = await stowage.workspace.read(project, access, path);
        const text = asText(content);
        const base = { uri: fileUri(project, entry.path), mimeType: mimeOf(entry.path, text !== undefined) };
        return {
          contents: [text !== undefined ? { ...base, text } : { ...base, blob: content.toString('base64') }],
        };
      } catch (err) {
        throw resourceError(err, uri);
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
    const values = await complete(access, argument.name, argument.value, context?.arguments?.project);
    return { completion: { values, total: values.length, hasMore: false } };
  });

  async function complete(access: Access, name: string, value: string, project: string | undefined) {
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

  // McpServer lists template resources without pagination; projects can hold thousands of files.
  server.server.setRequestHandler(ListResourcesRequestSchema, async (request, extra) => {
    const access = accessOf(extra.authInfo);
    await assertReadable(stowage, access, undefined, '');
    const cursor = request.params?.cursor;
    const start = cursor ? parseListCursor(cursor) : undefined;
    const found: { project: string; path: string; size: number }[] = [];
    let from = start?.project;
    let inclusive = true;
    scan: for (;;) {
      const refs = await stowage.projects.refs('', 50, from, inclusive);
      for (const ref of refs) {
        if (!canSee(access, ref)) continue; // outside the caller's projects, or another's job: not listed
        const name = ref.name;
        const after = name === start?.project ? start.path : undefined;
        const listed = await stowage.workspace
          .list(name, access, {
            present: true,
            limit: PAGE_SIZE + 1 - found.length,
            ...(after !== undefined ? { after } : {}),
          })
          .catch(skipArchived);
        if (!listed) continue; // an archived project has no files to list until it is restored
        const { entries } = listed;
        found.push(...entries.map((e) => ({ project: name, path: e.path, size: e.size })));
        if (found.length > PAGE_SIZE) break scan;
      }
      if (refs.length < 50) break;
      from = refs.at(-1)!.name;
      inclusive = false;
    }
    const page = found.slice(0, PAGE_SIZE);
    const resources: Resource[] = page.map((f) => ({
      uri: fileUri(f.project, f.path),
      name: `${f.project}/${f.path}`,
      size: f.size,
    }));
    const last = page.at(-1);
    return found.length > PAGE_SIZE && last
      ? { resources, nextCursor: encodeCursor(JSON.stringify([last.project, last.path])) }
      : { resources };
  });
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

const skipArchived = (err: unknown): undefined => {
  if (err instanceof StowageError && err.details?.reason === 'archived') return undefined;
  throw err;
};

function parseListCursor(cursor: string): { project: string; path: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeCursor(cursor, 'resources/list'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || !parsed.every((v) => typeof v === 'string')) {
    throw new McpError(
      ErrorCode.InvalidParams,
      'invalid cursor: pass nextCursor from the previous resources/list page',
    );
  }
  return { project: parsed[0] as string, path: parsed[1] as string };
}

export function decodePath(raw: string): string {
  try {
    return raw.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `resource path '${raw}' is not valid percent-encoding`);
  }
}
