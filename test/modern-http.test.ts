// Protocol revision 2026-07-28 over streamable HTTP, in-process over a real Stowage (two HTTP
// instances on one Postgres, each with its own change feed), driven by the SDK v2's client pinned
// to the revision and by raw requests where statuses, headers and error bodies are the point: no
// handshake and no session, server/discover, caching hints, subscriptions/listen across
// instances and within a token's rights, the revision's errors and header validation. A
// 2025-11-25 session on the same endpoint is checked beside it where the two must agree.
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullAccess } from '../src/access.js';
import type { RunningHttp } from '../src/http/app.js';
import type { HttpOptions } from '../src/http/options.js';
import { perRequest } from '../src/server.js';
import { createChangeFeed, type ChangeFeed } from '../src/store/db/change-feed.js';
import { createHarness, silentLogger, type Harness } from './support/harness.js';
import { connectHttp, serveHttp } from './support/http.js';
import { connectModern, envelope, MODERN, postModern } from './support/modern.js';

let h: Harness;
const feeds: ChangeFeed[] = [];
const running: RunningHttp[] = [];
const clients: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  h = await createHarness({ principal: 'alice' });
  await h.ok('create_project', { name: 'live' });
  await h.ok('write_file', { project: 'live', path: 'a.txt', content: 'first\n' });
});
afterAll(async () => {
  await Promise.allSettled(feeds.map((f) => f.close()));
  await h.close();
});
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await Promise.allSettled(running.splice(0).map((r) => r.close()));
});

/** An instance of the HTTP server on the harness's storage, with its own change feed. */
async function serve(options: Partial<HttpOptions> = {}, listen = true) {
  const feed = createChangeFeed(h.db.sql, silentLogger);
  feeds.push(feed);
  const http = await serveHttp(h.stowage, {
    principal: 'alice',
    listen: listen
      ? {
          storage: () => Promise.resolve(h.stowage),
          feed,
          accessOf: perRequest(fullAccess('alice')),
          logger: silentLogger,
        }
      : undefined,
    ...options,
  });
  running.push(http);
  return http;
}

async function modern(url: string, token?: string) {
  const client = await connectModern(url, token);
  clients.push(client);
  return client;
}

async function legacy(url: string, token?: string) {
  const { client } = await connectHttp(url, token);
  clients.push(client);
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The notifications `client` hears by method, and a way to wait for the next matching one. */
function hear(
  client: Client,
  method: 'notifications/resources/updated' | 'notifications/resources/list_changed',
) {
  const heard: Record<string, any>[] = [];
  let waiter: ((params: Record<string, any>) => void) | undefined;
  client.setNotificationHandler(method, (n: { params?: Record<string, any> }) => {
    heard.push(n.params ?? {});
    waiter?.(n.params ?? {});
  });
  return {
    heard,
    next: () =>
      new Promise<Record<string, any>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${method} within 2 s`)), 2000);
        waiter = (params) => {
          clearTimeout(timer);
          waiter = undefined;
          resolve(params);
        };
      }),
  };
}

const tokenFor = async (principal: string, projects: string[]) =>
  (await h.stowage.tokens.create({ principal, scopes: ['read', 'write'], projects })).token;

describe('a 2026-07-28 client', () => {
  it('needs no handshake: it writes a file and reads it back, as a 2025-11-25 session reads it', async () => {
    const http = await serve();
    const client = await modern(http.url);
    expect(client.getProtocolEra()).toBe('modern');
    const written = await client.callTool({
      name: 'write_file',
      arguments: { project: 'live', path: 'notes/modern.md', content: 'no handshake\n' },
    });
    expect(written.isError).toBeFalsy();
    expect(written.structuredContent).toMatchObject({
      path: 'notes/modern.md',
      state: 'added',
      changed: true,
    });
    const read = await client.callTool({
      name: 'read_file',
      arguments: { project: 'live', path: 'notes/modern.md' },
    });
    expect(read.structuredContent).toMatchObject({ content: 'no handshake\n' });

    const session = await legacy(http.url);
    const same = await session.callTool({
      name: 'read_file',
      arguments: { project: 'live', path: 'notes/modern.md' },
    });
    expect(read.structuredContent).toEqual(same.structuredContent);
    expect(read.content).toEqual(same.content);
    // And what is stored is what the 2026-07-28 client wrote, in alice's workspace.
    expect(await h.ok('read_file', { project: 'live', path: 'notes/modern.md' })).toMatchObject({
      content: 'no handshake\n',
    });
  });

  it('is answered without a session: each result carries resultType and the server in _meta', async () => {
    const http = await serve();
    const reply = await postModern(http.url, 'tools/call', {
      name: 'read_file',
      arguments: { project: 'live', path: 'a.txt' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('mcp-session-id')).toBeNull();
    expect(reply.message.id).toBe(1);
    expect(reply.message.result).toMatchObject({
      resultType: 'complete',
      structuredContent: { content: 'first\n' },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'stowage' } },
    });
  });

  it('gets server/discover: the revision, the capabilities, the instructions and the server', async () => {
    const http = await serve();
    const { status, message } = await postModern(http.url, 'server/discover', {}, { id: 'd-1' });
    expect(status).toBe(200);
    expect(message.id).toBe('d-1');
    expect(message.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: [MODERN],
      capabilities: {
        tools: {},
        prompts: {},
        completions: {},
        resources: { subscribe: true, listChanged: true },
      },
      instructions: expect.stringContaining('Stowage keeps project files'),
      ttlMs: 300_000,
      cacheScope: 'public',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'stowage', version: expect.any(String) } },
    });
    // Without a change feed there is no listen stream to offer.
    const bare = await serve({}, false);
    const discovered = await postModern(bare.url, 'server/discover');
    expect(discovered.message.result?.capabilities.resources).toMatchObject({
      subscribe: false,
      listChanged: false,
    });
    const listen = await postModern(bare.url, 'subscriptions/listen', { notifications: {} }, { id: 9 });
    expect(listen.status).toBe(404);
    expect(listen.message).toMatchObject({ id: 9, error: { code: -32601 } });
  });

  it('gets caching hints: public for what every caller sees, private and immediately stale for files', async () => {
    const http = await serve();
    const hints = async (method: string, params: Record<string, unknown> = {}) => {
      const { message } = await postModern(http.url, method, params);
      return { ttlMs: message.result?.ttlMs, cacheScope: message.result?.cacheScope, result: message.result };
    };
    const publicHints = { ttlMs: 300_000, cacheScope: 'public' };
    expect(await hints('tools/list')).toMatchObject(publicHints);
    expect(await hints('prompts/list')).toMatchObject({ ...publicHints, result: { prompts: [] } });
    expect(await hints('resources/templates/list')).toMatchObject(publicHints);
    const fresh = { ttlMs: 0, cacheScope: 'private' };
    expect(await hints('resources/list')).toMatchObject(fresh);
    expect(await hints('resources/read', { uri: 'stowage://live/a.txt' })).toMatchObject({
      ...fresh,
      result: { contents: [{ uri: 'stowage://live/a.txt', text: 'first\n' }] },
    });
  });

  it('sees `project` mirrored into Mcp-Param-Project; a 2025-11-25 listing is as it was', async () => {
    const http = await serve();
    const { message } = await postModern(http.url, 'tools/list');
    const tools = message.result!.tools as {
      name: string;
      inputSchema: { properties: Record<string, any> };
    }[];
    const write = tools.find((t) => t.name === 'write_file')!;
    expect(write.inputSchema.properties.project).toEqual({ type: 'string', 'x-mcp-header': 'Project' });
    expect(tools.find((t) => t.name === 'list_projects')!.inputSchema.properties.project).toBeUndefined();
    const session = await legacy(http.url);
    const listed = await session.listTools();
    expect(JSON.stringify(listed)).not.toContain('x-mcp-header');
    expect(listed).not.toHaveProperty('ttlMs');
    expect(listed.tools.map((t) => t.name)).toEqual(tools.map((t) => t.name));
  });
});

describe('subscriptions/listen', () => {
  it('hears a file change made through another instance, tagged with its request id', async () => {
    const [a, b] = [await serve(), await serve()];
    const listener = await modern(b.url);
    const updated = hear(listener, 'notifications/resources/updated');
    const uri = 'stowage://live/watched.txt';
    await h.ok('write_file', { project: 'live', path: 'watched.txt', content: 'v1' });
    const subscription = await listener.listen({ resourceSubscriptions: [uri], toolsListChanged: true });
    // Stowage's tools never change: only what it will send is acknowledged.
    expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: [uri] });

    const writer = await legacy(a.url);
    const next = updated.next();
    await writer.callTool({
      name: 'write_file',
      arguments: { project: 'live', path: 'watched.txt', content: 'v2' },
    });
    const params = await next;
    expect(params.uri).toBe(uri);
    expect(params._meta['io.modelcontextprotocol/subscriptionId']).toEqual(expect.anything());

    await subscription.close();
    expect(await subscription.closed).toBe('local');
    const before = updated.heard.length;
    await writer.callTool({
      name: 'write_file',
      arguments: { project: 'live', path: 'watched.txt', content: 'v3' },
    });
    await sleep(800);
    expect(updated.heard).toHaveLength(before);
  });

  it('hears only the projects its token may read, and refuses a URI outside them', async () => {
    const [a, b] = [await serve({ auth: h.stowage.tokens }), await serve({ auth: h.stowage.tokens })];
    const everything = await tokenFor('dev', ['*']);
    const teamA = await tokenFor('dev', ['team-a*']);
    const listener = await modern(b.url, teamA);
    const listChanged = hear(listener, 'notifications/resources/list_changed');
    await listener.listen({ resourcesListChanged: true });

    const creator = await modern(a.url, everything);
    await creator.callTool({ name: 'create_project', arguments: { name: 'team-b-listen' } });
    await sleep(800);
    expect(listChanged.heard).toEqual([]);
    const next = listChanged.next();
    await creator.callTool({ name: 'create_project', arguments: { name: 'team-a-listen' } });
    await next;

    await expect(
      listener.listen({ resourceSubscriptions: ['stowage://team-b-listen/x.txt'] }),
    ).rejects.toMatchObject({
      code: -32602,
      data: { uri: 'stowage://team-b-listen/x.txt' },
    });
  });

  it('is served by a --stateless server too, which has no sessions to subscribe on', async () => {
    const http = await serve({ stateless: true });
    const listener = await modern(http.url);
    const updated = hear(listener, 'notifications/resources/updated');
    await listener.listen({ resourceSubscriptions: ['stowage://live/a.txt'] });
    const next = updated.next();
    const writer = await modern(http.url);
    await writer.callTool({
      name: 'write_file',
      arguments: { project: 'live', path: 'a.txt', content: 'stateless\n' },
    });
    expect((await next).uri).toBe('stowage://live/a.txt');
  });

  it('is capped per token as sessions are: past it 429 with Retry-After, and a closed one makes room', async () => {
    const ann = await tokenFor('ann', ['*']);
    const http = await serve({ auth: h.stowage.tokens, maxSessionsPerToken: 1 });
    const client = await modern(http.url, ann);
    const first = await client.listen({ resourcesListChanged: true });
    const params = { notifications: { resourcesListChanged: true } };
    const refused = await postModern(http.url, 'subscriptions/listen', params, { id: 'L2', token: ann });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.message).toMatchObject({ id: 'L2', error: { code: -32603 } });
    expect(refused.message.error!.message).toMatch(/already has 1 subscriptions\/listen streams open/);
    // Another token has room of its own.
    const bob = await modern(http.url, await tokenFor('bob', ['*']));
    await bob.listen({ resourcesListChanged: true });

    await first.close();
    let again: Awaited<ReturnType<Client['listen']>> | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      again = await client.listen({ resourcesListChanged: true }).catch(() => undefined);
      if (!again) await sleep(100);
    }
    expect(again?.honoredFilter).toEqual({ resourcesListChanged: true });
  });

  it('ends with its closing result when the server shuts down, which the client reads as graceful', async () => {
    const http = await serve();
    const listener = await modern(http.url);
    const subscription = await listener.listen({ resourceSubscriptions: ['stowage://live/a.txt'] });
    running.splice(running.indexOf(http), 1);
    await http.close(); // does not wait for the stream: it is not work in flight
    expect(await subscription.closed).toBe('graceful');
  });
});

describe('2026-07-28 errors', () => {
  it('names a missing resource as Invalid params with its URI; a 2025-11-25 session still gets -32002', async () => {
    const http = await serve();
    for (const uri of ['stowage://nope/a.txt', 'test://nonexistent']) {
      const { status, message } = await postModern(http.url, 'resources/read', { uri }, { id: 5 });
      expect(status).toBe(200);
      expect(message).toMatchObject({ id: 5, error: { code: -32602, data: { uri } } });
      expect(message.error!.message).not.toMatch(/^MCP error/);
    }
    const session = await legacy(http.url);
    await expect(session.readResource({ uri: 'stowage://nope/a.txt' })).rejects.toMatchObject({
      code: -32002,
    });
  });

  it('refuses an unsupported revision with the ones it speaks, and a malformed envelope, echoing the id', async () => {
    const http = await serve();
    const future = { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) };
    const unsupported = await postModern(http.url, 'tools/list', future, {
      id: 301,
      headers: { 'mcp-protocol-version': '2099-01-01' },
    });
    expect(unsupported.status).toBe(400);
    expect(unsupported.message).toMatchObject({
      id: 301,
      error: { code: -32022, data: { supported: [MODERN], requested: '2099-01-01' } },
    });
    const noCapabilities = await postModern(
      http.url,
      'tools/list',
      { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } },
      { id: 'x' },
    );
    expect(noCapabilities.status).toBe(400);
    expect(noCapabilities.message).toMatchObject({ id: 'x', error: { code: -32602 } });
    expect(noCapabilities.message.error!.message).toContain('clientCapabilities');
  });

  it('answers the methods the revision dropped with 404 and Method not found, and GET with 405', async () => {
    const http = await serve();
    for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'no/such']) {
      const { status, message } = await postModern(http.url, method, {}, { id: 500 });
      expect({ method, status }).toEqual({ method, status: 404 });
      expect(message).toMatchObject({ id: 500, error: { code: -32601 } });
    }
    const get = await fetch(http.url, {
      headers: { accept: 'text/event-stream', 'mcp-protocol-version': MODERN },
    });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe('mirrored headers (SEP-2243)', () => {
  const write = (content: string) => ({
    name: 'write_file',
    arguments: { project: 'live', path: 'headers.txt', content },
  });

  it('refuses a header that disagrees with the body, or is missing, with 400 and -32020, writing nothing', async () => {
    const http = await serve();
    const cases: [string, string, Record<string, unknown>, Record<string, string | undefined>][] = [
      ['Mcp-Method mismatch', 'tools/list', {}, { 'mcp-method': 'prompts/list' }],
      ['no Mcp-Method', 'tools/list', {}, { 'mcp-method': undefined }],
      ['no MCP-Protocol-Version', 'tools/list', {}, { 'mcp-protocol-version': undefined }],
      ['Mcp-Name mismatch', 'tools/call', write('x'), { 'mcp-name': 'read_file' }],
      ['no Mcp-Param-Project', 'tools/call', write('x'), { 'mcp-param-project': undefined }],
      ['another Mcp-Param-Project', 'tools/call', write('x'), { 'mcp-param-project': 'other' }],
      ['bad Base64', 'tools/call', write('x'), { 'mcp-param-project': '=?base64?bGl2ZQ?=' }],
    ];
    for (const [what, method, params, headers] of cases) {
      const { status, message } = await postModern(http.url, method, params, { id: 77, headers });
      expect({ what, status, code: message.error?.code, id: message.id }).toEqual({
        what,
        status: 400,
        code: -32020,
        id: 77,
      });
    }
    expect(await h.fail('read_file', { project: 'live', path: 'headers.txt' })).toMatch(/not found/);
  });

  it('decodes a Base64-mirrored value and takes whitespace around a value', async () => {
    const http = await serve();
    const encoded = `=?base64?${Buffer.from('live').toString('base64')}?=`;
    const written = await postModern(http.url, 'tools/call', write('encoded'), {
      headers: { 'mcp-param-project': encoded, 'mcp-name': '  write_file  ' },
    });
    expect(written.status).toBe(200);
    expect(written.message.result?.isError).toBeFalsy();
    expect(await h.ok('read_file', { project: 'live', path: 'headers.txt' })).toMatchObject({
      content: 'encoded',
    });
  });
});
