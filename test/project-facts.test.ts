// Project facts (issue 20 item 3): a project's committed bytes, files, languages and frameworks,
// kept by triggers as its committed tree changes (commit_task, import, sync, archive, restore,
// create_project {from}), shown by get_project and filtered and sorted on by list_projects.
// Through a real MCP client, real Postgres, real git repositories behind a smart-HTTP server.
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../src/store/db/migrate.js';
import { createSql } from '../src/store/db/sql.js';
import { createGitHarness, type GitHarness } from './support/git-harness.js';
import { commitToBare, createBareRepo } from './support/git-repos.js';
import { snapshot, type Harness } from './support/harness.js';

let g: GitHarness;
let h: Harness;
beforeAll(async () => {
  g = await createGitHarness('facts', 'tok-facts-5b1e0c7a');
  h = g.h;
});
afterAll(() => g.close());

const task = (id: number, title = 'work') => ({ id, title });
const facts = async (project: string): Promise<Record<string, any>> =>
  (await h.ok('get_project', { project })).facts as Record<string, any>;
const names = async (args: Record<string, unknown>) =>
  ((await h.ok('list_projects', args)).projects as { name: string }[]).map((p) => p.name);

/** Writes `files` into `project` (created if new) and commits them. */
async function commit(project: string, files: Record<string, string>, id = 1) {
  if (!(await names({ query: project })).includes(project)) await h.ok('create_project', { name: project });
  await h.ok('write_files', {
    project,
    files: Object.entries(files).map(([path, content]) => ({ path, content })),
  });
  await h.ok('commit_task', { project, task: task(id) });
}

const bytes = (...texts: string[]) => texts.reduce((n, t) => n + Buffer.byteLength(t), 0);

describe('facts of the committed tree', () => {
  const app = 'export const app = () => "hello";\n';
  const util = 'export const one = 1;\n';
  const view = 'export default () => <main/>;\n';
  const pkg = JSON.stringify({ dependencies: { react: '^19', express: '^5' } });
  const readme = '# web\n';

  it('counts languages, bytes and frameworks once commit_task lands, not drafts', async () => {
    await commit('web', {
      'src/app.ts': app,
      'src/util.ts': util,
      'src/view.tsx': view,
      'package.json': pkg,
      'README.md': readme,
    });
    expect(await facts('web')).toEqual({
      bytes: bytes(app, util, view, pkg, readme),
      files: 5,
      languages: [
        { name: 'TypeScript', bytes: bytes(app, util), files: 2 },
        { name: 'TSX', bytes: bytes(view), files: 1 },
      ],
      frameworks: ['express', 'react'],
    });
    // A draft is work in progress: the facts are the committed tree's.
    await h.ok('write_file', { project: 'web', path: 'main.go', content: 'package main\n' });
    expect((await facts('web')).languages.map((l: { name: string }) => l.name)).toEqual([
      'TypeScript',
      'TSX',
    ]);
    await h.ok('discard_changes', { project: 'web' });
  });

  it('follows modifications and deletions as they are committed', async () => {
    const longer = `${app}export const more = "${'x'.repeat(100)}";\n`;
    await h.ok('write_file', { project: 'web', path: 'src/app.ts', content: longer });
    await h.ok('write_file', {
      project: 'web',
      path: 'package.json',
      content: '{"dependencies":{"vue":"3"}}',
    });
    await h.ok('delete_file', { project: 'web', path: 'src/view.tsx' });
    await h.ok('commit_task', { project: 'web', task: task(2) });
    expect(await facts('web')).toEqual({
      bytes: bytes(longer, util, '{"dependencies":{"vue":"3"}}', readme),
      files: 4,
      languages: [{ name: 'TypeScript', bytes: bytes(longer, util), files: 2 }],
      frameworks: ['vue'],
    });
    // A manifest removed takes its frameworks with it; a move keeps the language.
    await h.ok('delete_file', { project: 'web', path: 'package.json' });
    await h.ok('move_file', { project: 'web', from: 'src/util.ts', to: 'lib/util.ts' });
    await h.ok('commit_task', { project: 'web', task: task(3) });
    const after = await facts('web');
    expect(after).toMatchObject({ files: 3, frameworks: [] });
    expect(after.languages).toEqual([{ name: 'TypeScript', bytes: bytes(longer, util), files: 2 }]);
    // What get_project's stats count per request agrees with what the triggers kept.
    const { stats } = await h.ok('get_project', { project: 'web' });
    expect([stats.files, stats.bytes]).toEqual([after.files, after.bytes]);
  });

  it('detects frameworks from pyproject.toml, go.mod, Cargo.toml and pom.xml, anywhere in the tree', async () => {
    await commit('poly', {
      'api/pyproject.toml': '[project]\nname = "api"\ndependencies = ["fastapi>=0.110"]\n',
      'api/main.py': 'print("hi")\n',
      'gateway/go.mod': 'module example.com/gw\n\nrequire github.com/gin-gonic/gin v1.10.0\n',
      'engine/Cargo.toml': '[dependencies]\naxum = "0.7"\n',
      'legacy/pom.xml': '<project><parent><groupId>org.springframework.boot</groupId></parent></project>',
    });
    expect((await facts('poly')).frameworks).toEqual(['axum', 'fastapi', 'gin', 'spring-boot']);
  });

  it('are the same for a project made from another (content shared, facts counted)', async () => {
    await h.ok('create_project', { name: 'web-copy', from: 'web' });
    expect(await facts('web-copy')).toEqual(await facts('web'));
  });
});

describe('facts of a project imported from a git remote', () => {
  it('are counted at import and follow sync_project', async () => {
    const main = 'package main\n\nfunc main() {}\n';
    const repo = await createBareRepo(g.root, 'acme/gosvc', {
      'go.mod': 'module example.com/gosvc\n\nrequire (\n\tgithub.com/gofiber/fiber/v2 v2.52.0\n)\n',
      'main.go': main,
      Dockerfile: 'FROM golang:1.22\n',
    });
    await h.ok('create_project', { name: 'gosvc', remote: { url: repo.url(g.server), branch: 'main' } });
    expect(await facts('gosvc')).toMatchObject({
      files: 3,
      languages: [
        { name: 'Go', bytes: bytes(main), files: 1 },
        { name: 'Dockerfile', bytes: bytes('FROM golang:1.22\n'), files: 1 },
      ],
      frameworks: ['fiber'],
    });
    await commitToBare(repo.dir, {
      'go.mod': 'module example.com/gosvc\n\nrequire github.com/labstack/echo/v4 v4.12.0\n',
      Dockerfile: null,
    });
    await h.ok('sync_project', { project: 'gosvc' });
    expect(await facts('gosvc')).toMatchObject({
      files: 2,
      languages: [{ name: 'Go', bytes: bytes(main), files: 1 }],
      frameworks: ['echo'],
    });
  });
});

describe('archived projects', () => {
  it('keep their facts while archived, and have them counted again when restored', async () => {
    const app = 'console.log("x");\n';
    await commit('old-tool', { 'index.js': app, 'package.json': '{"dependencies":{"koa":"2"}}' });
    const before = await facts('old-tool');
    await h.ok('archive_project', { project: 'old-tool' });
    expect(await facts('old-tool')).toEqual(before);
    expect(await names({ language: 'javascript', status: 'archived' })).toEqual(['old-tool']);
    await h.ok('restore_project', { project: 'old-tool' });
    expect(await facts('old-tool')).toEqual(before);
    // Counted from its rows again: a later commit adds to what the restore counted.
    await commit('old-tool', { 'lib.js': app }, 2);
    expect((await facts('old-tool')).languages).toEqual([
      { name: 'JavaScript', bytes: bytes(app, app), files: 2 },
    ]);
  });
});

describe('list_projects by facts', () => {
  beforeAll(async () => {
    // Sizes apart, so every order is strict.
    await commit('f-small', { 'a.py': 'x = 1\n', 'requirements.txt': 'flask\n' });
    await commit('f-medium', { 'a.py': `x = "${'m'.repeat(200)}"\n`, 'requirements.txt': 'django\n' });
    await commit('f-large', {
      'main.rs': `fn main() { "${'l'.repeat(2000)}"; }\n`,
      'Cargo.toml': '[dependencies]\naxum = "0.7"\n',
    });
  });

  it('filters by language (name or alias, any case), framework and size bounds', async () => {
    expect(await names({ language: 'python', query: 'f-' })).toEqual(['f-medium', 'f-small']);
    expect(await names({ language: 'RUST' })).toEqual(['f-large']);
    expect(await names({ language: 'golang' })).toEqual(['gosvc']);
    expect(await names({ framework: 'Django' })).toEqual(['f-medium']);
    expect(await names({ framework: 'flask', language: 'Python' })).toEqual(['f-small']);
    expect(await names({ query: 'f-', min_bytes: 100 })).toEqual(['f-large', 'f-medium']);
    expect(await names({ query: 'f-', max_bytes: 100 })).toEqual(['f-small']);
    expect(await names({ query: 'f-', min_bytes: 100, max_bytes: 1000 })).toEqual(['f-medium']);
    const listed = (await h.ok('list_projects', { query: 'f-small' })).projects[0];
    expect(listed.bytes).toBe((await facts('f-small')).bytes);
  });

  it('sorts by name, bytes (largest first) or updated (latest first), page by page', async () => {
    const all = async (sort: string) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await h.ok('list_projects', {
          query: 'f-',
          sort,
          limit: 1,
          ...(cursor ? { cursor } : {}),
        });
        seen.push(...page.projects.map((p: { name: string }) => p.name));
        cursor = page.next_cursor;
      } while (cursor);
      return seen;
    };
    expect(await all('name')).toEqual(['f-large', 'f-medium', 'f-small']);
    expect(await all('bytes')).toEqual(['f-large', 'f-medium', 'f-small']);
    await h.ok('write_file', { project: 'f-medium', path: 'b.py', content: 'y = 2\n' });
    expect(await all('updated')).toEqual(['f-medium', 'f-large', 'f-small']);
    const sizes = (await h.ok('list_projects', { query: 'f-', sort: 'bytes' })).projects.map(
      (p: { bytes: number }) => p.bytes,
    );
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(new Set(sizes).size).toBe(3);
  });

  it('refuses bad values, naming the problem and the fix, and changes nothing', async () => {
    const before = await snapshot(h.db);
    expect(await h.fail('list_projects', { sort: 'size' })).toMatch(
      /^invalid_input: argument sort: .*"bytes"/,
    );
    expect(await h.fail('list_projects', { min_bytes: -1 })).toMatch(
      /^invalid_input: argument min_bytes: a number of bytes, 0 or more/,
    );
    expect(await h.fail('list_projects', { max_bytes: 1.5 })).toMatch(/^invalid_input: argument max_bytes/);
    expect(await h.fail('list_projects', { min_bytes: 10, max_bytes: 5 })).toMatch(
      /^invalid_input: min_bytes \(10\) is over max_bytes \(5\)/,
    );
    expect(await h.fail('list_projects', { language: 'Klingon' })).toMatch(
      /^invalid_input: language 'Klingon' is not one GitHub Linguist knows: pass a Linguist name/,
    );
    expect(await h.fail('list_projects', { language: 'json' })).toMatch(
      /^invalid_input: JSON is a data or prose language, which project facts do not count/,
    );
    expect(await h.fail('list_projects', { framework: 'rails2' })).toMatch(
      /^invalid_input: framework 'rails2' is not one Stowage detects: pass one of .*django/,
    );
    const byBytes = await h.ok('list_projects', { query: 'f-', sort: 'bytes', limit: 1 });
    expect(await h.fail('list_projects', { query: 'f-', cursor: byBytes.next_cursor })).toMatch(
      /^invalid_input: cursor is from list_projects sorted by bytes, not name: pass sort: 'bytes'/,
    );
    const byName = await h.ok('list_projects', { query: 'f-', limit: 1 });
    expect(await h.fail('list_projects', { sort: 'updated', cursor: byName.next_cursor })).toMatch(
      /sorted by name, not updated/,
    );
    expect(await snapshot(h.db)).toEqual(before);
  });
});

describe('projects from before facts were kept', () => {
  /** The state migration 0017 leaves a project in: bytes and files counted, nothing else. */
  async function predate(project: string) {
    await h.db.sql.query(
      `WITH p AS (UPDATE projects SET facts_pending = true, frameworks = '{}' WHERE name = $1 RETURNING id),
            l AS (DELETE FROM project_languages WHERE project_id IN (SELECT id FROM p))
       UPDATE files SET language = NULL, frameworks = NULL WHERE project_id IN (SELECT id FROM p)`,
      [project],
    );
  }

  it('are counted once when get_project reads them', async () => {
    await commit('legacy-a', { 'app.rb': 'puts 1\n', Gemfile: "gem 'rails'\n" });
    const counted = await facts('legacy-a');
    await predate('legacy-a');
    expect(await names({ framework: 'rails', query: 'legacy-a' })).toEqual(['legacy-a']); // list counts first
    await predate('legacy-a');
    const [row] = await h.db.sql.query<{ pending: boolean }>(
      `SELECT facts_pending AS pending FROM projects WHERE name = 'legacy-a'`,
    );
    expect(row!.pending).toBe(true);
    expect(await facts('legacy-a')).toEqual(counted);
    const [after] = await h.db.sql.query<{ pending: boolean; counted: number }>(
      `SELECT facts_pending AS pending, (SELECT count(*)::int FROM files f WHERE f.project_id = p.id AND language IS NOT NULL) AS counted
       FROM projects p WHERE name = 'legacy-a'`,
    );
    expect(after).toEqual({ pending: false, counted: 2 }); // app.rb and Gemfile: Ruby
  });

  it('are counted before list_projects filters by language or framework', async () => {
    await commit('legacy-b', { 'mod.ex': 'defmodule M do end\n', 'mix.exs': '[{:phoenix, "~> 1.7"}]' });
    await predate('legacy-b');
    expect(await names({ language: 'elixir' })).toEqual(['legacy-b']);
    expect(await names({ framework: 'phoenix' })).toEqual(['legacy-b']);
  });

  it('get their bytes and files from migration 0017 itself; an archived one, as it was archived', async () => {
    const serverUrl = inject('databaseUrl');
    const name = `stowage_facts_${randomBytes(4).toString('hex')}`;
    const admin = async (query: string) => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(query);
      await c.end();
    };
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const sql = createSql(url.toString());
    const dir = await mkdtemp(join(tmpdir(), 'stowage-migrations-'));
    try {
      const all = (await readdir(new URL('../migrations/', import.meta.url))).filter((f) =>
        f.endsWith('.sql'),
      );
      const copy = (f: string) => copyFile(new URL(`../migrations/${f}`, import.meta.url), join(dir, f));
      await Promise.all(all.filter((f) => f < '0017').map(copy));
      const dirUrl = pathToFileURL(`${dir}/`);
      await migrate(sql, dirUrl);
      await sql.query(`INSERT INTO blobs (hash, size, git_sha) VALUES ('h1', 10, 'g1'), ('h2', 32, 'g2')`);
      const [live] = await sql.query<{ id: string }>(
        `INSERT INTO projects (name, created_by) VALUES ('live', 'a') RETURNING id`,
      );
      await sql.query(
        `INSERT INTO files (project_id, path, blob_hash, size, git_sha, version) VALUES ($1, 'a.ts', 'h1', 10, 'g1', 1), ($1, 'b.ts', 'h2', 32, 'g2', 1)`,
        [live!.id],
      );
      const [archived] = await sql.query<{ id: string }>(
        `INSERT INTO projects (name, created_by, status) VALUES ('shelved', 'a', 'archived') RETURNING id`,
      );
      await sql.query(
        `INSERT INTO events (project_id, version, principal, kind, detail) VALUES ($1, 2, 'a', 'project.archive', '{"files": 7, "bytes": 7000}')`,
        [archived!.id],
      );
      await copy(all.find((f) => f.startsWith('0017'))!);
      expect((await migrate(sql, dirUrl)).applied).toEqual([all.find((f) => f.startsWith('0017'))]);
      const rows = await sql.query(
        `SELECT name, committed_bytes AS bytes, committed_files AS files, facts_pending AS pending, facts_kept AS kept
         FROM projects ORDER BY name`,
      );
      expect(rows).toEqual([
        { name: 'live', bytes: 42, files: 2, pending: true, kept: false },
        { name: 'shelved', bytes: 7000, files: 7, pending: true, kept: true },
      ]);
      // A project created from now on has its facts from the start.
      await sql.query(`INSERT INTO projects (name, created_by) VALUES ('new', 'a')`);
      const [created] = await sql.query(`SELECT facts_pending AS pending FROM projects WHERE name = 'new'`);
      expect(created).toEqual({ pending: false });
    } finally {
      await sql.close();
      await rm(dir, { recursive: true, force: true });
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});

describe('a deleted project', () => {
  it('takes its facts with it', async () => {
    await commit('doomed', { 'x.kt': 'fun main() {}\n' });
    await h.ok('delete_project', { project: 'doomed', hard: true });
    const [row] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM project_languages l WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = l.project_id)`,
    );
    expect(row!.n).toBe(0);
    expect(await names({ language: 'kotlin' })).toEqual([]);
  });
});
