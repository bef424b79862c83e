// A pass-through stream that counts and hashes (SHA-256) what flows through it: how an artifact's
// size and digest are known once its last byte has gone by, without holding it in memory.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through that counts and hashes what flows through it. */
export function measuring(): Transform & { result(): { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  let digest: string | undefined;
  return Object.assign(transform, {
    result: () => ({ size, sha256: (digest ??= hash.digest('hex')) }),
  });
}
