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
  'update_project',
  'write_file',
  'write_files',
];

const CHANGE_TOOLS = [
  'checkpoint',
  'commit_task',
  'diff',
  'discard_changes',
  'file_history',
  'list_changes',
  'open_pull_request',
  'project_history',
  'restore',
  'sync_project',
];

const JOB_TOOLS = ['create_job', 'update_job', 'zip_job'];
const ADMIN_TOOLS = [
  'archive_project',
  'backup',
  'cleanup',
  'delete_project',
  'restore_project',
  'storage_stats',
];

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

  it('costs at most 500 bytes a tool as Claude Code forwards it, and the whole list 25 KB per 26 tools', async () => {
    const { tools } = await h.client.listTools();
    // Claude Code hands the model each tool as {name: mcp__<server>__<tool>, description,
    // input_schema}; the whole tools/list (output schemas included) is what every client fetches,
    // once a session: 25 KB for the 26 tools there were when that was the target, and no more a
    // tool on average for every tool added since.
    const forwarded = tools.map((t) =>
      JSON.stringify({
        name: `mcp__stowage__${t.name}`,
        description: t.description,
        input_schema: t.inputSchema,
      }),
    );
    const bytes = forwarded.reduce((n, t) => n + Buffer.byteLength(t), 0);
    expect(bytes / tools.length).toBeLessThanOrEqual(500);
    expect(Buffer.byteLength(JSON.stringify({ tools })) / tools.length).toBeLessThanOrEqual(25_000 / 26);
  });

  it('closes every input object and uses only schema forms every client takes', async () => {
    const { tools } = await h.client.listTools();
    const problems: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const schema = node as Record<string, unknown>;
      if (Array.isArray(schema.type)) problems.push(`${path}: type is a list`);
      if ('$schema' in schema) problems.push(`${path}: $schema`);
      if (schema.type === 'object' && schema.additionalProperties !== false) {
        const extra = schema.additionalProperties;
        // A record (labels) says what its values are; anything else is closed.
        if (!extra || typeof extra !== 'object' || !Object.keys(extra).length || schema.properties) {
          problems.push(`${path}: object not closed`);
        }
      }
      for (const [key, value] of Object.entries(schema)) {
        if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}.${key}[${i}]`));
        else walk(value, `${path}.${key}`);
      }
    };
    for (const tool of tools) walk(tool.inputSchema, tool.name);
    expect(problems).toEqual([]);
  });

  it('advertises the configured batch limit, in the schema and in the description', async () => {
    const small = await createHarness({ limits: { batchFiles: 7 } });
    try {
      const { tools } = await small.client.listTools();
      const byName = new Map(tools.map((t) => [t.name, t]));
      const files = (name: string, arg: string) =>
        (byName.get(name)!.inputSchema.properties![arg] as { maxItems: number }).maxItems;
      expect([
        files('write_files', 'files'),
        files('delete_file', 'paths'),
        files('batch_read', 'paths'),
      ]).toEqual([7, 7, 7]);
      for (const name of ['write_files', 'delete_file', 'batch_read']) {
        expect(byName.get(name)!.description).toContain('up to 7 ');
      }
      expect(
        await small.fail('write_files', {
          project: 'p',
          files: Array.from({ length: 8 }, (_, i) => ({ path: `${i}`, content: '' })),
        }),
      ).toMatch(/^invalid_input: .*files.*7/);
    } finally {
      await small.close();
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
      'diff',
      'file_history',
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
    // A write is refused saying why and what to change, not as an unknown tool.
    expect(await h.fail('write_file', { project: 'x', path: 'a.md', content: 'a' }, client)).toMatch(
      /^forbidden: write_file changes data and this server is read-only \(STOWAGE_READ_ONLY=true\)/,
    );
  });

  it('toolsets filter what is listed', async () => {
    const client = await h.connect('changes-only', { toolsets: ['changes'] });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(CHANGE_TOOLS);
  });

  it('a tool outside the chosen toolsets cannot be called', async () => {
    const client = await h.connect('changes-only-2', { toolsets: ['changes'] });
    expect(await h.fail('list_projects', {}, client)).toMatch(
      /^forbidden: list_projects is in the 'files' toolset, which this server leaves out: add files to STOWAGE_TOOLSETS/,
    );
    expect(await h.fail('no_such_tool', {}, client)).toMatch(
      /^invalid_input: unknown tool no_such_tool: call one of/,
    );
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

  it('lists one resource per project, over pages, whatever the number of files', async () => {
    // 120 files in res-a and 105 more projects: the listing pages through projects only.
    for (let i = 0; i < 105; i++)
      await h.ok('create_project', { name: `many-${String(i).padStart(3, '0')}` });
    const uris: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await h.client.listResources(cursor ? { cursor } : {});
      uris.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(new Set(uris).size).toBe(uris.length);
    expect(uris).toContain('stowage://res-a');
    expect(uris).toContain('stowage://many-104');
    expect(uris.filter((u) => u.startsWith('stowage://res-a/'))).toEqual([]);
    await expect(h.client.listResources({ cursor: 'bogus' })).rejects.toThrow(/invalid cursor/);
  });

  it("reads a project's listing: each file's path and size, as the caller's workspace sees it", async () => {
    const read = await h.client.readResource({ uri: 'stowage://res-b' });
    expect(read.contents[0]).toMatchObject({ uri: 'stowage://res-b', mimeType: 'text/plain' });
    const lines = (read.contents[0] as { text: string }).text.split('\n');
    expect(lines.slice(1)).toEqual(['docs/a b.md\t8', 'img/dot.bin\t2', '']);
    const many = await h.client.readResource({ uri: 'stowage://res-a' });
    expect(
      (many.contents[0] as { text: string }).text.split('\n').filter((l) => l.startsWith('f/')),
    ).toHaveLength(120);
    const templates = await h.client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toEqual(
      expect.arrayContaining(['stowage://{project}/{+path}', 'stowage://{project}']),
    );
    await expect(h.client.readResource({ uri: 'stowage://no-such-project' })).rejects.toMatchObject({
      code: -32002,
    });
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
