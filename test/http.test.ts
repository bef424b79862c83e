// Transport hardening of the HTTP server, in-process over a real Stowage and real SDK clients:
// readiness, session expiry and caps, DELETE, the Origin check, stateless mode, JSON responses,
// rate limits (per token, and per address before authentication) and a draining close().
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import type { HttpOptions } from '../src/http/options.js';
import type { BearerAuth } from '../src/http/bearer.js';
import { addressKey } from '../src/http/rate-limit.js';
import type { BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createChangeFeed, type ChangeFeed } from '../src/store/db/change-feed.js';
import { createSql } from '../src/store/db/sql.js';
import { createHarness, silentLogger, type Harness } from './support/harness.js';
import { connectHttp, INITIALIZE, postMcp, serveHttp } from './support/http.js';

let h: Harness;
let blobDir: string;
/** While set, blob writes wait for it: a write that is provably in flight. */
let hold: { entered: () => void; released: Promise<void> } | undefined;

beforeAll(async () => {
  blobDir = await mkdtemp(join(tmpdir(), 'stowage-http-'));
  const inner = createFsBlobStore(blobDir);
  const blobs: BlobStore = {
    ...inner,
    kind: inner.kind,
    async put(hash, content) {
      if (hold) {
        hold.entered();
        await hold.released;
      }
      await inner.put(hash, content);
    },
  };
  h = await createHarness({ principal: 'alice', blobs, limits: { responseChars: 400_000 } });
  await h.ok('create_project', { name: 'demo' });
});
afterAll(async () => {
  await h.close();
  await rm(blobDir, { recursive: true, force: true });
});

const running: RunningHttp[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await Promise.allSettled(running.splice(0).map((r) => r.close()));
});

async function serve(options: Partial<HttpOptions> = {}, changes?: ChangeFeed) {
  const http = await serveHttp(h.stowage, { principal: 'alice', server: { changes }, ...options });
  running.push(http);
  return http;
}

async function connect(http: RunningHttp) {
  const connected = await connectHttp(http.url);
  clients.push(connected.client);
  return connected;
}

const post = postMcp;
const initialize = INITIALIZE;
const toolsList = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
const sessionHeaders = (id: string) => ({ 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const messageOf = async (res: Response) =>
  ((await res.json()) as { error: { message: string } }).error.message;

/** Polls until `condition` holds; fails after `ms`. For outcomes, not for timings. */
async function until(condition: () => Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition did not come true');
    await sleep(100);
  }
}

/** A token for `principal` with read and write on every project. */
const tokenFor = async (principal: string) =>
  (await h.stowage.tokens.create({ principal, scopes: ['read', 'write'], projects: ['*'] })).token;

describe('/readyz', () => {
  it('is ok when the database and the blob store answer', async () => {
    const http = await serve({
      ready: { database: () => h.db.sql.query('SELECT 1'), blobs: () => h.blobs.ping() },
    });
    const res = await fetch(http.url.replace(/\/mcp$/, '/readyz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('is 503 naming the database when its pool is closed, without the error text', async () => {
    const closed = createSql(h.db.url);
    await closed.close();
    const http = await serve({
      ready: { database: () => closed.query('SELECT 1'), blobs: () => h.blobs.ping() },
    });
    const res = await fetch(http.url.replace(/\/mcp$/, '/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', failed: ['database'] });
  });
});

describe('sessions', () => {
  it('expire when idle: the session id is unknown afterwards', async () => {
    // Wide enough that a loaded machine answers the first request within it.
    const http = await serve({ sessionIdleMs: 1500 });
    const { client, transport } = await connect(http);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    const id = transport.sessionId!;
    const used = await post(http.url, toolsList, sessionHeaders(id));
    expect(used.status).toBe(200);
    await used.text();
    await sleep(3000);
    const res = await post(http.url, toolsList, sessionHeaders(id));
    expect(res.status).toBe(404);
  });

  it('are closed soon when they carry no request after initialize, while used ones stay', async () => {
    // The idle timeout stays at its 30 minutes: only the never-used expiry can close a session here.
    const http = await serve({ unusedSessionMs: 1500 });
    const open = async () => {
      const init = await post(http.url, initialize);
      expect(init.status).toBe(200);
      const id = init.headers.get('mcp-session-id')!;
      await init.text();
      expect((await post(http.url, initialized, sessionHeaders(id))).status).toBe(202);
      return id;
    };
    const used = await open();
    const listed = await post(http.url, toolsList, sessionHeaders(used));
    expect(listed.status).toBe(200);
    await listed.text();
    const unused = await open();
    // Notifications do not use a session, so polling with one leaves its expiry alone.
    await until(async () => (await post(http.url, initialized, sessionHeaders(unused))).status === 404);
    const again = await post(http.url, toolsList, sessionHeaders(used));
    expect(again.status).toBe(200);
    await again.text();
  });

  it('are capped in all: initialize past the cap gets 503 with Retry-After, open sessions go on', async () => {
    const http = await serve({ maxSessions: 2 });
    const a = await connect(http);
    const b = await connect(http);
    const refused = await post(http.url, initialize);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await messageOf(refused)).toMatch(
      /has 2 sessions open, the most it allows: retry in \d+ s, and reuse sessions or close those no longer needed \(DELETE \/mcp/,
    );
    expect((await a.client.listTools()).tools.length).toBeGreaterThan(0);
    expect((await b.client.listTools()).tools.length).toBeGreaterThan(0);
    // Closing one makes room.
    await a.transport.terminateSession();
    const next = await post(http.url, initialize);
    expect(next.status).toBe(200);
    await next.text();
  });

  it('are capped per token: past it 429 with Retry-After, other tokens and open sessions go on', async () => {
    const ann = await tokenFor('ann');
    const bob = await tokenFor('bob');
    const http = await serve({ auth: h.stowage.tokens, maxSessionsPerToken: 2 });
    const first = await connectHttp(http.url, ann);
    clients.push(first.client);
    clients.push((await connectHttp(http.url, ann)).client);
    const refused = await post(http.url, initialize, { authorization: `Bearer ${ann}` });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await messageOf(refused)).toMatch(
      /this token already has 2 sessions open, the most allowed per token: reuse one, or close those no longer needed \(DELETE \/mcp/,
    );
    const other = await post(http.url, initialize, { authorization: `Bearer ${bob}` });
    expect(other.status).toBe(200);
    await other.text();
    expect((await first.client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('end with DELETE: a later request on the session gets 404', async () => {
    const http = await serve();
    const { transport } = await connect(http);
    const id = transport.sessionId!;
    expect((await post(http.url, toolsList, sessionHeaders(id))).status).toBe(200);
    await transport.terminateSession();
    expect((await post(http.url, toolsList, sessionHeaders(id))).status).toBe(404);
  });
});

describe('Origin', () => {
  it("is allowed only as this server's own scheme, host and port, or the public URL's", async () => {
    const http = await serve({ stateless: true, publicUrl: 'https://stowage.example.com/' });
    const port = new URL(http.url).port;
    const status = async (origin: string) => {
      const res = await post(http.url, initialize, { origin });
      await res.text();
      return res.status;
    };
    expect(await status(`http://127.0.0.1:${port}`)).toBe(200);
    expect(await status(`http://localhost:${port}`)).toBe(200);
    expect(await status('https://stowage.example.com')).toBe(200);
    // Another service on the same host is another origin.
    expect(await status('http://127.0.0.1:9999')).toBe(403);
    expect(await status('http://127.0.0.1')).toBe(403);
    expect(await status(`https://127.0.0.1:${port}`)).toBe(403);
    expect(await status('https://stowage.example.com:8443')).toBe(403);
    expect(await status('null')).toBe(403);
    const refused = await post(http.url, initialize, { origin: 'http://127.0.0.1:9999' });
    expect(await messageOf(refused)).toMatch(/Origin http:\/\/127.0.0.1:9999 is not allowed/);
  });
});

describe('request bodies', () => {
  it('refuses a body over the limit with 413 naming it, writes nothing, and serves the next request', async () => {
    const http = await serve({ bodyLimitBytes: 64 * 1024 });
    const { client, transport } = await connect(http);
    const call = {
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: {
        name: 'write_file',
        arguments: { project: 'demo', path: 'big.txt', content: 'x'.repeat(100 * 1024) },
      },
    };
    const res = await post(http.url, call, sessionHeaders(transport.sessionId!));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/over 65536 bytes/);
    const read = (await client.callTool({
      name: 'read_file',
      arguments: { project: 'demo', path: 'big.txt' },
    })) as CallToolResult;
    expect(read.isError).toBe(true);
    expect(read.content[0]).toMatchObject({ text: expect.stringMatching(/not found/i) });
  });

  it('answers a body that is not JSON with a JSON-RPC parse error, and other methods with 405', async () => {
    const http = await serve();
    const res = await fetch(http.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc": "2.0", "id": 1, "method": ',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32700 } });
    const put = await fetch(http.url, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
  });
});

describe('stateless mode', () => {
  it('serves two clients without sessions and answers GET with 405', async () => {
    const http = await serve({ stateless: true });
    const a = await connect(http);
    const b = await connect(http);
    expect(a.transport.sessionId).toBeUndefined();
    const listed = (await b.client.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
    expect(listed.isError).toBeFalsy();
    expect(listed.structuredContent).toMatchObject({ projects: [expect.objectContaining({ name: 'demo' })] });
    expect((await a.client.listTools()).tools.length).toBeGreaterThan(0);

    const get = await fetch(http.url, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(http.url, { method: 'DELETE' })).status).toBe(405);
  });
});

describe('JSON responses', () => {
  it('answer each call with one JSON object; notifications still come on the session stream', async () => {
    const feed = createChangeFeed(h.db.sql, silentLogger);
    try {
      const http = await serve({ jsonResponses: true }, feed);
      const init = await postMcp(http.url);
      expect(init.status).toBe(200);
      expect(init.headers.get('content-type')).toMatch(/^application\/json/);
      expect(
        ((await init.json()) as { result: { serverInfo: { name: string } } }).result.serverInfo.name,
      ).toBe('stowage');

      const { client } = await connect(http);
      const write = (content: string) =>
        client.callTool({ name: 'write_file', arguments: { project: 'demo', path: 'json.txt', content } });
      expect((await write('one')).isError).toBeFalsy();
      await client.subscribeResource({ uri: 'stowage://demo/json.txt' });
      const heard = new Promise<string>((resolve) =>
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
      );
      await write('two');
      expect(await heard).toBe('stowage://demo/json.txt');
    } finally {
      await feed.close();
    }
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After past the burst, and lets requests through after waiting', async () => {
    const http = await serve({ stateless: true, rateLimit: { perMinute: 120, burst: 3 } });
    for (let i = 0; i < 3; i++) expect((await post(http.url, initialize)).status).toBe(200);
    const limited = await post(http.url, initialize);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { message: expect.stringMatching(/rate limit of 120 requests per minute \(burst 3\)/) },
    });
    await sleep(retryAfter * 1000);
    expect((await post(http.url, initialize)).status).toBe(200);
  });
});

describe('failed authentication per address', () => {
  it('turns a flood of made-up tokens into 429 without a token lookup each', async () => {
    const valid = await tokenFor('val');
    let lookups = 0;
    const counting: BearerAuth = {
      verify(token) {
        lookups += 1;
        return h.stowage.tokens.verify(token);
      },
    };
    // One token back a minute: none comes back while the test runs.
    const http = await serve({
      stateless: true,
      auth: counting,
      addressRateLimit: { perMinute: 1, burst: 3 },
    });
    const send = async (headers: Record<string, string>) => {
      const res = await post(http.url, initialize, headers);
      return {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        message: await messageOf(res),
      };
    };
    // Neither valid tokens (loopback clients share one address) nor requests without credentials
    // (which cost no lookup) are charged to the address.
    for (let i = 0; i < 5; i++) {
      const res = await post(http.url, initialize, { authorization: `Bearer ${valid}` });
      expect(res.status).toBe(200);
      await res.text();
      expect((await send({})).status).toBe(401);
    }
    lookups = 0;
    const n = 20;
    const flood = [];
    for (let i = 0; i < n; i++) {
      flood.push(await send({ authorization: `Bearer stw_${randomBytes(32).toString('base64url')}` }));
    }
    expect(flood.map((r) => r.status)).toEqual([
      ...Array<number>(3).fill(401),
      ...Array<number>(n - 3).fill(429),
    ]);
    expect(lookups).toBeLessThan(n);
    expect(lookups).toBe(3);
    expect(Number(flood.at(-1)!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(flood.at(-1)!.message).toMatch(
      /too many requests with invalid tokens from this address \(limit 1 per minute, burst 3\): retry in \d+ s with a valid token/,
    );
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('addr:203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('addr:203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('addr:2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('addr:2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('addr:2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('addr:0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('addr:fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBe('addr:');
  });
});

describe('close()', () => {
  it('lets an in-flight write finish and answer before the server goes away', async () => {
    const http = await serve();
    const { client } = await connect(http);
    let entered!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (entered = r));
    hold = { entered, released: new Promise<void>((r) => (release = r)) };
    // Above INLINE_MAX_BYTES (so it goes through the held blob store), within one read_file.
    const content = 'x'.repeat(70_000);
    const write = client.callTool({
      name: 'write_file',
      arguments: { project: 'demo', path: 'big.txt', content },
    }) as Promise<CallToolResult>;
    await reached;
    const closing = http.close();
    await sleep(50);
    hold = undefined;
    release();
    const result = await write;
    expect(result.isError).toBeFalsy();
    await closing;
    await expect(fetch(http.url.replace(/\/mcp$/, '/healthz'))).rejects.toThrow();
    const read = await h.ok('read_file', { project: 'demo', path: 'big.txt' });
    expect(read.content === content, 'the written content reads back').toBe(true);
  });
});
