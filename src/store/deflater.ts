// Deflates zip entries on two threads: a batch of files sits in shared memory, and a worker and
// the calling thread take files from it in turn until none are left, so the work splits itself
// however the two are scheduled. Meanwhile Postgres reads the next batch. One message each way
// per batch: a thread hop per file, as zlib's async API makes, costs more than deflating a
// small file.
import type { NonSharedBuffer } from 'node:buffer';
import { Worker } from 'node:worker_threads';
import { crc32, deflateRawSync } from 'node:zlib';

/** One file, deflated: raw deflate bytes and the CRC-32 of the original. */
export interface Deflated {
  deflated: NonSharedBuffer;
  crc: number;
  size: number;
}

/** A batch of files packed into one shared buffer (see `packedBuffer`). */
export interface PackedFiles {
  data: Buffer;
  /** Where each file starts and ends in `data`, in the batch's order: [start0, end0, start1, …]. */
  spans: Uint32Array;
}

export interface Deflater {
  /** Deflates each file of `batch`, in order. */
  deflate(batch: PackedFiles): Promise<Deflated[]>;
}

/** A buffer of `size` bytes the deflater's worker can read without a copy. */
export const packedBuffer = (size: number): Buffer => Buffer.from(new SharedArrayBuffer(size));

// zip's default level; a smaller hash table (memLevel 7, not 8) sets up a quarter faster per
// file, and compressed the bench's 4 KiB sources to the same bytes.
const OPTIONS = { level: 6, memLevel: 7 };

type Claimed = [index: number, crc: number, deflated: NonSharedBuffer][];

/** Deflates the files of a batch that no other thread has claimed yet. Runs on both threads:
 *  the worker gets its source text, so it must use nothing but its arguments. */
function deflateClaimed(
  zlib: { crc32: typeof crc32; deflateRawSync: typeof deflateRawSync },
  options: object,
  data: Uint8Array,
  spans: Uint32Array,
  next: Int32Array,
): Claimed {
  const done: Claimed = [];
  const count = spans.length / 2;
  for (let i = Atomics.add(next, 0, 1); i < count; i = Atomics.add(next, 0, 1)) {
    const file = data.subarray(spans[2 * i], spans[2 * i + 1]);
    done.push([i, zlib.crc32(file), zlib.deflateRawSync(file, options)]);
  }
  return done;
}

interface Reply {
  id: number;
  /** The worker's files: their indexes, CRCs and where each ends in `data`. */
  indexes?: Uint32Array;
  crcs?: Uint32Array;
  ends?: Uint32Array;
  data?: ArrayBuffer;
  error?: string;
}

// Plain CommonJS run with `eval`, so one source serves tsc's output and tsx alike.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const options = ${JSON.stringify(OPTIONS)};
const deflateClaimed = ${deflateClaimed.toString()};
parentPort.on('message', ({ id, data, spans, next }) => {
  try {
    const done = deflateClaimed(zlib, options, new Uint8Array(data), spans, new Int32Array(next));
    const indexes = new Uint32Array(done.length);
    const crcs = new Uint32Array(done.length);
    const ends = new Uint32Array(done.length);
    let total = 0;
    done.forEach(([index, crc, deflated], k) => {
      indexes[k] = index;
      crcs[k] = crc;
      ends[k] = total += deflated.length;
    });
    const out = new Uint8Array(total);
    done.forEach(([, , deflated], k) => out.set(deflated, ends[k] - deflated.length));
    parentPort.postMessage({ id, indexes, crcs, ends, data: out.buffer }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.stack) || err) });
  }
});
`;

/** A deflater whose worker starts on first use and never keeps the process alive. */
export function createDeflater(): Deflater {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve(r: Reply): void; reject(err: Error): void }>();

  const start = () => {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', (reply: Reply) => {
      const waiter = pending.get(reply.id);
      pending.delete(reply.id);
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
      if (!(data.buffer instanceof SharedArrayBuffer)) {
        throw new Error('a packed batch must live in shared memory: allocate it with packedBuffer');
      }
      const count = spans.length / 2;
      if (!count) return [];
      const next = new Int32Array(new SharedArrayBuffer(4));
      const w = (worker ??= start());
      const id = nextId++;
      const replied = new Promise<Reply>((resolve, reject) => pending.set(id, { resolve, reject }));
      w.postMessage({ id, data: data.buffer, spans, next: next.buffer });
      const results = new Array<Deflated>(count);
      const size = (i: number) => spans[2 * i + 1]! - spans[2 * i]!;
      for (const [i, crc, deflated] of deflateClaimed(
        { crc32, deflateRawSync },
        OPTIONS,
        data,
        spans,
        next,
      )) {
        results[i] = { deflated, crc, size: size(i) };
      }
      const reply = await replied;
      if (reply.error !== undefined) throw new Error(`deflate failed: ${reply.error}`);
      const out = Buffer.from(reply.data!);
      reply.indexes!.forEach((i, k) => {
        const end = reply.ends![k]!;
        const start = k ? reply.ends![k - 1]! : 0;
        results[i] = { deflated: out.subarray(start, end), crc: reply.crcs![k]!, size: size(i) };
      });
      return results;
    },
  };
}
