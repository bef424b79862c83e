// CPU-heavy calls (edit matching, content search, diffs) run on worker threads: the HTTP server
// keeps answering /healthz while one runs, and past CPU_TIME_LIMIT_MS the call fails with an
// error naming what to narrow, changes nothing, and the next call gets a fresh worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, snapshot, type Harness } from './support/harness.js';
import { callTool, connectHttp, serveHttp, textOf } from './support/http.js';

// Under the regex program limit, but building re2js's DFA for it over a long run of 'a's takes
// about 150-200 ms on the machine this was written on (later lines reuse the states).
const SLOW_PATTERN = '(?:.a|a.){390}b';
const slowText = (lines: number) => `${'a'.repeat(50_000)}!\n`.repeat(lines);
const numbered = (n: number, line: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n';
const items = numbered(100_000, (i) => `    item(${i}) = value;`);
/** Edits that each match only ignoring whitespace, so each one splits and compares all of
 *  `items`: about 50 ms each here. */
const tolerantEdits = Array.from({ length: 100 }, (_, k) => ({
  old_text: `item(${k * 997})  =  value;`,
  new_text: `item(${k * 997}) = VALUE;`,
}));

describe('a heavy call over HTTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { cpuTimeMs: 1000 } });
    await h.ok('create_project', { name: 'heavy' });
    await h.ok('write_file', { project: 'heavy', path: 'items.txt', content: items });
    await h.ok('write_file', {
      project: 'heavy',
      path: 'mid.txt',
      content: numbered(2000, (i) => `    item(${i}) = value;`),
    });
  });
  afterAll(() => h.close());

  it('leaves /healthz answering while it runs', async () => {
    const http = await serveHttp(h.stowage, { principal: 'alice' });
    const { client } = await connectHttp(http.url);
    try {
      const order: string[] = [];
      const edit = callTool(client, 'edit_file', {
        project: 'heavy',
        path: 'items.txt',
        edits: tolerantEdits,
      }).then((result) => {
        order.push('edit_file');
        return result;
      });
      // Let the server read the file and start matching. Were the matching on the event loop, it
      // would hold this very process, and this wait would end only once the edit had.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const health = await fetch(http.url.replace(/\/mcp$/, '/healthz'));
      order.push('healthz');
      expect(health.status).toBe(200);
      const result = await edit;
      expect(order).toEqual(['healthz', 'edit_file']);
      expect(textOf(result)).toMatch(/^too_large: editing 'items\.txt' .* CPU time limit of 1000 ms/);
    } finally {
      await client.close();
      await http.close();
    }
  });
  it('keeps a worker error’s code and message', async () => {
    // 50,000 chars: matched on a worker. Under this describe's generous limit, so that the error
    // is the edit's own, not the limit's, however busy the machine.
    const text = await h.fail('edit_file', {
      project: 'heavy',
      path: 'mid.txt',
      edits: [{ old_text: 'item(5) = value;\nitem(7) = value;', new_text: 'x' }],
    });
    expect(text).toMatch(
      /^invalid_input: edit 1 of 1: old_text was not found in mid\.txt, even ignoring whitespace/,
    );
    expect(text).toContain(
      'Closest: line 6 matches old_text\'s first line, but then old_text has "item(7) = value;" where the file has "    item(6) = value;" (line 7)',
    );
  });
});

describe('the CPU time limit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { cpuTimeMs: 20 } });
    await h.ok('create_project', { name: 'limited' });
    await h.ok('write_files', {
      project: 'limited',
      files: [
        { path: 'slow/a.txt', content: slowText(20) },
        { path: 'items.txt', content: items },
        { path: 'fine.txt', content: 'needle\n'.repeat(30_000) },
        { path: 'mid.txt', content: numbered(2000, (i) => `    item(${i}) = value;`) },
      ],
    });
    await h.ok('commit_task', { project: 'limited', task: { id: 'setup', title: 'Set up' } });
  });
  afterAll(() => h.close());

  it('stops a search, naming the glob and the pattern to narrow, and the next search gets a fresh worker', async () => {
    const text = await h.fail('search_files', {
      project: 'limited',
      pattern: SLOW_PATTERN,
      regex: true,
      glob: 'slow/**',
    });
    expect(text).toMatch(
      /^too_large: search_files ran past the CPU time limit of 20 ms \(CPU_TIME_LIMIT_MS\) with 0 of 1 files searched: narrow the files with a glob, or use a simpler pattern/,
    );
    // 210,000 chars: searched on a worker, which the one stopped above no longer is.
    const r = await h.ok('search_files', {
      project: 'limited',
      pattern: 'NEEDLE',
      glob: 'fine.txt',
      max_results: 2,
    });
    expect(r).toMatchObject({ files_searched: 1, truncated: true });
    expect(r.matches).toEqual([
      { path: 'fine.txt', line: 1, text: 'needle' },
      { path: 'fine.txt', line: 2, text: 'needle' },
    ]);
  });

  it('stops an edit, naming the fix, and writes nothing', async () => {
    const before = await snapshot(h.db);
    const text = await h.fail('edit_file', { project: 'limited', path: 'items.txt', edits: tolerantEdits });
    expect(text).toBe(
      `too_large: editing 'items.txt' (100 edit(s) on ${items.length} chars) ran past the CPU time limit of 20 ms ` +
        '(CPU_TIME_LIMIT_MS), and nothing was written: send fewer or smaller edits per call, or replace the file with write_file',
    );
    expect(await snapshot(h.db)).toEqual(before);
    const stored = await h.stowage.workspace.read('limited', { principal: 'alice' }, 'items.txt');
    expect(stored.content.toString('utf8')).toBe(items);
  });

  it('leaves out a diff that runs past the limit, and says so', async () => {
    await h.ok('write_file', {
      project: 'limited',
      path: 'items.txt',
      content: numbered(100_000, (i) => `ITEM ${i}`),
    });
    await h.ok('write_file', { project: 'limited', path: 'small.txt', content: 'small\n' });
    const r = await h.ok('list_changes', { project: 'limited', diff: true });
    const diffOf = (path: string) =>
      (r.changes as { path: string; diff?: string }[]).find((c) => c.path === path)!.diff;
    expect(diffOf('items.txt')).toBeUndefined();
    expect(diffOf('small.txt')).toBe('--- /dev/null\n+++ b/small.txt\n@@ -0,0 +1,1 @@\n+small\n');
    expect(r.note).toBe(
      'diffs left out for the CPU time limit of 20 ms (CPU_TIME_LIMIT_MS): items.txt (read_file them)',
    );
  });
});
