// Whether an inbound message is a 2026-07-28 request Stowage serves, on any transport. The era
// and the envelope are decided by the SDK v2's classifier (classifyInboundRequest: a request
// whose _meta names a revision is served per request, one without is 2025 traffic; a malformed
// envelope is Invalid params, and on HTTP a header that disagrees with the body is a header
// mismatch), then the revision must be one served here. The SDK v2 is loaded on the first message
// that claims an envelope, so 2025-11-25 clients never pay for it.
import type * as ServerSdk from '@modelcontextprotocol/server';
import type { JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { methodNotFound, MODERN_REVISIONS, unsupportedVersion, type WireError } from './wire.js';

export type Admission =
  | { kind: 'legacy' }
  /** A notification on 2026-07-28: none is defined over HTTP; it is taken and dropped. */
  | { kind: 'notification' }
  | { kind: 'request'; request: JSONRPCRequest }
  /** `status`: the HTTP status it goes with (stdio has none). */
  | { kind: 'refused'; status: number; id: RequestId | null; error: WireError };

let sdk: Promise<typeof ServerSdk> | undefined;

/** Classifies one message (on HTTP with its protocol headers; on stdio without any). */
export async function admit(inbound: ServerSdk.InboundHttpRequest): Promise<Admission> {
  const { classifyInboundRequest } = await (sdk ??= import('@modelcontextprotocol/server'));
  const outcome = classifyInboundRequest(inbound);
  const id = idOf(inbound.body);
  if (outcome.kind === 'reject') {
    const { code, message, data } = outcome;
    return refused(outcome.httpStatus, id, { code, message, ...(data !== undefined ? { data } : {}) });
  }
  if (outcome.kind === 'legacy') return { kind: 'legacy' };
  if (outcome.messageKind === 'notification') return { kind: 'notification' };
  const revision = outcome.classification.revision ?? '';
  if (!MODERN_REVISIONS.includes(revision)) return refused(400, id, unsupportedVersion(revision));
  return { kind: 'request', request: outcome.message };
}

/** A request for a method that is not served is refused with 404 (HTTP) and Method not found. */
export const unserved = (request: JSONRPCRequest): Admission =>
  refused(404, request.id, methodNotFound(request.method));

export const refused = (status: number, id: RequestId | null, error: WireError): Admission => ({
  kind: 'refused',
  status,
  id,
  error,
});

/** The id of a request body, when it has one to echo. */
export function idOf(body: unknown): RequestId | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
