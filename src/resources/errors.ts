// Domain errors on a resource read, as the protocol errors MCP clients expect: a missing
// resource is -32002, a malformed URI is invalid params; anything else is rethrown.
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { StowageError } from '../errors.js';

export const RESOURCE_NOT_FOUND = -32002;

export function resourceError(err: unknown, uri: URL): unknown {
  if (err instanceof StowageError && err.code === 'not_found') {
    return new McpError(RESOURCE_NOT_FOUND, err.message, { uri: uri.href });
  }
  if (err instanceof StowageError && err.code === 'invalid_input') {
    return new McpError(ErrorCode.InvalidParams, err.message);
  }
  return err;
}
