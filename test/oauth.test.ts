// OAuth resource-server mode: a real issuer on loopback (authorization server metadata and a JWKS
// served by node:http, tokens signed with jose), Stowage's HTTP app in-process and the spawned
// CLI, real SDK clients.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { bearerVerifier, createOAuthResource, type OAuthResource } from '../src/http/oauth.js';
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

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** The authorization server, as far as a resource server sees it: its metadata and its keys. */
async function startIssuer() {
  const state = { keys: [] as JWK[], metadataIssuer: '' };
  const server: Server = createHttpServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/oauth-authorization-server') {
      return json(200, {
        issuer: state.metadataIssuer || issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        response_types_supported: ['code'],
        jwks_uri: `${issuer}/jwks.json`,
      });
    }
    if (req.url === '/jwks.json') return json(200, { keys: state.keys });
    json(req.url === '/broken-jwks' ? 500 : 404, { error: 'not here' });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    state,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

let h: Harness;
let idp: Awaited<ReturnType<typeof startIssuer>>;
let key: SigningKey;
let oauth: OAuthResource;
let http: RunningHttp;
const clients: Client[] = [];
const running: RunningHttp[] = [];

async function serve(resource: OAuthResource) {
  const server = await serveHttp(h.stowage, {
    auth: bearerVerifier(resource, h.stowage.tokens),
    oauth: resource,
    rateLimit: { perMinute: 0, burst: 1 },
  });
  running.push(server);
  return server;
}

beforeAll(async () => {
  h = await createHarness({ principal: 'admin' });
  idp = await startIssuer();
  key = await signingKey('k1');
  idp.state.keys = [key.jwk];
  // No JWKS URL and no audience: discovered from the issuer, and this server's own /mcp URL.
  oauth = await createOAuthResource({
    issuer: idp.issuer,
    jwksUrl: undefined,
    audience: undefined,
    scopeClaim: undefined,
    projectsClaim: 'stowage_projects',
    jwksCooldownMs: 0,
  });
  http = await serve(oauth);
  await createTeamProjects(h, ['team-a1', 'team-b1']);
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(running.map((r) => r.close()));
  await idp?.close();
  await h?.close();
});

const metadataUrl = () => http.url.replace(/\/mcp$/, '/.well-known/oauth-protected-resource/mcp');

/** An access token as the issuer would sign it for this server; `claims` override (or, undefined, drop) the defaults. */
function accessToken(claims: JWTPayload = {}, signer: SigningKey = key) {
  const now = Math.floor(Date.now() / 1000);
  const defaults = {
    iss: idp.issuer,
    aud: http.url,
    sub: 'ana',
    iat: now,
    exp: now + 300,
    scope: 'read write',
  };
  return new SignJWT({ ...defaults, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' })
    .sign(signer.privateKey);
}

async function connect(token: string) {
  const connected = await connectHttp(http.url, token);
  clients.push(connected.client);
  return connected;
}
const post = (token: string | undefined, body: unknown = INITIALIZE, headers: Record<string, string> = {}) =>
  postMcp(http.url, body, token ? { ...headers, authorization: `Bearer ${token}` } : headers);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('protected resource metadata (RFC 9728)', () => {
  it('is served with and without the resource path, naming the issuer and the scopes', async () => {
    const expected = {
      resource: http.url,
      authorization_servers: [idp.issuer],
      scopes_supported: ['read', 'write', 'admin'],
      bearer_methods_supported: ['header'],
      resource_name: 'Stowage',
    };
    for (const url of [metadataUrl(), http.url.replace(/\/mcp$/, '/.well-known/oauth-protected-resource')]) {
      const res = await fetch(url, { headers: { origin: 'https://client.example' } });
      expect(res.status, url).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(await res.json()).toEqual(expected);
    }
    expect((await fetch(metadataUrl(), { method: 'POST' })).status).toBe(405);
  });

  it('is named in the challenge of a request without a token', async () => {
    const res = await post(undefined);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="stowage", resource_metadata="${metadataUrl()}"`,
    );
  });
});

describe('JWT access tokens', () => {
  it("serve a session whose principal is the token's subject", async () => {
    const { client } = await connect(await accessToken());
    const w = await call(client, 'write_file', { project: 'team-a1', path: 'ana.txt', content: 'mine' });
    expect(w.isError).toBeFalsy();
    expect(await call(client, 'list_changes', { project: 'team-a1' })).toMatchObject({
      structuredContent: { workspace: 'ana', changes: [expect.objectContaining({ path: 'ana.txt' })] },
    });
    expect(await h.ok('read_file', { project: 'team-a1', path: 'ana.txt', workspace: 'ana' })).toMatchObject({
      content: 'mine',
    });
  });

  it('map a subject that cannot name a workspace to one that can, distinct per subject', async () => {
    const { client } = await connect(await accessToken({ sub: 'auth0|ana' }));
    const listed = await call(client, 'list_changes', { project: 'team-a1' });
    expect(listed.structuredContent).toMatchObject({
      workspace: expect.stringMatching(/^auth0-ana-[0-9a-f]{10}$/),
    });
    const other = await connect(await accessToken({ sub: 'auth0/ana' }));
    const otherListed = await call(other.client, 'list_changes', { project: 'team-a1' });
    expect(otherListed.structuredContent).toMatchObject({ workspace: expect.stringMatching(/^auth0-ana-/) });
    expect((otherListed.structuredContent as { workspace: string }).workspace).not.toBe(
      (listed.structuredContent as { workspace: string }).workspace,
    );
  });

  it('are refused with invalid_token when forged, expired, or for another issuer or audience', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await signingKey('k1'); // same kid, other key: a forged signature
    const hs256 = await new SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(idp.issuer)
      .setAudience(http.url)
      .setSubject('ana')
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'));
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
      iss: idp.issuer,
      aud: http.url,
      sub: 'ana',
      scope: 'read',
      exp: now + 300,
    })}.`;
    const cases: [string, string, RegExp][] = [
      ['wrong audience', await accessToken({ aud: 'https://other.example/mcp' }), /not for this server/],
      ['wrong issuer', await accessToken({ iss: 'https://evil.example' }), /from another issuer/],
      ['expired', await accessToken({ exp: now - 600 }), /the token is expired/],
      ['bad signature', await accessToken({}, stranger), /not validly signed/],
      ['HS256', hs256, /algorithm this server refuses/],
      ['alg none', unsigned, /algorithm this server refuses/],
      ['no exp', await accessToken({ exp: undefined }), /without the exp claim/],
      ['bad projects claim', await accessToken({ stowage_projects: [] }), /stowage_projects claim/],
    ];
    for (const [name, token, description] of cases) {
      const res = await post(token);
      expect(res.status, name).toBe(401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      expect(challenge, name).toMatch(/^Bearer realm="stowage", error="invalid_token", error_description="/);
      expect(challenge, name).toMatch(description);
      expect(challenge, name).toContain(`resource_metadata="${metadataUrl()}"`);
      expect(((await res.json()) as { error: { message: string } }).error.message, name).toMatch(
        new RegExp(`get a new access token from ${idp.issuer}$`),
      );
    }
  });

  it('without any Stowage scope get 403 insufficient_scope naming the scopes', async () => {
    const res = await post(await accessToken({ scope: 'openid profile' }));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="stowage", error="insufficient_scope", error_description="the token is without a Stowage scope in scope or scp", scope="read write admin", resource_metadata="${metadataUrl()}"`,
    );
  });

  it('map read, write, admin (also stowage:-prefixed, or as an scp array) to what the caller may do', async () => {
    const reader = (await connect(await accessToken({ scope: 'openid stowage:read' }))).client;
    const read = await call(reader, 'read_file', { project: 'team-b1', path: 'README.md' });
    expect(read.structuredContent).toMatchObject({ content: '# team-b1' });
    const write = await call(reader, 'write_file', { project: 'team-b1', path: 'x.txt', content: 'x' });
    expect(write.isError).toBe(true);
    expect(text(write)).toMatch(/^forbidden: write_file needs the 'write' scope/);

    const admin = (await connect(await accessToken({ scope: undefined, scp: ['read', 'admin'] }))).client;
    const stats = await call(admin, 'storage_stats', {});
    expect(stats.isError).toBeFalsy();
    const [drafts] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM drafts WHERE path = 'x.txt'`,
    );
    expect(drafts!.n).toBe(0);
  });

  it('restrict the caller to the projects of the stowage_projects claim', async () => {
    const { client } = await connect(await accessToken({ stowage_projects: ['team-a*'] }));
    const listed = await call(client, 'list_projects', {});
    expect(
      (listed.structuredContent as { projects: { name: string }[] }).projects.map((p) => p.name),
    ).toEqual(['team-a1']);
    const denied = await call(client, 'read_file', { project: 'team-b1', path: 'README.md' });
    expect(text(denied)).toMatch(/^forbidden: .*outside this token's projects \(team-a\*\)/);
    const unrestricted = (await connect(await accessToken())).client;
    const all = await call(unrestricted, 'list_projects', {});
    expect((all.structuredContent as { projects: { name: string }[] }).projects.map((p) => p.name)).toEqual(
      expect.arrayContaining(['team-a1', 'team-b1']),
    );
  });

  it("map subjects to principals one-to-one: a subject spelled like another's mapping gets its own", async () => {
    const mapped = await connect(await accessToken({ sub: 'auth0|abc' }));
    const first = (await call(mapped.client, 'list_changes', { project: 'team-a1' })).structuredContent as {
      workspace: string;
    };
    const lookalike = await connect(await accessToken({ sub: first.workspace }));
    const second = (await call(lookalike.client, 'list_changes', { project: 'team-a1' }))
      .structuredContent as {
      workspace: string;
    };
    expect(second.workspace).toMatch(/-[0-9a-f]{10}$/);
    expect(second.workspace).not.toBe(first.workspace);
  });

  it('take the rights of each request from its own token, not from the one that opened the session', async () => {
    let current = await accessToken({ sub: 'wide', scope: 'read write admin' });
    const transport = new StreamableHTTPClientTransport(new URL(http.url), {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${current}`);
        return fetch(url, { ...init, headers });
      },
    });
    const client = new Client({ name: 'stowage-test', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    expect(
      (await call(client, 'write_file', { project: 'team-b1', path: 'wide.txt', content: 'w' })).isError,
    ).toBeFalsy();

    current = await accessToken({ sub: 'wide', scope: 'read', stowage_projects: 'team-a*', jti: 'narrow' });
    const write = await call(client, 'write_file', { project: 'team-b1', path: 'narrow.txt', content: 'n' });
    expect(text(write)).toMatch(/^forbidden: write_file needs the 'write' scope/);
    const read = await call(client, 'read_file', { project: 'team-b1', path: 'README.md' });
    expect(text(read)).toMatch(/^forbidden: .*outside this token's projects \(team-a\*\)/);
    await expect(client.readResource({ uri: 'stowage://team-b1/README.md' })).rejects.toThrow(/not found/);
    const { resources } = await client.listResources();
    expect(resources.every((r) => r.uri.startsWith('stowage://team-a'))).toBe(true);
    const completed = await client.complete({
      ref: { type: 'ref/resource', uri: 'stowage://{project}/{+path}' },
      argument: { name: 'project', value: 'team-' },
    });
    expect(completed.completion.values).toEqual(['team-a1']);
    expect(await h.fail('read_file', { project: 'team-b1', path: 'narrow.txt', workspace: 'wide' })).toMatch(
      /^not_found/,
    );
  });

  it('keep a session across a refreshed token of the same subject; another subject gets 403', async () => {
    const { transport } = await connect(await accessToken());
    const ping = { jsonrpc: '2.0', id: 9, method: 'ping' };
    const headers = { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' };
    const refreshed = await accessToken({ jti: 'refreshed', iat: Math.floor(Date.now() / 1000) + 1 });
    expect((await post(refreshed, ping, headers)).status).toBe(200);
    expect((await post(await accessToken({ sub: 'rita' }), ping, headers)).status).toBe(403);
    // An API token cannot take over the session either.
    const { token } = await h.stowage.tokens.create({ principal: 'ana', scopes: ['read'], projects: ['*'] });
    expect((await post(token, ping, headers)).status).toBe(403);
  });

  it('verify tokens of a rotated key: the key set is fetched again for an unknown kid', async () => {
    const next = await signingKey('k2');
    const early = await post(await accessToken({}, next));
    expect(early.headers.get('www-authenticate')).toMatch(
      /signed by a key the issuer's key set does not hold/,
    );
    idp.state.keys = [key.jwk, next.jwk];
    const { client } = await connect(await accessToken({ sub: 'rotated' }, next));
    const listed = await call(client, 'list_changes', { project: 'team-a1' });
    expect(listed.structuredContent).toMatchObject({ workspace: 'rotated' });
    idp.state.keys = [key.jwk];
  });
});

describe('alongside API tokens', () => {
  it('accepts API tokens and refuses unknown ones with the resource metadata in the challenge', async () => {
    const { token } = await h.stowage.tokens.create({
      principal: 'ci-bot',
      scopes: ['read'],
      projects: ['*'],
    });
    const { client } = await connect(token);
    const listed = await call(client, 'list_changes', { project: 'team-a1' });
    expect(listed.structuredContent).toMatchObject({ workspace: 'ci-bot' });
    const res = await post(`stw_${'x'.repeat(43)}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="stowage", error="invalid_token", error_description="the token is unknown", resource_metadata="${metadataUrl()}"`,
    );
  });
});

describe('the issuer out of reach or misconfigured', () => {
  it('answers 503, not 401, when the keys cannot be fetched', async () => {
    const broken = await createOAuthResource({
      issuer: idp.issuer,
      jwksUrl: `${idp.issuer}/broken-jwks`,
      audience: undefined,
      scopeClaim: undefined,
      projectsClaim: 'stowage_projects',
    });
    const server = await serve(broken);
    const res = await postMcp(server.url, INITIALIZE, {
      authorization: `Bearer ${await accessToken({ aud: server.url })}`,
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });

  it('refuses to start when the metadata names another issuer or there is none', async () => {
    const settings = { jwksUrl: undefined, audience: undefined, scopeClaim: undefined, projectsClaim: 'p' };
    idp.state.metadataIssuer = 'https://elsewhere.example';
    await expect(createOAuthResource({ ...settings, issuer: idp.issuer })).rejects.toThrow(
      /names the issuer https:\/\/elsewhere\.example: set STOWAGE_OAUTH_ISSUER to exactly that/,
    );
    idp.state.metadataIssuer = '';
    await expect(createOAuthResource({ ...settings, issuer: `${idp.issuer}/tenant` })).rejects.toThrow(
      /publishes no authorization server metadata: set STOWAGE_OAUTH_JWKS_URL/,
    );
  });
});

describe('the spawned CLI', () => {
  // Known once beforeAll has made the harness.
  const env = (extra: Record<string, string>) => ({ DATABASE_URL: h.db.url, STOWAGE_HOME: h.home, ...extra });
  const run = (args: string[], extra: Record<string, string>) => spawnStowage(args, env(extra));

  it('serve --http with an issuer discovers its keys and takes its tokens for the own /mcp URL', async () => {
    const server = await spawnHttpServer(env({ STOWAGE_OAUTH_ISSUER: idp.issuer }));
    try {
      const { url } = server;
      expect(server.stderr()).toContain(`(OAuth access tokens from ${idp.issuer} or API tokens required)`);
      const metadata = await fetch(url.replace(/\/mcp$/, '/.well-known/oauth-protected-resource/mcp'));
      expect(await metadata.json()).toMatchObject({ resource: url, authorization_servers: [idp.issuer] });
      expect(
        (await postMcp(url, INITIALIZE, { authorization: `Bearer ${await accessToken()}` })).status,
      ).toBe(401);
      const token = await accessToken({ aud: url, sub: 'remote-ana', scope: 'read' });
      const { client } = await connectHttp(url, token);
      const listed = (await client.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
      expect(listed.isError).toBeFalsy();
      await client.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses to serve beyond loopback without a public URL for the audience, or with a wrong issuer', async () => {
    const beyond = await run(['serve', '--http', '--host', '0.0.0.0', '--port', '0'], {
      STOWAGE_OAUTH_ISSUER: idp.issuer,
    }).done;
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toMatch(
      /not a loopback address: .*set STOWAGE_PUBLIC_URL .* or STOWAGE_OAUTH_AUDIENCE/,
    );
    const wrong = await run(['serve', '--http', '--port', '0'], {
      STOWAGE_OAUTH_ISSUER: `${idp.issuer}/nope`,
    }).done;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/publishes no authorization server metadata: set STOWAGE_OAUTH_JWKS_URL/);
  });
});
