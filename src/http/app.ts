// The HTTP server: /mcp (mcp-endpoint.ts) on plain node:http, and on express the rest: /healthz,
// /readyz, /metrics (Prometheus; an admin-scoped token under `auth`), signed /downloads and, with
// `oauth`, the protected-resource metadata (RFC 9728) named in every challenge. Each session gets
// its own McpServer from `createServer`, for the token that initialised it; only that token (or,
// for OAuth, its subject) may use the session. Sessions are capped in all and per token, and
// expire: soon when never used, else when idle. close() drains in-flight requests.
import { createServer as createHttpServer } from 'node:http';
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import express, { type Request } from 'express';
import { LOOPBACK_HOST_NAMES } from '../loopback.js';
import { authenticate, type BearerOutcome } from './bearer.js';
import { createMcpEndpoint, type McpEndpoint } from './mcp-endpoint.js';
import type { HttpOptions } from './options.js';
import { reply } from './streamable-transport.js';

export interface RunningHttp {
  url: string;
  port: number;
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 5000;

export async function startHttp(options: HttpOptions): Promise<RunningHttp> {
  const hosts = options.allowedHosts?.length
    ? [...options.allowedHosts]
    : [...LOOPBACK_HOST_NAMES, options.host];
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
