// The HTTP headers a 2026-07-28 request mirrors its body into (SEP-2243), checked against the
// body so that a proxy routing on a header and Stowage acting on the body cannot disagree:
// MCP-Protocol-Version and Mcp-Method on every request, Mcp-Name (the tool, prompt or resource)
// where the method names one, and Mcp-Param-<Name> for each argument a tool mirrors (wire.ts).
// The protocol-version and method cross-checks are the SDK's classifier's (admit.ts); presence,
// names and parameters are here. A value that is not plain ASCII travels Base64-encoded as
// `=?base64?…?=`, decoded strictly: bad padding or characters are a mismatch, not a guess.
import type { IncomingHttpHeaders } from 'node:http';
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { headerMismatch, MODERN_REVISION, type WireError } from '../modern/wire.js';

/** The body field Mcp-Name mirrors, by method. */
const NAMED_BY: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** What a header value may carry unencoded: visible ASCII, space and tab (RFC 9110). */
const PLAIN = /^[\x20-\x7e\t]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One header's value, with the optional whitespace around it stripped (RFC 9110 §5.5). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** A mirrored value as the client meant it, or why it cannot be read. */
export function decodeHeaderValue(raw: string): { value: string } | { error: string } {
  if (!raw.startsWith('=?base64?') || !raw.endsWith('?=') || raw.length < 11) {
    return PLAIN.test(raw)
      ? { value: raw }
      : { error: 'has characters outside visible ASCII: Base64-encode it' };
  }
  const encoded = raw.slice('=?base64?'.length, -2);
  if (!BASE64.test(encoded)) return { error: `'${raw}' is not valid Base64 (characters or padding)` };
  try {
    return { value: utf8.decode(Buffer.from(encoded, 'base64')) };
  } catch {
    return { error: `'${raw}' does not decode to UTF-8 text` };
  }
}

/** Why the standard headers do not fit the request, if they do not. */
export function standardHeaderRefusal(
  headers: IncomingHttpHeaders,
  request: JSONRPCRequest,
): WireError | undefined {
  if (headerValue(headers, 'mcp-protocol-version') === undefined) {
    return headerMismatch(
      `the MCP-Protocol-Version header is missing: send MCP-Protocol-Version: ${MODERN_REVISION}`,
    );
  }
  if (headerValue(headers, 'mcp-method') === undefined) {
    return headerMismatch(`the Mcp-Method header is missing: send Mcp-Method: ${request.method}`);
  }
  const field = NAMED_BY[request.method];
  if (!field) return undefined;
  const body = request.params?.[field];
  return mirrored(headerValue(headers, 'mcp-name'), body, 'Mcp-Name', `params.${field}`);
}

/** Why the Mcp-Param-* headers of a tools/call do not fit its arguments, if they do not;
 *  `mirroredArguments`: what the tool mirrors (argument → header name suffix). */
export function paramHeaderRefusal(
  headers: IncomingHttpHeaders,
  request: JSONRPCRequest,
  mirroredArguments: readonly [argument: string, header: string][],
): WireError | undefined {
  const args = (request.params as { arguments?: Record<string, unknown> } | undefined)?.arguments;
  for (const [argument, suffix] of mirroredArguments) {
    const name = `Mcp-Param-${suffix}`;
    const refusal = mirrored(
      headerValue(headers, name.toLowerCase()),
      args?.[argument] ?? undefined,
      name,
      `arguments.${argument}`,
    );
    if (refusal) return refusal;
  }
  return undefined;
}

/** Whether a header mirrors a body value: both absent, or the same value once decoded. */
function mirrored(raw: string | undefined, body: unknown, header: string, field: string) {
  if (raw === undefined && body === undefined) return undefined;
  if (raw === undefined) return headerMismatch(`the ${header} header is missing: mirror ${field} into it`);
  if (body === undefined) return headerMismatch(`${header} is sent but the body has no ${field}`);
  const decoded = decodeHeaderValue(raw);
  if ('error' in decoded) return headerMismatch(`${header} ${decoded.error}`);
  const expected = typeof body === 'string' ? body : JSON.stringify(body);
  if (decoded.value !== expected) {
    return headerMismatch(
      `${header} says '${decoded.value}' but ${field} is '${expected}': send the same value`,
    );
  }
  return undefined;
}
