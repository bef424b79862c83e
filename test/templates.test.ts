// Templates (seed 003): create_project {from: '<project>[@<point>]'} starts a project with
// another's files without copying their content; update_project {template} marks a template
// and list_projects {template: true} lists them. Through a real MCP client, real Postgres and
// a real blob store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ limits: { inlineBytes: 16 } });
  await h.ok('create_project', { name: 'backend' });
  await h.ok('write_files', {
    project: 'backend',
    files: [
      { path: 'package.json', content: '{"name":"backend","version":"1.0.0"}\n' },
      { path: 'src/server.ts', content: 'export const port = 3000;\n' },
      { path: 'bin/run', content: '#!/bin/sh\nnode dist/server.js\n' },
    ],
  });
  await h.ok('commit_task', { project: 'backend', task: { id: 1, title: 'Template v1' } });
  await h.ok('write_file', {
    project: 'backend',
    path: 'src/server.ts',
    content: 'export const port = 8080;\n',
  });
  await h.ok('commit_task', { project: 'backend', task: { id: 2, title: 'Template v2' } });
  await h.ok('write_file', { project: 'backend', path: 'draft.md', content: 'a draft\n' });
});
afterAll(() => h.close());

const files = async (project: string) => {
  const listed = await h.ok('list_files', { project });
  const out: Record<string, string> = {};
  for (const e of listed.entries as { path: string }[]) {
    out[e.path] = (await h.ok('read_file', { project, path: e.path })).content as string;
  }
  return out;
};

describe('create_project from another project', () => {
  it("starts with the source's committed files, sharing their content", async () => {
    const blobsBefore = (await h.db.sql.query(`SELECT count(*)::int AS n FROM blobs`))[0]!.n;
    const created = await h.ok('create_project', { name: 'service-a', from: 'backend', description: 'a' });
    expect(created).toMatchObject({ name: 'service-a', template: false, description: 'a' });
    expect(await files('service-a')).toEqual({
      'bin/run': '#!/bin/sh\nnode dist/server.js\n',
      'package.json': '{"name":"backend","version":"1.0.0"}\n',
      'src/server.ts': 'export const port = 8080;\n',
    });
    // Committed, not drafts; and no content was stored again.
    expect((await h.ok('list_changes', { project: 'service-a' })).changes).toEqual([]);
    expect((await h.db.sql.query(`SELECT count(*)::int AS n FROM blobs`))[0]!.n).toBe(blobsBefore);
    // Its own project from then on: a change there leaves the source alone.
    await h.ok('write_file', {
      project: 'service-a',
      path: 'src/server.ts',
      content: 'export const port = 1;\n',
    });
    expect((await files('backend'))['src/server.ts']).toBe('export const port = 8080;\n');
  });

  it('at a point in time: a commit, or a workspace (drafts stored as content of their own)', async () => {
    await h.ok('create_project', { name: 'service-v1', from: 'backend@Task #1' });
    expect((await files('service-v1'))['src/server.ts']).toBe('export const port = 3000;\n');
    await h.ok('create_project', { name: 'service-ws', from: 'backend@workspace:alice' });
    expect(await files('service-ws')).toMatchObject({ 'draft.md': 'a draft\n' });
    const history = await h.ok('file_history', { project: 'service-ws', path: 'draft.md' });
    expect(history.versions).toEqual([expect.objectContaining({ workspace: null, how: 'import' })]);
  });

  it('refuses what cannot be, changing nothing', async () => {
    expect(await h.fail('create_project', { name: 'x1', from: 'nowhere' })).toMatch(
      /^not_found: project 'nowhere'/,
    );
    expect(await h.fail('create_project', { name: 'x2', from: 'backend@Task #99' })).toMatch(
      /^not_found: no commit of Task #99 in project 'backend'/,
    );
    expect(
      await h.fail('create_project', {
        name: 'x3',
        from: 'backend',
        remote: { url: 'https://example.com/a.git' },
      }),
    ).toMatch(/^invalid_input: pass from or remote, not both/);
    expect(await h.fail('create_project', { name: 'x4', from: 'backend', quota_bytes: 10 })).toMatch(
      /^too_large/,
    );
    const names = (await h.ok('list_projects', {})).projects.map((p: { name: string }) => p.name);
    expect(names.filter((n: string) => n.startsWith('x'))).toEqual([]);
  });
});

describe('templates', () => {
  it('update_project marks one, list_projects {template: true} lists only those', async () => {
    expect(await h.ok('update_project', { project: 'backend', template: true })).toMatchObject({
      template: true,
    });
    const templates = await h.ok('list_projects', { template: true });
    expect(templates.projects.map((p: { name: string }) => p.name)).toEqual(['backend']);
    const others = await h.ok('list_projects', { template: false });
    expect(others.projects.map((p: { name: string }) => p.name)).not.toContain('backend');
    await h.ok('update_project', { project: 'backend', template: false });
    expect((await h.ok('list_projects', { template: true })).projects).toEqual([]);
  });
});
