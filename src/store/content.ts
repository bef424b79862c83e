// Content helpers shared by the domain and the tools: decoding tool input, telling text from
// binary, and etags.
import { invalidInput } from '../errors.js';

export type Encoding = 'utf8' | 'base64';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Turns tool input into bytes; base64 is checked strictly so a typo cannot store garbage. */
export function decodeContent(content: string, encoding: Encoding, path: string): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  const compact = content.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw invalidInput(
      `content for '${path}' is not valid base64: send standard base64, or use encoding 'utf8' for text`,
    );
  }
  return Buffer.from(compact, 'base64');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text is valid UTF-8 without NUL bytes; anything else is returned to agents as base64. */
export function asText(content: Uint8Array): string | undefined {
  if (content.includes(0)) return undefined;
  try {
    return utf8.decode(content);
  } catch {
    return undefined;
  }
}

/** The etag of a file version: a prefix of its content SHA-256 (same content, same etag). */
export const etagOf = (hash: string): string => hash.slice(0, 16);

export interface LineWindow {
  text: string;
  /** 1-based first line returned. */
  offset: number;
  lines: number;
  totalLines: number;
  /** The offset to continue from, when lines remain. */
  nextOffset: number | undefined;
}

/** Lines [offset, offset + limit) of `text` (1-based), keeping line endings as they are. */
export function lineWindow(text: string, offset = 1, limit?: number): LineWindow {
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const start = Math.max(1, offset);
  const end = limit === undefined ? lines.length : Math.min(lines.length, start - 1 + limit);
  const slice = lines.slice(start - 1, end);
  return {
    text: slice.join(''),
    offset: start,
    lines: slice.length,
    totalLines: lines.length,
    nextOffset: end < lines.length ? end + 1 : undefined,
  };
}

/** The longest prefix of `text` within `maxChars` that ends at a line end, so reading on from
 *  the next line (read_file's offset) continues exactly; a part of the first line only when not
 *  even that line fits. */
export function cutAtLine(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.lastIndexOf('\n', maxChars - 1);
  return cut >= 0 ? text.slice(0, cut + 1) : text.slice(0, maxChars);
}
