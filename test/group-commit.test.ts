// Group commit: concurrent writes to one project share transactions, yet each call keeps its own
// outcome. Calls are fired at once through the domain, as 50 HTTP sessions would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viewPairsStatement } from '../src/store/db/queries/view.js';
import type { Statement } from '../src/store/db/sql.js';
import { createHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ limits: { projectBytes: 64 * 1024 } });
});
afterAll(() => h.close());

const write = (project: string, workspace: string, path: string, content: string, ifMatch?: string) =>
  h.stowage.workspace.write(project, { principal: 'agent', workspace }, [
    { path, content: Buffer.from(content), ifMatch },
  ]);

const read = async (project: string, workspace: string, path: string) =>
  (await h.stowage.workspace.read(project, { principal: 'agent', workspace }, path)).content.toString();

/** Transactions that wrote the project's drafts: rows written by one transaction share xmin. */
const transactions = async (project: string) =>
  Number(
    (
      await h.db.sql.query<{ n: number }>(
        `SELECT count(DISTINCT d.xmin::text) AS n FROM drafts d JOIN projects p ON p.id = d.project_id
         WHERE p.name = $1`,
        [project],
      )
    )[0]!.n,
  );

describe('group commit', () => {
  it('lands every concurrent write, in fewer transactions than calls, each with its own version', async () => {
    await h.ok('create_project', { name: 'busy' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => write('busy', `w${i}`, 'src/draft.ts', `save ${i}\n`)),
    );
    expect(results.every(([r]) => r!.changed && r!.state === 'added')).toBe(true);
    for (let i = 0; i < 50; i++) expect(await read('busy', `w${i}`, 'src/draft.ts')).toBe(`save ${i}\n`);
    expect(await transactions('busy')).toBeLessThan(50);
    const events = await h.db.sql.query<{ version: number }>(
      `SELECT e.version FROM events e JOIN projects p ON p.id = e.project_id
       WHERE p.name = 'busy' AND e.kind = 'file.write'`,
    );
    expect(new Set(events.map((e) => e.version)).size).toBe(50);
  });

  it('refuses a stale if_match alone: the calls batched with it still land', async () => {
    await h.ok('create_project', { name: 'etags' });
    const [first] = await write('etags', 'a', 'f.txt', 'v1');
    const calls = [
      write('etags', 'a', 'f.txt', 'v2', first!.etag),
      write('etags', 'a', 'f.txt', 'v3', first!.etag), // stale once v2 lands before it
      ...Array.from({ length: 10 }, (_, i) => write('etags', `b${i}`, 'g.txt', `g${i}`)),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled[0]!.status).toBe('fulfilled');
    const stale = settled[1]!;
    expect(stale.status).toBe('rejected');
    expect(String((stale as PromiseRejectedResult).reason)).toMatch(/if_match failed: 'f.txt' changed/);
    expect(settled.slice(2).every((s) => s.status === 'fulfilled')).toBe(true);
    expect(await read('etags', 'a', 'f.txt')).toBe('v2');
  });

  it('sees earlier calls of its own batch: the last write of a path wins, a revert drops the draft', async () => {
    await h.ok('create_project', { name: 'order' });
    await write('order', 'x', 'base.txt', 'committed');
    await h.stowage.commits.commitTask(
      'order',
      { principal: 'agent', workspace: 'x' },
      { task: { id: 't1', title: 'Base' } },
    );
    await Promise.all([
      write('order', 'x', 'base.txt', 'changed'),
      write('order', 'x', 'base.txt', 'committed'), // back to the committed content: no draft
      write('order', 'x', 'new.txt', 'one'),
      write('order', 'x', 'new.txt', 'two'),
    ]);
    expect(await read('order', 'x', 'new.txt')).toBe('two');
    const changes = await h.stowage.workspace.list(
      'order',
      { principal: 'agent', workspace: 'x' },
      { changedOnly: true },
    );
    expect(changes.entries.map((e) => [e.path, e.state])).toEqual([['new.txt', 'added']]);
  });

  it('refuses the call that would break the quota, and keeps the others of its batch', async () => {
    await h.ok('create_project', { name: 'quota' });
    const big = 'x'.repeat(40 * 1024);
    const settled = await Promise.allSettled([
      write('quota', 'q', 'first.txt', 'small'),
      write('quota', 'q', 'a.bin', big),
      write('quota', 'q', 'b.bin', big), // a.bin + b.bin exceed the 64 KiB project limit
      write('quota', 'r', 'c.txt', 'fine'),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(String((settled[2] as PromiseRejectedResult).reason)).toMatch(/over its limit of 65536/);
    await expect(read('quota', 'q', 'b.bin')).rejects.toThrow(/not found/);
  });

  it('fails every call of a batch whose project is gone, and the next batch still works', async () => {
    const settled = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => write('no-such-project', `w${i}`, 'f.txt', 'x')),
    );
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    await expect(write('no-such-project', 'w', 'f.txt', 'x')).rejects.toThrow(/no-such-project/);
    await h.ok('create_project', { name: 'after' });
    expect((await write('after', 'w', 'f.txt', 'ok'))[0]!.changed).toBe(true);
  });
});

/** The scans of `relations` in the plan Postgres chooses for `text` (EXPLAIN, not run). */
/** The relations `statement` scans, and how, in the plan Postgres runs it with: a prepared
 *  statement's custom plans for its first executions, then its generic plan. */
async function scans(statement: Statement, relations: readonly string[]) {
  const client = await h.db.sql.connect();
  try {
    const text = typeof statement.text === 'string' ? statement.text : statement.text.text;
    const args = (statement.values ?? []).map((v) => client.escapeLiteral(String(v))).join(', ');
    await client.query(`PREPARE probe AS ${text}`);
    const plans: string[][] = [];
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await client.query(`SET plan_cache_mode = ${mode}`);
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) EXECUTE probe(${args})`,
      );
      const found: string[] = [];
      const walk = (node: PlanNode) => {
        if (node['Relation Name'] && relations.includes(node['Relation Name'])) {
          found.push(`${node['Node Type']} on ${node['Relation Name']}`);
        }
        node.Plans?.forEach(walk);
      };
      walk(rows[0]!['QUERY PLAN'][0].Plan);
      plans.push(found);
    }
    expect(plans[1]).toEqual(plans[0]);
    return plans[0]!;
  } finally {
    await client.query('DEALLOCATE probe; RESET plan_cache_mode');
    client.release();
  }
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

describe('reads by key, however large the project', () => {
  // A project with thousands of files and drafts: what a busy one holds after a while.
  beforeAll(async () => {
    await h.ok('create_project', { name: 'history' });
    await h.db.sql.query(
      `INSERT INTO blobs (hash, size, git_sha) VALUES ('h0', 1, 'g0') ON CONFLICT DO NOTHING;
       INSERT INTO files (project_id, path, blob_hash, size, git_sha, version)
         SELECT p.id, 'src/f' || i || '.ts', 'h0', 1, 'g0', 1
         FROM projects p, generate_series(1, 3000) i WHERE p.name = 'history';
       INSERT INTO drafts (project_id, workspace, path, op, content, content_hash, size, version, updated_by)
         SELECT p.id, 'w' || (i % 50), 'src/d' || i || '.ts', 'upsert', '\\x00', 'c', 1, 1, 'agent'
         FROM projects p, generate_series(1, 3000) i WHERE p.name = 'history';
       ANALYZE files; ANALYZE drafts;`,
    );
  });

  it("a batch's view probes each (workspace, path) it writes by primary key", async () => {
    const pairs = Array.from({ length: 25 }, (_, i) => ({ workspace: `w${i}`, path: `src/d${i}.ts` }));
    expect(await scans(viewPairsStatement('history', pairs), ['files', 'drafts'])).toEqual([
      'Index Scan on files',
      'Index Scan on drafts',
    ]);
  });
});
