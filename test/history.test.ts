// Time travel: every version kept (file_history), reads as of any point (read_file at), and
// checkpoints, through a real MCP client against real Postgres and blob store. Versions are not
// coalesced here (HISTORY_COALESCE_SECONDS=0) except where coalescing is what is tested.
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
