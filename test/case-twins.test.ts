// Paths that cannot survive a download (issue 14, item 7): a write or move that would put two
// spellings of one name, or a file and a directory of one name, into a workspace's view is
// refused and stores nothing; updates of what is there go on. Through a real MCP client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, snapshot, type Harness } from './support/harness.js';

let h: Harness;
const project = 'cased';
beforeAll(async () => {
  h = await createHarness();
  await h.ok('create_project', { name: project });
  await h.ok('write_files', {
    project,
    files: [
      { path: 'README.md', content: '# cased\n' },
      { path: 'Dir/a.txt', content: 'a\n' },
      { path: 'src/index.ts', content: 'main();\n' },
      { path: 'LICENSE', content: 'MIT\n' },
    ],
  });
  await h.ok('commit_task', { project, task: { id: 'setup', title: 'Set up' } });
});
afterAll(() => h.close());

const paths = async (): Promise<string[]> =>
  (await h.ok<{ entries: { path: string }[] }>('list_files', { project })).entries.map((e) => e.path);

describe('write_file', () => {
  it('refuses a file that differs only in case from a committed one, and still updates that one', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('write_file', { project, path: 'Readme.md', content: 'x' });
    expect(text).toMatch(/^conflict: 'Readme\.md' differs only in case from 'README\.md'/);
    expect(text).toMatch(/macOS or Windows.*use the existing spelling \('README\.md'\)/);
    expect(await snapshot(h.db)).toEqual(before);
    expect(await paths()).not.toContain('Readme.md');

    const updated = await h.ok('write_file', { project, path: 'README.md', content: '# cased, updated\n' });
    expect(updated).toMatchObject({ path: 'README.md', state: 'modified', changed: true });
  });

  it('compares case beyond ASCII', async () => {
    await h.ok('write_file', { project, path: 'docs/Ärger.md', content: 'x' });
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project, path: 'docs/ärger.md', content: 'y' })).toMatch(
      /^conflict: 'docs\/ärger\.md' differs only in case from 'docs\/Ärger\.md'/,
    );
    expect(await h.fail('write_file', { project, path: 'DOCS/ÄRGER.md/x', content: 'y' })).toMatch(
      /^conflict/,
    );
    expect(await snapshot(h.db)).toEqual(before);
  });

  it('refuses a file in a directory that differs only in case from an existing one', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('write_file', { project, path: 'dir/b.txt', content: 'b' });
    expect(text).toMatch(/^conflict: 'dir\/b\.txt' is in a directory that differs only in case from 'Dir\/'/);
    expect(text).toContain(`'Dir/b.txt'`);
    expect(await h.fail('write_file', { project, path: 'SRC/deep/x.ts', content: 'x' })).toMatch(
      /^conflict: .*'src\/'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    await h.ok('write_file', { project, path: 'Dir/b.txt', content: 'b' });
  });

  it('refuses a file named like a directory, and a directory named like a file', async () => {
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project, path: 'Src', content: 'x' })).toMatch(
      /^conflict: 'Src' would be a file where the project already has the directory 'src\/'/,
    );
    expect(await h.fail('write_file', { project, path: 'readme.md/notes.txt', content: 'x' })).toMatch(
      /^conflict: 'readme\.md\/notes\.txt' needs a directory 'readme\.md\/', but .* a file 'README\.md'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
  });

  it("counts the writer's own view: its drafts and deletions, not other workspaces' drafts", async () => {
    const bob = await h.connect('bob');
    await h.ok('write_file', { project, path: 'Notes.md', content: 'bob\n' }, bob);
    // Bob's draft is private: alice may write her own spelling...
    await h.ok('write_file', { project, path: 'notes.md', content: 'alice\n' });
    // ...but not a second one next to her own draft.
    const before = await snapshot(h.db);
    expect(await h.fail('write_file', { project, path: 'NOTES.md', content: 'x' })).toMatch(
      /^conflict: 'NOTES\.md' differs only in case from 'notes\.md'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    // A committed file this workspace deleted is not in its view: its name may be respelled.
    await h.ok('delete_file', { project, path: 'LICENSE' });
    await h.ok('write_file', { project, path: 'License', content: 'MIT\n' });
    expect(await paths()).toContain('License');
  });

  it('refuses the later of two twin spellings written in one group-commit batch', async () => {
    // Through the domain, as concurrent sessions would: the first call is taken alone, and the
    // two twins queue behind it and are planned in one transaction, where neither is stored yet.
    const write = (path: string) =>
      h.stowage.workspace.write(project, { principal: 'alice' }, [{ path, content: Buffer.from(path) }]);
    const settled = await Promise.allSettled([
      write('race/lead.txt'),
      write('race/Twin.txt'),
      write('race/twin.txt'),
      write('Race/other.txt'),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(
      /'race\/twin\.txt' differs only in case from 'race\/Twin\.txt'/,
    );
    expect(String((settled[3] as PromiseRejectedResult).reason)).toMatch(
      /differs only in case from 'race\/'/,
    );
    expect((await paths()).filter((p) => /^race\//i.test(p))).toEqual(['race/Twin.txt', 'race/lead.txt']);
  });
});

describe('write_files', () => {
  it('refuses twins within one call, and a twin of an existing path, all or nothing', async () => {
    const before = await snapshot(h.db);
    expect(
      await h.fail('write_files', {
        project,
        files: [
          { path: 'batch/One.md', content: '1' },
          { path: 'Batch/two.md', content: '2' },
        ],
      }),
    ).toMatch(
      /^invalid_input: 'Batch\/two\.md' is in a directory that differs only in case from 'batch\/'.*this call/,
    );
    expect(
      await h.fail('write_files', {
        project,
        files: [
          { path: 'batch/fine.md', content: 'fine' },
          { path: 'readme.MD', content: 'x' },
        ],
      }),
    ).toMatch(/^conflict: 'readme\.MD' differs only in case from 'README\.md'/);
    expect(await snapshot(h.db)).toEqual(before);
    expect((await paths()).filter((p) => /^batch\//i.test(p))).toEqual([]);
  });
});

describe('move_file', () => {
  it('refuses a destination that is a case twin, and allows renaming only the case', async () => {
    await h.ok('write_file', { project, path: 'move/plan.md', content: 'plan\n' });
    const before = await snapshot(h.db);
    expect(await h.fail('move_file', { project, from: 'move/plan.md', to: 'readme.md' })).toMatch(
      /^conflict: 'readme\.md' differs only in case from 'README\.md'/,
    );
    expect(await h.fail('move_file', { project, from: 'move/plan.md', to: 'DIR/plan.md' })).toMatch(
      /^conflict: 'DIR\/plan\.md' is in a directory that differs only in case from 'Dir\/'/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    expect(await paths()).toContain('move/plan.md');

    // The source leaves as the destination arrives.
    await h.ok('move_file', { project, from: 'move/plan.md', to: 'move/PLAN.md' });
    await h.ok('move_file', { project, from: 'move/PLAN.md', to: 'Move/PLAN.md' });
    expect((await paths()).filter((p) => /^move\//i.test(p))).toEqual(['Move/PLAN.md']);
  });
});
