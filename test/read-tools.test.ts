// list_files, batch_read and search_files through a real MCP client, over a committed tree with
// drafts on top, against real Postgres and blob store.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.js';

interface Entry {
  path: string;
  type: 'file' | 'directory';
  size: number;
  state?: string;
  files?: number;
}

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ limits: { inlineBytes: 1024 } });
});
afterAll(() => h.close());

/** Creates `name` with `committed` as its committed tree, then applies drafts as alice. */
async function project(name: string, committed: Record<string, string>) {
  await h.ok('create_project', { name });
  await h.ok('write_files', {
    project: name,
    files: Object.entries(committed).map(([path, content]) => ({ path, content })),
  });
  await h.ok('commit_task', { project: name, task: { id: 'setup', title: 'Set up the tree' } });
}

const paths = (entries: { path: string }[]) => entries.map((e) => e.path);

/** Every page of list_files for `args`, `limit` entries at a time. */
async function allPages(args: Record<string, unknown>, limit: number) {
  const pages: Entry[][] = [];
  let cursor: string | undefined;
  do {
    const page = await h.ok('list_files', { ...args, limit, ...(cursor ? { cursor } : {}) });
    pages.push(page.entries);
    cursor = page.next_cursor;
    expect(pages.length).toBeLessThan(50);
  } while (cursor);
  return pages;
}

describe('list_files', () => {
  const content = {
    'README.md': '# tree\n',
    'notes.md': 'notes\n',
    'docs/guide.md': 'guide\n',
    'src/index.ts': 'main();\n',
    'src/util.ts': 'util();\n',
    'src/lib/a.ts': 'export const a = 1;\n',
    'src/lib/deep/b.ts': 'export const b = 2;\n',
    'srcfoo/x.ts': 'x\n',
  };
  beforeAll(async () => {
    await project('tree', content);
    await h.ok('write_file', { project: 'tree', path: 'src/index.ts', content: 'main(2);\n' });
    await h.ok('write_file', { project: 'tree', path: 'src/lib/new.ts', content: 'new\n' });
    await h.ok('write_file', { project: 'tree', path: 'CHANGELOG.md', content: '## 1.0\n' });
    await h.ok('delete_file', { project: 'tree', path: 'src/util.ts' });
  });

  it('lists the whole view in path order with each state', async () => {
    const { entries, next_cursor } = await h.ok('list_files', { project: 'tree' });
    expect(next_cursor).toBeUndefined();
    expect(entries.map((e: Entry) => [e.path, e.state])).toEqual([
      ['CHANGELOG.md', 'added'],
      ['README.md', 'committed'],
      ['docs/guide.md', 'committed'],
      ['notes.md', 'committed'],
      ['src/index.ts', 'modified'],
      ['src/lib/a.ts', 'committed'],
      ['src/lib/deep/b.ts', 'committed'],
      ['src/lib/new.ts', 'added'],
      ['src/util.ts', 'deleted'],
      ['srcfoo/x.ts', 'committed'],
    ]);
    const modified = entries.find((e: Entry) => e.path === 'src/index.ts');
    expect(modified).toMatchObject({ type: 'file', size: 9 });
    expect(entries.find((e: Entry) => e.path === 'src/util.ts')).toMatchObject({ size: 0, etag: null });
  });

  it.each(['src', 'src/', './src'])('prefix %j lists that directory only, not srcfoo/', async (prefix) => {
    const { entries } = await h.ok('list_files', { project: 'tree', prefix });
    expect(paths(entries)).toEqual([
      'src/index.ts',
      'src/lib/a.ts',
      'src/lib/deep/b.ts',
      'src/lib/new.ts',
      'src/util.ts',
    ]);
  });

  it('filters by glob', async () => {
    const ts = await h.ok('list_files', { project: 'tree', glob: 'src/**/*.ts' });
    expect(paths(ts.entries)).toEqual([
      'src/index.ts',
      'src/lib/a.ts',
      'src/lib/deep/b.ts',
      'src/lib/new.ts',
      'src/util.ts',
    ]);
    const md = await h.ok('list_files', { project: 'tree', glob: '*.md' });
    expect(paths(md.entries)).toEqual(['CHANGELOG.md', 'README.md', 'notes.md']);
    const nested = await h.ok('list_files', { project: 'tree', prefix: 'src/lib', glob: '**/b.ts' });
    expect(paths(nested.entries)).toEqual(['src/lib/deep/b.ts']);
  });

  it('depth 1 shows direct files and directories with their file counts and sizes', async () => {
    const { entries } = await h.ok('list_files', { project: 'tree', depth: 1 });
    expect(entries).toEqual([
      expect.objectContaining({ path: 'CHANGELOG.md', type: 'file', state: 'added' }),
      expect.objectContaining({ path: 'README.md', type: 'file' }),
      { path: 'docs/', type: 'directory', files: 1, size: 6 },
      expect.objectContaining({ path: 'notes.md', type: 'file' }),
      // index.ts (modified, 9) + lib/a.ts (20) + lib/deep/b.ts (20) + lib/new.ts (4); util.ts is deleted.
      { path: 'src/', type: 'directory', files: 4, size: 53 },
      { path: 'srcfoo/', type: 'directory', files: 1, size: 2 },
    ]);
  });

  it('depth is counted below the prefix', async () => {
    const one = await h.ok('list_files', { project: 'tree', prefix: 'src', depth: 1 });
    expect(one.entries.map((e: Entry) => [e.path, e.type, e.files])).toEqual([
      ['src/index.ts', 'file', undefined],
      ['src/lib/', 'directory', 3],
      ['src/util.ts', 'file', undefined],
    ]);
    const two = await h.ok('list_files', { project: 'tree', prefix: 'src/', depth: 2 });
    expect(two.entries.map((e: Entry) => [e.path, e.type, e.files])).toEqual([
      ['src/index.ts', 'file', undefined],
      ['src/lib/a.ts', 'file', undefined],
      ['src/lib/deep/', 'directory', 1],
      ['src/lib/new.ts', 'file', undefined],
      ['src/util.ts', 'file', undefined],
    ]);
    expect(two.entries[2]).toMatchObject({ size: 20 });
  });

  it.each([
    ['the plain listing', {}, 3],
    ['a prefix', { prefix: 'src' }, 2],
    ['a glob', { glob: '**/*.ts' }, 2],
    ['depth', { depth: 1 }, 2],
    ['a glob and depth', { glob: 'src/**', depth: 2 }, 1],
  ])('pages through %s with limit and next_cursor, none lost or repeated', async (_, args, limit) => {
    const all = await h.ok('list_files', { project: 'tree', ...args, limit: 1000 });
    expect(all.next_cursor).toBeUndefined();
    expect(all.entries.length).toBeGreaterThan(limit);
    const pages = await allPages({ project: 'tree', ...args }, limit);
    expect(pages.length).toBe(Math.ceil(all.entries.length / limit));
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
    expect(pages.flat()).toEqual(all.entries);
  });

  it('rejects a cursor it did not hand out', async () => {
    for (const cursor of ['not a cursor!', '____']) {
      expect(await h.fail('list_files', { project: 'tree', cursor })).toMatch(
        /^invalid_input: cursor .*next_cursor/,
      );
    }
  });

  it('reports an unknown project and a hostile prefix as errors', async () => {
    expect(await h.fail('list_files', { project: 'nope' })).toMatch(/^not_found: project 'nope'/);
    expect(await h.fail('list_files', { project: 'tree', prefix: '../etc' })).toMatch(/^invalid_input/);
  });
});

describe('batch_read', () => {
  const lines = (n: number, from = 1) =>
    Array.from({ length: n }, (_, i) => `line ${String(from + i).padStart(4, '0')}\n`).join('');
  beforeAll(async () => {
    await project('batch', {
      'a.txt': 'A\n',
      'b.txt': 'B\n',
      'c.txt': 'C\n',
      'src/a.ts': 'a();\n',
      'src/b.ts': 'b();\n',
      'src/c.ts': 'c();\n',
      'big-committed.txt': lines(500),
    });
    await h.ok('write_file', { project: 'batch', path: 'big-draft.txt', content: lines(300, 1000) });
  });

  it('reads paths in the order given', async () => {
    const r = await h.ok('batch_read', { project: 'batch', paths: ['c.txt', 'a.txt', 'src/b.ts'] });
    expect(r.files.map((f: { path: string; content: string }) => [f.path, f.content])).toEqual([
      ['c.txt', 'C\n'],
      ['a.txt', 'A\n'],
      ['src/b.ts', 'b();\n'],
    ]);
    expect(r.files[0]).toMatchObject({ state: 'committed', size: 2, encoding: 'utf8' });
    expect(r.omitted).toEqual([]);
    expect(r.note).toBeUndefined();
  });

  it('reads by glob, and by paths plus glob without duplicates', async () => {
    const byGlob = await h.ok('batch_read', { project: 'batch', glob: 'src/*.ts' });
    expect(paths(byGlob.files)).toEqual(['src/a.ts', 'src/b.ts', 'src/c.ts']);
    const both = await h.ok('batch_read', {
      project: 'batch',
      paths: ['src/b.ts', 'a.txt', './src/b.ts'],
      glob: 'src/*.ts',
    });
    expect(paths(both.files)).toEqual(['src/b.ts', 'a.txt', 'src/a.ts', 'src/c.ts']);
    expect(both.files.every((f: { content?: string }) => f.content !== undefined)).toBe(true);
  });

  it('reports a missing or hostile path inline, in its place, and reads the rest', async () => {
    const r = await h.ok('batch_read', {
      project: 'batch',
      paths: ['a.txt', 'missing.txt', '../x', 'b.txt'],
    });
    expect(r.files.map((f: { path: string; error?: { code: string } }) => [f.path, f.error?.code])).toEqual([
      ['a.txt', undefined],
      ['missing.txt', 'not_found'],
      ['../x', 'invalid_input'],
      ['b.txt', undefined],
    ]);
    expect(r.files[2].error.message).toMatch(/\.\./);
    expect(r.files[3].content).toBe('B\n');
  });

  it('needs paths or a glob, and refuses more than 200 paths', async () => {
    expect(await h.fail('batch_read', { project: 'batch' })).toMatch(/paths, a glob, or both/);
    const many = Array.from({ length: 201 }, (_, i) => `f${i}.txt`);
    expect(await h.fail('batch_read', { project: 'batch', paths: many })).toMatch(
      /^invalid_input: argument paths: at most 200 paths in one call \(MAX_BATCH_FILES\): split the batch/,
    );
  });

  /** The result, after checking that it fits max_chars as each client receives it: the JSON of
   *  structuredContent (Claude Code, Codex) and the text (Gemini CLI). */
  async function served(name: string, args: Record<string, unknown>) {
    const result = await h.call(name, args);
    expect(result.isError).toBeFalsy();
    const max = args.max_chars as number;
    const text = (result.content as { type: string; text?: string }[])[0]!.text!;
    expect(JSON.stringify(result.structuredContent).length).toBeLessThanOrEqual(max);
    expect(text.length).toBeLessThanOrEqual(max);
    return result.structuredContent as Record<string, any>;
  }

  it('stays within max_chars: a straddling file is truncated, later ones are omitted', async () => {
    await h.ok('write_files', {
      project: 'batch',
      files: [
        { path: 'budget/1.txt', content: lines(100) }, // 1000 chars
        { path: 'budget/2.txt', content: lines(500) }, // 5000 chars
        { path: 'budget/3.txt', content: lines(10) },
      ],
    });
    const r = await served('batch_read', {
      project: 'batch',
      paths: ['budget/1.txt', 'budget/2.txt', 'budget/3.txt'],
      max_chars: 5000,
    });
    expect(r.budget.max_chars).toBe(5000);
    expect(paths(r.files)).toEqual(['budget/1.txt', 'budget/2.txt']);
    expect(r.files[0].content).toBe(lines(100));
    expect(r.files[0].truncated).toBeUndefined();
    const second = r.files[1];
    const returned = second.content.length;
    expect(returned).toBeGreaterThan(0);
    expect(returned % 10).toBe(0); // whole lines of 10 chars
    expect(second.truncated).toEqual({
      returned_chars: returned,
      total_chars: 5000,
      next_offset: returned / 10 + 1,
    });
    expect(r.omitted).toEqual(['budget/3.txt']);
    expect(r.note).toMatch(/truncated to fit 5000 chars: budget\/2\.txt/);
    expect(r.note).toMatch(/1 file\(s\) left out/);

    const rest = await h.ok('read_file', {
      project: 'batch',
      path: 'budget/2.txt',
      offset: second.truncated.next_offset,
    });
    expect(second.content + rest.content).toBe(lines(500));
  });

  it('cuts a straddling file at a line end so read_file continues exactly', async () => {
    const text = 'head\n' + 'x'.repeat(5000) + '\ntail\n';
    await h.ok('write_file', { project: 'batch', path: 'budget/long-line.txt', content: text });
    const r = await h.ok('batch_read', {
      project: 'batch',
      paths: ['budget/long-line.txt'],
      max_chars: 3000,
    });
    const [file] = r.files;
    expect(file.content).toBe('head\n');
    expect(file.truncated).toEqual({ returned_chars: 5, total_chars: text.length, next_offset: 2 });
    const rest = await h.ok('read_file', {
      project: 'batch',
      path: 'budget/long-line.txt',
      offset: file.truncated.next_offset,
    });
    // Compared as a boolean: a failure would otherwise print 10 KB of 'x'.
    expect(file.content + rest.content === text).toBe(true);
  });

  it('returns part of a first line too long for the budget and asks for that line again', async () => {
    await h.ok('write_file', { project: 'batch', path: 'budget/one-line.txt', content: 'y'.repeat(5000) });
    const r = await served('batch_read', {
      project: 'batch',
      paths: ['budget/one-line.txt'],
      max_chars: 3000,
    });
    const returned = r.files[0].content.length;
    expect(returned).toBeGreaterThan(1000);
    expect(r.files[0].truncated).toEqual({ returned_chars: returned, total_chars: 5000, next_offset: 1 });
  });

  it('never exceeds max_chars over many files', async () => {
    const r = await served('batch_read', { project: 'batch', glob: '**', max_chars: 4000 });
    expect(r.budget.used_chars).toBeLessThanOrEqual(4000);
    expect(r.omitted.length).toBeGreaterThan(0);
    // Everything the glob matched is either returned or listed as omitted, once.
    const { entries } = await h.ok('list_files', { project: 'batch' });
    expect([...paths(r.files), ...r.omitted].sort()).toEqual(paths(entries).sort());
  });

  it('flags binary files without content', async () => {
    await h.ok('write_file', {
      project: 'batch',
      path: 'img.bin',
      content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]).toString('base64'),
      encoding: 'base64',
    });
    const r = await h.ok('batch_read', { project: 'batch', paths: ['img.bin', 'a.txt'] });
    expect(r.files[0]).toMatchObject({ path: 'img.bin', binary: true, size: 7 });
    expect(r.files[0]).not.toHaveProperty('content');
    expect(r.files[1].content).toBe('A\n');
    expect(r.note).toMatch(/binary, not shown: img\.bin/);
  });

  it('gives the budget a binary file was planned to take back to the files after it', async () => {
    const image = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0]), randomBytes(20_000)]);
    await h.ok('write_file', {
      project: 'batch',
      path: 'budget/photo.png',
      content: image.toString('base64'),
      encoding: 'base64',
    });
    // Planned by size, the 20 KB image takes the whole budget; once it turns out binary, the
    // text files behind it are read after all.
    const r = await served('batch_read', {
      project: 'batch',
      paths: ['budget/photo.png', 'a.txt', 'budget/1.txt'],
      max_chars: 3000,
    });
    expect(
      r.files.map((f: { path: string; binary?: boolean; content?: string }) => [
        f.path,
        f.binary ?? f.content?.length,
      ]),
    ).toEqual([
      ['budget/photo.png', true],
      ['a.txt', 2],
      ['budget/1.txt', 1000],
    ]);
    expect(r.omitted).toEqual([]);
  });

  it('reads a draft-only file and a committed file stored as blobs', async () => {
    const r = await h.ok('batch_read', { project: 'batch', paths: ['big-draft.txt', 'big-committed.txt'] });
    expect(r.files.map((f: { path: string; state: string }) => [f.path, f.state])).toEqual([
      ['big-draft.txt', 'added'],
      ['big-committed.txt', 'committed'],
    ]);
    expect(r.files[0].content).toBe(lines(300, 1000));
    expect(r.files[1].content).toBe(lines(500));
    const [row] = await h.db.sql.query<{ inline: boolean }>(
      `SELECT content IS NOT NULL AS inline FROM drafts WHERE path = 'big-draft.txt'`,
    );
    expect(row!.inline).toBe(false);
  });

  it('does not read a file deleted in the workspace', async () => {
    await h.ok('delete_file', { project: 'batch', path: 'c.txt' });
    const r = await h.ok('batch_read', { project: 'batch', paths: ['c.txt'] });
    expect(r.files).toEqual([{ path: 'c.txt', error: expect.objectContaining({ code: 'not_found' }) }]);
    const byGlob = await h.ok('batch_read', { project: 'batch', glob: '*.txt' });
    expect(paths(byGlob.files)).not.toContain('c.txt');
  });
});

describe('search_files', () => {
  beforeAll(async () => {
    await project('search', {
      'src/a.ts': 'const Alpha = 1;\nfunction beta() {}\n// TODO: alpha\n',
      'src/b.ts': 'export const ALPHA = 2;\n',
      'docs/readme.md': 'alpha docs\n',
      'gone.ts': 'alpha in a deleted file\n',
      'changed.ts': 'alpha before the change\n',
    });
    await h.ok('delete_file', { project: 'search', path: 'gone.ts' });
    await h.ok('write_file', { project: 'search', path: 'changed.ts', content: 'nothing here\n' });
    await h.ok('write_file', { project: 'search', path: 'src/new.ts', content: 'x\nalpha draft\n' });
    await h.ok('write_file', {
      project: 'search',
      path: 'blob.bin',
      content: Buffer.concat([Buffer.from('alpha'), Buffer.from([0, 1])]).toString('base64'),
      encoding: 'base64',
    });
  });
  const hits = (r: Record<string, any>) =>
    (r.matches as { path: string; line: number }[]).map((m) => `${m.path}:${m.line}`);

  it('matches a literal case-insensitively by default, with 1-based lines, in the workspace view', async () => {
    const r = await h.ok('search_files', { project: 'search', pattern: 'alpha' });
    expect(hits(r)).toEqual(['docs/readme.md:1', 'src/a.ts:1', 'src/a.ts:3', 'src/b.ts:1', 'src/new.ts:2']);
    expect(r.matches[1]).toEqual({ path: 'src/a.ts', line: 1, text: 'const Alpha = 1;' });
    expect(r.truncated).toBe(false);
    // The deleted file is not a candidate; the binary one is one but yields nothing.
    expect(r.files_total).toBe(6);
  });

  it('honours case_sensitive', async () => {
    const r = await h.ok('search_files', { project: 'search', pattern: 'ALPHA', case_sensitive: true });
    expect(hits(r)).toEqual(['src/b.ts:1']);
  });

  it('treats the pattern literally unless regex is set', async () => {
    const literal = await h.ok('search_files', { project: 'search', pattern: 'beta()' });
    expect(hits(literal)).toEqual(['src/a.ts:2']);
    const dot = await h.ok('search_files', { project: 'search', pattern: 'alph.' });
    expect(dot.matches).toEqual([]);
    const re = await h.ok('search_files', {
      project: 'search',
      pattern: '^(export )?const\\s+alpha',
      regex: true,
    });
    expect(hits(re)).toEqual(['src/a.ts:1', 'src/b.ts:1']);
  });

  it('matches only lines the file has (no phantom line after the final newline)', async () => {
    await h.ok('write_file', { project: 'search', path: 'blank/lines.txt', content: 'a\n\nb\n' });
    const r = await h.ok('search_files', { project: 'search', pattern: '^$', regex: true, glob: 'blank/*' });
    expect(hits(r)).toEqual(['blank/lines.txt:2']);
    await h.ok('delete_file', { project: 'search', path: 'blank/lines.txt' });
  });

  it('reports an invalid regex as invalid_input naming the fix', async () => {
    const text = await h.fail('search_files', { project: 'search', pattern: 'a(b', regex: true });
    expect(text).toMatch(/^invalid_input: pattern is not a valid regular expression.*regex: false/);
    expect(await h.fail('search_files', { project: 'search', pattern: '(?=a)b', regex: true })).toMatch(
      /^invalid_input: .*RE2 syntax.*lookarounds and backreferences are not supported/,
    );
  });

  it('refuses a regex whose compiled program is over the limit, naming the fix', async () => {
    // RE2 is linear in the text but times its program: this one took 3.8 s on one 50 KB line.
    const text = await h.fail('search_files', {
      project: 'search',
      pattern: '(?:a|aa){900}[bc]',
      regex: true,
    });
    expect(text).toMatch(
      /^too_large: pattern compiles to 3603 RE2 instructions, over the limit of 2000: use a smaller pattern .*regex: false/,
    );
    const fine = await h.ok('search_files', { project: 'search', pattern: '(?:a|aa){400}[bc]', regex: true });
    expect(fine.matches).toEqual([]);
  });

  it('runs a pattern that makes backtracking engines explode in linear time', async () => {
    await h.ok('write_file', {
      project: 'search',
      path: 'evil/a.txt',
      content: `${'a'.repeat(50_000)}!\naaa\n`,
    });
    // A backtracking RegExp would still be on the first line when the test times out, and would
    // hold the event loop, every other session's calls included, all that time.
    const r = await h.ok('search_files', {
      project: 'search',
      pattern: '^(a+)+$',
      regex: true,
      glob: 'evil/*',
    });
    expect(hits(r)).toEqual(['evil/a.txt:2']);
    await h.ok('delete_file', { project: 'search', path: 'evil/a.txt' });
  });

  it('restricts the search to a glob', async () => {
    const r = await h.ok('search_files', { project: 'search', pattern: 'alpha', glob: 'src/**/*.ts' });
    expect(hits(r)).toEqual(['src/a.ts:1', 'src/a.ts:3', 'src/b.ts:1', 'src/new.ts:2']);
    expect(r.files_total).toBe(3);
    const md = await h.ok('search_files', { project: 'search', pattern: 'alpha', glob: '**/*.md' });
    expect(hits(md)).toEqual(['docs/readme.md:1']);
  });

  it('stops at max_results and says so', async () => {
    const r = await h.ok('search_files', { project: 'search', pattern: 'alpha', max_results: 2 });
    expect(hits(r)).toEqual(['docs/readme.md:1', 'src/a.ts:1']);
    expect(r.truncated).toBe(true);
    const exact = await h.ok('search_files', { project: 'search', pattern: 'alpha', max_results: 5 });
    expect(exact.matches).toHaveLength(5);
    expect(exact.truncated).toBe(false);
  });

  it('sees the committed content again once the draft is discarded', async () => {
    await h.ok('discard_changes', { project: 'search', paths: ['changed.ts', 'gone.ts'] });
    const r = await h.ok('search_files', { project: 'search', pattern: 'alpha', glob: '*.ts' });
    expect(hits(r)).toEqual(['changed.ts:1', 'gone.ts:1']);
  });
});
