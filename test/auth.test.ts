// API tokens and bearer auth: the token lifecycle through the store and the spawned CLI, and an
// HTTP server with auth driven by real StreamableHTTP clients holding different tokens.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { createHarness, createTeamProjects, type Harness } from './support/harness.js';
import {
  connectHttp,
  INITIALIZE,
  postMcp,
  serveHttp,
  callTool as call,
  textOf as text,
} from './support/http.js';
import { spawnHttpServer, spawnStowage } from './support/spawn.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ principal: 'admin' });
});
afterAll(async () => {
  await h.close();
});

describe('token store', () => {
  it('creates a token shown once, lists it without secrets, verifies, revokes and expires it', async () => {
    const { token, info } = await h.stowage.tokens.create({
      principal: 'ci-bot',
      scopes: ['write', 'read'],
      projects: ['team-*'],
    });
    expect(token).toMatch(/^stw_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ principal: 'ci-bot', scopes: ['read', 'write'], projects: ['team-*'] });
    const [stored] = await h.db.sql.query<{ token_hash: string }>(
      'SELECT token_hash FROM api_tokens WHERE id = $1',
      [info.id],
    );
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.token_hash).not.toContain(token.slice(4));
    expect(JSON.stringify(await h.stowage.tokens.list())).not.toContain(token.slice(4));

    expect(await h.stowage.tokens.verify(token)).toEqual({
      ok: true,
      token: {
        id: info.id,
        principal: 'ci-bot',
        scopes: ['read', 'write'],
        projects: ['team-*'],
        remotes: null,
        workspaces: null,
      },
    });
    const listed = (await h.stowage.tokens.list()).find((t) => t.id === info.id);
    expect(listed?.last_used_at).not.toBeNull();

    expect(await h.stowage.tokens.verify(`stw_${'A'.repeat(43)}`)).toEqual({ ok: false, reason: 'unknown' });
    expect(await h.stowage.tokens.verify('not a token')).toEqual({ ok: false, reason: 'unknown' });

    await h.db.sql.query(`UPDATE api_tokens SET expires_at = now() - interval '1 hour' WHERE id = $1`, [
      info.id,
    ]);
    expect(await h.stowage.tokens.verify(token)).toEqual({ ok: false, reason: 'expired' });
    expect((await h.stowage.tokens.revoke(info.id)).revoked_at).not.toBeNull();
    expect(await h.stowage.tokens.verify(token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('refuses bad principals, scopes, patterns and ids, naming the fix', async () => {
    const base = { principal: 'ci', scopes: ['read'], projects: ['*'] };
    await expect(h.stowage.tokens.create({ ...base, principal: 'a b' })).rejects.toThrow(/workspace name/);
    await expect(h.stowage.tokens.create({ ...base, scopes: ['root'] })).rejects.toThrow(
      /'root' unknown: pass some of read, write, admin/,
    );
    await expect(h.stowage.tokens.create({ ...base, scopes: [] })).rejects.toThrow(/empty/);
    await expect(h.stowage.tokens.create({ ...base, projects: [] })).rejects.toThrow(/patterns are empty/);
    await expect(h.stowage.tokens.create({ ...base, expiresInSeconds: -5 })).rejects.toThrow(/future/);
    await expect(h.stowage.tokens.revoke('nope')).rejects.toThrow(/not a token id/);
    await expect(h.stowage.tokens.revoke('00000000-0000-0000-0000-000000000000')).rejects.toThrow(
      /not found/,
    );
  });
});

describe('bearer auth over HTTP', () => {
  let http: RunningHttp;
  const tokens: Record<'admin' | 'teamA' | 'reader', string> = { admin: '', teamA: '', reader: '' };
  const clients: Client[] = [];

  async function connect(token: string) {
    const connected = await connectHttp(http.url, token);
    clients.push(connected.client);
    return connected;
  }

  const post = (headers: Record<string, string>, body: unknown = INITIALIZE) =>
    postMcp(http.url, body, headers);

  beforeAll(async () => {
    const create = async (principal: string, scopes: string[], projects: string[]) =>
      (await h.stowage.tokens.create({ principal, scopes, projects })).token;
    tokens.admin = await create('admin', ['read', 'write', 'admin'], ['*']);
    tokens.teamA = await create('ana', ['read', 'write'], ['team-a*']);
    tokens.reader = await create('rita', ['read'], ['*']);
    http = await serveHttp(h.stowage, { auth: h.stowage.tokens });
    await createTeamProjects(h, ['team-a1', 'team-b1']);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await http?.close();
  });

  it('answers 401 with an RFC 6750 challenge for missing, unknown, expired and revoked tokens', async () => {
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="stowage"');

    const unknown = await post({ authorization: `Bearer stw_${'x'.repeat(43)}` });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toBe(
      'Bearer realm="stowage", error="invalid_token", error_description="the token is unknown"',
    );

    const expired = await h.stowage.tokens.create({ principal: 'old', scopes: ['read'], projects: ['*'] });
    await h.db.sql.query(`UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
      expired.info.id,
    ]);
    const e = await post({ authorization: `Bearer ${expired.token}` });
    expect(e.status).toBe(401);
    expect(e.headers.get('www-authenticate')).toMatch(
      /error="invalid_token", error_description="the token is expired"/,
    );

    const revoked = await h.stowage.tokens.create({ principal: 'gone', scopes: ['read'], projects: ['*'] });
    expect((await post({ authorization: `Bearer ${revoked.token}` })).status).toBe(200);
    await h.stowage.tokens.revoke(revoked.info.id);
    const r = await post({ authorization: `Bearer ${revoked.token}` });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/error_description="the token is revoked"/);

    await expect(connect(`stw_${'y'.repeat(43)}`)).rejects.toThrow();
    // Downloads and health stay open: the first is signed, the second says nothing.
    expect((await fetch(http.url.replace(/\/mcp$/, '/healthz'))).status).toBe(200);
  });

  it('a read-only token reads but cannot write', async () => {
    const { client } = await connect(tokens.reader);
    const read = await call(client, 'read_file', { project: 'team-b1', path: 'README.md' });
    expect(read.structuredContent).toMatchObject({ content: '# team-b1' });
    const write = await call(client, 'write_file', { project: 'team-b1', path: 'x.txt', content: 'x' });
    expect(write.isError).toBe(true);
    expect(text(write)).toMatch(/^forbidden: write_file needs the 'write' scope .*--scopes including write/);
    const created = await call(client, 'create_project', { name: 'rita-own' });
    expect(text(created)).toMatch(/^forbidden: /);
    const [drafts] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM drafts WHERE path = 'x.txt'`,
    );
    expect(drafts!.n).toBe(0);
  });

  it('a token for team-a* cannot read, list, write or read resources of team-b', async () => {
    const { client } = await connect(tokens.teamA);
    const listed = await call(client, 'list_projects', { limit: 1 });
    expect(listed.structuredContent).toEqual({
      projects: [expect.objectContaining({ name: 'team-a1' })],
    });
    for (const [tool, args] of [
      ['read_file', { project: 'team-b1', path: 'README.md' }],
      ['get_project', { project: 'team-b1' }],
      ['write_file', { project: 'team-b1', path: 'y.txt', content: 'y' }],
      ['create_project', { name: 'team-b2' }],
    ] as const) {
      const r = await call(client, tool, args);
      expect(r.isError, tool).toBe(true);
      expect(text(r), tool).toMatch(/^forbidden: .*outside this token's projects \(team-a\*\)/);
    }
    const admin = await call(client, 'delete_project', { project: 'team-a1' });
    expect(text(admin)).toMatch(/^forbidden: delete_project needs the 'admin' scope/);

    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['stowage://team-a1']);
    await expect(client.readResource({ uri: 'stowage://team-b1/README.md' })).rejects.toThrow(/not found/);
    const a = await client.readResource({ uri: 'stowage://team-a1/README.md' });
    expect(a.contents[0]).toMatchObject({ text: '# team-a1' });
    const completed = await client.complete({
      ref: { type: 'ref/resource', uri: 'stowage://{project}/{+path}' },
      argument: { name: 'project', value: 'team-' },
    });
    expect(completed.completion.values).toEqual(['team-a1']);

    expect(await call(client, 'create_project', { name: 'team-a2' })).toMatchObject({
      structuredContent: { name: 'team-a2', created_by: 'ana' },
    });
  });

  it("the token's principal is the caller's default workspace", async () => {
    const { client } = await connect(tokens.teamA);
    const w = await call(client, 'write_file', { project: 'team-a1', path: 'ana.txt', content: 'mine' });
    expect(w.isError).toBeFalsy();
    expect(await h.ok('read_file', { project: 'team-a1', path: 'ana.txt', workspace: 'ana' })).toMatchObject({
      content: 'mine',
    });
    expect(await h.fail('read_file', { project: 'team-a1', path: 'ana.txt' })).toMatch(/^not_found/);
  });

  it('binds a session to the token that created it', async () => {
    const { transport } = await connect(tokens.teamA);
    const ping = { jsonrpc: '2.0', id: 9, method: 'ping' };
    const headers = { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' };
    expect((await post({ ...headers, authorization: `Bearer ${tokens.reader}` }, ping)).status).toBe(403);
    expect((await post({ ...headers, authorization: `Bearer ${tokens.teamA}` }, ping)).status).toBe(200);
  });
});

const run = spawnStowage;

describe('the spawned CLI', () => {
  it('token create prints the token once, list hides it, bad input exits 2, revoke works', async () => {
    const env = { DATABASE_URL: h.db.url, STOWAGE_HOME: h.home };
    const created = await run(
      [
        'token',
        'create',
        '--principal',
        'cli-bot',
        '--scopes',
        'read',
        '--projects',
        'team-a*',
        '--expires-in',
        '12h',
        '--remotes',
        'https://github.com/acme/*',
        '--workspaces',
        'team-*',
      ],
      env,
    ).done;
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^stw_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/cannot be shown again/);
    const verified = await h.stowage.tokens.verify(token);
    expect(verified).toMatchObject({
      ok: true,
      token: {
        principal: 'cli-bot',
        projects: ['team-a*'],
        remotes: ['https://github.com/acme/*'],
        workspaces: ['team-*'],
      },
    });

    const listed = await run(['token', 'list'], env).done;
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /cli-bot\tread\tteam-a\*\tremotes https:\/\/github\.com\/acme\/\*\tworkspaces own,team-\*\texpires /,
    );
    expect(listed.stdout).not.toContain(token.slice(4));

    const bad = await run(['token', 'create', '--principal', 'x', '--scopes', 'root', '--projects', '*'], env)
      .done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'root' unknown: pass some of read, write, admin/);
    const badRemote = await run(
      ['token', 'create', '--principal', 'x', '--scopes', 'read', '--projects', '*', '--remotes', '*'],
      env,
    ).done;
    expect(badRemote.code).toBe(2);
    expect(badRemote.stderr).toMatch(
      /remote pattern '\*' must be a URL glob with a scheme and an exact host/,
    );
    const badExpiry = await run(
      ['token', 'create', '--principal', 'x', '--scopes', 'read', '--projects', '*', '--expires-in', 'soon'],
      env,
    ).done;
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toMatch(/--expires-in 'soon' is not a duration: pass e.g. 30d/);

    const id = verified.ok ? verified.token.id : '';
    expect((await run(['token', 'revoke', id], env).done).code).toBe(0);
    expect(await h.stowage.tokens.verify(token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('serve --http beyond loopback requires tokens, and refuses STOWAGE_AUTH=none naming the fix', async () => {
    const env = { DATABASE_URL: h.db.url, STOWAGE_HOME: h.home };
    const refused = await run(['serve', '--http', '--host', '0.0.0.0', '--port', '0'], {
      ...env,
      STOWAGE_AUTH: 'none',
    }).done;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not a loopback address .*set STOWAGE_AUTH=tokens/);

    const server = await spawnHttpServer(env, ['--host', '0.0.0.0']);
    try {
      expect(server.stderr()).toMatch(/Stowage on http:\/\/0\.0\.0\.0:\d+\/mcp \(bearer tokens required\)/);
      const url = server.url.replace('0.0.0.0', '127.0.0.1');
      const unauthenticated = await fetch(url, { method: 'POST', body: '{}' });
      expect(unauthenticated.status).toBe(401);
      const { token } = await h.stowage.tokens.create({
        principal: 'ops',
        scopes: ['read'],
        projects: ['*'],
      });
      const { client } = await connectHttp(url, token);
      const listed = (await client.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
      expect(listed.isError).toBeFalsy();
      await client.close();
    } finally {
      await server.stop();
    }
  });
});
