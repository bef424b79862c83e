// Protocol revision 2026-07-28 from the client side: raw requests (each its own POST with the
// per-request _meta envelope and the mirrored headers, for tests that check statuses, headers and
// error bodies) and the SDK v2's own client pinned to the revision (no initialize, no session).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

export const MODERN = '2026-07-28';

/** The per-request envelope: protocol version and client capabilities (clientInfo is optional). */
export const envelope = (extra: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

export interface ModernReply {
  status: number;
  headers: Headers;
  /** The JSON-RPC message answering the request (from a JSON body or the event stream). */
  message: {
    id?: string | number | null;
    result?: Record<string, any>;
    error?: { code: number; message: string; data?: any };
  };
}

/** The headers a conforming client sends for `method` and `params` (SEP-2243). */
export function modernHeaders(method: string, params: Record<string, any> = {}): Record<string, string> {
  const name = method === 'resources/read' ? params.uri : method === 'tools/call' ? params.name : undefined;
  const project = method === 'tools/call' ? params.arguments?.project : undefined;
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN,
    'mcp-method': method,
    ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
    ...(typeof project === 'string' ? { 'mcp-param-project': project } : {}),
  };
}

/** One 2026-07-28 request as its own POST; `headers` replace or add to the conforming ones (a
 *  value of undefined leaves that header out); `params._meta` defaults to the envelope. */
export async function postModern(
  url: string,
  method: string,
  params: Record<string, any> = {},
  options: { id?: string | number; headers?: Record<string, string | undefined>; token?: string } = {},
): Promise<ModernReply> {
  const id = options.id ?? 1;
  const headers: Record<string, string | undefined> = {
    ...modernHeaders(method, params),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  const body = { jsonrpc: '2.0', id, method, params: { _meta: envelope(), ...params } };
  const res = await fetch(url, {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => JSON.parse(line.slice(6)) as ModernReply['message'])
        .find((m) => m.id === id)
    : text
      ? (JSON.parse(text) as ModernReply['message'])
      : undefined;
  return { status: res.status, headers: res.headers, message: json ?? {} };
}

/** The SDK v2 client, pinned to 2026-07-28: it probes with server/discover and never initializes. */
export async function connectModern(url: string, token?: string) {
  const client = new Client(
    { name: 'stowage-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
    }),
  );
  return client;
}
