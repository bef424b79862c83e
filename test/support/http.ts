// Raw MCP-over-HTTP requests for tests that check status codes and headers, not just results,
// SDK clients over HTTP with bearer tokens, and the HTTP app served in-process.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { tokenAccess } from '../../src/access.js';
import { TOOLSETS } from '../../src/config.js';
import { startHttp } from '../../src/http/app.js';
import type { HttpOptions } from '../../src/http/options.js';
import { createServer, type ServerDeps } from '../../src/server.js';
import type { Stowage } from '../../src/store/stowage.js';
import { silentLogger } from './harness.js';

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
};

/** POSTs a JSON-RPC body to /mcp as a streamable-HTTP client would. */
export const postMcp = (url: string, body: unknown = INITIALIZE, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });

/** An SDK client on `url` over streamable HTTP, sending `token` (if any) as a bearer token. */
export async function connectHttp(url: string, token?: string) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
  });
  const client = new Client({ name: 'stowage-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Stowage's HTTP app in-process on a loopback port over `stowage`. Each session gets a server
 *  for its bearer token, or (without one) for `principal` with full access; `server` adds to
 *  every session server's dependencies, the rest goes to startHttp. */
export function serveHttp(
  stowage: Stowage,
  options: Partial<HttpOptions> & { principal?: string; server?: Partial<ServerDeps> } = {},
) {
  const { principal = 'nobody', server, ...http } = options;
  return startHttp({
    host: '127.0.0.1',
    port: 0,
    bodyLimitBytes: 4 * 1024 * 1024,
    logger: silentLogger,
    createServer: (token) =>
      createServer({
        stowage,
        principal: token?.principal ?? principal,
        access: token ? tokenAccess(token) : undefined,
        toolsets: [...TOOLSETS],
        readOnly: false,
        logger: silentLogger,
        ...server,
      }),
    ...http,
  });
}

/** A tool call's whole result, error or not. */
export const callTool = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

/** The text of a tool result's first content block. */
export const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;
