// Protocol revision 2026-07-28 on `serve --stdio` (dist/: run `npm run build` first), driven line
// by line against the suite's Postgres: a client that never initializes is served request by
// request, on a home whose kept 2025-11-25 handshake answers (stdio-handshake.test.ts) are armed
// for replay and must neither answer it nor be replaced by its answers; subscriptions/listen, and
// the revision's errors.
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { envelope, MODERN } from './support/modern.js';
import { ROOT } from './support/spawn.js';

interface Message {
  id?: string | number | null;
  method?: string;
  params?: Record<string, any>;
  result?: Record<string, any>;
  error?: { code: number; message: string; data?: any };
}

let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'stowage-modern-stdio-'));
});
afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

/** `serve --stdio` on `home`, and what it writes, line by line. */
function stdio(home: string) {
  const child = spawn(process.execPath, [join(ROOT, 'dist/index.js'), 'serve', '--stdio'], {
    env: { PATH: process.env.PATH, STOWAGE_HOME: home, DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const received: Message[] = [];
  const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      received.push(message);
      for (const w of waiters.filter((w) => w.match(message))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(message);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const next = (match: (m: Message) => boolean, what: string) =>
    new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within 30 s: ${stderr}`)), 30_000);
      waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  return {
    received,
    send: (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`),
    /** The answer to `id`, whether it came already or is yet to come. */
    answer(id: string | number) {
      const answers = (m: Message) => m.id === id && !m.method;
      const came = received.find(answers);
      return came ? Promise.resolve(came) : next(answers, `answer to ${id}`);
    },
    next,
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}

/** A 2026-07-28 request: its _meta carries the envelope. */
const request = (id: string | number, method: string, params: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method,
  params: { ...params, _meta: envelope() },
});
const call = (id: string | number, name: string, args: Record<string, unknown>) =>
  request(id, 'tools/call', { name, arguments: args });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a 2026-07-28 client on stdio', () => {
  it('is served without initialize, past the kept 2025-11-25 answers, which stay as they were', async () => {
    const home = join(dir, 'kept');
    const kept = join(home, 'cache', 'stdio-answers.json');
    const first = stdio(home);
    first.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    first.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    first.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await first.answer(2);
    // The answers are kept once storage has made the home.
    for (
      let i = 0;
      i < 300 &&
      !(await access(kept).then(
        () => true,
        () => false,
      ));
      i++
    )
      await sleep(100);
    await first.close();
    const before = await readFile(kept, 'utf8');

    const client = stdio(home);
    client.send(request('d', 'server/discover'));
    client.send(request('t', 'tools/list'));
    const discover = await client.answer('d');
    expect(discover.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: [MODERN],
      capabilities: { tools: {}, resources: { subscribe: true, listChanged: true } },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'stowage' } },
    });
    const tools = await client.answer('t');
    expect(tools.result).toMatchObject({ resultType: 'complete', ttlMs: 300_000, cacheScope: 'public' });
    expect(JSON.stringify(tools.result)).toContain('"x-mcp-header":"Project"');

    client.send(call(3, 'create_project', { name: 'modern-stdio' }));
    expect((await client.answer(3)).result).toMatchObject({ resultType: 'complete' });
    client.send(call(4, 'write_file', { project: 'modern-stdio', path: 'a.md', content: 'over stdio\n' }));
    await client.answer(4);
    client.send(call(5, 'read_file', { project: 'modern-stdio', path: 'a.md' }));
    expect((await client.answer(5)).result).toMatchObject({ structuredContent: { content: 'over stdio\n' } });
    await sleep(500); // time for the project's creation to come back through the change feed
    await client.close();

    // Each request answered once; nothing it did not ask for (a 2025 session hears list_changed).
    for (const id of ['d', 't', 3, 4, 5]) expect(client.received.filter((m) => m.id === id)).toHaveLength(1);
    expect(client.received.filter((m) => m.method)).toEqual([]);
    expect(await readFile(kept, 'utf8')).toBe(before);
  });

  it('listens: acknowledged first, changes tagged with the listen id, until it cancels', async () => {
    const client = stdio(join(dir, 'listen'));
    client.send(call(1, 'create_project', { name: 'listened' }));
    await client.answer(1);
    const uri = 'stowage://listened/a.md';
    client.send(request('L', 'subscriptions/listen', { notifications: { resourceSubscriptions: [uri] } }));
    const ack = await client.next(
      (m) => m.method === 'notifications/subscriptions/acknowledged',
      'acknowledgement',
    );
    expect(ack.params).toEqual({
      notifications: { resourceSubscriptions: [uri] },
      _meta: { 'io.modelcontextprotocol/subscriptionId': 'L' },
    });
    const updated = client.next((m) => m.method === 'notifications/resources/updated', 'update');
    client.send(call(2, 'write_file', { project: 'listened', path: 'a.md', content: 'one' }));
    expect((await updated).params).toEqual({ uri, _meta: { 'io.modelcontextprotocol/subscriptionId': 'L' } });

    client.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'L' } });
    await sleep(300); // past the coalescing window of the update above
    const heard = client.received.filter((m) => m.method === 'notifications/resources/updated').length;
    client.send(call(3, 'write_file', { project: 'listened', path: 'a.md', content: 'two' }));
    await client.answer(3);
    await sleep(800);
    await client.close();
    expect(client.received.filter((m) => m.method === 'notifications/resources/updated')).toHaveLength(heard);
    expect(client.received.filter((m) => m.id === 'L')).toEqual([]); // cancelled: no answer
  });

  it("answers the revision's errors: an unsupported revision, a malformed envelope, a dropped method", async () => {
    const client = stdio(join(dir, 'errors'));
    client.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: envelope({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) },
    });
    expect((await client.answer(1)).error).toMatchObject({
      code: -32022,
      data: { supported: [MODERN], requested: '2099-01-01' },
    });
    client.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } },
    });
    expect((await client.answer(2)).error).toMatchObject({ code: -32602 });
    client.send(request(3, 'ping'));
    expect((await client.answer(3)).error).toMatchObject({ code: -32601 });
    client.send(request(4, 'resources/read', { uri: 'stowage://missing/a.md' }));
    expect((await client.answer(4)).error).toMatchObject({
      code: -32602,
      data: { uri: 'stowage://missing/a.md' },
    });
    await client.close();
  });
});
