// Streamable HTTP at /mcp with sessions, Host and Origin validation against DNS rebinding, bearer
// tokens (RFC 6750) when `auth` is given, and /healthz. Each session gets its own McpServer from
// `createServer`, for the token that initialised it; only that token may use the session.
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { hostHeaderValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type Response } from 'express';
import type { Logger } from '../logger.js';
import type { TokenCheck, VerifiedToken } from '../store/tokens.js';
import type { Downloads } from './downloads.js';

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
  auth?: { verify(token: string): Promise<TokenCheck> } | undefined;
  logger: Logger;
  /** Serves GET /downloads/<token> (signed artifact links); told the server's origin once listening. */
  downloads?: Pick<Downloads, 'handler' | 'listening'> | undefined;
}

export interface RunningHttp {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]', '::1'];

export async function startHttp(options: HttpOptions): Promise<RunningHttp> {
  const hosts = options.allowedHosts?.length ? [...options.allowedHosts] : [...LOOPBACK_NAMES, options.host];
  const sessions = new Map<
    string,
    { transport: StreamableHTTPServerTransport; tokenId: string | undefined }
  >();
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Download links are opened by browsers and tools anywhere: the signed token is the
  // credential, so neither Host nor Origin is checked here.
  const downloads = options.downloads;
  if (downloads) app.get('/downloads/:token', (req, res) => downloads.handler(req, res));

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
  const auth = options.auth;
  if (auth) {
    app.use('/mcp', async (req, res, next) => {
      const match = /^Bearer +(\S+) *$/i.exec(req.header('authorization') ?? '');
      if (!match) {
        // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
        res.setHeader('WWW-Authenticate', 'Bearer realm="stowage"');
        res.status(401).json(rpcError('authentication required: send Authorization: Bearer <token>'));
        return;
      }
      const check = await auth.verify(match[1]!);
      if (!check.ok) {
        const description = `the token is ${check.reason}`;
        res.setHeader(
          'WWW-Authenticate',
          `Bearer realm="stowage", error="invalid_token", error_description="${description}"`,
        );
        res.status(401).json(rpcError(`${description}: ask for a new one (stowage token create)`));
        return;
      }
      res.locals.token = check.token;
      next();
    });
  }
  app.use('/mcp', express.json({ limit: options.bodyLimitBytes }));

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
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, tokenId: token?.id });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
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

  const server = await new Promise<HttpServer>((resolve, reject) => {
    const s = app.listen(options.port, options.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  downloads?.listening(`http://${hostForUrl}:${port}`);
  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    port,
    async close() {
      await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
      sessions.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function originAllowed(origin: string, hosts: readonly string[]): boolean {
  try {
    const { hostname } = new URL(origin);
    return hosts.includes(hostname) || hosts.includes(`[${hostname}]`);
  } catch {
    return false;
  }
}

const tokenOf = (res: Response) => res.locals.token as VerifiedToken | undefined;

const rpcError = (message: string) => ({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
