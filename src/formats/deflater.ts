// Deflates zip entries on a worker thread, a batch at a time: a job's inline drafts as they are
// written (one batch per write transaction, so the main thread stays free for other calls), and
// at zip time the files without a stored deflate, while the calling thread reads the next batch
// from Postgres and writes the one before into the archive. The calling thread is the busier of
// the two (parsing rows, the zip container, the artifact's hash), so it deflates nothing:
// measured side by side on the bench's 500 files, sharing each batch between both threads took
// 66 ms where this takes 53. One message each way per batch, the batch's buffer moved, not
// copied; a thread hop per file, as zlib's async API makes, costs more than deflating a small
// file. One deflater serves the process (stowage.ts); its worker (deflate-worker.ts) runs in a
// pool of one (worker-pool.ts), with no time limit: batches are posted as they come and the
// worker deflates them back to back.
import type { NonSharedBuffer } from 'node:buffer';
import type { deflateTasks } from './deflate-worker.js';
import { createWorkerPool } from '../workers/worker-pool.js';

/** One file, deflated: raw deflate bytes and the CRC-32 of the original. */
export interface Deflated {
  deflated: NonSharedBuffer;
  crc: number;
  size: number;
}

/** A batch of files packed into one buffer of its own (see `packedBuffer`). */
export interface PackedFiles {
  data: Buffer;
  /** Where each file starts and ends in `data`, in the batch's order: [start0, end0, start1, …]. */
  spans: Uint32Array;
}

export interface Deflater {
  /** Deflates each file of `batch`, in order. `batch.data` moves to the worker: it is empty after. */
  deflate(batch: PackedFiles): Promise<Deflated[]>;
}

/** A buffer of `size` bytes that owns its memory, so it can move to the worker without a copy. */
export const packedBuffer = (size: number): Buffer => Buffer.allocUnsafeSlow(size);

/** `files` packed into one buffer of their own, in order. */
export function packFiles(files: readonly Uint8Array[]): PackedFiles {
  const data = packedBuffer(files.reduce((n, f) => n + f.byteLength, 0));
  const spans = new Uint32Array(files.length * 2);
  let end = 0;
  files.forEach((file, i) => {
    spans[2 * i] = end;
    data.set(file, end);
    spans[2 * i + 1] = end += file.byteLength;
  });
  return { data, spans };
}

/** A deflater whose worker starts on first use and keeps the process alive only while it has
 *  work: a CLI that zipped exits once it is done, and one waiting on a batch does not. */
export function createDeflater(): Deflater {
  const pool = createWorkerPool<typeof deflateTasks>(new URL('./deflate-worker.js', import.meta.url), {
    size: 1,
    name: 'deflate',
  });
  return {
    async deflate({ data, spans }) {
      const { buffer } = data;
      if (
        !(buffer instanceof ArrayBuffer) ||
        data.byteOffset !== 0 ||
        data.byteLength !== buffer.byteLength
      ) {
        throw new Error('a packed batch must own its memory: allocate it with packedBuffer');
      }
      const count = spans.length / 2;
      if (!count) return [];
      const reply = await pool.run('deflate', { data: buffer, spans }, { transfer: [buffer] });
      const out = Buffer.from(reply.data);
      return Array.from({ length: count }, (_, i) => ({
        deflated: out.subarray(i ? reply.ends[i - 1]! : 0, reply.ends[i]),
        crc: reply.crcs[i]!,
        size: spans[2 * i + 1]! - spans[2 * i]!,
      }));
    },
  };
}
