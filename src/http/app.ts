// The HTTP server: /mcp (mcp-endpoint.ts) on plain node:http, and on express the rest: /healthz,
// /readyz, /metrics (Prometheus; an admin-scoped token under `auth`), signed /downloads and, with
// `oauth`, the protected-resource metadata (RFC 9728) named in every challenge. Each session gets
// its own McpServer from `createServer`, for the token that initialised it; only that token (or,
// for OAuth, its subject) may use the session. Sessions are capped in all and per token, and
// expire: soon when never used, else when idle. close() drains in-flight requests.
import { createServer as createHttpServer } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import express, { type Request } from 'express';
import type { Logger } from '../logger.js';
import type { VerifiedToken } from '../store/tokens.js';
import type { Downloads } from './downloads.js';
import type { Metrics } from './metrics.js';
import { authenticate, type BearerAuth, type BearerOutcome } from './bearer.js';
import { createMcpEndpoint, type McpEndpoint } from './mcp-endpoint.js';
import { reply } from './streamable-transport.js';
import type { OAuthResource } from './oauth.js';
import type { RateLimit } from './rate-limit.js';

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
  /** A session that carries no request after initialize is closed after this long; default 60 s. */
  unusedSessionMs?: number | undefined;
  /** Sessions open at once; past it, initialize gets 503 with Retry-After. Default 1000. */
  maxSessions?: number | undefined;
  /** Sessions open at once per token (under `auth`); past it, 429 with Retry-After. Default 50. */
  maxSessionsPerToken?: number | undefined;
  /** No sessions: a fresh server and transport per POST; GET and DELETE answer 405. */
  stateless?: boolean | undefined;
  /** Answer each POST with one JSON object instead of an event stream: less work per call, but
   *  no progress notifications during a call (the session's GET stream still carries the rest). */
  jsonResponses?: boolean | undefined;
  /** Per token (or remote address without auth); absent or perMinute 0: unlimited. */
  rateLimit?: RateLimit | undefined;
  /** Under `auth`: requests per client address whose credentials fail, checked before verifying
   *  any, so a flood of made-up tokens gets 429 without a lookup each; absent: unlimited. */
  addressRateLimit?: RateLimit | undefined;
  /** Public base URL behind a proxy (STOWAGE_PUBLIC_URL): its origin may call /mcp too. */
  publicUrl?: string | undefined;
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

export async function startHttp(options: HttpOptions): Promise<RunningHttp> {
  const hosts = options.allowedHosts?.length ? [...options.allowedHosts] : [...LOOPBACK_NAMES, options.host];
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

  const endpoint = createMcpEndpoint(options, hosts, oauth && (() => oauth.metadataUrl()));
  metrics?.countSessions(() => endpoint.sessionCount());
  return listen(app, endpoint, options);
}

async function listen(
  app: express.Express,
  endpoint: McpEndpoint,
  options: HttpOptions,
): Promise<RunningHttp> {
  const server = createHttpServer((req, res) => {
    const path = req.url?.split('?', 1)[0];
    if (path !== '/mcp' && path !== '/mcp/') return void app(req, res);
    endpoint.handle(req, res).catch((err: unknown) => {
      options.logger.error({ err }, 'an /mcp request failed');
      if (res.headersSent) res.end();
      else reply(res, 500, -32603, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  endpoint.listening(port);
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  options.downloads?.listening(`http://${hostForUrl}:${port}`);
  options.oauth?.listening(`http://${hostForUrl}:${port}/mcp`);
  const graceMs = options.shutdownGraceMs ?? 10_000;
  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await endpoint.drain(graceMs);
      await endpoint.closeSessions();
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
