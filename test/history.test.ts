// Time travel: every version kept (file_history), reads as of any point (read_file at), and
// checkpoints, through a real MCP client against real Postgres and blob store. Versions are not
// coalesced here (HISTORY_COALESCE_SECONDS=0) except where coalescing is what is tested.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ historyCoalesceSeconds: 0 });
});
afterAll(() => h.close());

interface Version {
  id: string;
  path: string;
  workspace: string | null;
  op: string;
  etag: string | null;
  how: string | null;
  by: string | null;
  commit?: { task: string };
}

const history = async (project: string, path: string, more: Record<string, unknown> = {}) =>
  (await h.ok<{ versions: Version[]; next_cursor?: string }>('file_history', { project, path, ...more }))
    .versions;
const readAt = async (project: string, path: string, at: string, more: Record<string, unknown> = {}) =>
  (await h.ok('read_file', { project, path, at, ...more })).content as string;

describe('file_history', () => {
  beforeAll(async () => {
    await h.ok('create_project', { name: 'hist' });
    await h.ok('write_file', { project: 'hist', path: 'a.md', content: 'one\n' });
    await h.ok('edit_file', { project: 'hist', path: 'a.md', edits: [{ old_text: 'one', new_text: 'two' }] });
    await h.ok('commit_task', { project: 'hist', task: { id: 1, title: 'First' } });
    await h.ok('write_file', { project: 'hist', path: 'a.md', content: 'three\n' });
    await h.ok('move_file', { project: 'hist', from: 'a.md', to: 'b.md' });
    await h.ok('commit_task', { project: 'hist', task: { id: 2, title: 'Rename' } });
    await h.ok('delete_file', { project: 'hist', path: 'b.md' });
  });

  it('lists every version newest first, how and by whom, and continues across a move', async () => {
    const versions = await history('hist', 'b.md');
    expect(versions.map((v) => [v.path, v.workspace === null ? 'committed' : 'draft', v.op, v.how])).toEqual([
      ['b.md', 'draft', 'delete', 'file.delete'],
      // One commit: the draft goes, and the committed tree has the content.
      ['b.md', 'draft', 'clean', 'commit'],
      ['b.md', 'committed', 'upsert', 'commit'],
      ['b.md', 'draft', 'upsert', 'file.move'],
      // a.md, before it was moved
      ['a.md', 'draft', 'upsert', 'file.write'],
      ['a.md', 'draft', 'clean', 'commit'],
      ['a.md', 'committed', 'upsert', 'commit'],
      ['a.md', 'draft', 'upsert', 'file.write'], // edit_file writes
      ['a.md', 'draft', 'upsert', 'file.write'],
    ]);
    expect(versions.every((v) => v.by === 'alice')).toBe(true);
    expect(versions[2]!.commit).toMatchObject({ task: '2' });
  });

  it('pages with next_cursor, across the move too', async () => {
    const all = await history('hist', 'b.md');
    const seen: Version[] = [];
    let cursor: string | undefined;
    do {
      const page = await h.ok<{ versions: Version[]; next_cursor?: string }>('file_history', {
        project: 'hist',
        path: 'b.md',
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...page.versions);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((v) => v.id)).toEqual(all.map((v) => v.id));
  });

  it('reads each version back by its id', async () => {
    const versions = await history('hist', 'b.md');
    const contents = [];
    for (const v of versions.filter((v) => v.op === 'upsert'))
      contents.push(await readAt('hist', v.path, v.id));
    expect(contents).toEqual(['three\n', 'three\n', 'three\n', 'two\n', 'two\n', 'one\n']);
  });

  it("keeps each version's content once its draft moves on, is reverted, discarded or paused", async () => {
    // A workspace's newest version shares its draft's bytes; every way the draft can change or
    // go must leave the version able to read them.
    await h.ok('create_project', { name: 'moves-on' });
    await h.ok('write_file', { project: 'moves-on', path: 'f', content: 'committed' });
    await h.ok('commit_task', { project: 'moves-on', task: { id: 1, title: 'Base' } });
    await h.ok('write_file', { project: 'moves-on', path: 'f', content: 'draft 1' });
    await h.ok('write_file', { project: 'moves-on', path: 'f', content: 'committed' }); // a revert
    await h.ok('write_file', { project: 'moves-on', path: 'f', content: 'draft 2' });
    await h.ok('discard_changes', { project: 'moves-on' });
    await h.ok('write_file', { project: 'moves-on', path: 'f', content: 'draft 3' });
    // With recording paused (as deleting or archiving a project does), nothing is recorded, and
    // the version sharing the old bytes still keeps them.
    await h.db.sql.transaction(async (tx) => {
      await tx.query(`SELECT set_config('stowage.history', 'off', true)`);
      await tx.query(`UPDATE drafts SET content = 'unrecorded', content_hash = 'x', size = 10 WHERE path = 'f'
                      AND project_id = (SELECT id FROM projects WHERE name = 'moves-on')`);
    });
    const drafts = (await history('moves-on', 'f')).filter((v) => v.workspace !== null && v.op === 'upsert');
    const read = [];
    for (const v of drafts) read.push(await readAt('moves-on', 'f', v.id));
    expect(read).toEqual(['draft 3', 'draft 2', 'draft 1', 'committed']);
  });

  it('reads at a commit (Task #), committed, a time, and refuses a point that does not exist', async () => {
    expect(await readAt('hist', 'a.md', 'Task #1')).toBe('two\n');
    expect(await h.fail('read_file', { project: 'hist', path: 'a.md', at: 'Task #2' })).toMatch(
      /^not_found: 'a.md' did not exist at 'Task #2'/,
    );
    expect(await readAt('hist', 'b.md', 'committed')).toBe('three\n');
    // Deleted in the workspace now; committed still has it.
    expect(await h.fail('read_file', { project: 'hist', path: 'b.md' })).toMatch(/^not_found/);
    const first = (await history('hist', 'a.md')).at(-1)!;
    const [row] = await h.db.sql.query<{ at: Date }>(`SELECT created_at AS at FROM versions WHERE id = $1`, [
      first.id.slice(1),
    ]);
    expect(await readAt('hist', 'a.md', row!.at.toISOString())).toBe('one\n');
    expect(await h.fail('read_file', { project: 'hist', path: 'a.md', at: 'nowhere' })).toMatch(
      /^not_found: no point 'nowhere' in project 'hist': use a version id from file_history/,
    );
    expect(await h.fail('read_file', { project: 'hist', path: 'a.md', at: 'v1', side: 'theirs' })).toMatch(
      /^invalid_input: pass side or at, not both/,
    );
  });
});

describe('batch_read at a point', () => {
  it('reads many files, by paths and glob, as a checkpoint saw them', async () => {
    await h.ok('create_project', { name: 'br' });
    await h.ok('write_files', {
      project: 'br',
      files: [
        { path: 'src/a.ts', content: 'a1' },
        { path: 'src/b.ts', content: 'b1' },
        { path: 'doc.md', content: 'd1' },
      ],
    });
    await h.ok('checkpoint', { project: 'br', name: 'then' });
    await h.ok('write_file', { project: 'br', path: 'src/a.ts', content: 'a2' });
    await h.ok('delete_file', { project: 'br', path: 'src/b.ts' });
    await h.ok('write_file', { project: 'br', path: 'src/c.ts', content: 'c2' });
    const contents = (r: Record<string, any>) =>
      (r.files as { path: string; content?: string; error?: { code: string } }[]).map((f) => [
        f.path,
        f.content ?? f.error?.code,
      ]);
    const then = await h.ok('batch_read', { project: 'br', glob: 'src/**', paths: ['doc.md'], at: 'then' });
    expect(contents(then)).toEqual([
      ['doc.md', 'd1'],
      ['src/a.ts', 'a1'],
      ['src/b.ts', 'b1'],
    ]);
    const now = await h.ok('batch_read', { project: 'br', glob: 'src/**' });
    expect(contents(now)).toEqual([
      ['src/a.ts', 'a2'],
      ['src/c.ts', 'c2'],
    ]);
    const missing = await h.ok('batch_read', { project: 'br', paths: ['src/c.ts'], at: 'then' });
    expect(contents(missing)).toEqual([['src/c.ts', 'not_found']]);
  });

  it('keeps each file its own earlier content when one call rewrites many', async () => {
    // One statement moves 40 drafts on at once: each version they ended gets its own old bytes.
    await h.ok('create_project', { name: 'many' });
    const files = (v: number) =>
      Array.from({ length: 40 }, (_, i) => ({ path: `f${i}.txt`, content: `file ${i} v${v}\n` }));
    await h.ok('write_files', { project: 'many', files: files(1) });
    await h.ok('checkpoint', { project: 'many', name: 'first' });
    await h.ok('write_files', { project: 'many', files: files(2) });
    await h.ok('write_files', { project: 'many', files: files(3) });
    const paths = files(1).map((f) => f.path);
    const at = async (point: string) =>
      ((await h.ok('batch_read', { project: 'many', paths, at: point })).files as { content: string }[]).map(
        (f) => f.content,
      );
    expect(await at('first')).toEqual(files(1).map((f) => f.content));
    const [, second] = await history('many', 'f7.txt');
    expect(await readAt('many', 'f7.txt', second!.id)).toBe('file 7 v2\n');
  });
});

describe('checkpoints', () => {
  beforeAll(async () => {
    await h.ok('create_project', { name: 'cp' });
    await h.ok('write_files', {
      project: 'cp',
      files: [
        { path: 'x.txt', content: 'x1' },
        { path: 'y.txt', content: 'y1' },
      ],
    });
  });

  it('names the whole view; later writes do not change what it reads', async () => {
    const taken = await h.ok('checkpoint', { project: 'cp', name: 'before-refactor' });
    expect(taken).toMatchObject({ name: 'before-refactor', workspace: 'alice' });
    await h.ok('write_file', { project: 'cp', path: 'x.txt', content: 'x2' });
    await h.ok('delete_file', { project: 'cp', path: 'y.txt' });
    expect(await readAt('cp', 'x.txt', 'before-refactor')).toBe('x1');
    expect(await readAt('cp', 'y.txt', 'before-refactor')).toBe('y1');
    expect(await h.fail('checkpoint', { project: 'cp', name: 'before-refactor' })).toMatch(
      /^already_exists: checkpoint 'before-refactor' exists/,
    );
    expect(await h.fail('checkpoint', { project: 'cp', name: 'committed' })).toMatch(/^invalid_input/);
    const listed = await h.ok('project_history', { project: 'cp', checkpoints: true });
    expect(listed.checkpoints).toEqual([
      expect.objectContaining({ name: 'before-refactor', workspace: 'alice' }),
    ]);
  });

  it('keeps a version a checkpoint needs from coalescing with the next write', async () => {
    const h2 = await createHarness(); // the default: 60 s coalescing
    try {
      await h2.ok('create_project', { name: 'co' });
      for (const n of [1, 2, 3]) await h2.ok('write_file', { project: 'co', path: 'f', content: `v${n}` });
      const burst = (await h2.ok('file_history', { project: 'co', path: 'f' })).versions as Version[];
      expect(burst).toHaveLength(1); // an autosave burst keeps its latest
      expect(await h2.ok('read_file', { project: 'co', path: 'f', at: burst[0]!.id })).toMatchObject({
        content: 'v3',
      });
      await h2.ok('checkpoint', { project: 'co', name: 'kept' });
      await h2.ok('write_file', { project: 'co', path: 'f', content: 'v4' });
      expect((await h2.ok('read_file', { project: 'co', path: 'f', at: 'kept' })).content).toBe('v3');
      expect((await h2.ok('file_history', { project: 'co', path: 'f' })).versions).toHaveLength(2);
    } finally {
      await h2.close();
    }
  });
});

describe('points in other workspaces', () => {
  it("reads another workspace's view with workspace:<name> when the caller may", async () => {
    await h.ok('create_project', { name: 'ws' });
    await h.ok('write_file', { project: 'ws', path: 'f', content: 'mine', workspace: 'feature' });
    expect(await readAt('ws', 'f', 'workspace:feature')).toBe('mine');
    const other = await h.connect('mallory');
    await h.ok('write_file', { project: 'ws', path: 'g', content: 'hers' }, other);
    expect(await readAt('ws', 'g', 'workspace:mallory')).toBe('hers');
  });
});

describe('diff', () => {
  beforeAll(async () => {
    await h.ok('create_project', { name: 'df' });
    await h.ok('write_files', {
      project: 'df',
      files: [
        { path: 'keep.txt', content: 'same\n' },
        { path: 'edit.txt', content: 'a\nb\nc\n' },
        { path: 'gone.txt', content: 'bye\n' },
        { path: 'old-name.txt', content: 'moving\n' },
        {
          path: 'logo.png',
          content: Buffer.from([0x89, 0x50, 0, 1, 2]).toString('base64'),
          encoding: 'base64',
        },
      ],
    });
    await h.ok('commit_task', { project: 'df', task: { id: 10, title: 'Base' } });
    await h.ok('write_file', { project: 'df', path: 'edit.txt', content: 'a\nB\nc\n' });
    await h.ok('delete_file', { project: 'df', path: 'gone.txt' });
    await h.ok('move_file', { project: 'df', from: 'old-name.txt', to: 'new-name.txt' });
    await h.ok('write_file', { project: 'df', path: 'added.txt', content: 'new\n' });
    await h.ok('write_file', {
      project: 'df',
      path: 'logo.png',
      content: Buffer.from([0x89, 0x50, 0, 9]).toString('base64'),
      encoding: 'base64',
    });
  });

  it('lists added, modified, deleted and renamed paths between a commit and now, text diffed, binary reported', async () => {
    const r = await h.ok('diff', { project: 'df', from: 'Task #10' });
    expect(r.files.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([
      ['added.txt', 'added'],
      ['edit.txt', 'modified'],
      ['gone.txt', 'deleted'],
      ['logo.png', 'modified'],
      ['new-name.txt', 'renamed'],
    ]);
    const byPath = new Map<string, { diff?: string }>(
      r.files.map((f: { path: string; diff?: string }) => [f.path, f]),
    );
    expect(byPath.get('edit.txt')!.diff).toBe(
      '--- a/edit.txt\n+++ b/edit.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n',
    );
    expect(byPath.get('gone.txt')!.diff).toContain('+++ /dev/null');
    expect(byPath.get('new-name.txt')).toMatchObject({ from_path: 'old-name.txt' });
    expect(byPath.get('logo.png')).toMatchObject({ binary: true });
    expect(byPath.get('logo.png')!.diff).toBeUndefined();
    expect(r.note).toMatch(/binary, not diffed: logo.png/);
  });

  it('diffs between any two points, limited to paths, with the context asked for', async () => {
    const r = await h.ok('diff', {
      project: 'df',
      from: 'committed',
      to: 'workspace:alice',
      paths: ['edit.txt'],
      context: 0,
    });
    expect(r.files).toEqual([
      {
        path: 'edit.txt',
        status: 'modified',
        diff: '--- a/edit.txt\n+++ b/edit.txt\n@@ -2,1 +2,1 @@\n-b\n+B\n',
      },
    ]);
    const none = await h.ok('diff', { project: 'df', from: 'committed', to: 'Task #10' });
    expect(none.files).toEqual([]);
  });

  it("finds what changed between points of one view, another's, and a draft older than either", async () => {
    await h.ok('create_project', { name: 'dfb' });
    await h.ok('write_files', {
      project: 'dfb',
      files: [
        { path: 'a.txt', content: 'a1\n' },
        { path: 'b.txt', content: 'b1\n' },
      ],
    });
    await h.ok('commit_task', { project: 'dfb', task: { id: 20, title: 'Base' } });
    await h.ok('write_file', { project: 'dfb', path: 'a.txt', content: 'a2\n' }); // alice's draft
    await h.ok('checkpoint', { project: 'dfb', name: 'drafted' });
    await h.ok('write_file', { project: 'dfb', path: 'c.txt', content: 'c1\n', workspace: 'bob' });
    await h.ok('commit_task', { project: 'dfb', task: { id: 21, title: 'Bob' }, workspace: 'bob' });
    await h.ok('write_file', { project: 'dfb', path: 'b.txt', content: 'b2\n', workspace: 'bob' });
    const changed = async (from: string, to?: string) =>
      (
        await h.ok<{ files: { path: string; status: string }[] }>('diff', {
          project: 'dfb',
          from,
          ...(to ? { to } : {}),
        })
      ).files.map((f) => `${f.status} ${f.path}`);
    expect(await changed('Task #20', 'Task #21')).toEqual(['added c.txt']);
    // Alice's draft predates Task #21: her view still differs from it there.
    expect(await changed('Task #21')).toEqual(['modified a.txt']);
    expect(await changed('drafted', 'committed')).toEqual(['modified a.txt', 'added c.txt']);
    expect(await changed('drafted')).toEqual(['added c.txt']);
    // Two workspaces' views: Bob's draft of b.txt and Alice's of a.txt.
    expect(await changed('workspace:bob')).toEqual(['modified a.txt', 'modified b.txt']);
    expect(await changed('Task #20', 'workspace:bob')).toEqual(['modified b.txt', 'added c.txt']);
  });

  it('leaves out what exceeds max_chars, naming it', async () => {
    const r = await h.ok('diff', { project: 'df', from: 'Task #10', max_chars: 1000 });
    expect(r.omitted).toEqual([]);
    await h.ok('write_file', { project: 'df', path: 'big.txt', content: 'x'.repeat(2000) });
    const cut = await h.ok('diff', { project: 'df', from: 'Task #10', max_chars: 1000 });
    expect(cut.omitted).toEqual(['big.txt']);
    expect(cut.note).toMatch(/^1 diff\(s\) left out for the 1000-char budget/);
    await h.ok('discard_changes', { project: 'df', paths: ['big.txt'] });
  });
});

describe('restore', () => {
  beforeAll(async () => {
    await h.ok('create_project', { name: 'rs' });
    await h.ok('write_files', {
      project: 'rs',
      files: [
        { path: 'a.txt', content: 'a1' },
        { path: 'b.txt', content: 'b1' },
      ],
    });
    await h.ok('commit_task', { project: 'rs', task: { id: 1, title: 'Base' } });
  });

  const view = async (project: string, workspace?: string) => {
    const listed = await h.ok('list_files', { project, ...(workspace ? { workspace } : {}) });
    const out: Record<string, string> = {};
    for (const e of listed.entries as { path: string; state: string }[]) {
      if (e.state === 'deleted') continue;
      out[e.path] = (await h.ok('read_file', { project, path: e.path, ...(workspace ? { workspace } : {}) }))
        .content as string;
    }
    return out;
  };

  it('restores one path, then all, to a commit; a second restore undoes the first', async () => {
    await h.ok('write_file', { project: 'rs', path: 'a.txt', content: 'a2' });
    await h.ok('delete_file', { project: 'rs', path: 'b.txt' });
    await h.ok('write_file', { project: 'rs', path: 'c.txt', content: 'c2' });
    const broken = await h.ok('checkpoint', { project: 'rs', name: 'broken' });
    expect(broken.name).toBe('broken');

    const dry = await h.ok('restore', { project: 'rs', to: 'Task #1', dry_run: true });
    expect(dry).toMatchObject({ dry_run: true, unchanged: 0 });
    expect(await view('rs')).toEqual({ 'a.txt': 'a2', 'c.txt': 'c2' });

    const one = await h.ok('restore', { project: 'rs', to: 'Task #1', paths: ['a.txt'] });
    expect(one.restored).toEqual([{ path: 'a.txt', action: 'write' }]);
    expect(await view('rs')).toEqual({ 'a.txt': 'a1', 'c.txt': 'c2' });

    const all = await h.ok('restore', { project: 'rs', to: 'Task #1' });
    expect(all.restored).toEqual([
      { path: 'b.txt', action: 'write' },
      { path: 'c.txt', action: 'delete' },
    ]);
    expect(all.unchanged).toBe(1);
    expect(await view('rs')).toEqual({ 'a.txt': 'a1', 'b.txt': 'b1' });
    expect((await h.ok('list_changes', { project: 'rs' })).changes).toEqual([]);

    await h.ok('restore', { project: 'rs', to: 'broken' });
    expect(await view('rs')).toEqual({ 'a.txt': 'a2', 'c.txt': 'c2' });
    // The restore is an ordinary change: commit_task commits it.
    await h.ok('commit_task', { project: 'rs', task: { id: 2, title: 'Back to broken' } });
    expect(await view('rs')).toEqual({ 'a.txt': 'a2', 'c.txt': 'c2' });
    expect(await readAt('rs', 'b.txt', 'Task #1')).toBe('b1');
  });

  it("forks another workspace's view with workspace:<name>", async () => {
    await h.ok('write_file', { project: 'rs', path: 'feature.txt', content: 'f', workspace: 'feature' });
    await h.ok('restore', { project: 'rs', to: 'workspace:feature', workspace: 'fork' });
    expect(await view('rs', 'fork')).toEqual(await view('rs', 'feature'));
    expect(await view('rs', 'fork')).toMatchObject({ 'feature.txt': 'f' });
  });

  it('lists the restored paths in the order they were asked for', async () => {
    await h.ok('create_project', { name: 'ro' });
    await h.ok('write_files', {
      project: 'ro',
      files: [
        { path: 'a.txt', content: 'a1' },
        { path: 'b.txt', content: 'b1' },
      ],
    });
    await h.ok('checkpoint', { project: 'ro', name: 'one' });
    await h.ok('write_files', {
      project: 'ro',
      files: [
        { path: 'a.txt', content: 'a2' },
        { path: 'b.txt', content: 'b2' },
      ],
    });
    const back = await h.ok('restore', { project: 'ro', to: 'one', paths: ['b.txt', 'a.txt', 'b.txt'] });
    expect(back).toMatchObject({
      restored: [
        { path: 'b.txt', action: 'write' },
        { path: 'a.txt', action: 'write' },
      ],
      unchanged: 0,
    });
  });

  it('refuses a restore that grows the workspace past the quota, and changes nothing', async () => {
    await h.ok('create_project', { name: 'rq', quota_bytes: 100 });
    await h.ok('write_file', { project: 'rq', path: 'big.txt', content: 'x'.repeat(80) });
    await h.ok('checkpoint', { project: 'rq', name: 'big' });
    await h.ok('write_file', { project: 'rq', path: 'big.txt', content: 'small' });
    await h.ok('write_file', { project: 'rq', path: 'other.txt', content: 'y'.repeat(40) });

    expect(await h.fail('restore', { project: 'rq', to: 'big', paths: ['big.txt'] })).toMatch(
      /^too_large: .*100/,
    );
    expect(await view('rq')).toEqual({ 'big.txt': 'small', 'other.txt': 'y'.repeat(40) });
    // Restoring all of it also removes other.txt (it did not exist then): 80 bytes fit.
    const all = await h.ok('restore', { project: 'rq', to: 'big' });
    expect(all.restored).toEqual([
      { path: 'big.txt', action: 'write' },
      { path: 'other.txt', action: 'delete' },
    ]);
    expect(await view('rq')).toEqual({ 'big.txt': 'x'.repeat(80) });
  });
});

describe('retention', () => {
  // Drafts over 1 KB keep their content in blobs here, to see which blobs stay.
  let r: Harness;
  beforeAll(async () => {
    r = await createHarness({ historyCoalesceSeconds: 0, limits: { inlineBytes: 1024 } });
  });
  afterAll(() => r.close());
  const big = (tag: string) => `${tag}\n`.repeat(2000);
  const hashOf = (text: string) => createHash('sha256').update(text).digest('hex');
  const ageAll = (project: string) =>
    Promise.all([
      r.db.sql.query(
        `UPDATE versions SET created_at = now() - interval '40 days'
         WHERE project_id = (SELECT id FROM projects WHERE name = $1)`,
        [project],
      ),
      r.db.sql.query(`UPDATE blobs SET created_at = now() - interval '2 hours'`),
    ]);

  it('prunes old draft versions nothing needs; keeps the latest, what a checkpoint needs, every commit and their content', async () => {
    await r.ok('create_project', { name: 'ret' });
    await r.ok('write_file', { project: 'ret', path: 'c.txt', content: big('c1') });
    await r.ok('commit_task', { project: 'ret', task: { id: 1, title: 'One' } });
    await r.ok('write_file', { project: 'ret', path: 'c.txt', content: big('c2') });
    await r.ok('commit_task', { project: 'ret', task: { id: 2, title: 'Two' } });
    await r.ok('write_file', { project: 'ret', path: 'f.txt', content: big('v1') });
    await r.ok('checkpoint', { project: 'ret', name: 'kept-v1' });
    await r.ok('write_file', { project: 'ret', path: 'f.txt', content: big('v2') });
    await r.ok('write_file', { project: 'ret', path: 'f.txt', content: big('v3') });
    await r.ok('write_file', { project: 'ret', path: 'g.txt', content: big('latest') });
    await ageAll('ret');

    const dry = await r.ok('cleanup', { dry_run: true });
    const done = await r.ok('cleanup', {});
    expect(done.pruned_versions).toBe(dry.pruned_versions);
    const left = ((await r.ok('file_history', { project: 'ret', path: 'f.txt' })).versions as Version[]).map(
      (v) => v.op,
    );
    expect(left).toEqual(['upsert', 'upsert']); // v3 (the latest) and v1 (the checkpoint's)
    const at = async (path: string, point: string) =>
      (await r.ok('read_file', { project: 'ret', path, at: point })).content as string;
    expect(await at('f.txt', 'kept-v1')).toBe(big('v1'));
    expect((await r.ok('read_file', { project: 'ret', path: 'f.txt' })).content).toBe(big('v3'));
    expect(await at('g.txt', 'workspace:alice')).toBe(big('latest'));
    expect(await at('c.txt', 'Task #1')).toBe(big('c1'));
    // Content a kept version names stays; the pruned version's goes.
    expect(await r.blobs.has(hashOf(big('v1')))).toBe(true);
    expect(await r.blobs.has(hashOf(big('c1')))).toBe(true);
    expect(await r.blobs.has(hashOf(big('v2')))).toBe(false);
    // Nothing more to prune: the rest is needed.
    expect((await r.ok('cleanup', {})).pruned_versions).toBe(0);
  });
});
