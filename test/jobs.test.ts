// Generation jobs (seed 002) through a real MCP client: create → plan → write → zip → download,
// failure and expiry, the zip checked by independent readers (yauzl, and `unzip -t` when
// installed), downloads over a real HTTP server, and presigned downloads from an S3 server. A
// job's inline drafts are deflated as they are written: the stored deflates are checked in the
// drafts table, and zips mixing them with files deflated at zip time against the workspace.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, inflateRawSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { TOOLSETS } from '../src/config.js';
import type { RunningHttp } from '../src/http/app.js';
import {
  createDownloads,
  loadDownloadSecret,
  signDownloadToken,
  type Downloads,
} from '../src/http/downloads.js';
import { createServer } from '../src/server.js';
import { StowageError } from '../src/errors.js';
import { createFsArtifactStore, type ArtifactStore } from '../src/store/blobs/artifact-store.js';
import { createS3ArtifactStore } from '../src/store/blobs/artifact-store-s3.js';
import type { Stowage } from '../src/store/stowage.js';
import { createHarness, silentLogger, snapshot, type Harness } from './support/harness.js';
import { serveHttp } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';

const run = promisify(execFile);
const UNZIP = '/usr/bin/unzip';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every entry of a zip, read by yauzl (which also refuses unsafe names and bad CRCs). */
async function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  const file = await yauzl.fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true });
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    file.on('error', reject);
    file.on('end', resolve);
    file.on('entry', (entry: yauzl.Entry) => {
      file
        .openReadStreamPromise(entry)
        .then(async (stream) => {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          entries.set(entry.fileName, Buffer.concat(chunks));
          file.readEntry();
        })
        .catch(reject);
    });
    file.readEntry();
  });
  return entries;
}

/** `unzip -t` as a second, unrelated reader; skipped where unzip is not installed. */
async function unzipTest(home: string, zip: Buffer) {
  if (!existsSync(UNZIP)) return;
  const path = join(home, `check-${randomBytes(4).toString('hex')}.zip`);
  await writeFile(path, zip);
  const { stdout } = await run(UNZIP, ['-t', path]);
  expect(stdout).toMatch(/No errors detected/);
}

async function readArtifact(client: Client, uri: string): Promise<Buffer> {
  const { contents } = await client.readResource({ uri });
  expect(contents[0]).toMatchObject({ uri, mimeType: 'application/zip' });
  return Buffer.from((contents[0] as { blob: string }).blob, 'base64');
}

/** A client on `stowage` whose server has download links, as over HTTP. */
async function connectWithDownloads(stowage: Stowage, downloads: Downloads, principal = 'alice') {
  const server = createServer({
    stowage,
    principal,
    toolsets: [...TOOLSETS],
    readOnly: false,
    logger: silentLogger,
    downloads,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'jobs-test', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

const PLAN = {
  tasks: [
    { name: 'Setup project', files: ['package.json', './tsconfig.json'] },
    { name: 'Create components', files: ['src/App.tsx', 'src/components/Header.tsx'], owner: 'writer' },
  ],
  metadata: { framework: 'react', language: 'typescript' },
};

let h: Harness;
beforeAll(async () => {
  // Small inline limit: a job's files come both from Postgres (inline drafts) and the blob store.
  h = await createHarness({ limits: { inlineBytes: 1024 } });
});
afterAll(() => h.close());

describe('create_job and update_job', () => {
  it('creates a generating job with a readable id, the default TTL and a normalised plan', async () => {
    const before = Date.now();
    const job = await h.ok('create_job', { name: 'My React App', plan: PLAN });
    expect(job.job).toMatch(/^job-my-react-app-[a-z0-9]{6}$/);
    expect(job).toMatchObject({ name: 'My React App', status: 'generating', error: null });
    const ttl = Date.parse(job.expires_at) - before;
    expect(ttl).toBeGreaterThan(48 * 3600_000 - 60_000);
    expect(ttl).toBeLessThan(48 * 3600_000 + 60_000);
    expect(job.plan.tasks[0].files).toEqual(['package.json', 'tsconfig.json']);
    expect(job.plan.tasks[1].owner).toBe('writer');

    const project = await h.ok('get_project', { project: job.job });
    expect(project).toMatchObject({
      kind: 'job',
      status: 'generating',
      plan: job.plan,
      error: null,
      expires_at: job.expires_at,
    });
  });

  it('honours ttl_hours and makes a name without letters into a valid id', async () => {
    const job = await h.ok('create_job', { name: '***', ttl_hours: 2 });
    expect(job.job).toMatch(/^job-[a-z0-9]{6}$/);
    expect(Math.abs(Date.parse(job.expires_at) - Date.now() - 2 * 3600_000)).toBeLessThan(60_000);
    const other = await h.ok('create_job', { name: '***' });
    expect(other.job).not.toBe(job.job);
  });

  it('refuses a plan naming an unsafe path, and creates nothing', async () => {
    const before = await h.db.sql.query(`SELECT count(*)::int AS n FROM projects`);
    const text = await h.fail('create_job', {
      name: 'bad',
      plan: { tasks: [{ name: 'x', files: ['../etc/passwd'] }] },
    });
    expect(text).toMatch(/^invalid_input: plan\.tasks\.0\.files: /);
    expect(await h.db.sql.query(`SELECT count(*)::int AS n FROM projects`)).toEqual(before);
  });

  it('sets or replaces the plan while generating', async () => {
    const { job } = await h.ok('create_job', { name: 'planned' });
    expect((await h.ok('get_project', { project: job })).plan).toBeNull();
    await h.ok('update_job', { job, plan: PLAN });
    const plan = { tasks: [{ name: 'Only', files: ['a.txt'] }] };
    const updated = await h.ok('update_job', { job, plan });
    expect(updated.plan).toEqual(plan);
    expect((await h.ok('get_project', { project: job })).plan).toEqual(plan);
    expect(await h.fail('update_job', { job })).toMatch(/^invalid_input: nothing to change/);
  });

  it('refuses job operations on a plain project', async () => {
    await h.ok('create_project', { name: 'plain' });
    expect(await h.fail('zip_job', { job: 'plain' })).toMatch(/'plain' is a project, not a job/);
    expect(await h.fail('update_job', { job: 'plain', fail: { error: 'x' } })).toMatch(/not a job/);
  });
});

describe('zip_job', () => {
  const binary = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255, 254, 0, 10, 13]);
  const files: Record<string, Buffer> = {
    'package.json': Buffer.from('{\n  "name": "my-app"\n}\n'),
    'src/App.tsx': Buffer.from('export default function App() { return null; }\n'),
    'src/components/Header.tsx': Buffer.from('export const Header = () => null;\n'),
    'public/logo.png': binary,
    'docs/ünïcode name.md': Buffer.from('# héllo\n'),
    'big.txt': Buffer.from('x'.repeat(5000)), // over the inline limit: a blob
    // UTF-8 text is fetched as text for the zip; these must still come back byte for byte.
    'text/emoji.md': Buffer.from('\uFEFF✨ 🚀 naïve\r\n'),
    'text/nul.txt': Buffer.from('before\0after\n'), // valid UTF-8, but text cannot hold NUL
    'text/latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), // not UTF-8
  };
  let job: string;
  let zip: Record<string, any>;

  beforeAll(async () => {
    ({ job } = await h.ok('create_job', { name: 'Demo Site', plan: PLAN }));
    // Seed 002's write, then batch write, through the ordinary file tools.
    await h.ok('write_file', {
      project: job,
      path: 'package.json',
      content: files['package.json']!.toString(),
    });
    await h.ok('write_files', {
      project: job,
      files: Object.entries(files)
        .filter(([p]) => p !== 'package.json')
        .map(([path, bytes]) => ({ path, content: bytes.toString('base64'), encoding: 'base64' })),
    });
  });

  it('lists and reads a job’s files with the file tools', async () => {
    const { entries } = await h.ok('list_files', { project: job });
    expect(entries.map((e: { path: string }) => e.path).sort()).toEqual(Object.keys(files).sort());
    const read = await h.ok('read_file', { project: job, path: 'src/App.tsx' });
    expect(read.content).toBe(files['src/App.tsx']!.toString());
  });

  it('completes the job and returns the zip as a resource link (no URL without HTTP)', async () => {
    const result = await h.call('zip_job', { job });
    expect(result.isError).toBeFalsy();
    zip = result.structuredContent as Record<string, any>;
    expect(zip).toMatchObject({ job, status: 'complete', reused: false });
    expect(zip.zip).toMatchObject({ name: 'Demo Site.zip', files: 9 });
    expect(zip.zip.uri).toBe(`stowage-artifact://${job}/${zip.zip.id}`);
    expect(zip.download_url).toBeUndefined();
    expect(result.content).toContainEqual(
      expect.objectContaining({ type: 'resource_link', uri: zip.zip.uri, mimeType: 'application/zip' }),
    );
    expect((await h.ok('get_project', { project: job })).status).toBe('complete');
  });

  it('holds exactly the job’s files, byte for byte, readable by independent readers', async () => {
    const bytes = await readArtifact(h.client, zip.zip.uri);
    expect(bytes.length).toBe(zip.zip.size);
    expect(sha256(bytes)).toBe(zip.zip.sha256);
    const entries = await unzip(bytes);
    expect([...entries.keys()].sort()).toEqual(Object.keys(files).sort());
    for (const [path, content] of Object.entries(files)) expect(entries.get(path)).toEqual(content);
    await unzipTest(h.home, bytes);
  });

  it('returns the same zip when called again', async () => {
    const again = await h.ok('zip_job', { job });
    expect(again).toMatchObject({ reused: true, zip: zip.zip });
    const rows = await h.db.sql.query(`SELECT id FROM artifacts WHERE kind = 'job_zip' AND id = $1`, [
      zip.zip.id,
    ]);
    expect(rows).toHaveLength(1);
  });

  it('refuses writes to the complete job and changes nothing', async () => {
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project: job, path: 'late.txt', content: 'x' })).toBe(
      `conflict: job '${job}' is complete and can no longer be written: create a new job`,
    );
    expect(await h.fail('delete_file', { project: job, path: 'big.txt' })).toMatch(/is complete/);
    expect(await h.fail('update_job', { job, plan: PLAN })).toMatch(/^conflict: job .* is complete/);
    expect(await h.fail('update_job', { job, fail: { error: 'late' } })).toMatch(/is complete/);
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('zips the caller’s workspace: drafts over the committed tree', async () => {
    const { job: shared } = await h.ok('create_job', { name: 'workspaces' });
    await h.ok('write_file', { project: shared, path: 'mine.txt', content: 'default workspace' });
    await h.ok('write_file', {
      project: shared,
      path: 'theirs.txt',
      content: 'agent 2',
      workspace: 'agent-2',
    });
    const { zip: z } = await h.ok('zip_job', { job: shared, workspace: 'agent-2' });
    const entries = await unzip(await readArtifact(h.client, z.uri));
    expect([...entries.keys()]).toEqual(['theirs.txt']);
  });

  it('refuses to zip an empty job and leaves it generating', async () => {
    const { job: empty } = await h.ok('create_job', { name: 'empty' });
    expect(await h.fail('zip_job', { job: empty })).toMatch(
      /^invalid_input: job '.*' has no files: write them with write_files/,
    );
    expect((await h.ok('get_project', { project: empty })).status).toBe('generating');
    expect(await h.db.sql.query(`SELECT id FROM artifacts WHERE kind = 'job_zip'`)).toHaveLength(2);
  });

  it('streams a few MB of files into a zip that unpacks to the same bytes', async () => {
    const { job: large } = await h.ok('create_job', { name: 'large' });
    const big: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) big[`data/part-${i}.bin`] = randomBytes(1024 * 1024);
    for (const [path, bytes] of Object.entries(big)) {
      await h.ok('write_file', {
        project: large,
        path,
        content: bytes.toString('base64'),
        encoding: 'base64',
      });
    }
    for (const start of [0, 150]) {
      await h.ok('write_files', {
        project: large,
        files: Array.from({ length: 150 }, (_, i) => ({
          path: `src/m${(start + i) % 7}/f${start + i}.ts`,
          content: `// ${start + i}\n`,
        })),
      });
    }
    const { zip: z } = await h.ok('zip_job', { job: large });
    expect(z.files).toBe(306);
    const bytes = await readArtifact(h.client, z.uri);
    expect(sha256(bytes)).toBe(z.sha256);
    const entries = await unzip(bytes);
    expect(entries.size).toBe(306);
    for (const [path, content] of Object.entries(big)) expect(entries.get(path)!.equals(content)).toBe(true);
    expect(entries.get('src/m3/f10.ts')!.toString()).toBe('// 10\n');
    await unzipTest(h.home, bytes);
  });
});

describe('zip_job with drafts deflated as they are written', () => {
  /** Each inline draft of `project`, with its stored deflate and whether it is valid (made from
   *  the content there now). */
  const inlineDrafts = async (project: string) =>
    new Map(
      (
        await h.db.sql.query<{
          path: string;
          content: Buffer;
          deflated: Buffer | null;
          deflated_crc: number | null;
          valid: boolean;
        }>(
          `SELECT d.path, d.content, d.deflated, d.deflated_crc,
                  coalesce(d.deflated_of = d.content_hash, false) AS valid
           FROM drafts d JOIN projects p ON p.id = d.project_id
           WHERE p.name = $1 AND d.content IS NOT NULL`,
          [project],
        )
      ).map((r) => [r.path, r]),
    );

  const base64 = (bytes: Buffer) => ({ content: bytes.toString('base64'), encoding: 'base64' });

  it('stores a valid deflate and CRC for a job’s inline drafts, and none for a project’s', async () => {
    const written = {
      'a.ts': Buffer.from('export const a = 1;\n'.repeat(20)),
      'bin/data.bin': Buffer.from([0, 1, 2, 255, 254, 0, 10]),
      'text/emoji.md': Buffer.from('\uFEFF✨ 🚀 naïve\r\n'),
      'empty.txt': Buffer.alloc(0),
    };
    const files = Object.entries(written).map(([path, bytes]) => ({ path, ...base64(bytes) }));
    const { job } = await h.ok('create_job', { name: 'deflated on write' });
    await h.ok('write_files', { project: job, files });
    const drafts = await inlineDrafts(job);
    expect([...drafts.keys()].sort()).toEqual(Object.keys(written).sort());
    for (const [path, bytes] of Object.entries(written)) {
      const draft = drafts.get(path)!;
      expect(draft.valid, path).toBe(true);
      expect(inflateRawSync(draft.deflated!).equals(bytes), path).toBe(true);
      expect(draft.deflated_crc, path).toBe(crc32(bytes));
    }
    expect(drafts.get('a.ts')!.deflated!.byteLength).toBeLessThan(written['a.ts'].byteLength / 4);

    await h.ok('create_project', { name: 'not-a-job' });
    await h.ok('write_files', { project: 'not-a-job', files });
    const plain = await h.db.sql.query(
      `SELECT d.path FROM drafts d JOIN projects p ON p.id = d.project_id
       WHERE p.name = 'not-a-job' AND (d.deflated IS NOT NULL OR d.deflated_crc IS NOT NULL OR d.deflated_of IS NOT NULL)`,
    );
    expect(plain).toEqual([]);
  });

  it('zips a mix of stored deflates and files deflated at zip time to exactly the workspace', async () => {
    const { job } = await h.ok('create_job', { name: 'mixed' });
    // Committed before the rest: a committed file, one modified over it, one deleted.
    await h.ok('write_files', {
      project: job,
      files: [
        { path: 'committed.txt', content: 'committed\n' },
        { path: 'modified.txt', content: 'committed version\n' },
        { path: 'deleted-committed.txt', content: 'goes away\n' },
      ],
    });
    await h.ok('commit_task', { project: job, task: { id: 'base', title: 'Base' } });
    await h.ok('write_file', { project: job, path: 'package.json', content: '{ "name": "mixed" }\n' });
    await h.ok('write_files', {
      project: job,
      files: [
        { path: 'src/App.tsx', content: 'export default function App() { return null; }\n' },
        { path: 'src/edited.ts', content: 'export const answer = 41;\n' },
        { path: 'big.txt', content: 'x'.repeat(5000) }, // over the inline limit: a blob
        { path: 'moving.txt', content: 'moved, not rewritten\n' },
        { path: 'gone.txt', content: 'deleted before the zip\n' },
        { path: 'modified.txt', content: 'draft version\n' },
        { path: 'text/nul.txt', ...base64(Buffer.from('before\0after\n')) },
        { path: 'empty.txt', content: '' },
        { path: 'text/latin1.txt', ...base64(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])) },
      ],
    });
    await h.ok('edit_file', {
      project: job,
      path: 'src/edited.ts',
      edits: [{ old_text: '41', new_text: '42' }],
    });
    await h.ok('move_file', { project: job, from: 'moving.txt', to: 'moved/here.txt' });
    await h.ok('delete_file', { project: job, paths: ['gone.txt', 'deleted-committed.txt'] });
    // Rewritten over a stored deflate: the new content's deflate replaces it.
    await h.ok('write_file', {
      project: job,
      path: 'package.json',
      content: '{ "name": "mixed", "v": 2 }\n',
    });

    // Both ways are taken: stored deflates for what the write tools wrote, none for the moved file.
    const drafts = await inlineDrafts(job);
    const valid = (path: string) => drafts.get(path)?.valid;
    for (const path of [
      'package.json',
      'src/App.tsx',
      'src/edited.ts',
      'modified.txt',
      'text/nul.txt',
      'empty.txt',
    ]) {
      expect(valid(path), path).toBe(true);
    }
    expect(drafts.get('moved/here.txt')).toMatchObject({ valid: false, deflated: null });
    expect(drafts.has('big.txt')).toBe(false);

    const expected = new Map<string, Buffer>([
      ['committed.txt', Buffer.from('committed\n')],
      ['modified.txt', Buffer.from('draft version\n')],
      ['package.json', Buffer.from('{ "name": "mixed", "v": 2 }\n')],
      ['src/App.tsx', Buffer.from('export default function App() { return null; }\n')],
      ['src/edited.ts', Buffer.from('export const answer = 42;\n')],
      ['big.txt', Buffer.from('x'.repeat(5000))],
      ['moved/here.txt', Buffer.from('moved, not rewritten\n')],
      ['text/nul.txt', Buffer.from('before\0after\n')],
      ['empty.txt', Buffer.alloc(0)],
      ['text/latin1.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])],
    ]);
    // The workspace's bytes, as its own reads see them.
    const alice = { principal: 'alice' };
    const { entries: present } = await h.stowage.workspace.list(job, alice, { present: true });
    const workspace = new Map<string, Buffer>();
    for (const { path } of present)
      workspace.set(path, (await h.stowage.workspace.read(job, alice, path)).content);
    expect(workspace).toEqual(expected);

    const { zip: z } = await h.ok('zip_job', { job });
    expect(z.files).toBe(expected.size);
    const bytes = await readArtifact(h.client, z.uri);
    expect(sha256(bytes)).toBe(z.sha256);
    const entries = await unzip(bytes);
    expect([...entries.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [path, content] of workspace) expect(entries.get(path), path).toEqual(content);
    await unzipTest(h.home, bytes);
  });

  it('clears the stored deflate where a draft becomes a deletion, and stores none for a move', async () => {
    const { job } = await h.ok('create_job', { name: 'cleared' });
    await h.ok('write_file', { project: job, path: 'kept.txt', content: 'committed\n' });
    await h.ok('commit_task', { project: job, task: { id: 'base', title: 'Base' } });
    await h.ok('write_files', {
      project: job,
      files: [
        { path: 'kept.txt', content: 'modified, then deleted\n' },
        { path: 'from.txt', content: 'moved over the deletion\n' },
      ],
    });
    const row = async (path: string) =>
      (
        await h.db.sql.query(
          `SELECT d.op, d.deflated, d.deflated_crc, d.deflated_of FROM drafts d
           JOIN projects p ON p.id = d.project_id WHERE p.name = $1 AND d.path = $2`,
          [job, path],
        )
      )[0];
    expect(await row('kept.txt')).toMatchObject({ op: 'upsert', deflated: expect.any(Buffer) });
    const cleared = { deflated: null, deflated_crc: null, deflated_of: null };
    await h.ok('delete_file', { project: job, path: 'kept.txt' }); // a deletion over the draft
    expect(await row('kept.txt')).toEqual({ op: 'delete', ...cleared });
    await h.ok('move_file', { project: job, from: 'from.txt', to: 'kept.txt' }); // a draft over it
    expect(await row('kept.txt')).toEqual({ op: 'upsert', ...cleared });
  });

  it('zips the content there now when a writer changed it without clearing the stored deflate', async () => {
    const { job } = await h.ok('create_job', { name: 'stale deflate' });
    await h.ok('write_files', {
      project: job,
      files: [
        { path: 'a.txt', content: 'old content\n' },
        { path: 'b.txt', content: 'untouched\n' },
      ],
    });
    // As a writer that forgot the deflate columns would: same size, other bytes.
    const fresh = Buffer.from('new content\n');
    await h.db.sql.query(
      `UPDATE drafts SET content = $2, content_hash = $3
       WHERE path = 'a.txt' AND project_id = (SELECT id FROM projects WHERE name = $1)`,
      [job, fresh, sha256(fresh)],
    );
    const drafts = await inlineDrafts(job);
    expect(drafts.get('a.txt')).toMatchObject({ valid: false, deflated: expect.any(Buffer) });
    expect(inflateRawSync(drafts.get('a.txt')!.deflated!).toString()).toBe('old content\n');

    const { zip: z } = await h.ok('zip_job', { job });
    const bytes = await readArtifact(h.client, z.uri);
    const entries = await unzip(bytes);
    expect(entries.get('a.txt')!.toString()).toBe('new content\n');
    expect(entries.get('b.txt')!.toString()).toBe('untouched\n');
    await unzipTest(h.home, bytes);
  });
});

describe('failed and expired jobs', () => {
  it('records the error, refuses writes and zips, and fails again idempotently', async () => {
    const { job } = await h.ok('create_job', { name: 'doomed' });
    await h.ok('write_file', { project: job, path: 'a.txt', content: 'a' });
    const failed = await h.ok('update_job', { job, fail: { error: 'model timed out' } });
    expect(failed).toMatchObject({ status: 'failed', error: 'model timed out' });
    expect(await h.ok('get_project', { project: job })).toMatchObject({
      status: 'failed',
      error: 'model timed out',
    });
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project: job, path: 'a.txt', content: 'b' })).toMatch(
      /^conflict: job '.*' is failed and can no longer be written: create a new job/,
    );
    expect(await h.fail('zip_job', { job })).toMatch(/^conflict: job '.*' is failed .*create_job/);
    expect(await h.ok('update_job', { job, fail: { error: 'again' } })).toMatchObject({
      status: 'failed',
      error: 'model timed out',
    });
    expect(await snapshot(h.db)).toEqual(before);
    expect((await h.ok('read_file', { project: job, path: 'a.txt' })).content).toBe('a');
  });

  it('reads as expired once past expires_at, before any cleanup, and refuses writes', async () => {
    const { job } = await h.ok('create_job', { name: 'stale' });
    await h.ok('write_file', { project: job, path: 'a.txt', content: 'a' });
    await h.db.sql.query(`UPDATE projects SET expires_at = now() - interval '1 second' WHERE name = $1`, [
      job,
    ]);
    expect((await h.ok('get_project', { project: job })).status).toBe('expired');
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project: job, path: 'b.txt', content: 'b' })).toMatch(
      /^conflict: job '.*' is expired and can no longer be written/,
    );
    expect(await h.fail('zip_job', { job })).toMatch(/is expired/);
    expect(await h.fail('update_job', { job, plan: PLAN })).toMatch(/is expired/);
    expect(await snapshot(h.db)).toEqual(before);
  });
});

describe('a zip that cannot be written', () => {
  let hf: Harness;
  let storeFails = false;
  let artifactsDir: string;

  beforeAll(async () => {
    artifactsDir = await mkdtemp(join(tmpdir(), 'stowage-artifacts-'));
    const inner = createFsArtifactStore(artifactsDir);
    // An artifact store that gives up after the first bytes, like a full disk or a dropped S3 upload.
    const flaky: ArtifactStore = {
      ...inner,
      write(id, source) {
        if (!storeFails) return inner.write(id, source);
        return new Promise((_resolve, reject) => {
          let seen = 0;
          source.on('data', (chunk: Buffer) => {
            seen += chunk.length;
            if (seen > 100) {
              source.destroy();
              reject(new StowageError('unavailable', 'artifact store is full'));
            }
          });
        });
      },
    };
    // No blob cache, so every read goes to the blob store.
    hf = await createHarness({ artifacts: flaky, limits: { inlineBytes: 1024 }, cacheMaxBytes: 1 });
  });
  afterAll(async () => {
    await hf.close();
    await rm(artifactsDir, { recursive: true, force: true });
  });

  const jobWithFiles = async () => {
    const { job } = await hf.ok('create_job', { name: 'fragile' });
    await hf.ok('write_files', {
      project: job,
      files: Array.from({ length: 20 }, (_, i) => ({
        path: `f${i}.txt`,
        content: randomBytes(3000).toString('hex'),
      })),
    });
    return job as string;
  };

  it('leaves the job generating, with no artifact, when the store fails mid-stream', async () => {
    const job = await jobWithFiles();
    storeFails = true;
    try {
      expect(await hf.fail('zip_job', { job })).toBe('unavailable: artifact store is full');
    } finally {
      storeFails = false;
    }
    expect((await hf.ok('get_project', { project: job })).status).toBe('generating');
    expect(await hf.db.sql.query(`SELECT id FROM artifacts`)).toHaveLength(0);
    // The lock was released: the job takes writes, and zips once the store recovers.
    await hf.ok('write_file', { project: job, path: 'more.txt', content: 'more' });
    expect((await hf.ok('zip_job', { job })).zip.files).toBe(21);
  });

  it('leaves nothing behind when a file’s blob cannot be read', async () => {
    const job = await jobWithFiles();
    const [row] = await hf.db.sql.query<{ blob_hash: string }>(
      `SELECT blob_hash FROM drafts d JOIN projects p ON p.id = d.project_id WHERE p.name = $1 AND path = 'f7.txt'`,
      [job],
    );
    const hash = row!.blob_hash;
    await rm(join(hf.home, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash));
    const before = await readdir(artifactsDir);
    expect(await hf.fail('zip_job', { job })).toMatch(/^not_found: blob .* is not in the blob store/);
    expect((await hf.ok('get_project', { project: job })).status).toBe('generating');
    expect(await readdir(artifactsDir)).toEqual(before);
  });
});

describe('downloads over HTTP', () => {
  let hh: Harness;
  let http: RunningHttp;
  let client: Client;
  let secret: string;
  let origin: string;

  beforeAll(async () => {
    // A small file limit, which is also the cap of an artifact read as a resource.
    hh = await createHarness({ limits: { fileBytes: 64 * 1024 } });
    secret = await loadDownloadSecret(hh.home, undefined);
    const downloads = createDownloads({ secret, ttlMinutes: 60, artifacts: hh.stowage.artifacts });
    http = await serveHttp(hh.stowage, { principal: 'alice', downloads, server: { downloads } });
    origin = new URL(http.url).origin;
    client = new Client({ name: 'jobs-http-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  });
  afterAll(async () => {
    await client.close();
    await http.close();
    await hh.close();
  });

  const zipped = async (name: string, files: Record<string, string>) => {
    const { job } = await hh.ok('create_job', { name }, client);
    await hh.ok(
      'write_files',
      { project: job, files: Object.entries(files).map(([path, content]) => ({ path, content })) },
      client,
    );
    return hh.ok('zip_job', { job }, client);
  };

  it('keeps the generated key in STOWAGE_HOME, private, and reuses it', async () => {
    const path = join(hh.home, 'download-secret');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadDownloadSecret(hh.home, undefined)).toBe(secret);
    expect((await readFile(path, 'utf8')).trim()).toBe(secret);
    expect(await loadDownloadSecret(hh.home, 'configured-key')).toBe('configured-key');
  });

  it('serves the zip at a signed URL with the right headers', async () => {
    const result = await zipped('Demo: "site"/v2', {
      'index.html': '<h1>hi</h1>\n',
      'css/site.css': 'body{}\n',
    });
    expect(result.download_url).toMatch(new RegExp(`^${origin}/downloads/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    const minutes = (Date.parse(result.download_expires_at) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(58);
    expect(minutes).toBeLessThanOrEqual(60);
    const res = await fetch(result.download_url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-length')).toBe(String(result.zip.size));
    expect(result.zip.name).toBe('Demo_ _site_v2.zip');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="Demo_ _site_v2.zip"');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(result.zip.sha256);
    const entries = await unzip(bytes);
    expect(entries.get('css/site.css')!.toString()).toBe('body{}\n');
    await unzipTest(hh.home, bytes);
  });

  it('refuses a tampered or foreign token with 403, and names the fix', async () => {
    const { download_url: url } = await zipped('tamper', { 'a.txt': 'a' });
    const [payload, signature] = new URL(url).pathname.split('/').at(-1)!.split('.') as [string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const later = Buffer.from(JSON.stringify({ ...claims, exp: Number(claims.exp) + 86_400 })).toString(
      'base64url',
    );
    for (const token of [
      `${payload}.${flip(signature)}`,
      `${later}.${signature}`,
      `${payload}.`,
      payload,
      signDownloadToken('another-key-another-key-another-key', claims as never),
    ]) {
      const res = await fetch(`${origin}/downloads/${token}`);
      expect(res.status, token).toBe(403);
      expect(await res.text()).toMatch(/download link is invalid .*call zip_job/);
    }
  });

  it('stops serving a link once it expires (410) and answers 404 for a missing artifact', async () => {
    const shortLived = createDownloads({
      secret,
      ttlMinutes: 2 / 60,
      publicUrl: origin,
      artifacts: hh.stowage.artifacts,
    });
    const result = await zipped('short', { 'a.txt': 'a' });
    const artifact = await hh.stowage.artifacts.get(
      (await hh.stowage.projects.get(result.job)).id,
      result.zip.id,
    );
    const link = await shortLived.link(artifact);
    expect((await fetch(link.url)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Date.parse(link.expires_at) - Date.now() + 50));
    const res = await fetch(link.url);
    expect(res.status).toBe(410);
    expect(await res.text()).toMatch(/download link expired at .*: call zip_job again/);

    const past = signDownloadToken(secret, {
      project_id: artifact.project_id,
      artifact_id: artifact.id,
      exp: Math.floor(Date.now() / 1000) - 1,
    });
    expect((await fetch(`${origin}/downloads/${past}`)).status).toBe(410);

    const missing = signDownloadToken(secret, {
      project_id: artifact.project_id,
      artifact_id: randomUUID(),
      exp: Math.floor(Date.now() / 1000) + 60,
    });
    const gone = await fetch(`${origin}/downloads/${missing}`);
    expect(gone.status).toBe(404);
    expect(await gone.text()).toMatch(/download is gone/);
  });

  it('refuses to inline a zip over the cap, naming a download URL instead', async () => {
    const noise = () => randomBytes(40 * 1024).toString('base64');
    const result = await zipped('bulky', { 'a.txt': noise(), 'b.txt': noise() });
    expect(result.zip.size).toBeGreaterThan(64 * 1024);
    await expect(client.readResource({ uri: result.zip.uri })).rejects.toThrow(
      new RegExp(`over the 65536-byte limit of a resource read: download it from ${origin}/downloads/`),
    );
    const res = await fetch(result.download_url);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(result.zip.sha256);
  });
});

describe('on an S3 artifact store', () => {
  let s3: TestS3Server;
  let hs: Harness;
  let client: Client;

  beforeAll(async () => {
    s3 = await startS3Server();
    hs = await createHarness({ artifacts: createS3ArtifactStore(s3.config) });
    const downloads = createDownloads({
      secret: 'unused-with-presigned-urls-000000',
      ttlMinutes: 5,
      artifacts: hs.stowage.artifacts,
    });
    client = await connectWithDownloads(hs.stowage, downloads);
  });
  afterAll(async () => {
    await client.close();
    await hs.close();
    await s3.close();
  });

  it('returns a presigned URL that serves the zip', async () => {
    const { job } = await hs.ok('create_job', { name: 'on s3' }, client);
    const bytesIn = randomBytes(3000);
    await hs.ok(
      'write_files',
      {
        project: job,
        files: [
          { path: 'src/main.ts', content: 'console.log(1);\n' },
          { path: 'bin/data.bin', content: bytesIn.toString('base64'), encoding: 'base64' },
        ],
      },
      client,
    );
    const result = await hs.ok('zip_job', { job }, client);
    expect(result.download_url.startsWith(`${s3.endpoint}/${s3.bucket}/`)).toBe(true);
    expect(result.download_url).toMatch(/X-Amz-Signature=/);
    const res = await fetch(result.download_url);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(result.zip.sha256);
    const entries = await unzip(bytes);
    expect(entries.get('bin/data.bin')!.equals(bytesIn)).toBe(true);
    expect(entries.get('src/main.ts')!.toString()).toBe('console.log(1);\n');
    // The resource reads the same bytes back from S3.
    expect((await readArtifact(client, result.zip.uri)).equals(bytes)).toBe(true);
  });
});

describe('zip_job progress', () => {
  it('reports one notification per file when asked, ending at the total', async () => {
    const p = await createHarness();
    try {
      const { job } = await p.ok('create_job', { name: 'progress job' });
      await p.ok('write_files', {
        project: job,
        files: Array.from({ length: 30 }, (_, i) => ({ path: `f${i}.txt`, content: `${i}\n` })),
      });
      const seen: { progress: number; total?: number }[] = [];
      const result = await p.client.callTool({ name: 'zip_job', arguments: { job } }, undefined, {
        onprogress: (n) => seen.push(n),
      });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ zip: { files: 30 } });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.at(-1)).toMatchObject({ progress: 30, total: 30 });
    } finally {
      await p.close();
    }
  });
});

describe('jobs in listings and after deletion', () => {
  it('list_projects filters by job status, expiry included before the sweeper runs', async () => {
    const p = await createHarness();
    try {
      const live = (await p.ok('create_job', { name: 'live one' })).job;
      const old = (await p.ok('create_job', { name: 'old one' })).job;
      await p.db.sql.query(`UPDATE projects SET expires_at = now() - interval '1 hour' WHERE name = $1`, [
        old,
      ]);
      const names = async (status: string): Promise<string[]> =>
        (await p.ok<{ projects: { name: string }[] }>('list_projects', { status })).projects.map(
          (x) => x.name,
        );
      expect(await names('generating')).toEqual([live]);
      expect(await names('expired')).toEqual([old]);
    } finally {
      await p.close();
    }
  });

  it("a soft-deleted job's zip can no longer be read", async () => {
    const p = await createHarness();
    try {
      const { job } = await p.ok('create_job', { name: 'gone soon' });
      await p.ok('write_file', { project: job, path: 'a.txt', content: 'a\n' });
      const { zip } = await p.ok('zip_job', { job });
      expect((await p.client.readResource({ uri: zip.uri })).contents[0]).toHaveProperty('blob');
      const { id } = await p.stowage.projects.get(job);
      await p.ok('delete_project', { project: job });
      await expect(p.client.readResource({ uri: zip.uri })).rejects.toThrow();
      // What the download handler looks up: the artifact by project id, now refused.
      await expect(p.stowage.artifacts.get(id, zip.id)).rejects.toMatchObject({ code: 'not_found' });
    } finally {
      await p.close();
    }
  });
});

describe('zip_job over several workspaces', () => {
  it("zips every writer agent's workspace over the committed files, and get_project counts them all", async () => {
    const { job } = await h.ok('create_job', { name: 'Parallel' });
    await h.ok('write_file', { project: job, path: 'shared.txt', content: 'committed\n' });
    await h.ok('commit_task', { project: job, task: { id: 1, title: 'base' } });
    await h.ok('write_file', {
      project: job,
      path: 'a.txt',
      content: 'from agent 1\n',
      workspace: 'agent-1',
    });
    await h.ok('write_file', {
      project: job,
      path: 'b.txt',
      content: 'from agent 2\n',
      workspace: 'agent-2',
    });
    // Both agents wrote the same bytes here: they agree.
    for (const workspace of ['agent-1', 'agent-2']) {
      await h.ok('write_file', { project: job, path: 'same.txt', content: 'agreed\n', workspace });
    }
    const stats = await h.ok('get_project', { project: job });
    expect(stats.stats).toMatchObject({ files: 4 });

    const result = await h.ok('zip_job', { job });
    const entries = await unzip(await readArtifact(h.client, result.zip.uri));
    expect(Object.fromEntries([...entries].map(([p, b]) => [p, b.toString()]))).toEqual({
      'a.txt': 'from agent 1\n',
      'b.txt': 'from agent 2\n',
      'same.txt': 'agreed\n',
      'shared.txt': 'committed\n',
    });
  });

  it('refuses paths its workspaces changed differently, naming them, and completes nothing', async () => {
    const { job } = await h.ok('create_job', { name: 'Disagreeing' });
    await h.ok('write_file', {
      project: job,
      path: 'index.html',
      content: '<h1>one</h1>',
      workspace: 'agent-1',
    });
    await h.ok('write_file', {
      project: job,
      path: 'index.html',
      content: '<h1>two</h1>',
      workspace: 'agent-2',
    });
    await h.ok('write_file', { project: job, path: 'ok.txt', content: 'fine', workspace: 'agent-1' });
    expect(await h.fail('zip_job', { job })).toMatch(
      /^conflict: job '.*' has files its workspaces changed differently: index\.html \(agent-1, agent-2\)\..*nothing was completed$/,
    );
    // Paths differing only in case, one per workspace, would overwrite each other when unpacked.
    const { job: twins } = await h.ok('create_job', { name: 'Twins' });
    await h.ok('write_file', { project: twins, path: 'README.md', content: 'a', workspace: 'agent-1' });
    await h.ok('write_file', { project: twins, path: 'readme.md', content: 'b', workspace: 'agent-2' });
    expect(await h.fail('zip_job', { job: twins })).toMatch(
      /^conflict: .*: readme\.md \(case twin of README\.md\) \(agent-2, agent-1\)\./,
    );
    expect(await h.ok('get_project', { project: job })).toMatchObject({ status: 'generating' });
    const [artifacts] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM artifacts a JOIN projects p ON p.id = a.project_id WHERE p.name = $1`,
      [job],
    );
    expect(artifacts!.n).toBe(0);

    // workspace restricts the zip to one workspace's view.
    const one = await h.ok('zip_job', { job, workspace: 'agent-2' });
    const entries = await unzip(await readArtifact(h.client, one.zip.uri));
    expect([...entries.keys()]).toEqual(['index.html']);
    expect(entries.get('index.html')!.toString()).toBe('<h1>two</h1>');
  });
});
