// A streaming zip writer: fflate writes the container (headers, central directory) around files
// deflated by Node's native zlib (deflater.ts), through fflate's documented ZipInputFile
// extension point. Pure-JS deflate, or a zlib stream per entry (archiver, yazl), cost 4-10× more
// per small file.
import { Readable } from 'node:stream';
import { Zip, type ZipInputFile } from 'fflate';
import type { Deflated } from './deflater.js';

const DEFLATE = 8;
const UNIX = 3;
const BLOCK_BYTES = 64 * 1024;

export interface ZipWriter {
  /** The archive's bytes; backpressure applies through `add`. */
  readonly stream: Readable;
  /** Adds one deflated file; resolves once the stream has room for more. */
  add(path: string, file: Deflated, options: { mode: number; mtime: Date }): Promise<void>;
  /** Writes the central directory and ends the stream. */
  finish(): void;
  destroy(err?: Error): void;
}

export function createZipWriter(): ZipWriter {
  let waiting: { resolve(): void; reject(err: Error): void } | undefined;
  const stream = new Readable({
    read() {
      const next = waiting;
      waiting = undefined;
      next?.resolve();
    },
  });
  // A reader that gives up must not leave `add` waiting for room forever.
  stream.on('close', () => {
    const next = waiting;
    waiting = undefined;
    next?.reject(new Error('the zip stream was closed'));
  });
  // fflate emits a chunk per header and per entry; pass them on in blocks, as a file write would.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length) stream.push(Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  const zip = new Zip((err, chunk, final) => {
    if (err) {
      stream.destroy(err);
      return;
    }
    pending.push(chunk);
    pendingBytes += chunk.byteLength;
    if (pendingBytes >= BLOCK_BYTES || final) flush();
    if (final) stream.push(null);
  });

  return {
    stream,
    async add(path, { deflated, crc, size }, { mode, mtime }) {
      if (stream.destroyed) throw new Error('the zip stream was closed');
      const file: ZipInputFile = {
        filename: path,
        size,
        crc,
        compression: DEFLATE,
        mtime,
        os: UNIX,
        attrs: (mode & 0o177777) << 16,
        terminate: () => undefined,
      };
      zip.add(file);
      file.ondata!(null, deflated, true);
      if (stream.readableLength >= stream.readableHighWaterMark) {
        await new Promise<void>((resolve, reject) => (waiting = { resolve, reject }));
      }
    },
    finish: () => zip.end(),
    destroy: (err) => stream.destroy(err),
  };
}
