// The zip deflater: files packed into one buffer and deflated on its worker come back in their
// batch's order, each one inflating to its own bytes, also when several zips share the worker.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createDeflater, packFiles as pack } from '../src/formats/deflater.js';
import { ROOT } from './support/spawn.js';

const source = (i: number) =>
  Buffer.from(`// file ${i}\n${'export const value = compute(input, options);\n'.repeat(40 + (i % 50))}`);

describe('deflater', () => {
  it('deflates every file of a batch, in order', async () => {
    const deflater = createDeflater();
    const files = [
      Buffer.alloc(0),
      Buffer.from('x'),
      randomBytes(300 * 1024), // incompressible: deflate stores it
      ...Array.from({ length: 200 }, (_, i) => source(i)),
    ];
    const results = await deflater.deflate(pack(files));
    expect(results).toHaveLength(files.length);
    results.forEach((result, i) => {
      expect(inflateRawSync(result.deflated).equals(files[i]!)).toBe(true);
      expect(result.crc).toBe(crc32(files[i]!));
      expect(result.size).toBe(files[i]!.byteLength);
    });
    // Text this repetitive must come out much smaller, or nothing was compressed.
    expect(results[10]!.deflated.byteLength).toBeLessThan(files[10]!.byteLength / 5);
  });

  it('keeps concurrent batches apart', async () => {
    const deflater = createDeflater();
    const batches = Array.from({ length: 6 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.from(`batch ${b} `), source(i)])),
    );
    const results = await Promise.all(batches.map((files) => deflater.deflate(pack(files))));
    results.forEach((batch, b) =>
      batch.forEach((result, i) =>
        expect(inflateRawSync(result.deflated).equals(batches[b]![i]!)).toBe(true),
      ),
    );
  });

  it('refuses a batch in memory it does not own (a slice of a shared pool), naming the fix', async () => {
    const deflater = createDeflater();
    const pool = Buffer.alloc(64, 'a');
    await expect(
      deflater.deflate({ data: pool.subarray(8, 11), spans: Uint32Array.of(0, 3) }),
    ).rejects.toThrow(/packedBuffer/);
    expect(pool.byteLength).toBe(64); // not moved away
  });

  it('does not keep a process alive once its work is done (a CLI that zipped exits)', async () => {
    const script = `
      const { createDeflater, packFiles } = await import(${JSON.stringify(join(ROOT, 'dist/formats/deflater.js'))});
      const [out] = await createDeflater().deflate(packFiles([Buffer.from('hello, hello, hello')]));
      console.log(out.size);
    `;
    // Were the worker still referenced, the child would never exit and this would time out.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe('19');
  });
});
