// What the search index (migration 0020) holds for a blob: its text as search_files reads it, for
// blobs up to SEARCH_TEXT_MAX_BYTES; larger ones are read from the blob store when searched.
import { asText } from '../../formats/content.js';

/** Larger blobs have no search text: generated and minified files, rarely searched, would cost
 *  the index most (pg_trgm: about 1 ms per 9 KiB written). */
export const SEARCH_TEXT_MAX_BYTES = 1024 * 1024;

/** The blob's search text: its text, or null when it is binary; undefined over the size cap. */
export const searchTextOf = (content: Uint8Array): string | null | undefined =>
  content.byteLength > SEARCH_TEXT_MAX_BYTES ? undefined : (asText(content) ?? null);
