// /mcp on plain node:http: DNS-rebinding checks (Host, Origin), the per-address limit on failed
// authentication, bearer tokens, the rate limit, draining at shutdown, the body limit; then a
// 2026-07-28 request (its _meta names a revision, or its MCP-Protocol-Version header does) goes to
// modern-endpoint.ts, and 2025-11-25 traffic to the session caps (sessions.ts) and the streamable
// HTTP transport (streamable-transport.ts), one per session (or per request when stateless).
// Every tool call comes through here, so it does no more per request than it must: express's
// router and body parser cost more CPU per call than the rest of a small write together
// (measured with a bare ping on the bench machine).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createModernServer } from '../modern/modern-server.js';
import { claimsEnvelope, MODERN_REVISION } from '../modern/wire.js';
import type { VerifiedToken } from '../store/tokens.js';
import type { HttpOptions } from './options.js';
import { authenticate } from './bearer.js';
import { createModernEndpoint } from './modern-endpoint.js';
import { addressKey, createRateLimiter } from './rate-limit.js';
import { createSessionTable } from './sessions.js';
import { reply, StreamableTransport } from './streamable-transport.js';

export interface McpEndpoint {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  sessionCount(): number;
  /** Told the port once listening: the origins allowed are this server's own. */
  listening(port: number): void;
  /** Turns new requests away; resolves once the running ones have answered (or after `graceMs`). */
  drain(graceMs: number): Promise<void>;
  closeSessions(): Promise<void>;
}

export function createMcpEndpoint(
  options: HttpOptions,
  hosts: readonly string[],
  metadataUrl: (() => string) | undefined,
): McpEndpoint {
  const sessions = createSessionTable({
    max: options.maxSessions ?? 1000,
    maxPerToken: options.maxSessionsPerToken ?? 50,
    idleMs: options.sessionIdleMs ?? 30 * 60_000,
    unusedMs: options.unusedSessionMs ?? 60_000,
  });
  // Every 2026-07-28 request is served by one server, built like a session's (modern-server.ts).
  const modern = createModernServer({
    server: options.createServer(undefined, { live: false }),
    listen: options.listen,
    logger: options.logger,
  });
  // Listen streams are capped as sessions are, with counts of their own.
  const modernHttp = createModernEndpoint(modern, {
    jsonResponses: options.jsonResponses ?? false,
    maxStreams: options.maxSessions ?? 1000,
    maxStreamsPerToken: options.maxSessionsPerToken ?? 50,
  });
  const limiter = options.rateLimit && createRateLimiter(options.rateLimit);
  // Charged only for failed authentication, checked before any: see handle().
  const failures = options.auth && options.addressRateLimit && createRateLimiter(options.addressRateLimit);
  let origins = new Set<string>();
  let closing = false;
  let inFlight = 0;
  // A client sends the same Host on every call: its verdict is kept (a URL parse per call shows
  // under load), for a bounded number of distinct values.
  const hostVerdicts = new Map<string, string | undefined>();
  const checkHostOnce = (host: string | undefined) => {
    if (host === undefined) return checkHost(host, hosts);
    if (hostVerdicts.has(host)) return hostVerdicts.get(host);
    if (hostVerdicts.size >= 64) hostVerdicts.clear();
    const verdict = checkHost(host, hosts);
    hostVerdicts.set(host, verdict);
    return verdict;
  };
  let drained: (() => void) | undefined;

  /** The session of this request, if it exists and belongs to `token`; else answers. `use`: the
   *  request counts as using the session (a request or the GET stream, not a notification). */
  const sessionOf = (
    req: IncomingMessage,
    res: ServerResponse,
    token: VerifiedToken | undefined,
    unknown: string,
    use: boolean,
  ) => {
    const session = sessions.get(header(req, 'mcp-session-id') ?? '');
    if (!session) return void refuse(res, 404, unknown);
    if (session.tokenId !== token?.id) {
      return void refuse(res, 403, 'this session belongs to another token: start your own with initialize');
    }
    sessions.touch(session, req, res, use);
    return session.transport;
  };

  /** `streaming`: the request turned out to be a long-lived stream, not work to wait for. */
  async function post(
    req: IncomingMessage,
    res: ServerResponse,
    token: VerifiedToken | undefined,
    streaming: () => void,
  ) {
    const body = await readJson(req, res, options.bodyLimitBytes);
    if (body === REFUSED) return;
    // A batch with a 2026-07-28 element is refused there: the revision has no batches.
    if ((Array.isArray(body) ? body.some(claimsEnvelope) : claimsEnvelope(body)) || namesModern(req)) {
      if (await modernHttp.handle(req, res, body, authInfoOf(token), streaming)) return;
    }
    if (options.stateless) {
      // SDK >= 1.26: a server serves one transport, so each stateless POST gets its own pair.
      const transport = new StreamableTransport({ jsonResponses: options.jsonResponses });
      const server = options.createServer(token, { live: false });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      return transport.handlePost(req, res, body, authInfoOf(token));
    }
    if (header(req, 'mcp-session-id')) {
      const transport = sessionOf(
        req,
        res,
        token,
        'unknown or expired session: start a new one with initialize',
        carriesRequest(body),
      );
      return transport?.handlePost(req, res, body, authInfoOf(token));
    }
    if (!isInitializeRequest(body)) return refuse(res, 400, 'no mcp-session-id: send initialize first');
    const admission = sessions.admit(token?.id);
    if (!admission.ok) {
      res.setHeader('Retry-After', String(admission.retryAfterSeconds));
      return refuse(res, admission.status, admission.message);
    }
    try {
      const transport: StreamableTransport = new StreamableTransport({
        sessionId: () => randomUUID(),
        jsonResponses: options.jsonResponses,
        onSessionInitialized: (id) => admission.open(id, transport),
      });
      transport.onclose = () => sessions.closed(transport.sessionId ?? '');
      const server = options.createServer(token, { live: true });
      await server.connect(transport);
      transport.handlePost(req, res, body, authInfoOf(token));
      // Refused before initialising (a wrong Accept header, say): nothing to keep.
      if (transport.sessionId === undefined) void server.close();
    } finally {
      admission.release();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    // DNS rebinding: a page on another origin must not reach a server bound to loopback.
    const hostRefusal = checkHostOnce(req.headers.host);
    if (hostRefusal) return refuse(res, 403, hostRefusal);
    const origin = req.headers.origin;
    if (origin && !originAllowed(origin, origins)) {
      return refuse(res, 403, `Origin ${origin} is not allowed: only this server's own origin may call it`);
    }
    let token: VerifiedToken | undefined;
    if (options.auth) {
      // A flood of made-up tokens must not cost a token lookup each. Only credentials that fail
      // are charged to their address, checked before verifying: callers with valid tokens never
      // use it up, so clients sharing an address (loopback, a NAT, a proxy) do not limit each
      // other; while a flood has it empty, that address waits like the flood does.
      const address = failures && addressKey(req.socket.remoteAddress);
      const wait = address ? failures.peek(address) : 0;
      if (wait > 0) {
        const { perMinute, burst } = options.addressRateLimit!;
        res.setHeader('Retry-After', String(wait));
        return refuse(
          res,
          429,
          `too many requests with invalid tokens from this address (limit ${perMinute} per minute, burst ${burst}): retry in ${wait} s with a valid token`,
        );
      }
      const authorization = header(req, 'authorization');
      const outcome = await authenticate(options.auth, authorization, {
        logger: options.logger,
        metadataUrl,
      });
      if (!outcome.ok) {
        // A request without credentials is not charged (it costs no lookup; clients send one to
        // discover OAuth), nor one the server could not check (503).
        if (address && authorization && outcome.status !== 503) failures.take(address);
        if (outcome.challenge) res.setHeader('WWW-Authenticate', outcome.challenge);
        return refuse(res, outcome.status, outcome.message);
      }
      token = outcome.token;
    }
    if (limiter) {
      const wait = limiter.take(token?.id ?? addressKey(req.socket.remoteAddress));
      if (wait > 0) {
        const { perMinute, burst } = options.rateLimit!;
        res.setHeader('Retry-After', String(wait));
        return refuse(
          res,
          429,
          `rate limit of ${perMinute} requests per minute (burst ${burst}) exceeded: retry in ${wait} s`,
        );
      }
    }
    // Draining: requests already running finish; new ones are turned away.
    if (closing) {
      res.setHeader('Connection', 'close');
      return refuse(res, 503, 'the server is shutting down: retry shortly');
    }
    if (req.method === 'POST') {
      inFlight += 1;
      let running = true;
      const finished = () => {
        if (!running) return;
        running = false;
        inFlight -= 1;
        if (inFlight === 0) drained?.();
      };
      res.on('close', finished);
      return post(req, res, token, finished);
    }
    if (req.method !== 'GET' && req.method !== 'DELETE') {
      res.setHeader('Allow', options.stateless ? 'POST' : 'GET, POST, DELETE');
      return refuse(res, 405, `${req.method} is not served on /mcp`);
    }
    if (namesModern(req)) {
      res.setHeader('Allow', 'POST');
      return refuse(
        res,
        405,
        `${req.method} is not part of protocol revision ${MODERN_REVISION}: POST each request, and subscriptions/listen to hear changes`,
      );
    }
    if (options.stateless) {
      res.setHeader('Allow', 'POST');
      return refuse(res, 405, 'this server is stateless: only POST /mcp is served');
    }
    // GET is a long-lived event stream, not work to wait for at shutdown.
    const transport = sessionOf(req, res, token, 'unknown or expired session', true);
    if (req.method === 'GET') transport?.handleGet(req, res);
    else await transport?.handleDelete(req, res);
  }

  return {
    handle,
    sessionCount: () => sessions.size(),
    listening(port) {
      origins = ownOrigins(hosts, port, options.publicUrl);
    },
    async drain(graceMs) {
      closing = true;
      if (inFlight === 0) return;
      // An acknowledged write must reach its caller: wait (bounded) for running requests.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
    async closeSessions() {
      await Promise.all([sessions.closeAll(), modern.close()]);
    },
  };
}

/** Whether the request's MCP-Protocol-Version names the 2026-07-28 revision or a later one
 *  (revisions are dates, so they compare as strings, as the SDK's classifier compares them). */
function namesModern(req: IncomingMessage): boolean {
  const version = header(req, 'mcp-protocol-version')?.trim();
  return version !== undefined && version >= MODERN_REVISION;
}

/** The request's own bearer, for every message it carries: tools and resources compute the
 *  caller's rights from it, not from the token that opened the session. No secret travels. */
const authInfoOf = (token: VerifiedToken | undefined): AuthInfo | undefined =>
  token && { token: '', clientId: token.id, scopes: [...token.scopes], extra: { stowage: token } };

/** Whether a POST body holds a JSON-RPC request (notifications and answers do not use a session). */
const carriesRequest = (body: unknown) =>
  (Array.isArray(body) ? body : [body]).some(
    (m) => typeof m === 'object' && m !== null && 'method' in m && 'id' in m,
  );

const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Why the Host header is refused, if it is: its hostname (port aside) must be an allowed one.
 *  The check of the SDK's hostHeaderValidation, which comes as express middleware only. */
function checkHost(host: string | undefined, hosts: readonly string[]): string | undefined {
  if (!host) return 'Missing Host header';
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return `Invalid Host header: ${host}`;
  }
  return hosts.includes(hostname) ? undefined : `Invalid Host: ${hostname}`;
}

/** The origins a browser may call from: this server's own, http://<name>:<port> for each allowed
 *  host name, and STOWAGE_PUBLIC_URL's behind a proxy. The port counts: another service on the
 *  same host (http://127.0.0.1:9999) is another origin, and as able to be hostile as any. */
function ownOrigins(hosts: readonly string[], port: number, publicUrl: string | undefined): Set<string> {
  const bracketed = (name: string) => (name.includes(':') && !name.startsWith('[') ? `[${name}]` : name);
  const urls = hosts.map((name) => `http://${bracketed(name)}:${port}`);
  if (publicUrl) urls.push(publicUrl);
  const origins = new Set<string>();
  for (const url of urls) {
    try {
      origins.add(new URL(url).origin);
    } catch {
      // not a name a URL can carry, so no browser sends it either
    }
  }
  return origins;
}

/** URL's origin is normalised: lower-case host, default port left out, IPv6 in brackets. */
function originAllowed(origin: string, origins: ReadonlySet<string>): boolean {
  try {
    return origins.has(new URL(origin).origin);
  } catch {
    return false;
  }
}

const refuse = (res: ServerResponse, status: number, message: string, code = -32000) =>
  reply(res, status, code, message);

const REFUSED = Symbol('refused');

/** The JSON body of a POST, or REFUSED once answered (too large, not JSON). A body that is not
 *  declared JSON is left unread: the transport refuses it with 415. */
async function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return undefined;
  const declared = Number(req.headers['content-length'] ?? NaN);
  const tooLarge = () => {
    res.setHeader('Connection', 'close');
    refuse(res, 413, `request body over ${limit} bytes: send fewer or smaller files per call`);
    return REFUSED;
  };
  if (declared > limit) return tooLarge();
  const body = await new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limit) return void chunks.push(chunk);
      // Read on, into nothing: destroying the request would take the answer's socket with it.
      req.off('data', onData).resume();
      resolve(undefined);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
  if (!body) return tooLarge();
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    refuse(res, 400, 'Parse error: the body is not valid JSON', -32700);
    return REFUSED;
  }
}
