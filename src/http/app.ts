// Streamable HTTP at /mcp with sessions, Host and Origin validation against DNS rebinding, and
// /healthz. Each session gets its own McpServer from `createServer`.
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { hostHeaderValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type Response } from 'express';
import type { Logger } from '../logger.js';
import type { Downloads } from './downloads.js';

export interface HttpOptions {
  host: string;
  port: number;
  /** Host names accepted in the Host header; default: the loopback names (and `host`). */
  allowedHosts?: readonly string[] | undefined;
  /** Largest request body; a write of a maximum-size file in base64 must fit. */
  bodyLimitBytes: number;
  createServer(): McpServer;
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
  const sessions = new Map<string, StreamableHTTPServerTransport>();
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
  app.use('/mcp', express.json({ limit: options.bodyLimitBytes }));

  app.post('/mcp', async (req: Request, res: Response) => {
    const sessionId = req.header('mcp-session-id');
    if (sessionId) {
      const transport = sessions.get(sessionId);
      if (!transport) {
        res.status(404).json(rpcError('unknown or expired session: start a new one with initialize'));
        return;
      }
      await transport.handleRequest(req, res, req.body);
      return;
    }
    if (!isInitializeRequest(req.body)) {
      res.status(400).json(rpcError('no mcp-session-id: send initialize first'));
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const server = options.createServer();
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });

  const sessionRequest = async (req: Request, res: Response) => {
    const transport = sessions.get(req.header('mcp-session-id') ?? '');
    if (!transport) {
      res.status(404).json(rpcError('unknown or expired session'));
      return;
    }
    await transport.handleRequest(req, res);
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
      await Promise.allSettled([...sessions.values()].map((t) => t.close()));
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

const rpcError = (message: string) => ({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
