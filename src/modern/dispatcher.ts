// One SDK v1 server answering every 2026-07-28 request of an endpoint, whoever sends it: a
// 2026-07-28 request needs no session, and a server per request would cost more CPU than a small
// write itself (0.28 ms to build one, on the bench machine). This transport hands each request to
// that server under an id of its own, since two clients may both send id 1, and routes what the
// server sends for it back to that request's sink under the client's id: its progress
// notifications, then its answer. The rights of a request are its own bearer's (authInfo), as on
// a 2025-11-25 session.
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResponse,
  MessageExtraInfo,
} from '@modelcontextprotocol/sdk/types.js';

/** Where the messages about one request go. */
export interface Sink {
  /** A notification about the request (progress); never a log message (see send). */
  notify(notification: JSONRPCNotification): void;
  /** Its answer, under the server's id: the last message about it. */
  answer(response: JSONRPCResponse): void;
}

export class Dispatcher implements Transport {
  sessionId = undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtraInfo) => void) | undefined;

  private next = 0;
  private readonly sinks = new Map<string, Sink>();

  async start(): Promise<void> {}

  /** Hands `request` to the server; returns the function that cancels it (the client hung up). */
  request(request: JSONRPCRequest, auth: AuthInfo | undefined, sink: Sink): () => void {
    const id = `stowage-${++this.next}`;
    this.sinks.set(id, sink);
    this.onmessage?.({ ...request, id }, auth ? { authInfo: auth } : undefined);
    return () => {
      if (!this.sinks.delete(id)) return;
      this.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'the client closed the request' },
      });
    };
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ('result' in message || 'error' in message) {
      const sink = this.sinks.get(String(message.id));
      this.sinks.delete(String(message.id));
      sink?.answer(message);
      return Promise.resolve();
    }
    if ('id' in message) {
      // Stowage's handlers ask the client nothing; 2026-07-28 has no channel for it anyway.
      return Promise.reject(new Error(`${message.method}: a 2026-07-28 client takes no requests`));
    }
    // Log messages need the request's logLevel, which Stowage never asks for; notifications not
    // about a request (list changes) go only to subscriptions/listen streams, not from here.
    const related = options?.relatedRequestId;
    if (related !== undefined && message.method !== 'notifications/message') {
      this.sinks.get(String(related))?.notify(message);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.sinks.clear();
    this.onclose?.();
    return Promise.resolve();
  }
}
