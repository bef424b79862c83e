// An error nobody expected reaches the caller as a reference only, and the log holds it with its
// stack under that reference: on a resource read as on a tool call, and for one file of a
// batch_read. The error is a real one: a blob's file replaced by a directory, so reading it fails
// with EISDIR, which no adapter translates.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.js';

interface Logged {
  msg: string;
  ref?: string;
  err?: { message: string; stack: string };
  [key: string]: unknown;
}

const logged: Logged[] = [];
const logger = pino(
  { level: 'error' },
  { write: (line: string) => void logged.push(JSON.parse(line) as Logged) },
);

const REF = /internal error \(ref ([0-9a-f]{8})\): retry, or report the ref/;

/** The log entry under the reference `text` names. */
function entryFor(text: string): Logged {
  const ref = REF.exec(text)?.[1];
  expect(ref, text).toBeDefined();
  const entries = logged.filter((e) => e.ref === ref);
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

let h: Harness;
let blobFile: string;
beforeAll(async () => {
  // A cache too small for the file: every read goes to the blob store.
  h = await createHarness({ logger, cacheMaxBytes: 1 });
  await h.ok('create_project', { name: 'broken' });
  await h.ok('write_file', { project: 'broken', path: 'big.txt', content: 'x'.repeat(100 * 1024) });
  await h.ok('write_file', { project: 'broken', path: 'small.txt', content: 'fine' });
  const [row] = await h.db.sql.query<{ blob_hash: string }>(
    `SELECT blob_hash FROM drafts WHERE path = 'big.txt'`,
  );
  const hash = row!.blob_hash;
  blobFile = join(h.home, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
  await rm(blobFile);
  await mkdir(blobFile);
});
afterAll(() => h.close());

describe('an unexpected error', () => {
  it('on a resource read: answered with a reference, logged with its stack', async () => {
    const failure = await h.client.readResource({ uri: 'stowage://broken/big.txt' }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure?.message).toMatch(REF);
    expect(failure?.message).not.toContain(blobFile);
    const entry = entryFor(failure!.message);
    expect(entry.msg).toBe('resource request failed');
    expect(entry.uri).toBe('stowage://broken/big.txt');
    expect(entry.err?.stack).toContain('EISDIR');
  });

  it('on a tool call: the same answer and the same log', async () => {
    const text = await h.fail('read_file', { project: 'broken', path: 'big.txt' });
    expect(text).toMatch(new RegExp(`^${REF.source}$`));
    const entry = entryFor(text);
    expect(entry.tool).toBe('read_file');
    expect(entry.err?.stack).toContain('EISDIR');
  });

  it("on one file of a batch_read: that file's error has the reference; the others are read", async () => {
    const { files } = await h.ok('batch_read', { project: 'broken', paths: ['big.txt', 'small.txt'] });
    const [big, small] = files as {
      path: string;
      content?: string;
      error?: { code: string; message: string };
    }[];
    expect(big!.error?.code).toBe('internal');
    expect(big!.error?.message).toMatch(REF);
    const entry = entryFor(big!.error!.message);
    expect(entry).toMatchObject({ project: 'broken', path: 'big.txt' });
    expect(entry.err?.stack).toContain('EISDIR');
    expect(small).toMatchObject({ path: 'small.txt', content: 'fine' });
  });
});
