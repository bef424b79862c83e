// createServer(deps) → McpServer: tools and resources over the domain. Knows nothing of
// transports; reads no environment and does no I/O of its own.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  McpError,
  type Implementation,
} from '@modelcontextprotocol/sdk/types.js';
import { fullAccess, tokenAccess, type Access, type AccessOf } from './access.js';
import type { DownloadLinks, ToolCallObserver } from './call-context.js';
import type { Toolset } from './config.js';
import type { Logger } from './logger.js';
import { registerArtifactResources } from './resources/artifacts.js';
import { registerFileResources } from './resources/files.js';
import { registerSubscriptions } from './resources/subscriptions.js';
import type { ChangeFeed } from './store/db/change-feed.js';
import type { Stowage } from './store/stowage.js';
import type { VerifiedToken } from './store/tokens.js';
import { registerTools } from './tools/define.js';
import { allTools } from './tools/index.js';
import { version } from './version.js';

export interface ServerDeps {
  /** The storage, or a function that opens it (stdio answers initialize and tools/list before
   *  storage is open; each call that needs it waits, and a failure to open is its error). */
  stowage: Stowage | (() => Promise<Stowage>);
  /** The limits tool definitions advertise and resources keep to; default: the storage's. */
  limits?: Pick<Stowage['limits'], 'batchFiles' | 'responseChars' | 'fileBytes'> | undefined;
  principal: string;
  /** What the session's caller may do (the token that opened it); default: everything. A request
   *  that carries its own bearer (authInfo, HTTP) is served with that bearer's rights instead. */
  access?: Access | undefined;
  toolsets: readonly Toolset[];
  readOnly: boolean;
  logger: Logger;
  /** Signed download URLs for artifacts; only when served over HTTP. */
  downloads?: DownloadLinks | undefined;
  /** Counts tool calls and their latency; only when served over HTTP (GET /metrics). */
  metrics?: ToolCallObserver | undefined;
  /** Changes from every instance: with it, file resources can be subscribed to. Not in
   *  stateless HTTP, where no session outlives its request to be notified. */
  changes?: ChangeFeed | undefined;
}

// Codex keeps the first 250 characters: what an agent must know comes first.
const INSTRUCTIONS = `Stowage keeps project files durably. Read before you write and pass the etag you read as if_match. Use batch_read for many files, edit_file for small changes, commit_task to commit and push. Writes land in your workspace (default: your name; pass workspace to isolate parallel agents) as uncommitted changes over the committed tree: list_changes shows them, discard_changes drops them. A file in conflict: read it with side 'theirs', then write it or discard it. Every version is kept: file_history, diff, restore and checkpoint go back in time.`;

/** Who answers: the same on initialize (2025-11-25) and on every 2026-07-28 result. */
export const serverInfo = (): Implementation => ({ name: 'stowage', title: 'Stowage', version: version() });

export function createServer(deps: ServerDeps): McpServer {
  const server = new McpServer(serverInfo(), {
    capabilities: { logging: {} },
    instructions: INSTRUCTIONS,
  });
  const access = deps.access ?? fullAccess(deps.principal);
  const accessOf = perRequest(access);
  const opened = deps.stowage;
  const storage = typeof opened === 'function' ? opened : () => Promise.resolve(opened);
  const limits = deps.limits ?? (opened as Stowage).limits;
  registerTools(server, allTools, {
    toolsets: deps.toolsets,
    readOnly: deps.readOnly,
    limits: { batchFiles: limits.batchFiles, responseChars: limits.responseChars },
    logger: deps.logger,
    metrics: deps.metrics,
    context: async ({ auth, ...call }) => {
      const caller = accessOf(auth);
      return {
        stowage: await storage(),
        principal: caller.principal,
        access: caller,
        downloads: deps.downloads,
        ...call,
      };
    },
  });
  registerFileResources(server, storage, accessOf, deps.logger);
  if (deps.changes) {
    registerSubscriptions(server, {
      storage,
      feed: deps.changes,
      access,
      accessOf,
      logger: deps.logger,
    });
  }
  registerArtifactResources(server, storage, {
    accessOf,
    logger: deps.logger,
    maxBytes: limits.fileBytes,
    downloads: deps.downloads,
  });
  registerNoPrompts(server);
  return server;
}

/** Stowage has no prompts, and says so: prompts/list is an empty list rather than Method not
 *  found, so a 2026-07-28 client may cache it like the other lists (its caching hints). */
function registerNoPrompts(server: McpServer) {
  server.server.registerCapabilities({ prompts: {} });
  server.server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: [] }));
  server.server.setRequestHandler(GetPromptRequestSchema, (request) => {
    throw new McpError(
      ErrorCode.InvalidParams,
      `no prompt '${request.params.name}': Stowage has no prompts (prompts/list is empty); its tools do the work`,
    );
  });
}

/** The rights of each request: its own bearer's when it carries one, else the session's. The
 *  last bearer's Access is kept, as a session's requests mostly carry the same token. */
export function perRequest(session: Access): AccessOf {
  let last: { key: string; access: Access } | undefined;
  return (auth) => {
    const token = auth?.extra?.stowage as VerifiedToken | undefined;
    if (!token) return session;
    const key = JSON.stringify(token);
    if (last?.key !== key) last = { key, access: tokenAccess(token) };
    return last.access;
  };
}
