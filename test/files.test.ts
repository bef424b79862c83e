// write/read/list/delete/move through a real MCP client, against real Postgres and blob store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3BlobStore } from '../src/store/blobs/blob-store-s3.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';
import { startS3Server } from './support/s3-server.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ limits: { inlineBytes: 1024 } });
  await h.ok('create_project', { name: 'demo' });
});
afterAll(() => h.close());

describe('write_file and read_file', () => {
  it('round-trips text with etag, size and state', async () => {
    const w = await h.ok('write_file', {
      project: 'demo',
      path: 'src/app.ts',
      content: 'export const a = 1;\n',
    });
    expect(w).toMatchObject({ path: 'src/app.ts', size: 20, state: 'added', changed: true });
    const r = await h.ok('read_file', { project: 'demo', path: 'src/app.ts' });
    expect(r).toMatchObject({
      content: 'export const a = 1;\n',
      etag: w.etag,
      state: 'added',
      encoding: 'utf8',
    });
  });

  it('normalises ./ in paths and treats identical content as unchanged', async () => {
    const w = await h.ok('write_file', {
      project: 'demo',
      path: './src/app.ts',
      content: 'export const a = 1;\n',
    });
    expect(w).toMatchObject({ path: 'src/app.ts', changed: false });
  });

  it('refuses a write whose if_match is stale and keeps the newer content', async () => {
    const first = await h.ok('write_file', { project: 'demo', path: 'notes.md', content: 'v1' });
    await h.ok('write_file', { project: 'demo', path: 'notes.md', content: 'v2', if_match: first.etag });
    const text = await h.fail('write_file', {
      project: 'demo',
      path: 'notes.md',
      content: 'v3',
      if_match: first.etag,
    });
    expect(text).toMatch(/^conflict: if_match failed/);
    expect((await h.ok('read_file', { project: 'demo', path: 'notes.md' })).content).toBe('v2');
  });

  it('stores binary content given as base64 and returns it as base64', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 0, 10]);
    await h.ok('write_file', {
      project: 'demo',
      path: 'bin/blob.dat',
      content: bytes.toString('base64'),
      encoding: 'base64',
    });
    const r = await h.ok('read_file', { project: 'demo', path: 'bin/blob.dat' });
    expect(r.encoding).toBe('base64');
    expect(Buffer.from(r.content, 'base64').equals(bytes)).toBe(true);
  });

  it('rejects invalid base64 and stores nothing', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('write_file', {
      project: 'demo',
      path: 'x.bin',
      content: 'not base64!',
      encoding: 'base64',
    });
    expect(text).toMatch(/not valid base64/);
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('keeps small drafts inline in Postgres and large ones in the blob store', async () => {
    const big = 'x'.repeat(5000);
    await h.ok('write_file', { project: 'demo', path: 'big.txt', content: big });
    await h.ok('write_file', { project: 'demo', path: 'small.txt', content: 'tiny' });
    const rows = await h.db.sql.query<{ path: string; inline: boolean; blob_hash: string | null }>(
      `SELECT path, content IS NOT NULL AS inline, blob_hash FROM drafts WHERE path IN ('big.txt', 'small.txt') ORDER BY path`,
    );
    expect(rows.map((r) => [r.path, r.inline])).toEqual([
      ['big.txt', false],
      ['small.txt', true],
    ]);
    expect(await h.blobs.has(rows[0]!.blob_hash!)).toBe(true);
    expect((await h.ok('read_file', { project: 'demo', path: 'big.txt' })).content).toBe(big);
  });

  it('reads a window of lines and says where to continue', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    await h.ok('write_file', { project: 'demo', path: 'lines.txt', content: lines });
    const r = await h.ok('read_file', { project: 'demo', path: 'lines.txt', offset: 3, limit: 2 });
    expect(r).toMatchObject({
      content: 'line 3\nline 4\n',
      offset: 3,
      lines: 2,
      total_lines: 10,
      next_offset: 5,
    });
  });

  it('returns content over the response budget as a resource link', async () => {
    const small = await createHarness({ limits: { responseChars: 1000 } });
    try {
      await small.ok('create_project', { name: 'p' });
      await small.ok('write_file', { project: 'p', path: 'long.txt', content: 'y'.repeat(3000) });
      const result = await small.call('read_file', { project: 'p', path: 'long.txt' });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ resource: 'stowage://p/long.txt' });
      expect(result.structuredContent).not.toHaveProperty('content');
      expect(result.content).toContainEqual(
        expect.objectContaining({ type: 'resource_link', uri: 'stowage://p/long.txt' }),
      );
    } finally {
      await small.close();
    }
  });

  it('reports a missing file, project or hostile path as errors naming the fix', async () => {
    expect(await h.fail('read_file', { project: 'demo', path: 'nope.txt' })).toMatch(
      /^not_found: .*list_files/,
    );
    expect(await h.fail('read_file', { project: 'ghost', path: 'a' })).toMatch(
      /^not_found: project 'ghost'.*create_project/,
    );
    expect(await h.fail('write_file', { project: 'demo', path: '../etc/passwd', content: 'x' })).toMatch(
      /^invalid_input: .*\.\./,
    );
    expect(await h.fail('write_file', { project: 'demo', path: 'a/.git/config', content: 'x' })).toMatch(
      /^invalid_input/,
    );
  });

  it('treats a project name that carries SQL as a name: not found, nothing written', async () => {
    // The write path locks the project with a statement that holds the name as a literal.
    for (const project of [`demo' OR '1'='1`, `demo'; DROP TABLE drafts; --`, `demo\\'`, `dé'mo"`]) {
      expect(await h.fail('write_file', { project, path: 'inj.txt', content: 'x' })).toMatch(
        /^not_found: project '.*' not found/,
      );
    }
    expect(await h.fail('read_file', { project: 'demo', path: 'inj.txt' })).toMatch(/^not_found/);
    await expect(h.db.sql.query(`SELECT count(*) FROM drafts`)).resolves.toHaveLength(1); // still there
  });

  it('finds a file again by a path with quotes and non-ASCII (its view is read with the lock)', async () => {
    for (const path of [`it's "quoted".txt`, `dir'); DROP TABLE files; --/ü 😀.md`]) {
      const first = await h.ok('write_file', { project: 'demo', path, content: 'one' });
      // A second write that names the first's etag succeeds only if the view found that draft.
      const second = await h.ok('write_file', {
        project: 'demo',
        path,
        content: 'two',
        if_match: first.etag,
      });
      expect(second).toMatchObject({ path, state: 'added', changed: true });
      expect(
        await h.fail('write_file', { project: 'demo', path, content: 'x', if_match: first.etag }),
      ).toMatch(/^conflict: if_match failed/);
      expect((await h.ok('read_file', { project: 'demo', path })).content).toBe('two');
    }
  });
});

describe('binary content is never stored corrupted', () => {
  // A 1x1 PNG: signature, IHDR, IDAT, IEND.
  const png = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64',
  );
  const stored = async (path: string) =>
    (
      await h.db.sql.query<{ content: Buffer | null }>(`SELECT content FROM drafts WHERE path = $1`, [path])
    ).map((r) => r.content);

  it('refuses raw bytes sent as a string, naming the path and base64, and stores nothing', async () => {
    // What a client that read a PNG's bytes as Latin-1 sends; stored as UTF-8 it would become
    // c2 89 50 4e 47 c3 bf 00 01, no longer the bytes it was.
    const raw = String.fromCharCode(0x89, 0x50, 0x4e, 0x47, 0xff, 0x00, 0x01);
    const before = await snapshot(h.db);
    const text = await h.fail('write_file', { project: 'demo', path: 'raw/header.dat', content: raw });
    expect(text).toMatch(
      /^invalid_input: content for 'raw\/header\.dat' holds U\+0089 \(a control character\) at character 0/,
    );
    expect(text).toContain(`encoding: 'base64'`);
    const batch = await h.fail('write_files', {
      project: 'demo',
      files: [
        { path: 'raw/fine.txt', content: 'fine\n' },
        { path: 'raw/header.dat', content: raw },
      ],
    });
    expect(batch).toMatch(/^invalid_input: content for 'raw\/header\.dat' holds U\+0089.*encoding: 'base64'/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await stored('raw/header.dat')).toEqual([]);
  });

  it('refuses a base64 string written to a binary file type without encoding, and stores nothing', async () => {
    const before = await snapshot(h.db);
    for (const path of ['logo.png', 'assets/Photo.JPG', 'fonts/a.woff2', 'dist/app.zip', 'docs/spec.pdf']) {
      const text = await h.fail('write_file', { project: 'demo', path, content: png.toString('base64') });
      expect(text).toMatch(/^invalid_input: '.*' is a binary file type \(.*\).*encoding: 'base64'/);
      expect(text).toContain(`'${path}'`);
    }
    // Named in canonical form; a path without one gets the path's own error.
    expect(await h.fail('write_file', { project: 'demo', path: './img/../x.gif', content: 'R0lG' })).toMatch(
      /^invalid_input: path .* contains '\.\.'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    expect(await stored('logo.png')).toEqual([]);
  });

  it.each([
    ['NUL', 'a\u0000b', 'U+0000'],
    ['a C0 control', 'bell\u0007', 'U+0007'],
    ['a vertical tab', 'a\u000bb', 'U+000B'],
    ['an escape', '\u001b[31mred', 'U+001B'],
    ['a C1 control', 'x\u0085y', 'U+0085'],
    ['U+009F', '\u009f', 'U+009F'],
    ['the replacement character', 'caf\ufffd', 'U+FFFD'],
    ['a lone surrogate', 'a\ud800b', 'U+D800'],
  ])('refuses text holding %s and stores nothing', async (_name, content, char) => {
    const before = await snapshot(h.db);
    const text = await h.fail('write_file', { project: 'demo', path: 'notes/odd.txt', content });
    expect(text).toMatch(
      new RegExp(`^invalid_input: content for 'notes/odd\\.txt' holds ${char.replace('+', '\\+')}`),
    );
    expect(text).toContain(`encoding: 'base64'`);
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('keeps tab, newline, carriage return, form feed and other text byte for byte', async () => {
    const content = 'a\tb\r\nc\fd\n\ufeff✨ naïve 日本 \u007f\n';
    await h.ok('write_file', { project: 'demo', path: 'notes/ok.txt', content });
    expect(await stored('notes/ok.txt')).toEqual([Buffer.from(content, 'utf8')]);
    // A text file whose name the MIME table gives a video type is TypeScript, not MPEG-TS.
    await h.ok('write_file', { project: 'demo', path: 'src/types.d.ts', content: 'export {};\n' });
    expect(await h.fail('write_file', { project: 'demo', path: 'notes/ok.txt', content: '\u0000' })).toMatch(
      /^invalid_input/,
    );
  });

  it('refuses an edit whose new_text holds a control character and leaves the file as it was', async () => {
    await h.ok('write_file', { project: 'demo', path: 'notes/edit.txt', content: 'hello\n' });
    const before = await snapshot(h.db);
    const text = await h.fail('edit_file', {
      project: 'demo',
      path: 'notes/edit.txt',
      edits: [
        { old_text: 'hello', new_text: 'hi' },
        { old_text: '\n', new_text: '\u0000\n' },
      ],
    });
    expect(text).toMatch(
      /^invalid_input: new_text of edit 2 for 'notes\/edit\.txt' holds U\+0000.*encoding: 'base64'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    expect((await h.ok('read_file', { project: 'demo', path: 'notes/edit.txt' })).content).toBe('hello\n');
  });

  it('round-trips a PNG written as base64 byte for byte, and keeps it from a text write', async () => {
    const w = await h.ok('write_file', {
      project: 'demo',
      path: 'img/logo.png',
      content: png.toString('base64'),
      encoding: 'base64',
    });
    expect(w).toMatchObject({ path: 'img/logo.png', size: png.byteLength, changed: true });
    expect(await stored('img/logo.png')).toEqual([png]);
    const r = await h.ok('read_file', { project: 'demo', path: 'img/logo.png' });
    expect(r.encoding).toBe('base64');
    expect(Buffer.from(r.content, 'base64').equals(png)).toBe(true);
    // The same base64 without `encoding` would replace the image with its base64 text.
    expect(
      await h.fail('write_file', { project: 'demo', path: 'img/logo.png', content: png.toString('base64') }),
    ).toMatch(/^invalid_input: 'img\/logo\.png' is a binary file type \(image\/png\)/);
    expect(await stored('img/logo.png')).toEqual([png]);
    // An empty file is the same in any encoding.
    await h.ok('write_file', { project: 'demo', path: 'img/empty.png', content: '' });
  });
});

describe('write_files', () => {
  it('writes a batch in one call', async () => {
    const r = await h.ok('write_files', {
      project: 'demo',
      files: [
        { path: 'batch/a.txt', content: 'A' },
        { path: 'batch/b.txt', content: 'B' },
      ],
    });
    expect(r.files.map((f: { path: string }) => f.path)).toEqual(['batch/a.txt', 'batch/b.txt']);
  });

  it('is all or nothing: one bad path leaves everything as it was', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('write_files', {
      project: 'demo',
      files: [
        { path: 'batch/c.txt', content: 'C' },
        { path: '/abs.txt', content: 'D' },
      ],
    });
    expect(text).toMatch(/^invalid_input/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await h.fail('read_file', { project: 'demo', path: 'batch/c.txt' })).toMatch(/^not_found/);
  });

  it('rejects the same path twice in one batch', async () => {
    const text = await h.fail('write_files', {
      project: 'demo',
      files: [
        { path: 'dup.txt', content: '1' },
        { path: './dup.txt', content: '2' },
      ],
    });
    expect(text).toMatch(/appears twice/);
  });
});

describe('committed tree, deletes and moves', () => {
  let c: Harness;
  beforeAll(async () => {
    c = await createHarness();
    await c.ok('create_project', { name: 'tree' });
    await c.ok('write_files', {
      project: 'tree',
      files: [
        { path: 'README.md', content: '# tree\n' },
        { path: 'src/index.ts', content: 'main();\n' },
        { path: 'src/util.ts', content: 'util();\n' },
      ],
    });
    await c.ok('commit_task', { project: 'tree', task: { id: 'setup', title: 'Set up the tree' } });
  });
  afterAll(() => c.close());

  it('shows committed files and marks modified, added and deleted ones', async () => {
    await c.ok('write_file', { project: 'tree', path: 'src/index.ts', content: 'main(2);\n' });
    await c.ok('write_file', { project: 'tree', path: 'src/new.ts', content: 'new\n' });
    await c.ok('delete_file', { project: 'tree', path: 'src/util.ts' });
    const { entries } = await c.ok('list_files', { project: 'tree' });
    expect(entries.map((e: { path: string; state: string }) => [e.path, e.state])).toEqual([
      ['README.md', 'committed'],
      ['src/index.ts', 'modified'],
      ['src/new.ts', 'added'],
      ['src/util.ts', 'deleted'],
    ]);
    expect(await c.fail('read_file', { project: 'tree', path: 'src/util.ts' })).toMatch(/^not_found/);
  });

  it('writing the committed content again drops the draft', async () => {
    const r = await c.ok('write_file', { project: 'tree', path: 'src/index.ts', content: 'main();\n' });
    expect(r).toMatchObject({ state: 'committed', changed: true });
    const { changes } = await c.ok('list_changes', { project: 'tree' });
    expect(changes.map((x: { path: string }) => x.path)).toEqual(['src/new.ts', 'src/util.ts']);
  });

  it('keeps workspaces isolated while both see the committed tree', async () => {
    const bob = await c.connect('bob');
    expect((await c.ok('read_file', { project: 'tree', path: 'src/util.ts' }, bob)).content).toBe(
      'util();\n',
    );
    expect(await c.fail('read_file', { project: 'tree', path: 'src/new.ts' }, bob)).toMatch(/^not_found/);
    await c.ok(
      'write_file',
      { project: 'tree', path: 'src/new.ts', content: 'bob\n', workspace: 'agent-2' },
      bob,
    );
    expect((await c.ok('read_file', { project: 'tree', path: 'src/new.ts' })).content).toBe('new\n');
    expect(
      (await c.ok('read_file', { project: 'tree', path: 'src/new.ts', workspace: 'agent-2' })).content,
    ).toBe('bob\n');
  });

  it('moves a committed file: destination added, source deleted, same content', async () => {
    const m = await c.ok('move_file', { project: 'tree', from: 'README.md', to: 'docs/README.md' });
    expect(m).toMatchObject({ from: 'README.md', to: 'docs/README.md' });
    expect((await c.ok('read_file', { project: 'tree', path: 'docs/README.md' })).content).toBe('# tree\n');
    const { changes } = await c.ok('list_changes', { project: 'tree' });
    expect(changes).toContainEqual(expect.objectContaining({ path: 'README.md', state: 'deleted' }));
    expect(changes).toContainEqual(expect.objectContaining({ path: 'docs/README.md', state: 'added' }));
  });

  it('refuses to move onto an existing file or from a missing one', async () => {
    expect(await c.fail('move_file', { project: 'tree', from: 'src/new.ts', to: 'src/index.ts' })).toMatch(
      /^conflict: .*already exists/,
    );
    expect(await c.fail('move_file', { project: 'tree', from: 'nope.ts', to: 'x.ts' })).toMatch(/^not_found/);
  });

  it('delete_file of several paths is all or nothing', async () => {
    const before = await snapshot(c.db);
    const text = await c.fail('delete_file', { project: 'tree', paths: ['src/new.ts', 'missing.ts'] });
    expect(text).toMatch(/missing\.ts/);
    expect(await snapshot(c.db)).toEqual(before);
  });

  it('commits drafts into the committed tree and clears them', async () => {
    await c.ok('commit_task', { project: 'tree', task: { id: 'setup', title: 'Set up the tree' } });
    const { changes } = await c.ok('list_changes', { project: 'tree' });
    expect(changes).toEqual([]);
    const { entries } = await c.ok('list_files', { project: 'tree' });
    expect(entries.every((e: { state: string }) => e.state === 'committed')).toBe(true);
    expect(entries.map((e: { path: string }) => e.path)).toEqual([
      'docs/README.md',
      'src/index.ts',
      'src/new.ts',
    ]);
    const project = await c.ok('get_project', { project: 'tree' });
    expect(project.stats).toMatchObject({ files: 3 });
    expect(project.stats.drafts).toEqual([{ workspace: 'agent-2', changes: 1, bytes: 4 }]);
  });
});

describe('on the S3 blob store', () => {
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let hs: Harness;
  beforeAll(async () => {
    s3 = await startS3Server();
    hs = await createHarness({
      blobs: createS3BlobStore(s3.config),
      limits: { inlineBytes: 1024 },
      cacheMaxBytes: 1,
    });
    await hs.ok('create_project', { name: 'on-s3' });
  });
  afterAll(async () => {
    await hs.close();
    await s3.close();
  });

  it('keeps large drafts and committed content in the bucket and reads them back', async () => {
    const big = 'z'.repeat(20_000);
    await hs.ok('write_files', {
      project: 'on-s3',
      files: [
        { path: 'big.txt', content: big },
        { path: 'small.txt', content: 'small' },
      ],
    });
    const puts = s3.requests().filter((r) => r.startsWith('PUT '));
    expect(puts).toHaveLength(1); // the small draft stayed inline in Postgres
    await hs.ok('commit_task', { project: 'on-s3', task: { id: 'setup', title: 'Set up the tree' } });
    expect(s3.requests().filter((r) => r.startsWith('PUT '))).toHaveLength(2); // committed content lives in S3
    const { files } = await hs.ok('batch_read', { project: 'on-s3', paths: ['big.txt', 'small.txt'] });
    expect(files.map((f: { content: string }) => f.content)).toEqual([big, 'small']);
  });
});

describe('if_match on every write', () => {
  let g: Harness;
  let etag: string;
  beforeAll(async () => {
    g = await createHarness();
    await g.ok('create_project', { name: 'guarded' });
    etag = (await g.ok('write_file', { project: 'guarded', path: 'a.txt', content: 'one\n' })).etag;
    await g.ok('write_file', { project: 'guarded', path: 'a.txt', content: 'two\n' }); // someone else's change
  });
  afterAll(() => g.close());

  it.each([
    ['write_files', { files: [{ path: 'a.txt', content: 'x', if_match: 'stale' }] }],
    ['edit_file', { path: 'a.txt', edits: [{ old_text: 'two', new_text: 'three' }], if_match: 'stale' }],
    ['delete_file', { path: 'a.txt', if_match: 'stale' }],
    ['move_file', { from: 'a.txt', to: 'b.txt', if_match: 'stale' }],
  ])('%s refuses a stale etag and changes nothing', async (tool, args) => {
    const before = await snapshot(g.db);
    expect(await g.fail(tool, { project: 'guarded', ...args })).toMatch(/^conflict: if_match failed/);
    expect(await snapshot(g.db)).toEqual(before);
    expect((await g.ok('read_file', { project: 'guarded', path: 'a.txt' })).content).toBe('two\n');
  });

  it('accepts the current etag', async () => {
    const current = (await g.ok('read_file', { project: 'guarded', path: 'a.txt' })).etag;
    expect(current).not.toBe(etag);
    const edited = await g.ok('edit_file', {
      project: 'guarded',
      path: 'a.txt',
      edits: [{ old_text: 'two', new_text: 'three' }],
      if_match: current,
    });
    await g.ok('move_file', { project: 'guarded', from: 'a.txt', to: 'b.txt', if_match: edited.etag });
    await g.ok('delete_file', { project: 'guarded', path: 'b.txt', if_match: edited.etag });
    expect((await g.ok('list_files', { project: 'guarded' })).entries).toEqual([]);
  });
});
