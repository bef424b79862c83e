// The 2026-07-28 revision's wire rules that Stowage applies around the SDK v1 server it shares
// with 2025-11-25 clients, on every transport: which methods exist, what every result carries
// (resultType, the server's identity in _meta, caching hints on the cacheable ones), how errors
// differ (a missing resource is Invalid params naming its URI; an unknown method is Method not
// found), what server/discover answers, and the one tool parameter mirrored into an HTTP header.
// The requests themselves reach the same tool and resource handlers as a 2025-11-25 session's.
//
// Decisions:
// - Caching: the lists that are the same for every caller and change only with the server's
//   configuration (server/discover, tools/list, prompts/list, resources/templates/list) are public
//   and fresh for 5 minutes; resources/list and resources/read depend on the token and change with
//   every write, so they are private and immediately stale (subscriptions/listen says when).
// - `project`, the argument nearly every tool takes, is mirrored into `Mcp-Param-Project` (SEP-2243),
//   so a gateway may route or limit by project without reading bodies. Only 2026-07-28 listings
//   carry the annotation: 2025 clients neither mirror it nor need to meet an unknown keyword.
import type { InitializeResult, JSONRPCResponse, Result, Tool } from '@modelcontextprotocol/sdk/types.js';
import { serverInfo } from '../server.js';

export const MODERN_REVISION = '2026-07-28';
/** The revisions served per request; 2025-11-25 and earlier are negotiated by initialize. */
export const MODERN_REVISIONS: readonly string[] = [MODERN_REVISION];

const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';
export const SUBSCRIPTION_ID_KEY = 'io.modelcontextprotocol/subscriptionId';

const HEADER_MISMATCH = -32020;
const UNSUPPORTED_VERSION = -32022;
const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;
/** 2025-11-25's resource-not-found code, which resources/errors.ts answers with. */
const RESOURCE_NOT_FOUND_2025 = -32002;

/** The methods a 2026-07-28 request may name; the rest (initialize, ping, logging/setLevel,
 *  resources/subscribe, …) are Method not found. */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);

const STATIC_TTL_MS = 5 * 60_000;
const CACHE_HINTS: Record<string, { ttlMs: number; cacheScope: 'public' | 'private' }> = {
  'server/discover': { ttlMs: STATIC_TTL_MS, cacheScope: 'public' },
  'tools/list': { ttlMs: STATIC_TTL_MS, cacheScope: 'public' },
  'prompts/list': { ttlMs: STATIC_TTL_MS, cacheScope: 'public' },
  'resources/templates/list': { ttlMs: STATIC_TTL_MS, cacheScope: 'public' },
  'resources/list': { ttlMs: 0, cacheScope: 'private' },
  'resources/read': { ttlMs: 0, cacheScope: 'private' },
};

/** Whether a message claims the per-request envelope (its params' _meta names a revision):
 *  the one test a 2025-11-25 request pays for before it goes on as before. */
export function claimsEnvelope(message: unknown): boolean {
  const params = (message as { params?: { _meta?: unknown } } | null)?.params;
  const meta = typeof params === 'object' && params !== null ? params._meta : undefined;
  return typeof meta === 'object' && meta !== null && PROTOCOL_VERSION_KEY in meta;
}

/** A JSON-RPC error object: code, message and the data a client can act on. */
export interface WireError {
  code: number;
  message: string;
  data?: unknown;
}

export const unsupportedVersion = (requested: string): WireError => ({
  code: UNSUPPORTED_VERSION,
  message: `Unsupported protocol version ${requested}: this server speaks ${MODERN_REVISIONS.join(', ')} per request, and 2025-11-25 after initialize`,
  data: { supported: [...MODERN_REVISIONS], requested },
});

export const methodNotFound = (method: string): WireError => ({
  code: METHOD_NOT_FOUND,
  message: `Method not found: ${method} is not part of protocol revision ${MODERN_REVISION}`,
});

export const headerMismatch = (message: string): WireError => ({
  code: HEADER_MISMATCH,
  message: `Header mismatch: ${message}`,
});

/** A result as 2026-07-28 sends it: resultType, the server in _meta, hints where cacheable. */
export function completeResult(method: string, result: Result): Result {
  const meta = { ...result._meta, [SERVER_INFO_KEY]: serverInfo() };
  const listed = method === 'tools/list' ? { tools: annotateTools((result as { tools: Tool[] }).tools) } : {};
  return { ...result, ...listed, ...CACHE_HINTS[method], resultType: 'complete', _meta: meta };
}

/** An error as 2026-07-28 sends it: a resource that is not there is Invalid params (-32002 is
 *  2025-11-25's code), and a resource read that fails on its URI names it in its data (SEP-2164). */
export function modernError(method: string, params: unknown, error: WireError): WireError {
  const code = error.code === RESOURCE_NOT_FOUND_2025 ? INVALID_PARAMS : error.code;
  // The SDK v1 server opens a thrown McpError's message with its code; the code is in `code`.
  const message = error.message.replace(/^MCP error -?\d+: /, '');
  const uri = (params as { uri?: unknown } | undefined)?.uri;
  if (method !== 'resources/read' || code !== INVALID_PARAMS || typeof uri !== 'string') {
    return { ...error, code, message };
  }
  const data = typeof error.data === 'object' && error.data !== null ? error.data : {};
  return { ...error, code, message, data: { ...data, uri } };
}

/** The server's answer to one request, rewritten for 2026-07-28; `id` is the client's own. */
export function modernResponse(
  method: string,
  params: unknown,
  response: JSONRPCResponse,
  id: string | number,
): JSONRPCResponse {
  if ('error' in response) return { jsonrpc: '2.0', id, error: modernError(method, params, response.error) };
  return { jsonrpc: '2.0', id, result: completeResult(method, response.result) };
}

/** server/discover: what initialize would say (capabilities and instructions, as the SDK server
 *  gives them), with subscriptions offered only where subscriptions/listen is served. */
export function discoverResult(init: InitializeResult, listen: boolean): Result {
  const { resources, ...capabilities } = init.capabilities;
  return completeResult('server/discover', {
    supportedVersions: [...MODERN_REVISIONS],
    capabilities: {
      ...capabilities,
      ...(resources || listen ? { resources: { ...resources, subscribe: listen, listChanged: listen } } : {}),
    },
    ...(init.instructions ? { instructions: init.instructions } : {}),
  });
}

const PARAM_HEADERS: Readonly<Record<string, string>> = { project: 'Project' };

/** What a tool mirrors into Mcp-Param-* headers: argument name → header name suffix. */
export function paramHeadersOf(tool: Pick<Tool, 'inputSchema'>): [argument: string, header: string][] {
  const properties: Record<string, { type?: unknown }> | undefined = tool.inputSchema.properties;
  return Object.entries(PARAM_HEADERS).filter(([name]) => properties?.[name]?.type === 'string');
}

const annotated = new WeakMap<readonly Tool[], Tool[]>();

/** The listing with `x-mcp-header` on each mirrored argument; computed once per listing. */
function annotateTools(tools: readonly Tool[]): Tool[] {
  let done = annotated.get(tools);
  if (done) return done;
  done = tools.map((tool) => {
    const mirrored = paramHeadersOf(tool);
    if (!mirrored.length) return tool;
    const properties = { ...(tool.inputSchema.properties as Record<string, object>) };
    for (const [name, header] of mirrored) properties[name] = { ...properties[name], 'x-mcp-header': header };
    return { ...tool, inputSchema: { ...tool.inputSchema, properties } };
  });
  annotated.set(tools, done);
  return done;
}
