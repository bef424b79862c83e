// Errors on a resource request, as the protocol errors MCP clients expect: a missing resource is
// -32002, a malformed URI is invalid params, other StowageErrors keep their message; an error
// that is not a StowageError is logged with its stack and answered by reference only, as a tool
// call's is (reportInternal in errors.ts).
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { reportInternal, StowageError } from '../errors.js';
import type { Logger } from '../logger.js';

export const RESOURCE_NOT_FOUND = -32002;

/** What to throw for `err`, met while serving `uri` (absent: a listing or a completion). */
export function resourceError(err: unknown, logger: Logger, uri?: URL): unknown {
  if (err instanceof McpError) return err;
  if (err instanceof StowageError && err.code === 'not_found') {
    return new McpError(RESOURCE_NOT_FOUND, err.message, uri && { uri: uri.href });
  }
  if (err instanceof StowageError && err.code === 'invalid_input') {
    return new McpError(ErrorCode.InvalidParams, err.message);
  }
  if (err instanceof StowageError) return err; // answered as an internal error, with its message
  const context = uri ? { uri: uri.href } : {};
  return new StowageError('internal', reportInternal(err, logger, context, 'resource request failed'));
}
