// Raw MCP-over-HTTP requests for tests that check status codes and headers, not just results,
// and SDK clients over HTTP with bearer tokens.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

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
