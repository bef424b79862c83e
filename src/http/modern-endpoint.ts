// 2026-07-28 over streamable HTTP: one POST is one request, with no session. In the order the
// SDK v2 applies them: the classifier's verdict (admit.ts), the served revision, the standard
// headers, the method, a tool's mirrored parameters; then the request is served (modern-server.ts)
// and answered on its own response, as one JSON body or as an event stream carrying its progress
// first. A subscriptions/listen response stays open, acknowledged first, until the client closes
// it or the server shuts down (then it ends with the request's result); such streams are capped as
// sessions are, in all and per token, since each holds a watch on the change feed. Refusals carry
// the request's id and the status the revision names: 400, or 404 for a method it does not define.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { admit, idOf, refused, unserved, type Admission } from '../modern/admit.js';
import type { Sink } from '../modern/dispatcher.js';
import type { ModernServer } from '../modern/modern-server.js';
import { headerValue, paramHeaderRefusal, standardHeaderRefusal } from './request-headers.js';
import { event, KEEP_ALIVE_MS, reply, SSE_HEADERS } from './streamable-transport.js';

export interface ModernEndpoint {
  /**
   * Serves a POST whose body (undefined: not JSON) claims the 2026-07-28 envelope or whose
   * MCP-Protocol-Version names it; false: it is 2025 traffic after all, the caller's to serve.
   * `streaming` is called once the request turns out to be a listen stream, which is not work
   * to wait for at shutdown.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    auth: AuthInfo | undefined,
    streaming: () => void,
  ): Promise<boolean>;
}

export interface ModernEndpointOptions {
  /** Answer each request with one JSON body instead of an event stream. */
  jsonResponses: boolean;
  /** Listen streams open at once, in all. */
  maxStreams: number;
  /** Listen streams open at once per token; streams without a token count against maxStreams only. */
  maxStreamsPerToken: number;
}

/** How long a client refused a listen stream is asked to wait: streams end when clients go. */
const STREAM_RETRY_SECONDS = 5;

export function createModernEndpoint(modern: ModernServer, options: ModernEndpointOptions): ModernEndpoint {
  let open = 0;
  const perToken = new Map<string, number>();
  /** Why there is no room for one more stream of `token`, if there is none; else counts it until
   *  `res` closes. */
  const room = (token: string | undefined, res: ServerResponse) => {
    const mine = token === undefined ? 0 : (perToken.get(token) ?? 0);
    if (token !== undefined && mine >= options.maxStreamsPerToken) {
      return {
        status: 429,
        message: `this token already has ${options.maxStreamsPerToken} subscriptions/listen streams open, the most allowed per token: listen to several URIs on one stream, or close those no longer needed; retry in ${STREAM_RETRY_SECONDS} s`,
      };
    }
    if (open >= options.maxStreams) {
      return {
        status: 503,
        message: `the server has ${options.maxStreams} subscriptions/listen streams open, the most it allows: retry in ${STREAM_RETRY_SECONDS} s`,
      };
    }
    open += 1;
    if (token !== undefined) perToken.set(token, mine + 1);
    res.on('close', () => {
      open -= 1;
      if (token === undefined) return;
      const left = (perToken.get(token) ?? 1) - 1;
      if (left > 0) perToken.set(token, left);
      else perToken.delete(token);
    });
    return undefined;
  };

  return {
    async handle(req, res, body, auth, streaming) {
      const admission = await check(req, body, modern);
      if (admission.kind === 'legacy') return false;
      if (admission.kind === 'refused') {
        const { status, id, error } = admission;
        reply(res, status, error.code, error.message, id, error.data);
      } else if (admission.kind === 'notification') {
        res.writeHead(202).end();
      } else if (admission.request.method === 'subscriptions/listen') {
        const full = room(auth?.clientId, res);
        if (full) {
          res.setHeader('Retry-After', String(STREAM_RETRY_SECONDS));
          reply(res, full.status, -32603, full.message, admission.request.id);
        } else {
          streaming();
          serveStream(res, (sink) => modern.serve(admission.request, auth, sink));
        }
      } else {
        serveCall(res, options.jsonResponses, (sink) => modern.serve(admission.request, auth, sink));
      }
      return true;
    },
  };
}

/** Every check before a request is served, in the order the revision's ladder takes them. */
async function check(req: IncomingMessage, body: unknown, modern: ModernServer): Promise<Admission> {
  const echo = idOf(body);
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return refused(406, echo, {
      code: -32000,
      message: 'Not Acceptable: Client must accept both application/json and text/event-stream',
    });
  }
  if (body === undefined) {
    return refused(415, echo, {
      code: -32000,
      message: 'Unsupported Media Type: Content-Type must be application/json',
    });
  }
  const admission = await admit({
    httpMethod: 'POST',
    protocolVersionHeader: headerValue(req.headers, 'mcp-protocol-version'),
    mcpMethodHeader: headerValue(req.headers, 'mcp-method'),
    mcpNameHeader: headerValue(req.headers, 'mcp-name'),
    body,
  });
  if (admission.kind !== 'request') return admission;
  const { request } = admission;
  const headers = standardHeaderRefusal(req.headers, request);
  if (headers) return refused(400, request.id, headers);
  if (!modern.serves(request.method)) return unserved(request);
  if (request.method === 'tools/call') {
    const tool = (request.params as { name?: unknown } | undefined)?.name;
    const mirrored = typeof tool === 'string' ? await modern.paramHeaders(tool) : [];
    const params = paramHeaderRefusal(req.headers, request, mirrored);
    if (params) return refused(400, request.id, params);
  }
  return admission;
}

/** One request answered on its own response: JSON, or events with its progress first. The
 *  headers leave with the first message, or with the first keep-alive of a long call. */
function serveCall(res: ServerResponse, json: boolean, serve: (sink: Sink) => () => void) {
  let answered = false;
  let timer: NodeJS.Timeout | undefined;
  const open = () => {
    if (!res.headersSent && res.writable) res.writeHead(200, SSE_HEADERS).flushHeaders();
    clearTimeout(timer);
    timer = setInterval(() => res.write(': keepalive\n\n'), KEEP_ALIVE_MS).unref();
  };
  if (!json) timer = setTimeout(open, KEEP_ALIVE_MS).unref();
  const cancel = serve({
    notify(notification) {
      if (json || !res.writable) return;
      if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
      res.write(event(notification));
    },
    answer(response) {
      answered = true;
      clearTimeout(timer);
      if (!res.writable) return;
      if (json && !res.headersSent) return end(res, 200, response);
      if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
      res.end(event(response));
    },
  });
  res.on('close', () => {
    clearTimeout(timer);
    if (!answered) cancel();
  });
}

/** A subscriptions/listen stream: opened with its acknowledgement, kept alive while quiet. A
 *  filter refused before anything was sent is answered like any error. */
function serveStream(res: ServerResponse, serve: (sink: Sink) => () => void) {
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const cancel = serve({
    notify(notification) {
      if (!res.writable) return;
      if (!res.headersSent) {
        res.writeHead(200, SSE_HEADERS);
        timer = setInterval(() => res.write(': keepalive\n\n'), KEEP_ALIVE_MS).unref();
      }
      res.write(event(notification));
    },
    answer(response) {
      ended = true;
      clearInterval(timer);
      if (!res.writable) return;
      if (!res.headersSent) return end(res, 200, response);
      res.end(event(response));
    },
  });
  res.on('close', () => {
    clearInterval(timer);
    if (!ended) cancel();
  });
}

const end = (res: ServerResponse, status: number, message: JSONRPCMessage) => {
  const body = JSON.stringify(message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
