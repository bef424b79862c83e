// Opaque pagination cursors: the last key of a page, base64url-encoded.
import { invalidInput } from '../errors.js';

export const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

export function decodeCursor(cursor: string, tool: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key || encodeCursor(key) !== cursor) {
    throw invalidInput(
      `cursor '${cursor}' is not one ${tool} returned: pass next_cursor from the previous page`,
    );
  }
  return key;
}
