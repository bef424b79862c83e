// What the model sees: tool names, annotations, schemas (snapshotted so a change is a reviewed
// diff), toolset and read-only filtering, and resource listing, reading and completion.
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

const FILE_TOOLS = [
  'batch_read',
  'create_project',
  'delete_file',
  'edit_file',
  'get_project',
  'list_files',
  'list_projects',
  'move_file',
  'read_file',
  'search_files',
  'write_file',
  'write_files',
];

const CHANGE_TOOLS = [
  'commit_task',
  'discard_changes',
  'list_changes',
  'open_pull_request',
  'project_history',
  'sync_project',
];

const JOB_TOOLS = ['create_job', 'update_job', 'zip_job'];
const ADMIN_TOOLS = ['archive_project', 'cleanup', 'delete_project', 'restore_project', 'storage_stats'];

describe('tools/list', () => {
  it('lists exactly the designed tools, each with four annotations and both schemas', async () => {
    const { tools } = await h.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [...FILE_TOOLS, ...CHANGE_TOOLS, ...JOB_TOOLS, ...ADMIN_TOOLS].sort(),
    );
    for (const tool of tools) {
      const a = tool.annotations!;
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof a[hint], `${tool.name}.${hint}`).toBe('boolean');
      }
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.outputSchema?.type, `${tool.name} output schema`).toBe('object');
      expect(tool.description!.length, `${tool.name} description length`).toBeLessThanOrEqual(200);
    }
  });

  it('matches the reviewed snapshot of every definition', async () => {
    const { tools } = await h.client.listTools();
    await expect(JSON.stringify(tools, null, 2) + '\n').toMatchFileSnapshot('__snapshots__/tools.json');
  });

  it('read-only mode lists only read-only tools', async () => {
    const client = await h.connect('reader', { readOnly: true });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'batch_read',
      'get_project',
      'list_changes',
      'list_files',
      'list_projects',
      'project_history',
      'read_file',
      'search_files',
      'storage_stats',
    ]);
    expect(tools.every((t) => t.annotations?.readOnlyHint)).toBe(true);
  });

  it('toolsets filter what is listed', async () => {
    const client = await h.connect('changes-only', { toolsets: ['changes'] });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(CHANGE_TOOLS);
  });

  it('a tool outside the chosen toolsets cannot be called', async () => {
    const client = await h.connect('changes-only-2', { toolsets: ['changes'] });
    const result = await h.call('list_projects', {}, client);
    expect(result.isError).toBe(true);
  });

  it('invalid arguments are a tool error naming the argument', async () => {
    const text = await h.fail('read_file', { project: 'x' });
    expect(text).toMatch(/path/);
  });
});

describe('resources', () => {
  beforeAll(async () => {
    for (const name of ['res-a', 'res-b']) await h.ok('create_project', { name });
    await h.ok('write_files', {
      project: 'res-a',
      files: Array.from({ length: 120 }, (_, i) => ({
        path: `f/${String(i).padStart(3, '0')}.txt`,
        content: `${i}`,
      })),
    });
    await h.ok('write_file', {
      project: 'res-b',
      path: 'img/dot.bin',
      content: Buffer.from([0, 255]).toString('base64'),
      encoding: 'base64',
    });
    await h.ok('write_file', { project: 'res-b', path: 'docs/a b.md', content: '# spaced' });
  });

  it('lists every file across projects over several pages', async () => {
    const uris: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await h.client.listResources(cursor ? { cursor } : {});
      uris.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(uris).size).toBe(uris.length);
    expect(uris.filter((u) => u.startsWith('stowage://res-a/'))).toHaveLength(120);
    expect(uris).toContain('stowage://res-b/docs/a%20b.md');
  });

  it('reads text and binary resources', async () => {
    const text = await h.client.readResource({ uri: 'stowage://res-b/docs/a%20b.md' });
    expect(text.contents[0]).toMatchObject({ text: '# spaced', mimeType: 'text/markdown' });
    const blob = await h.client.readResource({ uri: 'stowage://res-b/img/dot.bin' });
    expect(blob.contents[0]).toMatchObject({ blob: Buffer.from([0, 255]).toString('base64') });
  });

  it('a missing resource is a resource-not-found protocol error', async () => {
    await expect(h.client.readResource({ uri: 'stowage://res-b/nope.txt' })).rejects.toMatchObject({
      code: -32002,
    });
    await expect(h.client.readResource({ uri: 'stowage://res-b/..%2Fx' })).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
    });
  });

  it('completes project names and paths', async () => {
    const ref = { type: 'ref/resource' as const, uri: 'stowage://{project}/{+path}' };
    const projects = await h.client.complete({ ref, argument: { name: 'project', value: 'res-' } });
    expect(projects.completion.values).toEqual(['res-a', 'res-b']);
    const paths = await h.client.complete({
      ref,
      argument: { name: 'path', value: 'docs/' },
      context: { arguments: { project: 'res-b' } },
    });
    expect(paths.completion.values).toEqual(['docs/a b.md']);
  });
});
