// What serves a 2026-07-28 request once its transport has admitted it (admit.ts, and on HTTP its
// headers): server/discover and subscriptions/listen here, everything else by one SDK v1 server
// built like a 2025-11-25 session's (createServer), through the Dispatcher. So the tools and
// resources a 2026-07-28 client reaches are the very handlers a session's client reaches, and
// their answers differ only as wire.ts rewrites them.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  LATEST_PROTOCOL_VERSION,
  McpError,
  type InitializeResult,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type ListToolsResult,
  type Result,
} from '@modelcontextprotocol/sdk/types.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { resourceError } from '../resources/errors.js';
import { serverInfo } from '../server.js';
import { Dispatcher, type Sink } from './dispatcher.js';
import { listenClosed, openListen, type ListenDeps } from './listen.js';
import {
  completeResult,
  discoverResult,
  MODERN_METHODS,
  modernError,
  modernResponse,
  paramHeadersOf,
  type WireError,
} from './wire.js';

export interface ModernServerOptions {
  /** The server every request shares; no client initializes it. Built without live resources. */
  server: McpServer;
  /** Absent: no change feed here, so no subscriptions/listen (it is Method not found). */
  listen?: ListenDeps | undefined;
  logger: Logger;
}

export interface ModernServer {
  /** Whether `method` is served here (the methods of the revision, less listen without a feed). */
  serves(method: string): boolean;
  /** Serves one admitted request; returns the function that cancels it (the client went away). */
  serve(request: JSONRPCRequest, auth: AuthInfo | undefined, sink: Sink): () => void;
  /** What `tool` mirrors into Mcp-Param-* headers (argument → header suffix). */
  paramHeaders(tool: string): Promise<[argument: string, header: string][]>;
  /** Ends every listen stream with its closing result, then the shared server. */
  close(): Promise<void>;
}

export function createModernServer(options: ModernServerOptions): ModernServer {
  const { listen, logger } = options;
  const dispatcher = new Dispatcher();
  const connected = options.server.connect(dispatcher);
  const streams = new Set<() => void>();

  /** One request of Stowage's own to the shared server, answered as the SDK answers it. */
  const ask = <T extends Result>(method: string, params: Record<string, unknown>) =>
    new Promise<T>((resolve, reject) => {
      dispatcher.request({ jsonrpc: '2.0', id: 0, method, params }, undefined, {
        notify: () => undefined,
        answer: (response) =>
          'result' in response
            ? resolve(response.result as T)
            : reject(new Error(`${method}: ${response.error.message}`)),
      });
    });
  // What initialize would answer a client: server/discover says the same of this server.
  let described: Promise<InitializeResult> | undefined;
  const describe = () =>
    (described ??= connected
      .then(() =>
        ask<InitializeResult>('initialize', {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: serverInfo(),
        }),
      )
      .catch((err: unknown) => {
        described = undefined; // the next discover asks again
        throw err;
      }));
  let headers: Promise<Map<string, [string, string][]>> | undefined;

  const fail = (sink: Sink, request: JSONRPCRequest, err: unknown) =>
    sink.answer({
      jsonrpc: '2.0',
      id: request.id,
      error: modernError(request.method, request.params, wireErrorOf(err, logger)),
    });

  function serveListen(request: JSONRPCRequest, auth: AuthInfo | undefined, sink: Sink, deps: ListenDeps) {
    let stop: (() => void) | undefined;
    let cancelled = false;
    // The server ends the stream (shutdown): the closing result tells the client to listen again.
    const end = () => {
      cancel();
      sink.answer({
        jsonrpc: '2.0',
        id: request.id,
        result: completeResult(request.method, listenClosed(request.id)),
      });
    };
    const cancel = () => {
      cancelled = true;
      streams.delete(end);
      stop?.();
    };
    streams.add(end);
    openListen(request, auth, deps, (n) => sink.notify(n)).then(
      (stopWatching) => {
        stop = stopWatching;
        if (cancelled) stopWatching();
      },
      (err: unknown) => {
        streams.delete(end);
        if (!cancelled) fail(sink, request, err);
      },
    );
    return cancel;
  }

  return {
    serves: (method) => MODERN_METHODS.has(method) && (method !== 'subscriptions/listen' || !!listen),

    serve(request, auth, sink) {
      if (request.method === 'server/discover') {
        describe().then(
          (init) => sink.answer({ jsonrpc: '2.0', id: request.id, result: discoverResult(init, !!listen) }),
          (err: unknown) => fail(sink, request, err),
        );
        return () => undefined;
      }
      if (request.method === 'subscriptions/listen' && listen)
        return serveListen(request, auth, sink, listen);
      return dispatcher.request(request, auth, {
        notify: (n) => sink.notify(n),
        answer: (response: JSONRPCResponse) =>
          sink.answer(modernResponse(request.method, request.params, response, request.id)),
      });
    },

    async paramHeaders(tool) {
      headers ??= connected
        .then(() => ask<ListToolsResult>('tools/list', {}))
        .then(({ tools }) => new Map(tools.map((t) => [t.name, paramHeadersOf(t)])));
      return (await headers).get(tool) ?? [];
    },

    async close() {
      for (const end of [...streams]) end();
      await options.server.close();
    },
  };
}

/** A thrown error as the JSON-RPC error it is answered with: the resources' rules (errors.ts),
 *  then what the SDK's server answers a handler's error with. */
function wireErrorOf(err: unknown, logger: Logger): WireError {
  const mapped = resourceError(err, logger);
  if (mapped instanceof McpError) {
    return {
      code: mapped.code,
      message: mapped.message,
      ...(mapped.data !== undefined ? { data: mapped.data } : {}),
    };
  }
  return { code: -32603, message: mapped instanceof StowageError ? mapped.message : 'internal error' };
}
