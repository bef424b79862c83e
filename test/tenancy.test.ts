// Tenants on one hosted server: remotes belong to the projects (and tokens) they are attached to,
// jobs to their creator, workspaces to their principal, and an admin limited to some projects acts
// on those only. Real tokens over real HTTP clients against Stowage's HTTP app on loopback.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { createHarness, createTeamProjects, type Harness } from './support/harness.js';
import { callTool as call, connectHttp, serveHttp, textOf as text } from './support/http.js';

let h: Harness;
let http: RunningHttp;
const clients: Client[] = [];

beforeAll(async () => {
  h = await createHarness({ principal: 'operator' });
  http = await serveHttp(h.stowage, { auth: h.stowage.tokens });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await http?.close();
  await h?.close();
});

/** A client holding a new API token with these rights. */
async function as(
  principal: string,
  projects: string[],
  more: { scopes?: string[]; remotes?: string[]; workspaces?: string[] } = {},
) {
  const { token } = await h.stowage.tokens.create({
    principal,
    scopes: more.scopes ?? ['read', 'write'],
    projects,
    remotes: more.remotes,
    workspaces: more.workspaces,
  });
  const { client } = await connectHttp(http.url, token);
  clients.push(client);
  return client;
}

const failure = async (client: Client, tool: string, args: Record<string, unknown>) => {
  const result = await call(client, tool, args);
  expect(result.isError, `${tool} should fail`).toBe(true);
  return text(result);
};
const success = async (client: Client, tool: string, args: Record<string, unknown>) => {
  const result = await call(client, tool, args);
  expect(result.isError, `${tool}: ${text(result)}`).toBeFalsy();
  return result.structuredContent as Record<string, any>;
};

describe('remotes', () => {
  // Never contacted: import false attaches a remote without fetching it.
  const remote = 'http://127.0.0.1:9/acme/beta.git';

  beforeAll(async () => {
    await h.ok('create_project', {
      name: 'beta-app',
      remote: { url: remote, branch: 'main' },
      import: false,
    });
  });

  it('a one-user caller (stdio, tokenless loopback) attaches any remote', async () => {
    const created = await h.ok('create_project', {
      name: 'solo-app',
      remote: { url: 'http://127.0.0.1:9/someone/else.git' },
      import: false,
    });
    expect(created.remote).toEqual({ url: 'http://127.0.0.1:9/someone/else.git', branch: 'main' });
  });

  it('a token without --remotes attaches none', async () => {
    const alpha = await as('alpha-bot', ['alpha*']);
    const refused = await failure(alpha, 'create_project', {
      name: 'alpha-app',
      remote: { url: 'http://127.0.0.1:9/acme/alpha.git' },
      import: false,
    });
    expect(refused).toMatch(/^forbidden: remote .* this token may attach no remote: .*--remotes/);
    expect(await h.fail('get_project', { project: 'alpha-app' })).toMatch(/^not_found/);
    // Without a remote it creates projects as before.
    expect(await success(alpha, 'create_project', { name: 'alpha-plain' })).toMatchObject({ remote: null });
  });

  it('a token attaches remotes matching its patterns, but never one attached to a project it cannot see, and does not say which', async () => {
    const alpha = await as('alpha-bot', ['alpha*'], { remotes: ['http://127.0.0.1:9/acme/*'] });
    const outside = await failure(alpha, 'create_project', {
      name: 'alpha-other',
      remote: { url: 'http://127.0.0.1:9/evil/x.git' },
      import: false,
    });
    expect(outside).toMatch(
      /^forbidden: remote .* outside this token's remotes \(http:\/\/127.0.0.1:9\/acme\/\*\)/,
    );
    // `..` cannot climb out of the pattern.
    expect(
      await failure(alpha, 'create_project', {
        name: 'alpha-climb',
        remote: { url: 'http://127.0.0.1:9/acme/../evil/x.git' },
        import: false,
      }),
    ).toMatch(/^forbidden: remote .* outside this token's remotes/);

    for (const url of [remote, 'http://127.0.0.1:9/acme/beta', 'HTTP://127.0.0.1:9/acme/BETA.git/']) {
      const taken = await failure(alpha, 'create_project', {
        name: 'alpha-steal',
        remote: { url, branch: 'main' },
        import: false,
      });
      expect(taken).toMatch(/^forbidden: remote .* is attached to a project you cannot access/);
      expect(taken).not.toContain('beta-app');
    }
    expect(await h.fail('get_project', { project: 'alpha-steal' })).toMatch(/^not_found/);

    // Another branch of the same repository is free, and so is a repository nobody attached.
    await success(alpha, 'create_project', {
      name: 'alpha-fork',
      remote: { url: remote, branch: 'alpha' },
      import: false,
    });
    await success(alpha, 'create_project', {
      name: 'alpha-app',
      remote: { url: 'http://127.0.0.1:9/acme/alpha.git' },
      import: false,
    });
    // A token that can see beta-app may attach its remote again.
    const both = await as('ops-bot', ['alpha*', 'beta*'], { remotes: ['http://127.0.0.1:9/acme/*'] });
    await success(both, 'create_project', { name: 'beta-mirror', remote: { url: remote }, import: false });
  });
});

describe('jobs', () => {
  it('belong to the principal and project patterns that created them; others get not_found', async () => {
    const alpha = await as('alpha-jobs', ['alpha*']);
    const job = await success(alpha, 'create_job', { name: 'site' });
    const id = job.job as string;
    await success(alpha, 'write_file', { project: id, path: 'index.html', content: '<h1>alpha</h1>' });
    expect(await success(alpha, 'read_file', { project: id, path: 'index.html' })).toMatchObject({
      content: '<h1>alpha</h1>',
    });
    const listed = await success(alpha, 'list_projects', { status: 'generating' });
    expect(listed.projects.map((p: { name: string }) => p.name)).toContain(id);

    // The README used to advise job-* for jobs: it no longer opens anyone else's.
    const beta = await as('beta-jobs', ['beta*', 'job-*']);
    const sameNameOtherTenant = await as('alpha-jobs', ['gamma*']);
    for (const other of [beta, sameNameOtherTenant]) {
      for (const [tool, args] of [
        ['read_file', { project: id, path: 'index.html' }],
        ['get_project', { project: id }],
        ['write_file', { project: id, path: 'evil.html', content: 'x' }],
        ['zip_job', { job: id }],
        ['update_job', { job: id, fail: { error: 'sabotage' } }],
      ] as const) {
        expect(await failure(other, tool, args), tool).toMatch(
          new RegExp(`^not_found: project '${id}' not found`),
        );
      }
      const theirs = await success(other, 'list_projects', { status: 'generating' });
      expect(theirs.projects.map((p: { name: string }) => p.name)).not.toContain(id);
      await expect(other.readResource({ uri: `stowage://${id}/index.html` })).rejects.toThrow(/not found/);
    }
    // A job that does not exist reads the same as another's.
    expect(await failure(beta, 'read_file', { project: 'job-none-abc123', path: 'a' })).toMatch(
      /^not_found: project 'job-none-abc123' not found/,
    );
    expect(await failure(alpha, 'read_file', { project: 'job-none-abc123', path: 'a' })).toMatch(
      /^not_found: project 'job-none-abc123' not found/,
    );

    const zipped = await success(alpha, 'zip_job', { job: id });
    expect(zipped).toMatchObject({ status: 'complete', zip: { files: 1 } });
    const stored = await h.db.sql.query(
      `SELECT 1 FROM drafts d JOIN projects p ON p.id = d.project_id
      WHERE p.name = $1 AND d.path = 'evil.html'`,
      [id],
    );
    expect(stored).toEqual([]);
  });

  it('are not projects: create_project refuses the job- prefix', async () => {
    expect(await h.fail('create_project', { name: 'job-fake' })).toMatch(
      /^invalid_input: project names starting with 'job-' are kept for jobs/,
    );
  });
});

describe('admin tools', () => {
  beforeAll(async () => {
    await createTeamProjects(h, ['adm-alpha', 'adm-beta']);
    // An expired job of another tenant, with a file.
    const job = await h.stowage.jobs.create({ name: 'old', ownerProjects: ['adm-beta*'] }, 'beta-owner');
    await h.ok(
      'write_file',
      { project: job.name, path: 'a.txt', content: 'beta job' },
      await h.connect('beta-owner'),
    );
    await h.db.sql.query(`UPDATE projects SET expires_at = now() - interval '1 hour' WHERE name = $1`, [
      job.name,
    ]);
  });

  it('an admin token limited to some projects sees and cleans only those', async () => {
    const scoped = await as('alpha-admin', ['adm-alpha*'], { scopes: ['read', 'write', 'admin'] });
    const everything = await as('root-admin', ['*'], { scopes: ['read', 'write', 'admin'] });

    const mine = await success(scoped, 'storage_stats', {});
    expect(mine.files.count).toBe(1); // adm-alpha's README only
    expect(mine.projects).toEqual({ active: 1 });
    expect(mine.jobs).toEqual({});
    const all = await success(everything, 'storage_stats', {});
    expect(all.files.count).toBeGreaterThan(mine.files.count);
    expect(all.jobs).toMatchObject({ expired: 1 });

    const dry = await success(scoped, 'cleanup', { dry_run: true });
    expect(dry.expired_jobs.count).toBe(0);
    const cleaned = await success(scoped, 'cleanup', {});
    expect(cleaned).toMatchObject({ expired_jobs: { count: 0 }, blobs: { count: 0, bytes: 0 } });
    const [kept] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM drafts d JOIN projects p ON p.id = d.project_id WHERE p.created_by = 'beta-owner'`,
    );
    expect(kept!.n).toBe(1);

    const global = await success(everything, 'cleanup', {});
    expect(global.expired_jobs.count).toBe(1);
  });
});

describe('workspaces', () => {
  beforeAll(async () => {
    await createTeamProjects(h, ['ws-team']);
  });

  it('belong to their principal: others get forbidden for read, write, discard and commit', async () => {
    const bob = await as('bob', ['ws-*']);
    const ana = await as('ana', ['ws-*']);
    await success(bob, 'write_file', { project: 'ws-team', path: 'bob.txt', content: 'bob draft' });
    await success(bob, 'write_file', {
      project: 'ws-team',
      path: 'agent.txt',
      content: 'agent draft',
      workspace: 'bob-agent-2',
    });
    await success(ana, 'write_file', { project: 'ws-team', path: 'ana.txt', content: 'ana draft' });

    for (const workspace of ['bob', 'bob-agent-2']) {
      for (const [tool, args] of [
        ['read_file', { project: 'ws-team', path: 'bob.txt' }],
        ['list_files', { project: 'ws-team' }],
        ['list_changes', { project: 'ws-team' }],
        ['batch_read', { project: 'ws-team', paths: ['bob.txt'] }],
        ['write_file', { project: 'ws-team', path: 'ana-was-here.txt', content: 'x' }],
        ['discard_changes', { project: 'ws-team' }],
        ['commit_task', { project: 'ws-team', task: { id: 1, title: 'steal' } }],
      ] as const) {
        expect(await failure(ana, tool, { ...args, workspace }), `${tool} ${workspace}`).toMatch(
          new RegExp(`^forbidden: workspace '${workspace}' belongs to another principal`),
        );
      }
    }
    // Bob's work is untouched, and his own calls still work.
    expect(await success(bob, 'list_changes', { project: 'ws-team' })).toMatchObject({
      changes: [expect.objectContaining({ path: 'bob.txt' })],
    });
    expect(
      await success(bob, 'read_file', { project: 'ws-team', path: 'agent.txt', workspace: 'bob-agent-2' }),
    ).toMatchObject({ content: 'agent draft' });

    // Nor through a point in time naming the workspace (history), whatever the tool.
    for (const [tool, args] of [
      ['read_file', { project: 'ws-team', path: 'bob.txt', at: 'workspace:bob' }],
      ['diff', { project: 'ws-team', from: 'committed', to: 'workspace:bob' }],
      ['restore', { project: 'ws-team', to: 'workspace:bob' }],
    ] as const) {
      expect(await failure(ana, tool, args), tool).toMatch(
        /^forbidden: workspace 'bob' belongs to another principal/,
      );
    }
    expect(await success(ana, 'list_changes', { project: 'ws-team' })).toMatchObject({
      changes: [expect.objectContaining({ path: 'ana.txt' })],
    });

    // get_project lists the caller's own workspaces only.
    const seen = await success(ana, 'get_project', { project: 'ws-team' });
    expect(seen.stats.drafts.map((d: { workspace: string }) => d.workspace)).toEqual(['ana']);

    // A new workspace is claimed by its first writer; a known principal's name is not free.
    await success(ana, 'write_file', { project: 'ws-team', path: 'a.txt', content: 'a', workspace: 'ana-2' });
    expect(
      await failure(bob, 'read_file', { project: 'ws-team', path: 'a.txt', workspace: 'ana-2' }),
    ).toMatch(/^forbidden: workspace 'ana-2' belongs to another principal/);
    await h.stowage.tokens.create({ principal: 'dave', scopes: ['read'], projects: ['*'] });
    expect(
      await failure(ana, 'write_file', {
        project: 'ws-team',
        path: 'd.txt',
        content: 'x',
        workspace: 'dave',
      }),
    ).toMatch(/^forbidden: workspace 'dave' belongs to another principal/);
  });

  it('are shared by --workspaces patterns and by the admin scope; one user sees them all', async () => {
    const carol = await as('carol', ['ws-*'], { workspaces: ['bob*'] });
    expect(
      await success(carol, 'read_file', { project: 'ws-team', path: 'bob.txt', workspace: 'bob' }),
    ).toMatchObject({ content: 'bob draft' });
    const admin = await as('ws-admin', ['ws-*'], { scopes: ['read', 'write', 'admin'] });
    expect(
      await success(admin, 'read_file', { project: 'ws-team', path: 'agent.txt', workspace: 'bob-agent-2' }),
    ).toMatchObject({ content: 'agent draft' });
    const all = await success(admin, 'get_project', { project: 'ws-team' });
    expect(all.stats.drafts.map((d: { workspace: string }) => d.workspace)).toEqual(
      expect.arrayContaining(['ana', 'bob', 'bob-agent-2']),
    );
    expect(await h.ok('read_file', { project: 'ws-team', path: 'bob.txt', workspace: 'bob' })).toMatchObject({
      content: 'bob draft',
    });
  });
});
