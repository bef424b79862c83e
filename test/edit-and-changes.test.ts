// edit_file, list_changes, discard_changes, the configured limits and the project tools, through
// a real MCP client against real Postgres and blob store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch } from 'diff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

/** Creates `name` with `committed` as its committed tree. */
async function project(name: string, committed: Record<string, string>, t: Harness = h) {
  await t.ok('create_project', { name });
  await t.ok('write_files', {
    project: name,
    files: Object.entries(committed).map(([path, content]) => ({ path, content })),
  });
  await t.ok('commit_task', { project: name, task: { id: 'setup', title: 'Set up the tree' } });
}

const read = async (project: string, path: string, workspace?: string) =>
  (await h.ok('read_file', { project, path, ...(workspace ? { workspace } : {}) })).content as string;

describe('edit_file', () => {
  const app = 'const a = 1;\nconst b = 2;\n\nexport { a, b };\n';
  beforeAll(() => project('edits', { 'src/app.ts': app, 'dup.ts': 'x();\ny = 1;\nx();\ny = 1;\n' }));

  it('applies an exact edit, returns a unified diff and the new etag', async () => {
    const before = await h.ok('read_file', { project: 'edits', path: 'src/app.ts' });
    const r = await h.ok('edit_file', {
      project: 'edits',
      path: 'src/app.ts',
      edits: [{ old_text: 'const b = 2;', new_text: 'const b = 3;' }],
    });
    expect(r).toMatchObject({ path: 'src/app.ts', written: true });
    expect(r.diff).toContain('--- a/src/app.ts\n+++ b/src/app.ts\n');
    expect(r.diff).toContain('\n-const b = 2;\n+const b = 3;\n');
    expect(r.etag).not.toBe(before.etag);
    const after = await h.ok('read_file', { project: 'edits', path: 'src/app.ts' });
    expect(after).toMatchObject({ etag: r.etag, state: 'modified' });
    expect(after.content).toBe(app.replace('const b = 2;', 'const b = 3;'));
  });

  it('dry_run returns the diff and changes nothing', async () => {
    const current = await h.ok('read_file', { project: 'edits', path: 'src/app.ts' });
    const before = await snapshot(h.db);
    const r = await h.ok('edit_file', {
      project: 'edits',
      path: 'src/app.ts',
      edits: [{ old_text: 'const a = 1;', new_text: 'const a = 10;' }],
      dry_run: true,
    });
    expect(r).toMatchObject({ written: false, etag: current.etag });
    expect(r.diff).toContain('\n-const a = 1;\n+const a = 10;\n');
    expect(await snapshot(h.db)).toEqual(before);
    expect(await read('edits', 'src/app.ts')).toBe(current.content);
  });

  it('refuses an ambiguous edit, naming the lines, and changes nothing', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('edit_file', {
      project: 'edits',
      path: 'dup.ts',
      edits: [{ old_text: 'y = 1;', new_text: 'y = 2;' }],
    });
    expect(text).toMatch(/^invalid_input: .*matches 2 places in dup\.ts.*lines 2, 4/);
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('refuses an edit whose text is not there, and changes nothing', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('edit_file', {
      project: 'edits',
      path: 'src/app.ts',
      edits: [
        { old_text: 'const a = 1;', new_text: 'const a = 5;' },
        { old_text: 'const c = 9;', new_text: 'const c = 0;' },
      ],
    });
    expect(text).toMatch(/^invalid_input: edit 2 of 2: old_text was not found in src\/app\.ts.*read_file/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await read('edits', 'src/app.ts')).toContain('const a = 1;');
  });

  it('refuses to edit a binary or missing file', async () => {
    await h.ok('write_file', {
      project: 'edits',
      path: 'logo.bin',
      content: Buffer.from([1, 0, 2, 0]).toString('base64'),
      encoding: 'base64',
    });
    expect(
      await h.fail('edit_file', {
        project: 'edits',
        path: 'logo.bin',
        edits: [{ old_text: 'a', new_text: 'b' }],
      }),
    ).toMatch(/^invalid_input: 'logo\.bin' is binary: use write_file with encoding 'base64'/);
    expect(
      await h.fail('edit_file', {
        project: 'edits',
        path: 'nope.ts',
        edits: [{ old_text: 'a', new_text: 'b' }],
      }),
    ).toMatch(/^not_found/);
  });

  it('refuses a write whose if_match is an etag read before a newer write', async () => {
    const { etag } = await h.ok('read_file', { project: 'edits', path: 'src/app.ts' });
    await h.ok('edit_file', {
      project: 'edits',
      path: 'src/app.ts',
      edits: [{ old_text: 'export { a, b };', new_text: 'export { a, b as bee };' }],
    });
    const before = await snapshot(h.db);
    await expect(
      h.stowage.workspace.write('edits', { principal: 'alice' }, [
        { path: 'src/app.ts', content: Buffer.from('stale\n'), ifMatch: etag },
      ]),
    ).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/^if_match failed/) });
    expect(await snapshot(h.db)).toEqual(before);
    expect(await read('edits', 'src/app.ts')).toContain('b as bee');
  });
});

describe('edit_file on large files', () => {
  const numbered = (n: number, line: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n';
  const stored = async (path: string) =>
    (await h.stowage.workspace.read('large', { principal: 'alice' }, path)).content.toString('utf8');
  const files = {
    'src/big.ts': numbered(5000, (i) => `const v${i} = compute(${i}, options); // ${i % 7}`),
    'data/items.txt': numbered(100_000, (i) => `    item(${i}) = value;`),
  };
  beforeAll(() => project('large', files));

  it('applies a 20 KB old_text in a 200 KB file', async () => {
    const file = files['src/big.ts'];
    expect(file.length).toBeGreaterThan(200_000);
    const from = file.indexOf('const v2000 ');
    const oldText = file.slice(from, file.indexOf('\n', from + 20_000));
    const newText = oldText.replaceAll('compute(', 'run(');
    const r = await h.ok('edit_file', {
      project: 'large',
      path: 'src/big.ts',
      edits: [{ old_text: oldText, new_text: newText }],
    });
    const expected = file.slice(0, from) + newText + file.slice(from + oldText.length);
    expect(await stored('src/big.ts')).toBe(expected);
    expect(applyPatch(file, r.diff as string)).toBe(expected);
  });

  it('applies a 10,000-line edit, ignoring whitespace, in a 100,000-line file; list_changes diffs both files', async () => {
    const file = files['data/items.txt'];
    const r = await h.ok('edit_file', {
      project: 'large',
      path: 'data/items.txt',
      edits: [
        {
          old_text: numbered(10_000, (i) => `item(${i + 40_000})  =  value;`),
          new_text: numbered(10_000, (i) => `item(${i + 40_000}) = VALUE;`),
        },
      ],
    });
    const lines = file.split('\n');
    for (let i = 40_000; i < 50_000; i++) lines[i] = `    item(${i}) = VALUE;`;
    const expected = lines.join('\n');
    expect(await stored('data/items.txt')).toBe(expected);
    expect(applyPatch(file, r.diff as string)).toBe(expected);
    const changes = await h.ok('list_changes', { project: 'large', diff: true });
    const diffOf = (path: string) =>
      (changes.changes as { path: string; diff?: string }[]).find((c) => c.path === path)!.diff;
    // This one is over the response budget: left out, and said so. The 200 KB file's is there.
    expect(diffOf('data/items.txt')).toBeUndefined();
    expect(changes.note).toContain('diffs left out for the response budget: data/items.txt');
    expect(applyPatch(files['src/big.ts'], diffOf('src/big.ts')!)).toBe(await stored('src/big.ts'));
  });
});

describe('edit_file racing another write', () => {
  // A blob store that lets a test run a write in the window between edit_file's read and its
  // write; with no cache, every read of a blob-stored file goes through it.
  let r: Harness;
  let dir: string;
  let duringGet: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-race-'));
    const fs = createFsBlobStore(dir);
    const blobs: BlobStore = {
      ...fs,
      kind: fs.kind,
      async get(hash) {
        const hook = duringGet;
        duringGet = undefined;
        await hook?.();
        return fs.get(hash);
      },
    };
    r = await createHarness({ blobs, cacheMaxBytes: 1, limits: { inlineBytes: 16 } });
    await project('race', { 'big.txt': 'original line\n'.repeat(10) }, r);
  });
  afterAll(async () => {
    await r.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses the edit when the file changed after it was read, keeping the other write', async () => {
    const other = 'written meanwhile\n'.repeat(3);
    duringGet = async () => {
      await r.ok('write_file', { project: 'race', path: 'big.txt', content: other });
    };
    const text = await r.fail('edit_file', {
      project: 'race',
      path: 'big.txt',
      edits: [{ old_text: 'original line\n'.repeat(10), new_text: 'edited\n' }],
    });
    expect(duringGet).toBeUndefined(); // the concurrent write did run
    expect(text).toMatch(/^conflict: if_match failed: 'big\.txt' changed.*read it again/);
    expect((await r.ok('read_file', { project: 'race', path: 'big.txt' })).content).toBe(other);
  });
});

describe('list_changes and discard_changes', () => {
  const committed = {
    'README.md': '# changes\n',
    'src/keep.ts': 'keep();\n',
    'src/edit.ts': 'one\ntwo\nthree\n',
    'src/drop.ts': 'drop();\n',
  };
  beforeAll(async () => {
    await project('changes', committed);
    await h.ok('write_file', { project: 'changes', path: 'src/edit.ts', content: 'one\n2\nthree\n' });
    await h.ok('write_file', { project: 'changes', path: 'src/new.ts', content: 'fresh\n' });
    await h.ok('delete_file', { project: 'changes', path: 'src/drop.ts' });
    await h.ok('write_file', {
      project: 'changes',
      path: 'other.txt',
      content: 'theirs\n',
      workspace: 'agent-2',
    });
  });

  it('lists added, modified and deleted files of this workspace only', async () => {
    const r = await h.ok('list_changes', { project: 'changes' });
    expect(r.workspace).toBe('alice');
    expect(r.changes).toEqual([
      { path: 'src/drop.ts', state: 'deleted', size: 0, etag: null },
      { path: 'src/edit.ts', state: 'modified', size: 12, etag: expect.any(String) },
      { path: 'src/new.ts', state: 'added', size: 6, etag: expect.any(String) },
    ]);
    const theirs = await h.ok('list_changes', { project: 'changes', workspace: 'agent-2' });
    expect(theirs.changes.map((c: { path: string; state: string }) => [c.path, c.state])).toEqual([
      ['other.txt', 'added'],
    ]);
  });

  it('diff: true gives unified diffs, /dev/null for added and deleted files', async () => {
    const { changes } = await h.ok('list_changes', { project: 'changes', diff: true });
    const diff = (path: string) => changes.find((c: { path: string }) => c.path === path).diff as string;
    expect(diff('src/edit.ts')).toContain('--- a/src/edit.ts\n+++ b/src/edit.ts\n');
    expect(diff('src/edit.ts')).toContain('@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n');
    expect(diff('src/new.ts')).toContain('--- /dev/null\n+++ b/src/new.ts\n');
    expect(diff('src/new.ts')).toContain('\n+fresh\n');
    expect(diff('src/drop.ts')).toContain('--- a/src/drop.ts\n+++ /dev/null\n');
    expect(diff('src/drop.ts')).toContain('\n-drop();\n');
    const plain = await h.ok('list_changes', { project: 'changes' });
    expect(plain.changes.some((c: object) => 'diff' in c)).toBe(false);
  });

  it('refuses to discard a path without changes and discards nothing', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('discard_changes', {
      project: 'changes',
      paths: ['src/new.ts', 'src/keep.ts'],
    });
    expect(text).toMatch(/^not_found: no changes to discard for: src\/keep\.ts; nothing was discarded/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await read('changes', 'src/new.ts')).toBe('fresh\n');
  });

  it('discards the given paths only', async () => {
    const r = await h.ok('discard_changes', { project: 'changes', paths: ['src/edit.ts', './src/drop.ts'] });
    expect(r.discarded).toEqual([
      { path: 'src/drop.ts', state: 'deleted' },
      { path: 'src/edit.ts', state: 'modified' },
    ]);
    expect(await read('changes', 'src/edit.ts')).toBe(committed['src/edit.ts']);
    expect(await read('changes', 'src/drop.ts')).toBe(committed['src/drop.ts']);
    const { changes } = await h.ok('list_changes', { project: 'changes' });
    expect(changes.map((c: { path: string }) => c.path)).toEqual(['src/new.ts']);
  });

  it('discards everything in this workspace and leaves other workspaces alone', async () => {
    await h.ok('write_file', { project: 'changes', path: 'README.md', content: '# changed\n' });
    const r = await h.ok('discard_changes', { project: 'changes' });
    expect(r.discarded.map((d: { path: string }) => d.path)).toEqual(['README.md', 'src/new.ts']);
    expect((await h.ok('list_changes', { project: 'changes' })).changes).toEqual([]);
    expect(await read('changes', 'README.md')).toBe(committed['README.md']);
    expect(await h.fail('read_file', { project: 'changes', path: 'src/new.ts' })).toMatch(/^not_found/);
    expect(await read('changes', 'other.txt', 'agent-2')).toBe('theirs\n');
    const again = await h.ok('discard_changes', { project: 'changes' });
    expect(again.discarded).toEqual([]);
  });
});

describe('limits', () => {
  let l: Harness;
  beforeAll(async () => {
    l = await createHarness({
      limits: { fileBytes: 100, projectBytes: 300, batchFiles: 3, oldTextChars: 20 },
    });
    await l.ok('create_project', { name: 'small' });
  });
  afterAll(() => l.close());
  const text = (n: number, ch = 'x') => ch.repeat(n);

  it('refuses a file over MAX_FILE_BYTES and stores nothing', async () => {
    const before = await snapshot(l.db);
    const err = await l.fail('write_file', { project: 'small', path: 'big.txt', content: text(101) });
    expect(err).toMatch(/^too_large: 'big\.txt' is 101 bytes, over the per-file limit of 100 bytes/);
    expect(await snapshot(l.db)).toEqual(before);
    expect(await l.fail('read_file', { project: 'small', path: 'big.txt' })).toMatch(/^not_found/);
    await l.ok('write_file', { project: 'small', path: 'exact.txt', content: text(100) });
  });

  it('refuses a write that would take the project over MAX_PROJECT_BYTES and stores nothing', async () => {
    await l.ok('write_files', {
      project: 'small',
      files: [
        { path: 'b.txt', content: text(90) },
        { path: 'c.txt', content: text(90) },
      ],
    }); // 280 bytes with exact.txt
    const before = await snapshot(l.db);
    const err = await l.fail('write_file', { project: 'small', path: 'd.txt', content: text(21) });
    expect(err).toMatch(/^too_large: .*'small' to 301 bytes, over its limit of 300.*MAX_PROJECT_BYTES/);
    expect(await snapshot(l.db)).toEqual(before);
    expect(await l.fail('read_file', { project: 'small', path: 'd.txt' })).toMatch(/^not_found/);
  });

  it('counts replaced and deleted bytes toward the quota', async () => {
    await l.ok('write_file', { project: 'small', path: 'exact.txt', content: text(100, 'y') });
    await l.ok('write_file', { project: 'small', path: 'b.txt', content: text(40) });
    await l.ok('write_file', { project: 'small', path: 'd.txt', content: text(70) }); // 300 exactly
    expect(await l.fail('write_file', { project: 'small', path: 'e.txt', content: text(1) })).toMatch(
      /^too_large: .* 301 bytes/,
    );
    await l.ok('delete_file', { project: 'small', path: 'c.txt' });
    await l.ok('write_file', { project: 'small', path: 'e.txt', content: text(90) });
  });

  it('refuses write_files and delete_file batches over MAX_BATCH_FILES', async () => {
    const before = await snapshot(l.db);
    const files = ['w1', 'w2', 'w3', 'w4'].map((p) => ({ path: `${p}.txt`, content: 'w' }));
    expect(await l.fail('write_files', { project: 'small', files })).toMatch(
      /^invalid_input: argument files: at most 3 files in one call \(MAX_BATCH_FILES\): split the batch/,
    );
    expect(
      await l.fail('delete_file', { project: 'small', paths: ['exact.txt', 'b.txt', 'd.txt', 'e.txt'] }),
    ).toMatch(
      /^invalid_input: argument paths: at most 3 paths in one call \(MAX_BATCH_FILES\): split the batch/,
    );
    expect(await snapshot(l.db)).toEqual(before);
    await l.ok('delete_file', { project: 'small', paths: ['b.txt', 'd.txt', 'e.txt'] });
  });

  it('refuses an edit whose old_text is over MAX_OLD_TEXT_CHARS, naming the fix, and changes nothing', async () => {
    await l.ok('write_file', { project: 'small', path: 'o.txt', content: 'abcdefghij\nklmnopqrstu\n' });
    const before = await snapshot(l.db);
    const err = await l.fail('edit_file', {
      project: 'small',
      path: 'o.txt',
      edits: [{ old_text: 'abcdefghij\nklmnopqrst', new_text: 'x' }],
    });
    expect(err).toMatch(
      /^too_large: edit 1 of 1: old_text is 21 chars, over the limit of 20 \(MAX_OLD_TEXT_CHARS\): split it into several smaller edits, or replace the whole file with write_file/,
    );
    expect(await snapshot(l.db)).toEqual(before);
    await l.ok('edit_file', {
      project: 'small',
      path: 'o.txt',
      edits: [{ old_text: 'abcdefghij', new_text: 'x' }],
    });
    await l.ok('delete_file', { project: 'small', path: 'o.txt' });
  });

  it('batch_read takes at most MAX_BATCH_FILES paths and leaves the rest of a glob out', async () => {
    await l.ok('write_files', {
      project: 'small',
      files: ['g1', 'g2', 'g3'].map((p) => ({ path: `g/${p}.txt`, content: p })),
    });
    await l.ok('write_file', { project: 'small', path: 'g/g4.txt', content: 'g4' });
    expect(
      await l.fail('batch_read', {
        project: 'small',
        paths: ['g/g1.txt', 'g/g2.txt', 'g/g3.txt', 'g/g4.txt'],
      }),
    ).toMatch(
      /^invalid_input: argument paths: at most 3 paths in one call \(MAX_BATCH_FILES\): split the batch/,
    );
    const r = await l.ok('batch_read', { project: 'small', glob: 'g/*' });
    expect(r.files.map((f: { path: string }) => f.path)).toEqual(['g/g1.txt', 'g/g2.txt', 'g/g3.txt']);
    expect(r.omitted).toEqual(['g/g4.txt']);
    expect(r.note).toMatch(/1 file\(s\) left out .*3-file limit/);
  });
});

describe('project tools', () => {
  let p: Harness;
  const names = ['alpha-web', 'beta-api', 'delta', 'epsilon', 'gamma_web', 'gammaxweb', 'zeta.docs'];
  beforeAll(async () => {
    p = await createHarness();
    await p.ok('create_project', { name: 'alpha-web', tags: ['web', 'ui'] });
    await p.ok('create_project', { name: 'beta-api', tags: ['api'], description: 'The backend' });
    await p.ok('create_project', { name: 'delta', description: 'old WEB site' });
    await p.ok('create_project', { name: 'epsilon' });
    await p.ok('create_project', { name: 'gamma_web', tags: ['web'] });
    await p.ok('create_project', { name: 'gammaxweb' });
    await p.ok('create_project', { name: 'zeta.docs', metadata: { owner: 'docs-team' } });
    await p.db.sql.query(`UPDATE projects SET status = 'archived' WHERE name IN ('delta', 'epsilon')`);
  });
  afterAll(() => p.close());
  const listed = (r: Record<string, any>) => (r.projects as { name: string }[]).map((x) => x.name);

  it('lists projects by name with their fields', async () => {
    const r = await p.ok('list_projects', {});
    expect(listed(r)).toEqual(names);
    expect(r.next_cursor).toBeUndefined();
    expect(r.projects[0]).toMatchObject({
      name: 'alpha-web',
      kind: 'project',
      tags: ['web', 'ui'],
      status: 'active',
      created_by: 'alice',
      version: 0,
    });
    expect(r.projects[0]).not.toHaveProperty('id');
    expect(r.projects.at(-1).metadata).toEqual({ owner: 'docs-team' });
  });

  it('filters by status, tag and query (query matches name or description, literally)', async () => {
    expect(listed(await p.ok('list_projects', { status: 'archived' }))).toEqual(['delta', 'epsilon']);
    expect(listed(await p.ok('list_projects', { status: 'active' }))).toEqual(
      names.filter((n) => n !== 'delta' && n !== 'epsilon'),
    );
    expect(listed(await p.ok('list_projects', { tag: 'web' }))).toEqual(['alpha-web', 'gamma_web']);
    expect(listed(await p.ok('list_projects', { query: 'web' }))).toEqual([
      'alpha-web',
      'delta',
      'gamma_web',
      'gammaxweb',
    ]);
    expect(listed(await p.ok('list_projects', { query: 'BACKEND' }))).toEqual(['beta-api']);
    expect(listed(await p.ok('list_projects', { query: '_' }))).toEqual(['gamma_web']);
    expect(listed(await p.ok('list_projects', { query: '%' }))).toEqual([]);
    expect(listed(await p.ok('list_projects', { tag: 'web', status: 'archived' }))).toEqual([]);
    expect(listed(await p.ok('list_projects', { query: 'web', status: 'archived' }))).toEqual(['delta']);
  });

  it('pages with limit and next_cursor, each project once', async () => {
    for (const [args, expected] of [
      [{}, names],
      [{ query: 'web' }, ['alpha-web', 'delta', 'gamma_web', 'gammaxweb']],
    ] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const r = await p.ok('list_projects', { ...args, limit: 2, ...(cursor ? { cursor } : {}) });
        expect(r.projects.length).toBeLessThanOrEqual(2);
        seen.push(...listed(r));
        cursor = r.next_cursor;
        pages++;
      } while (cursor && pages < 20);
      expect(seen).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / 2));
    }
    expect(await p.fail('list_projects', { cursor: 'bogus!' })).toMatch(
      /^invalid_input: cursor .*next_cursor/,
    );
  });

  it('refuses a duplicate name and an invalid one, naming the rule', async () => {
    const before = await snapshot(p.db);
    expect(await p.fail('create_project', { name: 'alpha-web' })).toMatch(
      /^already_exists: project 'alpha-web' already exists/,
    );
    expect(await p.fail('create_project', { name: 'My Project' })).toMatch(
      /^invalid_input: project name "My Project" is invalid: use 1-63 characters of lowercase letters, digits/,
    );
    expect(await p.fail('create_project', { name: 'MyProject' })).toMatch(/did you mean 'myproject'/);
    expect(await p.fail('create_project', { name: '-lead' })).toMatch(/starting with a letter or digit/);
    expect(await p.fail('create_project', { name: 'a'.repeat(64) })).toMatch(/^invalid_input/);
    expect(await snapshot(p.db)).toEqual(before);
  });

  it('get_project reports committed files and bytes, and drafts per workspace', async () => {
    expect(await p.fail('write_file', { project: 'epsilon', path: 'a.txt', content: 'a' })).toMatch(
      /^conflict: project 'epsilon' is archived and cannot be changed/,
    );
    await p.db.sql.query(`UPDATE projects SET status = 'active' WHERE name = 'epsilon'`);
    await p.ok('write_files', {
      project: 'epsilon',
      files: [
        { path: 'a.txt', content: 'aaaa' },
        { path: 'b.txt', content: 'bb' },
      ],
    });
    await p.ok('commit_task', { project: 'epsilon', task: { id: 'setup', title: 'Set up the tree' } });
    await p.ok('write_file', { project: 'epsilon', path: 'c.txt', content: 'ccc' });
    await p.ok('delete_file', { project: 'epsilon', path: 'b.txt' });
    await p.ok('write_file', { project: 'epsilon', path: 'a.txt', content: 'A', workspace: 'agent-2' });
    const r = await p.ok('get_project', { project: 'epsilon' });
    expect(r).toMatchObject({ name: 'epsilon', status: 'active' });
    expect(r.version).toBeGreaterThan(0);
    expect(r.stats).toEqual({
      files: 2,
      bytes: 6,
      drafts: [
        { workspace: 'agent-2', changes: 1, bytes: 1 },
        { workspace: 'alice', changes: 2, bytes: 3 },
      ],
    });
    expect(await p.fail('get_project', { project: 'ghost' })).toMatch(/^not_found: project 'ghost'/);
  });
});
