// Streamable HTTP at /mcp with sessions (or stateless), Host and Origin validation against DNS
// rebinding, bearer tokens (RFC 6750) when `auth` is given, with `oauth` the protected-resource
// metadata (RFC 9728) named in every challenge, per-caller rate limits, /healthz,
// /readyz and /metrics (Prometheus; an admin-scoped token under `auth`). Each session gets its own
// McpServer from `createServer`, for the token that initialised it; only that token (or, for
// OAuth, its subject) may use the session. Idle sessions expire; close() drains in-flight requests.
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import { hostHeaderValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type Response } from 'express';
import type { Logger } from '../logger.js';
import type { VerifiedToken } from '../store/tokens.js';
import type { Downloads } from './downloads.js';
import type { Metrics } from './metrics.js';
import { authenticate, type BearerAuth, type BearerOutcome } from './bearer.js';
import type { OAuthResource } from './oauth.js';
import { createRateLimiter, type RateLimit } from './rate-limit.js';

export interface HttpOptions {
  host: string;
  port: number;
  /** Host names accepted in the Host header; default: the loopback names (and `host`). */
  allowedHosts?: readonly string[] | undefined;
  /** Largest request body; a write of a maximum-size file in base64 must fit. */
  bodyLimitBytes: number;
  /** A new session's server; with `auth`, for the session's token. */
  createServer(token: VerifiedToken | undefined): McpServer;
  /** Bearer tokens on /mcp; absent: no authentication (loopback only, enforced by the CLI). */
  auth?: BearerAuth | undefined;
  /** OAuth resource-server mode (with `auth`): serves its metadata; told the /mcp URL once listening. */
  oauth?: Pick<OAuthResource, 'listening' | 'metadata' | 'metadataUrl' | 'metadataPaths'> | undefined;
  logger: Logger;
  /** Serves GET /downloads/<token> (signed artifact links); told the server's origin once listening. */
  downloads?: Pick<Downloads, 'handler' | 'listening'> | undefined;
  /** Readiness checks by name (e.g. database, blobs) for GET /readyz; each throws when not ready. */
  ready?: Record<string, () => Promise<unknown>> | undefined;
  /** Serves GET /metrics in the Prometheus text format; under `auth`, to admin-scoped tokens only. */
  metrics?: Pick<Metrics, 'contentType' | 'render' | 'countSessions'> | undefined;
  /** A session without requests for this long is closed; default 30 minutes. */
  sessionIdleMs?: number | undefined;
  /** No sessions: a fresh server and transport per POST; GET and DELETE answer 405. */
  stateless?: boolean | undefined;
  /** Answer each POST with one JSON object instead of an event stream: less work per call, but
   *  no progress notifications during a call (the session's GET stream still carries the rest). */
  jsonResponses?: boolean | undefined;
  /** Per token (or remote address without auth); absent or perMinute 0: unlimited. */
  rateLimit?: RateLimit | undefined;
  /** How long close() waits for in-flight requests before closing them; default 10 s. */
  shutdownGraceMs?: number | undefined;
}

export interface RunningHttp {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]', '::1'];
const READY_TIMEOUT_MS = 5000;

interface Session {
  transport: StreamableHTTPServerTransport;
  tokenId: string | undefined;
  /** POSTs being answered; the idle timer runs only while there are none. */
  busy: number;
  timer: NodeJS.Timeout | undefined;
}

export async function startHttp(options: HttpOptions): Promise<RunningHttp> {
  const hosts = options.allowedHosts?.length ? [...options.allowedHosts] : [...LOOPBACK_NAMES, options.host];
  const sessions = new Map<string, Session>();
  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  let closing = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const drain: Drain = {
    begin: () => (closing = true),
    inFlight: () => inFlight,
    onDrained: (resolve) => (drained = resolve),
  };
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Only the names of failed checks are reported: their errors may carry hosts or credentials.
  const checks = Object.entries(options.ready ?? {});
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async ([name, check]) =>
        (await withTimeout(check(), READY_TIMEOUT_MS)) ? undefined : name,
      ),
    );
    const failed = results.filter((name): name is string => name !== undefined);
    if (failed.length) res.status(503).json({ status: 'unavailable', failed });
    else res.json({ status: 'ok' });
  });

  const oauth = options.oauth;
  // The SDK's auth helpers serve the metadata and build its URL; requireBearerAuth is not used: it
  // hands the token itself on to every request handler (req.auth), and answers a request without
  // credentials with an error code (RFC 6750 §3.1 says not to).
  const bearer = (req: Request, fix?: string) =>
    authenticate(options.auth!, req.header('authorization'), {
      logger: options.logger,
      metadataUrl: oauth && (() => oauth.metadataUrl()),
      fix,
    });

  // Scrapers come by IP address, so neither Host nor Origin is checked. The figures (tool names,
  // error rates, pool use) are for operators: under token auth they need the admin scope.
  const metrics = options.metrics;
  if (metrics) {
    metrics.countSessions(() => sessions.size);
    app.get('/metrics', async (req, res) => {
      const refusal = options.auth && metricsRefusal(await bearer(req, ADMIN_FIX));
      if (refusal) {
        if (refusal.challenge) res.setHeader('WWW-Authenticate', refusal.challenge);
        res.status(refusal.status).type('text/plain').send(`${refusal.message}\n`);
        return;
      }
      res.setHeader('Content-Type', metrics.contentType);
      res.send(await metrics.render());
    });
  }

  // Download links are opened by browsers and tools anywhere: the signed token is the
  // credential, so neither Host nor Origin is checked here.
  const downloads = options.downloads;
  if (downloads) app.get('/downloads/:token', (req, res) => downloads.handler(req, res));

  // RFC 9728: where clients learn which authorization server to ask. Public like the issuer's own
  // metadata; built on first use, as the resource URL may name the port chosen at listen.
  if (oauth) {
    let document: express.RequestHandler | undefined;
    for (const path of oauth.metadataPaths) {
      app.use(path, (req, res, next) => (document ??= metadataHandler(oauth.metadata()))(req, res, next));
    }
  }

  // DNS rebinding: a page on another origin must not reach a server bound to loopback.
  app.use('/mcp', hostHeaderValidation(hosts));
  app.use('/mcp', (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && !originAllowed(origin, hosts)) {
      res.status(403).json(rpcError(`Origin ${origin} is not allowed`));
      return;
    }
    next();
  });
  if (options.auth) {
    app.use('/mcp', async (req, res, next) => {
      const outcome = await bearer(req);
      if (!outcome.ok) {
        if (outcome.challenge) res.setHeader('WWW-Authenticate', outcome.challenge);
        res.status(outcome.status).json(rpcError(outcome.message));
        return;
      }
      res.locals.token = outcome.token;
      next();
    });
  }
  const limiter = options.rateLimit && createRateLimiter(options.rateLimit);
  if (limiter) {
    const { perMinute, burst } = options.rateLimit!;
    app.use('/mcp', (req, res, next) => {
      const wait = limiter.take(tokenOf(res)?.id ?? `addr:${req.socket.remoteAddress ?? ''}`);
      if (wait === 0) return next();
      res.setHeader('Retry-After', String(wait));
      res
        .status(429)
        .json(
          rpcError(
            `rate limit of ${perMinute} requests per minute (burst ${burst}) exceeded: retry in ${wait} s`,
          ),
        );
    });
  }
  // Draining: requests already running finish; new ones are turned away.
  app.use('/mcp', (req, res, next) => {
    if (closing) {
      res.setHeader('Connection', 'close');
      res.status(503).json(rpcError('the server is shutting down: retry shortly'));
      return;
    }
    if (req.method === 'GET') return next(); // a long-lived event stream, not work to wait for
    inFlight += 1;
    res.on('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
    next();
  });
  app.use('/mcp', express.json({ limit: options.bodyLimitBytes }));
  app.post('/mcp', (_req, res, next) => {
    holdHeaders(res);
    next();
  });

  if (options.stateless) {
    // SDK >= 1.26: a stateless transport serves exactly one request, so each POST gets its own.
    app.post('/mcp', async (req: Request, res: Response) => {
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: options.jsonResponses,
      });
      const server = options.createServer(tokenOf(res));
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    });
    const noSessions = (_req: Request, res: Response) => {
      res.setHeader('Allow', 'POST');
      res.status(405).json(rpcError('this server is stateless: only POST /mcp is served'));
    };
    app.get('/mcp', noSessions);
    app.delete('/mcp', noSessions);
    return listen(app, options, drain, () => Promise.resolve());
  }

  const arm = (session: Session) => {
    clearTimeout(session.timer);
    session.timer = undefined;
    if (session.busy > 0) return;
    session.timer = setTimeout(() => void session.transport.close(), idleMs);
    session.timer.unref();
  };
  /** Counts a request against the session's idle time: the clock restarts when it ends. */
  const touch = (session: Session, req: Request, res: Response) => {
    if (req.method === 'GET') return arm(session);
    session.busy += 1;
    arm(session);
    res.on('close', () => {
      session.busy -= 1;
      if (sessions.has(session.transport.sessionId ?? '')) arm(session);
    });
  };

  /** The session of this request, if it exists and belongs to the request's token; else answers. */
  const sessionOf = (req: Request, res: Response, unknown: string) => {
    const session = sessions.get(req.header('mcp-session-id') ?? '');
    if (!session) {
      res.status(404).json(rpcError(unknown));
      return undefined;
    }
    if (session.tokenId !== tokenOf(res)?.id) {
      res.status(403).json(rpcError('this session belongs to another token: start your own with initialize'));
      return undefined;
    }
    touch(session, req, res);
    return session.transport;
  };

  app.post('/mcp', async (req: Request, res: Response) => {
    if (req.header('mcp-session-id')) {
      const transport = sessionOf(req, res, 'unknown or expired session: start a new one with initialize');
      if (transport) await transport.handleRequest(req, res, req.body);
      return;
    }
    if (!isInitializeRequest(req.body)) {
      res.status(400).json(rpcError('no mcp-session-id: send initialize first'));
      return;
    }
    const token = tokenOf(res);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: options.jsonResponses,
      onsessioninitialized: (id) => {
        const session: Session = { transport, tokenId: token?.id, busy: 0, timer: undefined };
        sessions.set(id, session);
        arm(session);
      },
    });
    transport.onclose = () => {
      const session = sessions.get(transport.sessionId ?? '');
      if (!session) return;
      clearTimeout(session.timer);
      sessions.delete(transport.sessionId!);
    };
    const server = options.createServer(token);
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });

  const sessionRequest = async (req: Request, res: Response) => {
    const transport = sessionOf(req, res, 'unknown or expired session');
    if (transport) await transport.handleRequest(req, res);
  };
  app.get('/mcp', sessionRequest);
  app.delete('/mcp', sessionRequest);

  return listen(app, options, drain, async () => {
    await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
    sessions.clear();
  });
}

/** The in-flight request count of /mcp, for a close() that lets running requests finish. */
interface Drain {
  begin(): void;
  inFlight(): number;
  onDrained(resolve: () => void): void;
}

async function listen(
  app: express.Express,
  options: HttpOptions,
  drain: Drain,
  closeSessions: () => Promise<void>,
): Promise<RunningHttp> {
  const server = await new Promise<HttpServer>((resolve, reject) => {
    const s = app.listen(options.port, options.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  options.downloads?.listening(`http://${hostForUrl}:${port}`);
  options.oauth?.listening(`http://${hostForUrl}:${port}/mcp`);
  const graceMs = options.shutdownGraceMs ?? 10_000;
  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    port,
    async close() {
      drain.begin();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // An acknowledged write must reach its caller: wait (bounded) for running requests.
      if (drain.inFlight() > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          drain.onDrained(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await closeSessions();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** True when `work` settles successfully within `ms`. */
async function withTimeout(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function originAllowed(origin: string, hosts: readonly string[]): boolean {
  try {
    const { hostname } = new URL(origin);
    return hosts.includes(hostname) || hosts.includes(`[${hostname}]`);
  } catch {
    return false;
  }
}

const ADMIN_FIX = 'ask for a new one (stowage token create --scopes admin)';

/** Why a /metrics request is refused under token auth; none for an admin-scoped token. */
function metricsRefusal(outcome: BearerOutcome) {
  if (!outcome.ok) return outcome;
  if (outcome.token.scopes.includes('admin')) return undefined;
  return {
    status: 403,
    challenge: 'Bearer realm="stowage", error="insufficient_scope", scope="admin"',
    message: `/metrics needs the 'admin' scope and this token has ${outcome.token.scopes.join(', ')}: use a token created with --scopes including admin`,
  };
}

/** The SDK answers a POST with an event stream and flushes its headers at once, in a write of
 *  their own; most calls answer within milliseconds, so the headers wait (up to HOLD_HEADERS_MS)
 *  to leave with the answer. A write fewer per call: on this project's 2-core bench machine,
 *  ~15% more autosaves per second. A longer call still sends its headers after the wait. */
function holdHeaders(res: Response) {
  const flush = res.flushHeaders.bind(res);
  res.flushHeaders = () => {
    setTimeout(() => {
      if (!res.headersSent && res.writable) flush();
    }, HOLD_HEADERS_MS).unref();
  };
}
const HOLD_HEADERS_MS = 20;

const tokenOf = (res: Response) => res.locals.token as VerifiedToken | undefined;

const rpcError = (message: string) => ({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
