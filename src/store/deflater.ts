// Deflates zip entries on a worker thread, a batch at a time: a job's inline drafts as they are
// written (one batch per write transaction, so the main thread stays free for other calls), and
// at zip time the files without a stored deflate, while the calling thread reads the next batch
// from Postgres and writes the one before into the archive. The calling thread is the busier of
// the two (parsing rows, the zip container, the artifact's hash), so it deflates nothing:
// measured side by side on the bench's 500 files, sharing each batch between both threads took
// 66 ms where this takes 53. One message each way per batch, the batch's buffer moved, not
// copied; a thread hop per file, as zlib's async API makes, costs more than deflating a small
// file. One deflater serves the process (stowage.ts).
import type { NonSharedBuffer } from 'node:buffer';
import { Worker } from 'node:worker_threads';
import type { crc32, deflateRawSync } from 'node:zlib';

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

interface Reply {
  id: number;
  crcs?: Uint32Array;
  /** Where each file's deflated bytes end in `data`. */
  ends?: Uint32Array;
  data?: ArrayBuffer;
  error?: string;
}

/** The worker's loop over one batch. It runs from its source text, so it must use nothing but
 *  its arguments. zip's default level; a smaller hash table (memLevel 7, not 8) and a window no
 *  larger than the file (deflate never looks back past its start) set up faster per file and
 *  compress the bench's sources to the same bytes; an output chunk sized to the file spares
 *  zlib's default 16 KiB allocation. */
function deflateBatch(
  zlib: { crc32: typeof crc32; deflateRawSync: typeof deflateRawSync },
  data: Uint8Array,
  spans: Uint32Array,
): Omit<Reply, 'id'> {
  const count = spans.length / 2;
  const crcs = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const file = data.subarray(spans[2 * i], spans[2 * i + 1]);
    let windowBits = 9;
    while (windowBits < 15 && 2 ** windowBits - 262 < file.length) windowBits++;
    const chunkSize = Math.max(64, file.length + (file.length >> 3) + 64);
    const deflated = zlib.deflateRawSync(file, { level: 6, memLevel: 7, windowBits, chunkSize });
    crcs[i] = zlib.crc32(file);
    parts.push(deflated);
    ends[i] = total += deflated.length;
  }
  const out = new Uint8Array(total);
  parts.forEach((part, i) => out.set(part, ends[i]! - part.length));
  return { crcs, ends, data: out.buffer };
}

// Plain CommonJS run with `eval`, so one source serves tsc's output and tsx alike.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const deflateBatch = ${deflateBatch.toString()};
parentPort.on('message', ({ id, data, spans }) => {
  try {
    const reply = deflateBatch(zlib, new Uint8Array(data), spans);
    parentPort.postMessage({ id, ...reply }, [reply.data, reply.crcs.buffer, reply.ends.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.stack) || err) });
  }
});
`;

/** A deflater whose worker starts on first use and keeps the process alive only while it has
 *  work: a CLI that zipped exits once it is done, and one waiting on a batch does not. */
export function createDeflater(): Deflater {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve(r: Reply): void; reject(err: Error): void }>();

  const start = () => {
    // No inherited flags: the source is plain CommonJS whatever the process was started with
    // (under --input-type=module an eval'd worker would be parsed as ESM).
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    w.on('message', (reply: Reply) => {
      const waiter = pending.get(reply.id);
      pending.delete(reply.id);
      if (!pending.size) w.unref();
      waiter?.resolve(reply);
    });
    const fail = (err: Error) => {
      if (worker === w) worker = undefined;
      for (const waiter of pending.values()) waiter.reject(err);
      pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the deflate worker exited (code ${code})`)));
    return w;
  };

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
      const w = (worker ??= start());
      const id = nextId++;
      const replied = new Promise<Reply>((resolve, reject) => pending.set(id, { resolve, reject }));
      // Referenced while a batch is out (ref() also covers the port, which a 'message'
      // listener refs on its own), unreferenced once the last one is back.
      if (pending.size === 1) w.ref();
      w.postMessage({ id, data: buffer, spans }, [buffer]);
      const reply = await replied;
      if (reply.error !== undefined) throw new Error(`deflate failed: ${reply.error}`);
      const out = Buffer.from(reply.data!);
      return Array.from({ length: count }, (_, i) => ({
        deflated: out.subarray(i ? reply.ends![i - 1]! : 0, reply.ends![i]),
        crc: reply.crcs![i]!,
        size: spans[2 * i + 1]! - spans[2 * i]!,
      }));
    },
  };
}
