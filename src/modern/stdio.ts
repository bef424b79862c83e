// Both revisions on one stdio connection. A message whose _meta names a revision is a 2026-07-28
// request (admit.ts): served by the modern server (modern-server.ts) and answered here, with no
// handshake; everything else goes to the 2025-11-25 server as it always has. Until a client has
// sent initialize, the 2025 server's unsolicited notifications (resources/list_changed) are not
// passed on: a 2026-07-28 client hears changes only on the subscriptions/listen it asked for.
// notifications/cancelled naming a 2026-07-28 request (a listen stream among them) ends it.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { admit } from './admit.js';
import type { ModernServer } from './modern-server.js';
import { claimsEnvelope, methodNotFound, type WireError } from './wire.js';

export class DualEraStdio implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtraInfo) => void) | undefined;

  /** A 2025-11-25 client opened with initialize: what the server sends unasked is for it. */
  private initialized = false;
  /** 2026-07-28 requests being served, by the client's id: how to cancel each. */
  private readonly calls = new Map<RequestId, () => void>();
  /** Messages are taken in order: a 2026-07-28 one waits for the classifier (loaded once). */
  private queue = Promise.resolve();

  /** `modern`: the server of 2026-07-28 requests, built on the first one. */
  constructor(
    private readonly inner: Transport,
    private readonly modern: () => ModernServer,
  ) {}

  start(): Promise<void> {
    this.inner.onmessage = (message, extra) => {
      this.queue = this.queue
        .then(() => this.receive(message, extra))
        .catch((err: unknown) => this.onerror?.(err as Error));
    };
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => {
      for (const cancel of this.calls.values()) cancel();
      this.calls.clear();
      this.onclose?.();
    };
    return this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const unasked = !('id' in message) && options?.relatedRequestId === undefined;
    if (unasked && !this.initialized) return Promise.resolve();
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async receive(message: JSONRPCMessage, extra: MessageExtraInfo | undefined) {
    if (!claimsEnvelope(message)) {
      if ('method' in message && message.method === 'initialize') this.initialized = true;
      if ('method' in message && message.method === 'notifications/cancelled') {
        const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const cancel = id !== undefined ? this.calls.get(id) : undefined;
        if (cancel) {
          this.calls.delete(id!);
          return cancel();
        }
      }
      return this.onmessage?.(message, extra);
    }
    const admission = await admit({ httpMethod: 'POST', body: message });
    if (admission.kind === 'legacy') return this.onmessage?.(message, extra);
    if (admission.kind === 'notification') return;
    if (admission.kind === 'refused') return this.fail(admission.id, admission.error);
    const { request } = admission;
    const modern = this.modern();
    if (!modern.serves(request.method)) return this.fail(request.id, methodNotFound(request.method));
    const cancel = modern.serve(request, extra?.authInfo, {
      notify: (notification) => void this.deliver(notification),
      answer: (response) => {
        this.calls.delete(request.id);
        void this.deliver(response);
      },
    });
    this.calls.set(request.id, cancel);
  }

  private fail(id: RequestId | null, error: WireError) {
    void this.deliver({ jsonrpc: '2.0', id, error } as JSONRPCMessage);
  }

  private deliver(message: JSONRPCMessage) {
    return this.inner.send(message).catch((err: unknown) => this.onerror?.(err as Error));
  }
}
