// A committed tree moved out and in as a stream of files. Out: file rows page by page, their
// blobs read straight from the blob store (an archive of a big project must not flush the read
// cache) a few files ahead. In: checked files' blobs stored in batches, blob first; the rows are
// handed back for the caller's one final transaction, so nothing is visible until it commits.
import { invalidInput, StowageError } from '../../errors.js';
import { createBlobBatcher, createBlobWriter } from '../blobs/writer.js';
import type { BlobCache } from '../blobs/blob-cache.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { CallContext } from '../../call-context.js';
import { insertFiles, selectFilePage, type FileRow } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { loadDescriber, type FileFacts } from '../project-facts.js';
import { sha256Of, type ArchiveFile, type TarballFile } from '../../formats/tarball.js';

const PAGE = 500;
// Read-ahead: enough blob reads in flight to hide store latency, few enough to bound memory.
const AHEAD_FILES = 8;
const AHEAD_BYTES = 16 * 1024 * 1024;
const INSERT_ROWS = 5000;

export interface IngestedFile extends FileFacts {
  path: string;
  hash: string;
  mode: number;
  local: boolean;
}

const cancelled = (what: string, files: number) =>
  new StowageError('unavailable', `cancelled after ${files} file(s) were ${what}; nothing was changed`);

/** Every committed file of a project with its content, in path order, as `tx` sees the tree. */
export async function* committedFiles(
  tx: Queryable,
  blobs: BlobStore,
  projectId: string,
  call: CallContext & { total: number; what: string },
): AsyncGenerator<TarballFile & { mtime: Date }> {
  const ahead: { row: FileRow; content: Promise<Buffer> }[] = [];
  let aheadBytes = 0;
  let done = 0;
  const take = async () => {
    const { row, content } = ahead.shift()!;
    aheadBytes -= row.size;
    const bytes = await content;
    if (sha256Of(bytes) !== row.blob_hash) {
      throw new StowageError(
        'internal',
        `the stored content of '${row.path}' does not match its hash: the blob store is damaged; nothing was changed`,
      );
    }
    call.progress?.(++done, call.total, `${call.what} ${row.path}`);
    return {
      path: row.path,
      mode: row.mode,
      content: bytes,
      sha256: row.blob_hash,
      local: row.local,
      mtime: row.updated_at,
    };
  };

  let after = '';
  for (;;) {
    const rows = await selectFilePage(tx, projectId, after, PAGE);
    for (const row of rows) {
      if (call.signal?.aborted) throw cancelled(call.what, done);
      const content = blobs.get(row.blob_hash);
      content.catch(() => undefined); // awaited in order by take(); never unhandled meanwhile
      ahead.push({ row, content });
      aheadBytes += row.size;
      while (ahead.length >= AHEAD_FILES || aheadBytes >= AHEAD_BYTES) yield await take();
    }
    if (rows.length < PAGE) break;
    after = rows.at(-1)!.path;
  }
  while (ahead.length) yield await take();
}

/** Stores checked files' blobs, blob first; returns the rows a final transaction inserts. */
export function createTreeIngest({ sql, blobs }: { sql: Queryable; blobs: BlobStore }) {
  // Restores and imports write through the store, not the cache: they would only evict what
  // readers are using for content nobody has asked for yet.
  const uncached: BlobCache = {
    get: (hash) => blobs.get(hash),
    prime: () => undefined,
    stats: () => ({ hits: 0, misses: 0, bytes: 0, entries: 0, maxBytes: 0 }),
  };
  const storeBlobs = createBlobWriter({ sql, blobs, cache: uncached });

  return async function ingest(
    files: AsyncIterable<ArchiveFile>,
    options: CallContext & { total?: number | undefined; what: string; requireManifest: boolean },
  ): Promise<{ files: IngestedFile[]; bytes: number }> {
    const ingested: IngestedFile[] = [];
    let bytes = 0;
    const batcher = createBlobBatcher(storeBlobs);
    const describe = await loadDescriber();
    for await (const file of files) {
      if (options.signal?.aborted) throw cancelled(options.what, ingested.length);
      if (file.claimed && file.claimed.sha256 !== file.sha256) {
        throw invalidInput(
          `the content of '${file.path}' does not match the SHA-256 its manifest records: the archive is corrupt; nothing was written`,
        );
      }
      if (!file.claimed && options.requireManifest) {
        throw invalidInput(
          `'${file.path}' has no manifest record in the archive: it is not an archive Stowage wrote; nothing was written`,
        );
      }
      ingested.push({
        path: file.path,
        hash: file.sha256,
        mode: file.mode,
        local: file.local,
        ...describe(file.path, file.content),
      });
      bytes += file.content.byteLength;
      await batcher.add({ hash: file.sha256, content: file.content });
      options.progress?.(ingested.length, options.total, `${options.what} ${file.path}`);
    }
    await batcher.flush();
    return { files: ingested, bytes };
  };
}

export type TreeIngest = ReturnType<typeof createTreeIngest>;

/** Inserts ingested files as the committed tree at `version`; sizes and git SHAs come from their blobs. */
export async function insertCommittedFiles(
  tx: Queryable,
  projectId: string,
  version: number,
  files: readonly IngestedFile[],
): Promise<void> {
  for (let i = 0; i < files.length; i += INSERT_ROWS) {
    const chunk = files.slice(i, i + INSERT_ROWS);
    const inserted = await insertFiles(tx, projectId, version, chunk);
    // A blob row can only be missing if cleanup collected it between the store and this insert.
    if (inserted !== chunk.length) {
      throw new StowageError('unavailable', 'stored content was collected by a concurrent cleanup: retry');
    }
  }
}
