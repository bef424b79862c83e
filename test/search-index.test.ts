// search_files through its index (migration 0020), through a real MCP client against real
// Postgres and a real blob store: every answer equals the line matcher run over every file of the
// view, as search_files answered before the index (the oracle below), for committed files, inline
// and blob drafts, binary files, a file over the index's size cap, text that lower-cases oddly
// and patterns Postgres's LIKE treats specially; texts stored before the index are found and
// recorded, cleanup takes a collected blob's text with it, and another instance on the same
// database finds what this one committed.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TOOLSETS } from '../src/config.js';
import { asText } from '../src/formats/content.js';
import { compileQuery, searchTexts } from '../src/formats/content-search.js';
import { likeFilter } from '../src/formats/search-prefilter.js';
import { createServer } from '../src/server.js';
import { createBlobCache } from '../src/store/blobs/blob-cache.js';
import { SEARCH_TEXT_MAX_BYTES } from '../src/store/blobs/search-text.js';
import { migrate } from '../src/store/db/migrate.js';
import { insertSearchTexts } from '../src/store/db/queries/index.js';
import { createSql } from '../src/store/db/sql.js';
import { createStowage } from '../src/store/stowage.js';
import { createHarness, silentLogger, type Harness } from './support/harness.js';

const INLINE = 1024;
const PROJECT = 'oracle';
const big = (text: string) => `${text}\n${'x'.repeat(2000)}\n`;

/** The committed tree, then what the workspace does to it (content: utf8 text or raw bytes). */
const COMMITTED: Record<string, string | Buffer> = {
  'a/plain.ts': 'const needle = 1;\nfunction find(Needle) {}\n',
  'a/kelvin.txt': '\u212Aey = 1\nkey = 2\nKEY = 3\n', // U+212A lower-cases to k
  'a/turkish.txt': 'İSTANBUL\nistanbul\nDİKKAT\n', // U+0130 lower-cases to i + U+0307
  'a/kelvin-only.txt': '\u212Aelvin, and no other k\n',
  'a/dotted-only.txt': 'DİKKAT, and no other dotless i\n',
  'a/greek.txt': 'ΟΔΟΣ\nοδος\nΟΔΟΣΑ\n', // a final sigma lower-cases to ς
  'a/emoji.txt': 'smile 😀 here\nneedle😀\n',
  'a/special.txt': '100% sure\na_b and a\\b\nC:\\path\\needle\n',
  'a/bom.txt': '\uFEFFneedle on the first line\n',
  'a/crlf.txt': 'needle\r\nNeedle\r\n',
  'a/binary.bin': Buffer.concat([Buffer.from('needle'), Buffer.from([0, 1, 2])]),
  'a/latin1.txt': Buffer.from([0x6e, 0x65, 0x65, 0x64, 0x6c, 0x65, 0xe9, 0x0a]), // not UTF-8: binary
  'a/gone.txt': 'needle in a file the workspace deletes\n',
  'a/replaced.txt': 'needle before the draft\n',
  'c/huge.txt': `${'filler line\n'.repeat(Math.ceil(SEARCH_TEXT_MAX_BYTES / 12))}needle past the cap\n`,
};
const DRAFTS: Record<string, string | null> = {
  'a/gone.txt': null,
  'a/replaced.txt': 'no match here\n',
  'b/draft.ts': 'an inline draft: needle\nKEY\n',
  'b/big-draft.txt': big('NEEDLE in a blob draft\nİstanbul'),
  'b/tomove.txt': 'moved needle\n', // then moved to b/moved.txt: its utf8 mark is lost
};

/** The view the workspace sees, in path order: the oracle's input. */
function view(): [string, Buffer][] {
  const files = new Map(Object.entries(COMMITTED).map(([p, c]) => [p, Buffer.from(c)]));
  for (const [p, c] of Object.entries(DRAFTS)) {
    if (c === null) files.delete(p);
    else files.set(p, Buffer.from(c));
  }
  files.set('b/moved.txt', files.get('b/tomove.txt')!);
  files.delete('b/tomove.txt');
  return [...files].sort(([a], [b]) => (a < b ? -1 : 1));
}

/** What search_files answered before the index: the line matcher over every file, in path order. */
function oracle(args: { pattern: string; regex?: boolean; case_sensitive?: boolean; max_results?: number }) {
  const files = view();
  const compiled = compileQuery({
    pattern: args.pattern,
    regex: args.regex ?? false,
    caseSensitive: args.case_sensitive ?? false,
  });
  const found = searchTexts(
    compiled,
    files.map(([, c]) => asText(c)),
    args.max_results ?? 100,
  );
  return {
    matches: found.hits.map((h) => ({ path: files[h.file]![0], line: h.line, text: h.text })),
    files_searched: found.searched,
    files_total: files.length,
    truncated: found.truncated,
  };
}

const QUERIES = [
  { pattern: 'needle' },
  { pattern: 'NEEDLE', case_sensitive: true },
  { pattern: 'Needle', case_sensitive: true },
  { pattern: 'key' },
  { pattern: 'KEY', case_sensitive: true },
  { pattern: '\u212Aey', case_sensitive: true },
  { pattern: 'i̇stanbul' },
  { pattern: 'istanbul' },
  { pattern: 'İSTANBUL', case_sensitive: true },
  { pattern: 'dikkat' },
  { pattern: 'kelvin' },
  { pattern: 'di' },
  { pattern: 'οδος' },
  { pattern: 'ς' },
  { pattern: 'ΟΔΟΣ', case_sensitive: true },
  { pattern: '😀' },
  { pattern: '\uD83D' }, // half of the emoji's surrogate pair: JS finds it
  { pattern: 'e😀', case_sensitive: true },
  { pattern: '100%' },
  { pattern: '%' },
  { pattern: 'a_b' },
  { pattern: '_' },
  { pattern: 'a\\b' },
  { pattern: '\\needle' },
  { pattern: 'needle\r' },
  { pattern: '\uFEFFneedle' },
  { pattern: 'x\u0000y' },
  { pattern: 'ne\nedle' },
  { pattern: 'needle', max_results: 3 },
  { pattern: 'e', max_results: 7 },
  { pattern: 'needle past the cap' },
  { pattern: '(?i)ne+dle', regex: true },
  { pattern: '^k', regex: true },
  { pattern: String.raw`\p{Greek}+Σ`, regex: true, case_sensitive: true },
  { pattern: 'needle$', regex: true, max_results: 4 },
];

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ limits: { inlineBytes: INLINE }, lifecycle: { historyRetentionDays: 0 } });
  await h.ok('create_project', { name: PROJECT });
  const files = Object.entries(COMMITTED).map(([path, c]) =>
    typeof c === 'string'
      ? { path, content: c }
      : { path, content: c.toString('base64'), encoding: 'base64' as const },
  );
  await h.ok('write_files', { project: PROJECT, files });
  await h.ok('commit_task', { project: PROJECT, task: { id: 'setup', title: 'Set up the tree' } });
  for (const [path, content] of Object.entries(DRAFTS)) {
    if (content === null) await h.ok('delete_file', { project: PROJECT, path });
    else await h.ok('write_file', { project: PROJECT, path, content });
  }
  await h.ok('move_file', { project: PROJECT, from: 'b/tomove.txt', to: 'b/moved.txt' });
});
afterAll(() => h.close());

const search = (args: Record<string, unknown>, client?: Client) =>
  h.ok('search_files', { project: PROJECT, ...args }, client);
const textRows = async (hashes?: string[]) =>
  (
    await h.db.sql.query<{ hash: string; body: string | null }>(
      `SELECT hash, body FROM search_texts WHERE $1::text[] IS NULL OR hash = ANY($1)`,
      [hashes ?? null],
    )
  ).length;
const draftBlob = async () =>
  (
    await h.db.sql.query<{ blob_hash: string }>(`SELECT blob_hash FROM drafts WHERE path = 'b/big-draft.txt'`)
  )[0]!.blob_hash;
const hashOf = async (path: string) =>
  (await h.db.sql.query<{ blob_hash: string }>(`SELECT blob_hash FROM files WHERE path = $1`, [path]))[0]!
    .blob_hash;

describe('search_files with the index', () => {
  it('the drafts are stored as the oracle assumes', async () => {
    const rows = await h.db.sql.query<{ path: string; inline: boolean; utf8: boolean | null }>(
      `SELECT path, content IS NOT NULL AS inline, utf8 FROM drafts WHERE op = 'upsert' ORDER BY path`,
    );
    expect(rows).toEqual([
      { path: 'a/replaced.txt', inline: true, utf8: true },
      { path: 'b/big-draft.txt', inline: false, utf8: null },
      { path: 'b/draft.ts', inline: true, utf8: true },
      { path: 'b/moved.txt', inline: true, utf8: null },
    ]);
    // Committed content has its text (binary content a row without one), recorded just after
    // the commit, unless over the cap; the blob draft has none until a search reads it.
    const recorded = () =>
      h.db.sql.query<{ path: string; body: boolean }>(
        `SELECT f.path, s.body IS NOT NULL AS body FROM files f JOIN search_texts s ON s.hash = f.blob_hash ORDER BY 1`,
      );
    const committed = Object.keys(COMMITTED)
      .filter((p) => p !== 'c/huge.txt')
      .sort();
    // Recorded 250 ms after storing pauses (blobs/writer.ts): a busy machine may take a while.
    await expect
      .poll(async () => (await recorded()).map((t) => t.path), { timeout: 20_000, interval: 50 })
      .toEqual(committed);
    const texts = await recorded();
    expect(texts.filter((t) => !t.body).map((t) => t.path)).toEqual(['a/binary.bin', 'a/latin1.txt']);
    expect(await textRows([await draftBlob()])).toBe(0);
  });

  it.each(QUERIES)('answers as the line matcher over every file: %j', async (query) => {
    expect(await search(query)).toEqual(oracle(query));
  });

  it('honours a glob as before', async () => {
    const r = await search({ pattern: 'needle', glob: 'b/**' });
    expect(r.matches.map((m: { path: string }) => m.path)).toEqual([
      'b/big-draft.txt',
      'b/draft.ts',
      'b/moved.txt',
    ]);
    expect(r.files_total).toBe(3);
    const none = await search({ pattern: 'needle', glob: 'nowhere/**' });
    expect(none).toEqual({ matches: [], files_searched: 0, files_total: 0, truncated: false });
  });

  it('records the text of a blob draft the first search reads', async () => {
    await search({ pattern: 'NEEDLE', case_sensitive: true });
    expect(await textRows([await draftBlob()])).toBe(1);
  });

  it('finds content stored before the index existed, and records its text', async () => {
    const paths = ['a/plain.ts', 'a/kelvin.txt', 'a/binary.bin'];
    const hashes = await Promise.all(paths.map(hashOf));
    await h.db.sql.query(`DELETE FROM search_texts WHERE hash = ANY($1)`, [hashes]);
    expect(await textRows(hashes)).toBe(0);
    expect(await search({ pattern: 'key' })).toEqual(oracle({ pattern: 'key' }));
    expect(await textRows(hashes)).toBe(3);
    await h.db.sql.query(`DELETE FROM search_texts WHERE hash = ANY($1)`, [hashes]);
    const regex = { pattern: '^(const|key)', regex: true };
    expect(await search(regex)).toEqual(oracle(regex));
    const [plain] = await h.db.sql.query<{ body: string }>(`SELECT body FROM search_texts WHERE hash = $1`, [
      hashes[0],
    ]);
    expect(plain!.body).toBe(COMMITTED['a/plain.ts']);
  });

  it('loses a blob’s text with the blob when cleanup collects it', async () => {
    await h.ok('create_project', { name: 'collected' });
    await h.ok('write_file', { project: 'collected', path: 'f.txt', content: big('needle to collect') });
    await h.ok('search_files', { project: 'collected', pattern: 'needle' }); // records its text
    const [draft] = await h.db.sql.query<{ blob_hash: string }>(
      `SELECT blob_hash FROM drafts WHERE path = 'f.txt'`,
    );
    const hash = draft!.blob_hash;
    expect(await textRows([hash])).toBe(1);
    await h.ok('discard_changes', { project: 'collected' });
    await h.db.sql.query(`UPDATE blobs SET created_at = now() - interval '2 hours' WHERE hash = $1`, [hash]);
    expect((await h.ok('cleanup', {})).blobs.count).toBe(1);
    expect(await h.db.sql.query(`SELECT 1 FROM blobs WHERE hash = $1`, [hash])).toEqual([]);
    expect(await textRows([hash])).toBe(0);
    // A search that read it before cleanup records nothing for it after.
    await insertSearchTexts(h.db.sql, [{ hash, body: big('needle to collect') }]);
    expect(await textRows([hash])).toBe(0);
  });
});

describe('search_files across instances and writers', () => {
  /** A client of a second Stowage on the same database and blob store, with a cache of its own. */
  async function otherInstance() {
    const sql = createSql(h.db.url, { max: 3 });
    const stowage = createStowage({ ...h.deps, sql, cache: createBlobCache(h.blobs, 1 << 20) });
    const server = createServer({
      stowage,
      principal: 'alice',
      toolsets: [...TOOLSETS],
      readOnly: false,
      logger: silentLogger,
    });
    const [c, s] = InMemoryTransport.createLinkedPair();
    await server.connect(s);
    const client = new Client({ name: 'other', version: '1' });
    await client.connect(c);
    return { client, close: () => client.close().then(() => sql.close()) };
  }

  it('finds on one instance what another committed, and the other way round', async () => {
    const other = await otherInstance();
    try {
      await h.ok('create_project', { name: 'shared' });
      await h.ok('write_file', { project: 'shared', path: 'one.txt', content: 'committed by one\n' });
      await h.ok('commit_task', { project: 'shared', task: { id: '1', title: 'One' } });
      const seen = await h.ok('search_files', { project: 'shared', pattern: 'COMMITTED BY' }, other.client);
      expect(seen.matches).toEqual([{ path: 'one.txt', line: 1, text: 'committed by one' }]);
      await h.ok(
        'write_file',
        { project: 'shared', path: 'two.txt', content: 'committed by two\n' },
        other.client,
      );
      await h.ok('commit_task', { project: 'shared', task: { id: '2', title: 'Two' } }, other.client);
      const both = await h.ok('search_files', { project: 'shared', pattern: 'committed by' });
      expect(both.matches.map((m: { path: string }) => m.path)).toEqual(['one.txt', 'two.txt']);
    } finally {
      await other.close();
    }
  });

  it('sees the tree before or after a commit that races it, never a mix', async () => {
    await h.ok('create_project', { name: 'racing' });
    const write = (tag: string) =>
      h.ok('write_files', {
        project: 'racing',
        files: ['p.txt', 'q.txt'].map((path) => ({ path, content: `needle ${tag}\n${'y'.repeat(3000)}\n` })),
      });
    await write('r0');
    await h.ok('commit_task', { project: 'racing', task: { id: '0', title: 'r0' } });
    const searcher = await h.connect('searcher');
    for (let r = 1; r <= 5; r++) {
      await write(`r${r}`);
      const [, found] = await Promise.all([
        h.ok('commit_task', { project: 'racing', task: { id: `${r}`, title: `r${r}` } }),
        h.ok('search_files', { project: 'racing', pattern: 'needle' }, searcher),
      ]);
      const tags = new Set(found.matches.map((m: { text: string }) => m.text));
      expect(found.matches).toHaveLength(2);
      expect(tags.size).toBe(1);
      expect([`needle r${r - 1}`, `needle r${r}`]).toContain([...tags][0]);
    }
  });
});

describe('the LIKE filter', () => {
  it('lets Postgres match every text the line matcher finds the literal in', async () => {
    const texts = new Set(Object.values(COMMITTED).flatMap((c) => asText(Buffer.from(c))?.split('\n') ?? []));
    for (const query of QUERIES.filter((q) => !q.regex)) {
      const caseSensitive = query.case_sensitive ?? false;
      const compiled = compileQuery({ pattern: query.pattern, regex: false, caseSensitive });
      const like = likeFilter(query.pattern, caseSensitive);
      for (const line of [...texts].filter((t) => compiled.test(t))) {
        const [row] = await h.db.sql.query<{ ok: boolean }>(
          `SELECT $1::text COLLATE "C" ${caseSensitive ? 'LIKE' : 'ILIKE'} $2 AS ok`,
          [line, like.pattern],
        );
        expect(row!.ok, `${JSON.stringify(line)} ~ ${like.pattern}`).toBe(true);
      }
    }
  });

  it('escapes LIKE’s own characters and keeps only ASCII', () => {
    expect(likeFilter('a%b_c\\d', true).pattern).toBe('%a\\%b\\_c\\\\d%');
    expect(likeFilter('ÄpfelKiste', true).pattern).toBe('%_pfelKiste%');
    expect(likeFilter('ÄpfelKiste', false).pattern).toBe('%pfel__ste%');
    expect(likeFilter('Ünïcödé', false).pattern).toBe('%n%c%d%');
    expect(likeFilter('x\u0000y', true).pattern).toBe('%x_y%');
  });
});

describe('migration 0020', () => {
  it('names the fix when the role may not create pg_trgm', async () => {
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    const suffix = randomBytes(4).toString('hex');
    const [role, database] = [`stowage_nocreate_${suffix}`, `stowage_nocreate_${suffix}`];
    const dir = await mkdtemp(join(tmpdir(), 'stowage-migration-'));
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'x'`);
      await admin.query(`CREATE DATABASE ${database}`);
      // It may create tables (as Stowage's role must), but not extensions: no CREATE on the database.
      const owner = new URL(inject('databaseUrl'));
      owner.pathname = `/${database}`;
      const inDatabase = new pg.Client({ connectionString: owner.toString() });
      await inDatabase.connect();
      await inDatabase.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      await inDatabase.end();
      await copyFile(
        new URL('../migrations/0020_search_index.sql', import.meta.url),
        join(dir, '0020_search_index.sql'),
      );
      const url = new URL(inject('databaseUrl'));
      url.username = role;
      url.password = 'x';
      url.pathname = `/${database}`;
      const sql = createSql(url.toString(), { max: 1 });
      try {
        await expect(migrate(sql, pathToFileURL(`${dir}/`))).rejects.toThrow(
          /migration 0020_search_index\.sql failed: search_files needs the pg_trgm extension, and this role may not create it: have the database owner run CREATE EXTENSION pg_trgm/,
        );
      } finally {
        await sql.close();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
