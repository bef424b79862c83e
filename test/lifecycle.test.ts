// archive_project / restore_project through a real MCP client, export and import of backups, and
// hostile archives (built here with tar-stream) that must be refused with nothing written —
// against real Postgres, the fs and S3 (s3rver on loopback) blob and artifact stores.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport, runImport } from '../src/cli/backup.js';
import { StowageError } from '../src/errors.js';
import { createS3ArtifactStore } from '../src/store/blobs/artifact-store-s3.js';
import type { BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createS3BlobStore } from '../src/store/blobs/blob-store-s3.js';
import { openTarGz } from '../src/formats/tarball.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';
import { startS3Server } from './support/s3-server.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const alice = { principal: 'alice' };

// Text, binary (with NULs), nested and executable files, one large enough to live in a blob.
const binary = Buffer.concat([Buffer.from([0, 1, 2, 0, 255]), randomBytes(3000)]);
const TREE: { path: string; content: Buffer; mode?: number }[] = [
  { path: 'README.md', content: Buffer.from('# demo\n') },
  { path: 'src/a/b/deep.ts', content: Buffer.from('export const deep = true;\n') },
  { path: 'bin/data.bin', content: binary },
  { path: 'scripts/run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o100755 },
  { path: 'big.txt', content: Buffer.from('lorem ipsum '.repeat(4000)) },
];

/** Writes `tree` through the domain (tools cannot set modes) and commits it. */
async function populate(h: Harness, project: string, tree = TREE) {
  await h.ok('create_project', { name: project });
  await h.stowage.workspace.write(project, alice, tree);
  await h.ok('commit_task', { project, task: { id: 'init', title: 'Initial tree' } });
}

/** The committed tree as stored: what "identical" means after a round trip. */
async function committed(h: Harness, project: string) {
  return h.db.sql.query<{ path: string; blob_hash: string; size: number; mode: number; git_sha: string }>(
    `SELECT f.path, f.blob_hash, f.size, f.mode, f.git_sha FROM files f JOIN projects p ON p.id = f.project_id
     WHERE p.name = $1 AND p.deleted_at IS NULL ORDER BY f.path`,
    [project],
  );
}

const projectCount = async (h: Harness) =>
  (await h.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM projects`))[0]!.n;

/** Every entry of a tar.gz: name, type, mode, pax records and content. */
async function entriesOf(gz: Buffer) {
  const extract = tar.extract();
  const found: { name: string; type: string; mode: number; pax: { comment?: string }; content: Buffer }[] =
    [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry as unknown as AsyncIterable<Buffer>) chunks.push(c);
      const { name, type, mode, pax } = entry.header;
      found.push({
        name,
        type,
        mode,
        pax: pax ?? {},
        content: Buffer.concat(chunks),
      });
    }
  })();
  extract.end(gunzipSync(gz));
  await reading;
  return found;
}

interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  content?: Buffer | string;
  linkname?: string;
  pax?: Record<string, string>;
}

/** A tar.gz of exactly these entries, with optional raw bytes after the tar. */
async function tarGz(entries: RawEntry[], trailer?: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const header: any = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, pax: e.pax };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if ((e.type ?? 'file') === 'file') pack.entry(header, e.content ?? '', done);
      else pack.entry(header, done); // links, devices and FIFOs have no body
    });
  }
  pack.finalize();
  await reading;
  return gzipSync(Buffer.concat([...chunks, ...(trailer ? [trailer] : [])]));
}

let h: Harness;
let scratch: string;
beforeAll(async () => {
  h = await createHarness({ limits: { inlineBytes: 1024, fileBytes: 64 * 1024, projectBytes: 512 * 1024 } });
  scratch = await mkdtemp(join(tmpdir(), 'stowage-lifecycle-'));
  await populate(h, 'demo');
});
afterAll(async () => {
  await h.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('archive_project and restore_project', () => {
  let before: Awaited<ReturnType<typeof committed>>;
  let archived: Record<string, any>;

  it('archives the committed tree into a tar.gz artifact and frees the files', async () => {
    before = await committed(h, 'demo');
    expect(before.map((f) => [f.path, f.mode])).toContainEqual(['scripts/run.sh', 0o100755]);
    archived = await h.ok('archive_project', { project: 'demo' });
    expect(archived).toMatchObject({
      project: 'demo',
      status: 'archived',
      files: TREE.length,
      bytes: TREE.reduce((n, f) => n + f.content.byteLength, 0),
      artifact: { name: 'demo.tar.gz' },
    });
    expect(await committed(h, 'demo')).toEqual([]);

    const project = await h.stowage.projects.get('demo');
    const [artifact] = await h.stowage.artifacts.list(project.id, 'archive');
    expect(artifact).toMatchObject({ id: archived.artifact.id, files: TREE.length, expires_at: null });
    const { stream } = await h.stowage.artifacts.open(project.id, artifact!.id);
    const bytes = Buffer.concat(await stream.toArray());
    expect(sha256(bytes)).toBe(archived.artifact.sha256);
    // Each entry carries its manifest line: path and mode in the header, SHA-256 in a pax comment.
    const entries = await entriesOf(bytes);
    expect(entries.map((e) => [e.name, e.mode, e.pax.comment, sha256(e.content)])).toEqual(
      before.map((f) => [f.path, f.mode & 0o777, `stowage sha256=${f.blob_hash}`, f.blob_hash]),
    );
  });

  it('refuses to list, read or write an archived project, naming restore_project', async () => {
    for (const [tool, args] of [
      ['list_files', {}],
      ['read_file', { path: 'README.md' }],
      ['batch_read', { paths: ['README.md'] }],
      ['search_files', { pattern: 'demo' }],
    ] as const) {
      expect(await h.fail(tool, { project: 'demo', ...args })).toMatch(
        /^conflict: project 'demo' is archived: .*restore_project/,
      );
    }
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project: 'demo', path: 'x.txt', content: 'x' })).toMatch(
      /^conflict: .*archived.*restore_project/,
    );
    expect(await h.fail('sync_project', { project: 'demo' })).toMatch(/^conflict: .*restore_project/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await h.ok('get_project', { project: 'demo' })).toMatchObject({
      status: 'archived',
      stats: { files: 0 },
    });
    // Listing resources across projects passes over the archived one instead of failing.
    await expect(h.client.listResources()).resolves.toBeDefined();
    expect(await h.fail('archive_project', { project: 'demo' })).toMatch(/already archived: restore_project/);
  });

  it('restores identical content: every path, hash, size and mode, and deletes the archive', async () => {
    const restored = await h.ok('restore_project', { project: 'demo' });
    expect(restored).toMatchObject({ project: 'demo', status: 'active', files: TREE.length });
    expect(restored.artifact.sha256).toBe(archived.artifact.sha256);
    expect(await committed(h, 'demo')).toEqual(before);
    const r = await h.ok('read_file', { project: 'demo', path: 'bin/data.bin' });
    expect(Buffer.from(r.content, 'base64').equals(binary)).toBe(true);
    const project = await h.stowage.projects.get('demo');
    expect(await h.stowage.artifacts.list(project.id)).toEqual([]);
    await expect(h.stowage.artifacts.store.read(archived.artifact.id)).rejects.toMatchObject({
      code: 'not_found',
    });
    expect(await h.fail('restore_project', { project: 'demo' })).toMatch(/^conflict: .*not archived/);
  });

  it('refuses to archive while a workspace has drafts, naming how to settle them', async () => {
    await h.ok('write_file', { project: 'demo', path: 'wip.txt', content: 'draft', workspace: 'agent-2' });
    const before = await snapshot(h.db);
    expect(await h.fail('archive_project', { project: 'demo' })).toMatch(
      /^conflict: .*agent-2 \(1\).*list_changes.*commit_task.*discard_changes/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    const project = await h.stowage.projects.get('demo');
    expect(await h.stowage.artifacts.list(project.id)).toEqual([]);
    await h.ok('discard_changes', { project: 'demo', workspace: 'agent-2' });
  });

  it('refuses to archive a job', async () => {
    await h.stowage.projects.create({ name: 'a-job', kind: 'job' }, 'alice');
    expect(await h.fail('archive_project', { project: 'a-job' })).toMatch(/is a job: jobs are not archived/);
  });

  it('archives and restores an empty project', async () => {
    await h.ok('create_project', { name: 'empty' });
    expect(await h.ok('archive_project', { project: 'empty' })).toMatchObject({ files: 0, bytes: 0 });
    expect(await h.ok('restore_project', { project: 'empty' })).toMatchObject({ status: 'active', files: 0 });
  });

  it('reports progress per file when the caller gives a progress token', async () => {
    for (const tool of ['archive_project', 'restore_project']) {
      const seen: { progress: number; total?: number; message?: string }[] = [];
      const result = await h.client.callTool({ name: tool, arguments: { project: 'demo' } }, undefined, {
        onprogress: (p) => seen.push(p),
      });
      expect(result.isError).toBeFalsy();
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.at(-1)).toMatchObject({ progress: TREE.length, total: TREE.length });
      expect(seen.at(-1)!.message).toMatch(/^(archived|restored) /);
    }
  });
});

describe('archives that cannot be trusted', () => {
  let artifactPath: string;
  let original: Buffer;
  beforeAll(async () => {
    await populate(h, 'fragile');
    const { artifact } = await h.ok('archive_project', { project: 'fragile' });
    artifactPath = join(h.home, 'artifacts', artifact.id);
    original = await readFile(artifactPath);
  });

  const stillArchived = async () => {
    expect(await h.ok('get_project', { project: 'fragile' })).toMatchObject({
      status: 'archived',
      stats: { files: 0 },
    });
    const project = await h.stowage.projects.get('fragile');
    expect(await h.stowage.artifacts.list(project.id)).toHaveLength(1);
  };

  it.each([
    [
      'a file whose content differs from its manifest record',
      async () => {
        const entries = await entriesOf(original);
        entries[0]!.content = Buffer.from('tampered');
        return tarGz(entries.map((e) => ({ name: e.name, content: e.content, pax: e.pax })));
      },
      /^invalid_input: the content of '[^']+' does not match the SHA-256 its manifest records/,
    ],
    [
      'an archive re-packed with the same files (its SHA-256 differs from the record)',
      async () => {
        const entries = await entriesOf(original);
        return tarGz(entries.map((e) => ({ name: e.name, content: e.content, pax: e.pax })));
      },
      /^internal: the archive of 'fragile' does not match its record .*stays archived/,
    ],
    [
      'a truncated archive',
      () => Promise.resolve(original.subarray(0, original.length - 40)),
      /truncated or corrupt/,
    ],
  ])('refuses to restore from %s and stays archived', async (_name, damage, message) => {
    await writeFile(artifactPath, await damage());
    const before = await snapshot(h.db);
    expect(await h.fail('restore_project', { project: 'fragile' })).toMatch(message);
    expect(await snapshot(h.db)).toEqual(before);
    await stillArchived();
  });

  it('restores once the archive is intact again', async () => {
    await writeFile(artifactPath, original);
    expect(await h.ok('restore_project', { project: 'fragile' })).toMatchObject({ status: 'active' });
    expect(await committed(h, 'fragile')).toEqual(await committed(h, 'demo'));
  });
});

describe('archives that race a change or are cancelled', () => {
  let hr: Harness;
  let beforeGet: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const dir = await mkdtemp(join(scratch, 'race-blobs-'));
    const inner = createFsBlobStore(dir);
    // A blob store that lets the test act while an archive is reading blobs.
    const blobs: BlobStore = {
      ...inner,
      async get(hash) {
        const hook = beforeGet;
        beforeGet = undefined;
        await hook?.();
        return inner.get(hash);
      },
    };
    hr = await createHarness({ blobs });
    await populate(hr, 'racy');
  });
  afterAll(() => hr.close());

  it('discards an archive when the project changed while it was written', async () => {
    const before = await committed(hr, 'racy');
    beforeGet = async () => {
      await hr.stowage.workspace.write('racy', alice, [{ path: 'late.txt', content: Buffer.from('late') }]);
    };
    expect(await hr.fail('archive_project', { project: 'racy' })).toMatch(
      /^conflict: project 'racy' changed while it was being archived: .*retry archive_project/,
    );
    expect(await hr.ok('get_project', { project: 'racy' })).toMatchObject({ status: 'active' });
    expect(await committed(hr, 'racy')).toEqual(before);
    const project = await hr.stowage.projects.get('racy');
    expect(await hr.stowage.artifacts.list(project.id)).toEqual([]);
    expect(await readdir(join(hr.home, 'artifacts'))).toEqual([]);
    await hr.ok('discard_changes', { project: 'racy' });
  });

  it('stops when cancelled and changes nothing', async () => {
    const before = await snapshot(hr.db);
    await expect(hr.stowage.lifecycle.archive('racy', { signal: AbortSignal.abort() })).rejects.toThrow(
      /^cancelled after 0 file\(s\) were archived; nothing was changed/,
    );
    expect(await snapshot(hr.db)).toEqual(before);
    expect(await readdir(join(hr.home, 'artifacts'))).toEqual([]);
  });
});

describe('on the S3 blob and artifact stores', () => {
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let hs: Harness;
  beforeAll(async () => {
    s3 = await startS3Server();
    hs = await createHarness({
      blobs: createS3BlobStore(s3.config),
      artifacts: createS3ArtifactStore(s3.config),
      // Room for the large file read back whole below.
      limits: { inlineBytes: 1024, responseChars: 400_000 },
      cacheMaxBytes: 1,
    });
    await populate(hs, 'on-s3');
  });
  afterAll(async () => {
    await hs.close();
    await s3.close();
  });

  it('archives into the bucket and restores identical content', async () => {
    const before = await committed(hs, 'on-s3');
    const archived = await hs.ok('archive_project', { project: 'on-s3' });
    expect(
      s3.requests().some((r) => r.startsWith(`PUT /${s3.bucket}/blobs/artifacts/${archived.artifact.id}`)),
    ).toBe(true);
    expect(await committed(hs, 'on-s3')).toEqual([]);
    await hs.ok('restore_project', { project: 'on-s3' });
    expect(await committed(hs, 'on-s3')).toEqual(before);
    const { files } = await hs.ok('batch_read', { project: 'on-s3', paths: ['big.txt', 'scripts/run.sh'] });
    const content = (path: string) => TREE.find((f) => f.path === path)!.content.toString();
    expect(files.map((f: { content: string }) => f.content)).toEqual([
      content('big.txt'),
      content('scripts/run.sh'),
    ]);
  });
});

describe('export and import', () => {
  it('round-trips a project through a tar.gz file into a new project, byte for byte', async () => {
    const file = join(scratch, 'demo.tar.gz');
    const exported = await runExport(h.stowage, 'demo', file);
    expect(exported).toMatchObject({ files: TREE.length });
    expect(sha256(await readFile(file))).toBe(exported.sha256);
    await expect(runExport(h.stowage, 'demo', file)).rejects.toMatchObject({ code: 'already_exists' });

    const imported = await runImport(h.stowage, 'demo-copy', file, 'alice');
    expect(imported).toMatchObject({ files: TREE.length, skipped: [] });
    expect(await committed(h, 'demo-copy')).toEqual(await committed(h, 'demo'));
    await expect(runImport(h.stowage, 'demo-copy', file, 'alice')).rejects.toMatchObject({
      code: 'already_exists',
    });
  });

  it('exports an archived project as its archive, which imports like any export', async () => {
    const archived = await h.ok('archive_project', { project: 'demo-copy' });
    const file = join(scratch, 'archived.tar.gz');
    expect(await runExport(h.stowage, 'demo-copy', file)).toMatchObject({ sha256: archived.artifact.sha256 });
    await runImport(h.stowage, 'demo-copy2', file, 'alice');
    expect(await committed(h, 'demo-copy2')).toEqual(await committed(h, 'demo'));
  });

  it('imports an archive made by other tools (no manifest, directory entries, ./ paths)', async () => {
    const gz = await tarGz([
      { name: './', type: 'directory' },
      { name: './docs/', type: 'directory' },
      { name: './docs/guide.md', content: '# guide\n' },
    ]);
    const result = await h.stowage.lifecycle.importProject('foreign', Readable.from([gz]), alice);
    expect(result).toMatchObject({ files: 1, bytes: 8 });
    expect((await h.ok('read_file', { project: 'foreign', path: 'docs/guide.md' })).content).toBe(
      '# guide\n',
    );
  });
});

describe('hostile archives are refused and write nothing', () => {
  const ok: RawEntry = { name: 'ok.txt', content: 'fine\n' };
  const cases: [string, () => Promise<Buffer>, RegExp][] = [
    [
      'an absolute path',
      () => tarGz([ok, { name: '/etc/passwd', content: 'x' }]),
      /^invalid_input: .*absolute/,
    ],
    ['a ../ path', () => tarGz([ok, { name: '../x', content: 'x' }]), /^invalid_input: .*'\.\.'/],
    ['a ../ inside a path', () => tarGz([ok, { name: 'a/../../x', content: 'x' }]), /'\.\.'/],
    ['a ../ directory', () => tarGz([ok, { name: '../evil/', type: 'directory' }]), /'\.\.'/],
    [
      'a symlink',
      () => tarGz([ok, { name: 'l', type: 'symlink', linkname: '/etc/passwd' }]),
      /symbolic link/,
    ],
    ['a hard link', () => tarGz([ok, { name: 'l', type: 'link', linkname: 'ok.txt' }]), /hard link/],
    ['a device', () => tarGz([ok, { name: 'null', type: 'character-device' }]), /a device file/],
    ['a FIFO', () => tarGz([ok, { name: 'pipe', type: 'fifo' }]), /a FIFO/],
    ['a .git path', () => tarGz([ok, { name: '.git/config', content: 'x' }]), /'\.git' directory/],
    ['a backslash path', () => tarGz([ok, { name: 'a\\b.txt', content: 'x' }]), /backslash/],
    ['the same path twice', () => tarGz([ok, { name: './ok.txt', content: 'y' }]), /appears twice/],
    [
      'an entry over MAX_FILE_BYTES',
      () => tarGz([ok, { name: 'huge.bin', content: Buffer.alloc(64 * 1024 + 1) }]),
      /^too_large: .*per-file limit/,
    ],
    [
      'more bytes in total than MAX_PROJECT_BYTES',
      () =>
        tarGz(
          Array.from({ length: 9 }, (_, i) => ({ name: `part${i}.bin`, content: randomBytes(60 * 1024) })),
        ),
      /^too_large: .*project limit/,
    ],
    [
      'content that does not match its manifest record',
      () =>
        tarGz([ok, { name: 'x.txt', content: 'x', pax: { comment: `stowage sha256=${'0'.repeat(64)}` } }]),
      /does not match the SHA-256 its manifest records/,
    ],
    [
      'a truncated gzip',
      async () => (await tarGz([ok, { name: 'b', content: randomBytes(5000) }])).subarray(0, 300),
      /truncated or corrupt/,
    ],
    ['bytes that are not gzip', () => Promise.resolve(randomBytes(2000)), /truncated or corrupt/],
    ['a gzip that is not a tar', () => Promise.resolve(gzipSync(randomBytes(5000))), /not a valid tar/],
    [
      'a decompression bomb',
      () => tarGz([ok], Buffer.alloc(16 * 1024 * 1024)),
      /^too_large: .*decompression bomb/,
    ],
    [
      'two files differing only in case',
      () => tarGz([{ name: 'README.md', content: 'a' }, ok, { name: 'readme.md', content: 'b' }]),
      /^invalid_input: 'readme\.md' differs only in case from 'README\.md', which the archive also holds.*nothing was written/,
    ],
    [
      'two directories differing only in case',
      () => tarGz([{ name: 'Dir/a.txt', content: 'a' }, ok, { name: 'dir/b.txt', content: 'b' }]),
      /^invalid_input: 'dir\/b\.txt' is in a directory that differs only in case from 'Dir\/'/,
    ],
    [
      'a file and a directory of one name',
      () =>
        tarGz([
          { name: 'src', content: 'a' },
          { name: 'SRC/b.txt', content: 'b' },
        ]),
      /^invalid_input: 'SRC\/b\.txt' needs a directory 'SRC\/', but the archive also holds a file 'src'/,
    ],
    [
      'a segment of dots and spaces',
      () => tarGz([ok, { name: 'a/ ../x', content: 'x' }]),
      /^invalid_input: .*made only of dots and spaces/,
    ],
  ];

  it.each(cases)('%s', async (_name, build, message) => {
    const before = { db: await snapshot(h.db), projects: await projectCount(h) };
    const err = await h.stowage.lifecycle
      .importProject('hostile', Readable.from([await build()]), alice)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(StowageError);
    const { code, message: text } = err as StowageError;
    expect(`${code}: ${text}`).toMatch(message);
    expect({ db: await snapshot(h.db), projects: await projectCount(h) }).toEqual(before);
    expect(await h.fail('get_project', { project: 'hostile' })).toMatch(/^not_found/);
  });
});

describe('entry count', () => {
  it('refuses an archive with more entries than allowed, directories included', async () => {
    const gz = await tarGz([
      { name: 'a/', type: 'directory' },
      { name: 'a/1.txt', content: '1' },
      { name: 'a/2.txt', content: '2' },
    ]);
    const read = async () => {
      for await (const _ of openTarGz(Readable.from([gz]), {
        maxFileBytes: 10,
        maxTotalBytes: 10,
        maxEntries: 2,
      }).files());
    };
    await expect(read()).rejects.toThrow(/^the archive holds more than 2 entries: split the project/);
  });
});

describe('directory import', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(scratch, 'tree');
    await mkdir(join(dir, 'src/nested'), { recursive: true });
    await mkdir(join(dir, '.git'), { recursive: true });
    await writeFile(join(dir, 'README.md'), '# from disk\n');
    await writeFile(join(dir, 'src/nested/data.bin'), binary);
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(dir, 'run.sh'), 0o755);
    await writeFile(join(dir, '.git/config'), '[core]\n');
  });

  it('imports regular files with their modes and leaves out .git', async () => {
    const result = await runImport(h.stowage, 'from-disk', dir, 'alice');
    expect(result).toMatchObject({ files: 3, skipped: ['.git'] });
    expect((await committed(h, 'from-disk')).map((f) => [f.path, f.mode, f.blob_hash])).toEqual([
      ['README.md', 0o100644, sha256(Buffer.from('# from disk\n'))],
      ['run.sh', 0o100755, sha256(Buffer.from('#!/bin/sh\n'))],
      ['src/nested/data.bin', 0o100644, sha256(binary)],
    ]);
  });

  it.each([
    [
      'a symlink to a file outside',
      (d: string) => symlink('/etc/passwd', join(d, 'src/passwd')),
      /symbolic link/,
    ],
    ['a symlink to a directory outside', (d: string) => symlink('/etc', join(d, 'etc')), /symbolic link/],
    ['a FIFO', (d: string) => Promise.resolve(void execFileSync('mkfifo', [join(d, 'pipe')])), /a FIFO/],
    [
      'names differing only in case',
      (d: string) => writeFile(join(d, 'readme.md'), 'x'),
      /'readme\.md' differs only in case from 'README\.md'/,
    ],
  ])('refuses %s and writes nothing', async (_name, plant, message) => {
    const bad = await mkdtemp(join(scratch, 'bad-'));
    execFileSync('cp', ['-a', `${dir}/.`, bad]);
    await plant(bad);
    const before = { db: await snapshot(h.db), projects: await projectCount(h) };
    await expect(runImport(h.stowage, 'bad-disk', bad, 'alice')).rejects.toThrow(message);
    expect({ db: await snapshot(h.db), projects: await projectCount(h) }).toEqual(before);
  });
});

describe('archiving idle projects (for the sweeper)', () => {
  let hi: Harness;
  beforeAll(async () => {
    hi = await createHarness({ lifecycle: { autoArchiveDays: 30 } });
    for (const name of ['idle', 'idle-drafts', 'busy']) {
      await populate(hi, name, TREE.slice(0, 2));
    }
    await hi.ok('write_file', { project: 'idle-drafts', path: 'wip.txt', content: 'wip' });
    await hi.db.sql.query(
      `UPDATE events SET created_at = now() - interval '40 days'
       WHERE project_id IN (SELECT id FROM projects WHERE name IN ('idle', 'idle-drafts'))`,
    );
    await hi.db.sql.query(`UPDATE projects SET created_at = now() - interval '40 days'`);
  });
  afterAll(() => hi.close());

  it('archives projects with no event for AUTO_ARCHIVE_DAYS, skipping those with drafts', async () => {
    const result = await hi.stowage.lifecycle.archiveIdleProjects();
    expect(result.archived).toEqual(['idle']);
    expect(result.skipped).toEqual([{ project: 'idle-drafts', reason: 'it has drafts' }]);
    const statuses = await hi.db.sql.query<{ name: string; status: string }>(
      `SELECT name, status FROM projects ORDER BY name`,
    );
    expect(statuses).toEqual([
      { name: 'busy', status: 'active' },
      { name: 'idle', status: 'archived' },
      { name: 'idle-drafts', status: 'active' },
    ]);
    expect(await hi.stowage.lifecycle.archiveIdleProjects({ days: 0 })).toEqual({
      archived: [],
      skipped: [],
    });
  });
});

describe('cleanup {archive_idle_days} (on demand)', () => {
  let ha: Harness;
  beforeAll(async () => {
    ha = await createHarness(); // AUTO_ARCHIVE_DAYS off: nothing is archived by the sweeper
    for (const name of ['old-one', 'old-wip', 'recent']) await populate(ha, name, TREE.slice(0, 2));
    await ha.ok('write_file', { project: 'old-wip', path: 'wip.txt', content: 'wip' });
    await ha.db.sql.query(
      `UPDATE events SET created_at = now() - interval '100 days'
       WHERE project_id IN (SELECT id FROM projects WHERE name IN ('old-one', 'old-wip'))`,
    );
    await ha.db.sql.query(`UPDATE projects SET created_at = now() - interval '100 days'`);
  });
  afterAll(() => ha.close());

  const statuses = async () =>
    ha.db.sql.query<{ name: string; status: string }>(`SELECT name, status FROM projects ORDER BY name`);

  it('names them on a dry run, then archives those idle that long, leaving those with drafts', async () => {
    const before = await statuses();
    const dry = await ha.ok('cleanup', { archive_idle_days: 90, dry_run: true });
    expect(dry).toMatchObject({
      dry_run: true,
      archived: ['old-one'],
      not_archived: [{ project: 'old-wip', reason: 'it has drafts' }],
    });
    expect(await statuses()).toEqual(before);
    expect((await ha.ok('cleanup', { archive_idle_days: 120 })).archived).toEqual([]);
    const done = await ha.ok('cleanup', { archive_idle_days: 90 });
    expect(done.archived).toEqual(['old-one']);
    expect(await statuses()).toEqual([
      { name: 'old-one', status: 'archived' },
      { name: 'old-wip', status: 'active' },
      { name: 'recent', status: 'active' },
    ]);
    expect(await ha.fail('cleanup', { archive_idle_days: 0 })).toMatch(
      /^invalid_input: argument archive_idle_days/,
    );
  });
});

describe('the total quota (MAX_TOTAL_BYTES) holds for imports and restores too', () => {
  let hq: Harness;
  beforeAll(async () => {
    hq = await createHarness({ limits: { totalBytes: 2000 } });
    await populate(hq, 'keep', [{ path: 'big.txt', content: Buffer.alloc(1200, 'k') }]);
    await populate(hq, 'small', [{ path: 'small.txt', content: Buffer.alloc(500, 's') }]);
  });
  afterAll(() => hq.close());

  it('refuses an import that would go over it, creating no project', async () => {
    const gz = await tarGz([{ name: 'data.txt', content: 'd'.repeat(400) }]);
    const before = { db: await snapshot(hq.db), projects: await projectCount(hq) };
    await expect(hq.stowage.lifecycle.importProject('over', Readable.from([gz]), alice)).rejects.toThrow(
      /^importing 'over' would bring all projects to 2100 bytes, over the total limit of 2000: .*MAX_TOTAL_BYTES/,
    );
    expect({ db: await snapshot(hq.db), projects: await projectCount(hq) }).toEqual(before);
    // Within the total, the same archive imports.
    const fits = await tarGz([{ name: 'data.txt', content: 'd'.repeat(300) }]);
    await hq.stowage.lifecycle.importProject('fits', Readable.from([fits]), alice);
    expect((await hq.ok('read_file', { project: 'fits', path: 'data.txt' })).content).toBe('d'.repeat(300));
    await hq.ok('delete_project', { project: 'fits' });
  });

  it('refuses a restore that no longer fits, leaving the project archived, and restores once it does', async () => {
    await hq.ok('archive_project', { project: 'small' }); // its 500 bytes leave the total
    await hq.ok('write_file', { project: 'keep', path: 'more.txt', content: 'm'.repeat(600) });
    const before = await snapshot(hq.db);
    expect(await hq.fail('restore_project', { project: 'small' })).toMatch(
      /^too_large: restoring 'small' would bring all projects to 2300 bytes, over the total limit of 2000/,
    );
    expect(await snapshot(hq.db)).toEqual(before);
    expect((await hq.ok('get_project', { project: 'small' })).status).toBe('archived');

    await hq.ok('discard_changes', { project: 'keep', paths: ['more.txt'] });
    await hq.ok('restore_project', { project: 'small' });
    expect((await hq.ok('read_file', { project: 'small', path: 'small.txt' })).content).toBe('s'.repeat(500));
  });
});
