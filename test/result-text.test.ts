// A tool result's text carries everything its structuredContent carries, file content as it is:
// resultText on its own, then every kind of result of the real tools, each read back from its
// text alone and compared with its structuredContent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultText } from '../src/tools/result-text.js';
import { createHarness, type Harness } from './support/harness.js';

const HEADER = /^--- (\S+?)(?: \((.*)\))? ---$/;

/** Reads a result text back the way its format says: summary, JSON, then exact text blocks. */
function parseResultText(text: string) {
  const [summary, ...lines] = text.split('\n');
  let i = 0;
  let data: Record<string, unknown> = {};
  if (i < lines.length && !HEADER.test(lines[i]!)) {
    const json: string[] = [];
    while (i < lines.length && !HEADER.test(lines[i]!)) json.push(lines[i++]!);
    data = JSON.parse(json.join('\n')) as Record<string, unknown>;
  }
  const paths: (string | undefined)[] = [];
  while (i < lines.length) {
    const [, at, path] = HEADER.exec(lines[i++]!)!;
    const body: string[] = [];
    while (i < lines.length && !HEADER.test(lines[i]!)) body.push(lines[i++]!);
    setAt(data, at!, body.join('\n'));
    paths.push(path);
  }
  return { summary, data, paths };
}

function setAt(root: Record<string, unknown>, at: string, value: string) {
  const keys = at.split(/\.|(?=\[)/).map((k) => (k.startsWith('[') ? Number(k.slice(1, -1)) : k));
  let node: any = root;
  for (const key of keys.slice(0, -1)) node = node[key];
  node[keys.at(-1)!] = value;
}

describe('resultText', () => {
  it('gives file content as it is after a header, the rest as JSON', () => {
    const content = '# Plan\n\nSay "hi" \\ then\n\tindent\n';
    const structured = { path: 'notes/a.md', etag: 'e1', size: 32, encoding: 'utf8', content, lines: 4 };
    const text = resultText('notes/a.md: lines 1-4 of 4', structured);
    expect(text).toBe(
      [
        'notes/a.md: lines 1-4 of 4',
        '{"path":"notes/a.md","etag":"e1","size":32,"encoding":"utf8","lines":4}',
        '--- content (notes/a.md) ---',
        content,
      ].join('\n'),
    );
    expect(text.endsWith(content)).toBe(true);
    expect(parseResultText(text).data).toEqual(structured);
  });

  it('shows a one-line content raw too, and keeps quotes and backslashes unescaped', () => {
    const structured = { path: 'x.json', content: '{"a":"b\\\\c"}' };
    const text = resultText('x.json', structured);
    expect(text).toContain('\n{"a":"b\\\\c"}');
    expect(parseResultText(text).data).toEqual(structured);
  });

  it('puts each element of a top-level list on its own line and each file content in its own block', () => {
    const structured = {
      files: [
        { path: 'a.md', content: 'A\n' },
        { path: 'b.txt', content: 'no newline at the end' },
        { path: 'c.md', error: { code: 'not_found', message: 'c.md does not exist' } },
        { path: 'd.md', content: '' },
      ],
      omitted: ['e.md'],
      budget: { max_chars: 100, used_chars: 24 },
    };
    const text = resultText('read 3 of 5 file(s)', structured);
    expect(text.split('\n').slice(1, 8)).toEqual([
      '{"files":[',
      '{"path":"a.md"},',
      '{"path":"b.txt"},',
      '{"path":"c.md","error":{"code":"not_found","message":"c.md does not exist"}},',
      '{"path":"d.md"}',
      '],"omitted":[',
      '"e.md"',
    ]);
    const back = parseResultText(text);
    expect(back.data).toEqual(structured);
    expect(back.paths).toEqual(['a.md', 'b.txt', 'd.md']);
  });

  it('shows any multi-line string raw, at any depth, and leaves strings in lists in the JSON', () => {
    const structured = {
      commits: [{ id: 1, message: 'Title\n\nBody "quoted"\r\n', tags: ['x\ny'] }],
      diff: '--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n',
      note: 'one line',
    };
    const text = resultText('1 commit(s)', structured);
    expect(text).toContain(
      '\n--- commits[0].message ---\nTitle\n\nBody "quoted"\r\n\n--- diff ---\n--- a/f\n',
    );
    expect(parseResultText(text).data).toEqual(structured);
  });

  it('is the summary alone when there is nothing more', () => {
    expect(resultText('done', {})).toBe('done');
    expect(resultText('done', { x: undefined })).toBe('done\n{}');
  });
});

describe('every tool result: its text alone gives back its structuredContent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.ok('create_project', { name: 'texts' });
    await h.ok('write_files', {
      project: 'texts',
      files: [
        { path: 'README.md', content: '# Texts\n\nSay "hi" \\ here.\n' },
        { path: 'src/app.ts', content: 'export const app = () => "app";\n' },
      ],
    });
    await h.ok('commit_task', { project: 'texts', task: { id: 1, title: 'Start\n\nwith two files' } });
  });
  afterAll(() => h.close());

  const calls: [string, Record<string, unknown>][] = [
    ['read_file', { project: 'texts', path: 'README.md' }],
    ['read_file', { project: 'texts', path: 'README.md', offset: 3, limit: 1 }],
    ['batch_read', { project: 'texts', glob: '**/*' }],
    ['list_files', { project: 'texts' }],
    ['search_files', { project: 'texts', pattern: 'app' }],
    [
      'edit_file',
      { project: 'texts', path: 'src/app.ts', edits: [{ old_text: '"app"', new_text: '"App"' }] },
    ],
    ['list_changes', { project: 'texts' }],
    ['project_history', { project: 'texts' }],
    ['get_project', { project: 'texts' }],
    ['list_projects', {}],
  ];
  for (const [tool, args] of calls) {
    it(`${tool} ${JSON.stringify(args)}`, async () => {
      const result = await h.call(tool, args);
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      const text = (result.content[0] as { type: string; text: string }).text;
      expect(parseResultText(text).data).toEqual(result.structuredContent);
    });
  }

  it('read_file: the file as it is ends the text', async () => {
    const result = await h.call('read_file', { project: 'texts', path: 'README.md' });
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(/^README\.md: lines 1-3 of 3 .*\n\{.*\}\n--- content \(README\.md\) ---\n/);
    expect(text.endsWith('\n# Texts\n\nSay "hi" \\ here.\n')).toBe(true);
  });
});
