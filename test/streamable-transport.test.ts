// The streamable HTTP transport on the wire (src/http/streamable-transport.ts), in-process over a
// real Stowage: what a client sees of status codes, headers and event streams, raw where the SDK
// client would hide it, and through the SDK client for progress on a call's own stream.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { createChangeFeed, type ChangeFeed } from '../src/store/db/change-feed.js';
import { createHarness, silentLogger, type Harness } from './support/harness.js';
import { connectHttp, postMcp, serveHttp } from './support/http.js';

let h: Harness;
let feed: ChangeFeed;
let http: RunningHttp;

beforeAll(async () => {
  h = await createHarness({ principal: 'alice' });
  await h.ok('create_project', { name: 'wire' });
  feed = createChangeFeed(h.db.sql, silentLogger);
  http = await serveHttp(h.stowage, { principal: 'alice', server: { changes: feed } });
});
afterAll(async () => {
  await http.close();
  await feed.close();
  await h.close();
});

const streams: AbortController[] = [];
afterEach(() => streams.splice(0).forEach((s) => s.abort()));

const PROTOCOL = '2025-06-18';
const rpc = (id: number, method: string, params: object = {}) => ({ jsonrpc: '2.0', id, method, params });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: number; message: string } }).error;

/** The JSON-RPC messages of an event-stream body. */
const events = (text: string) =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('event: message\n'))
    .map(
      (block) =>
        JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { id?: number; method?: string; params?: unknown },
    );

/** A new session's id and the headers every later request carries. */
async function session() {
  const init = await postMcp(http.url);
  expect(init.status).toBe(200);
  const id = init.headers.get('mcp-session-id')!;
  await init.text();
  const headers = { 'mcp-session-id': id, 'mcp-protocol-version': PROTOCOL };
  const initialized = await postMcp(
    http.url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    headers,
  );
  expect(initialized.status).toBe(202);
  return { id, headers };
}

/** Opens the session's GET event stream; returns its response and a reader of what arrives. */
async function openGet(headers: Record<string, string>) {
  const abort = new AbortController();
  streams.push(abort);
  const res = await fetch(http.url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let seen = '';
  /** Reads until a message matching `test` has arrived. */
  const until = async (test: (m: { method?: string; params?: any }) => boolean) => {
    for (;;) {
      const found = events(seen).find(test);
      if (found) return found;
      const { value, done } = await reader!.read();
      if (done) throw new Error(`the stream ended before the message: ${seen}`);
      seen += decoder.decode(value, { stream: true });
    }
  };
  return { res, until };
}

describe('POST', () => {
  it('answers a batch of requests on one event stream, each answer once, then ends it', async () => {
    const { id, headers } = await session();
    const res = await postMcp(http.url, [rpc(2, 'tools/list'), rpc(3, 'ping')], headers);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('mcp-session-id')).toBe(id);
    const answers = events(await res.text()); // resolves only once the stream has ended
    expect(answers.map((a) => a.id).sort()).toEqual([2, 3]);
    expect(answers.find((a) => a.id === 2)).toMatchObject({ result: { tools: expect.any(Array) } });
  });

  it('accepts notifications alone with 202 and no body', async () => {
    const { headers } = await session();
    const res = await postMcp(http.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
  });

  it('refuses what a streamable-HTTP client must not send, naming the problem', async () => {
    const { headers } = await session();
    const jsonOnly = await postMcp(http.url, rpc(2, 'ping'), { ...headers, accept: 'application/json' });
    expect(jsonOnly.status).toBe(406);
    expect((await errorOf(jsonOnly)).message).toMatch(
      /must accept both application\/json and text\/event-stream/,
    );

    const text = await fetch(http.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(rpc(2, 'ping')),
    });
    expect(text.status).toBe(415);
    expect((await errorOf(text)).message).toMatch(/Content-Type must be application\/json/);

    const version = await postMcp(http.url, rpc(2, 'ping'), {
      ...headers,
      'mcp-protocol-version': '1999-01-01',
    });
    expect(version.status).toBe(400);
    expect((await errorOf(version)).message).toMatch(
      /Unsupported protocol version: 1999-01-01 \(supported versions: .*2025-06-18/,
    );

    const notRpc = await postMcp(http.url, { hello: 'world' }, headers);
    expect(notRpc.status).toBe(400);
    expect(await errorOf(notRpc)).toMatchObject({
      code: -32700,
      message: expect.stringMatching(/Invalid JSON-RPC/),
    });

    const again = await postMcp(http.url, undefined, headers);
    expect(again.status).toBe(400);
    expect((await errorOf(again)).message).toMatch(/already initialized/);

    // None of it harmed the session.
    const ping = await postMcp(http.url, rpc(9, 'ping'), headers);
    expect(events(await ping.text())).toEqual([{ jsonrpc: '2.0', id: 9, result: {} }]);
  });

  it('sends a call’s progress on its own stream before its answer', async () => {
    const { client } = await connectHttp(http.url);
    try {
      const { job } = (await client.callTool({ name: 'create_job', arguments: { name: 'progress' } }))
        .structuredContent as { job: string };
      const files = Array.from({ length: 12 }, (_, i) => ({ path: `f${i}.txt`, content: `file ${i}\n` }));
      await client.callTool({ name: 'write_files', arguments: { project: job, files } });
      const seen: number[] = [];
      const result = await client.callTool({ name: 'zip_job', arguments: { job } }, undefined, {
        onprogress: (p) => seen.push(p.progress),
      });
      expect(result.isError).toBeFalsy();
      expect(seen.at(-1)).toBe(12);
    } finally {
      await client.close();
    }
  });
});

describe('GET', () => {
  it('carries the session’s notifications on its one event stream; a second is refused with 409', async () => {
    const { headers } = await session();
    const get = await openGet(headers);
    expect(get.res.status).toBe(200);
    expect(get.res.headers.get('content-type')).toBe('text/event-stream');

    const second = await fetch(http.url, { headers: { accept: 'text/event-stream', ...headers } });
    expect(second.status).toBe(409);

    const uri = 'stowage://wire/watched.txt';
    const write = (content: string) =>
      postMcp(
        http.url,
        rpc(5, 'tools/call', {
          name: 'write_file',
          arguments: { project: 'wire', path: 'watched.txt', content },
        }),
        headers,
      ).then((r) => r.text());
    await write('one');
    await (await postMcp(http.url, rpc(6, 'resources/subscribe', { uri }), headers)).text();
    await write('two');
    const updated = await get.until((m) => m.method === 'notifications/resources/updated');
    expect(updated.params).toEqual({ uri });
  });

  it('needs an Accept of text/event-stream and a known session', async () => {
    const { headers } = await session();
    expect((await fetch(http.url, { headers: { accept: 'application/json', ...headers } })).status).toBe(406);
    const unknown = await fetch(http.url, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': 'no-such-session' },
    });
    expect(unknown.status).toBe(404);
  });
});

describe('DELETE', () => {
  it('ends the session and its open stream', async () => {
    const { headers } = await session();
    const get = await openGet(headers);
    const ended = get.until(() => false).catch((err: Error) => err.message);
    const res = await fetch(http.url, { method: 'DELETE', headers });
    expect(res.status).toBe(200);
    expect(await ended).toMatch(/the stream ended/);
    expect((await postMcp(http.url, rpc(2, 'ping'), headers)).status).toBe(404);
  });
});
