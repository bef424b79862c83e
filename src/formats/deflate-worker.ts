// The deflater's worker thread (deflater.ts): deflates each file of a packed batch and sends the
// results back in one buffer, moved, not copied.
import { crc32, deflateRawSync } from 'node:zlib';
import { serveTasks, Transfer } from '../workers/worker-pool.js';

export interface DeflatedBatch {
  crcs: Uint32Array<ArrayBuffer>;
  /** Where each file's deflated bytes end in `data`. */
  ends: Uint32Array<ArrayBuffer>;
  data: ArrayBuffer;
}

/** zip's default level; a smaller hash table (memLevel 7, not 8) and a window no larger than the
 *  file (deflate never looks back past its start) set up faster per file and compress the
 *  bench's sources to the same bytes; an output chunk sized to the file spares zlib's default
 *  16 KiB allocation. */
function deflateBatch(data: Uint8Array, spans: Uint32Array): DeflatedBatch {
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
    const deflated = deflateRawSync(file, { level: 6, memLevel: 7, windowBits, chunkSize });
    crcs[i] = crc32(file);
    parts.push(deflated);
    ends[i] = total += deflated.length;
  }
  const out = new Uint8Array(total);
  parts.forEach((part, i) => out.set(part, ends[i]! - part.length));
  return { crcs, ends, data: out.buffer };
}

export const deflateTasks = {
  deflate({ data, spans }: { data: ArrayBuffer; spans: Uint32Array }) {
    const batch = deflateBatch(new Uint8Array(data), spans);
    return new Transfer(batch, [batch.data, batch.crcs.buffer, batch.ends.buffer]);
  },
};

serveTasks(deflateTasks);
