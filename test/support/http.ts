// Raw MCP-over-HTTP requests for tests that check status codes and headers, not just results.

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
