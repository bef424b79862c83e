// `serve --stdio` keeps the SDK's answers to initialize and tools/list in STOWAGE_HOME and
// replays them on the next start before the SDK is loaded (dist/: run `npm run build` first).
// Driven line by line, as a client's stdio transport does, against the suite's Postgres.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { ROOT } from './support/spawn.js';

interface Message {
  id?: number;
  method?: string;
  result?: Record<string, unknown> & { tools?: { name: string }[]; protocolVersion?: string };
  error?: { code: number; message: string };
}

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'stowage-handshake-'));
});
afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

const initialize = (id: number, protocolVersion = '2025-06-18') => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'handshake-test', version: '1' } },
});

/** Spawns the server, sends `messages` at once (as a client sends its handshake), then each of
 *  `calls` once the one before is answered; collects every line until the last is answered.
 *  With `keeps`, it also waits for the server to keep the answer to tools/list (id 2) it gave:
 *  without a home yet, that waits for storage to open, which a busy machine may take a while for. */
async function session(
  home: string,
  messages: object[],
  last: number,
  env: Record<string, string> = {},
  calls: { id: number }[] = [],
  keeps = false,
) {
  const child = spawn(process.execPath, [join(ROOT, 'dist/index.js'), 'serve', '--stdio'], {
    env: { PATH: process.env.PATH, STOWAGE_HOME: home, DATABASE_URL: db.url, LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
  const received: Message[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const waiting = [...calls];
  let expecting = last;
  const done = new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const message = JSON.parse(buffered.slice(0, end)) as Message;
        buffered = buffered.slice(end + 1);
        received.push(message);
        if (message.id !== expecting) continue;
        const next = waiting.shift();
        if (!next)
          setTimeout(resolve, 300); // a moment more, to see any second answer
        else {
          expecting = next.id;
          send(next);
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  for (const message of messages) send(message);
  try {
    await done;
    if (keeps) await keptAs(home, answer(received, 2).result);
  } finally {
    child.stdin.end();
    child.kill();
  }
  return received;
}

const answer = (received: Message[], id: number) => {
  const answers = received.filter((m) => m.id === id);
  expect(answers).toHaveLength(1); // exactly once, whoever gave it
  return answers[0]!;
};

const kept = (home: string) => join(home, 'cache', 'stdio-answers.json');

/** Waits (up to 20 s) until the answers kept in `home` hold `tools` as the tools/list answer. */
async function keptAs(home: string, tools: unknown) {
  for (const started = Date.now(); Date.now() - started < 20_000;) {
    const stored = await readFile(kept(home), 'utf8').then(
      (text) => JSON.parse(text) as { tools: unknown },
      () => undefined,
    );
    if (stored && JSON.stringify(stored.tools) === JSON.stringify(tools)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the server did not keep its answers in ${kept(home)}`);
}

const handshake = [
  initialize(1),
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', id: 2, method: 'tools/list' },
];

describe('stdio handshake kept for the next start', () => {
  it('replays exactly what the SDK answered, once each, and the session goes on', async () => {
    const home = join(dir, 'replay');
    const first = await session(home, handshake, 2, {}, [], true);
    const stored = JSON.parse(await readFile(kept(home), 'utf8')) as { tools: unknown };
    expect(stored.tools).toEqual(answer(first, 2).result);

    const write = {
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: { name: 'write_file', arguments: { project: 'hs', path: 'a.md', content: 'kept\n' } },
    };
    const create = {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'create_project', arguments: { name: 'hs' } },
    };
    const read = {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'read_file', arguments: { project: 'hs', path: 'a.md' } },
    };
    const second = await session(home, handshake, 2, {}, [create, write, read]);
    expect(answer(second, 1)).toEqual(answer(first, 1));
    expect(answer(second, 2)).toEqual(answer(first, 2));
    expect(answer(second, 4).result).not.toHaveProperty('isError');
    expect(answer(second, 5).result).toMatchObject({ structuredContent: { content: 'kept\n' } });
  });

  it('answers from what was kept: the protocol revision the client asked for, else the newest', async () => {
    const home = join(dir, 'marked');
    await session(home, handshake, 2, {}, [], true);
    // Mark the kept answers (the key stays valid) to see that the next start gives them.
    const stored = JSON.parse(await readFile(kept(home), 'utf8')) as {
      protocolVersions: string[];
      initialize: { instructions: string };
    };
    stored.initialize.instructions = 'from the kept answers';
    await writeFile(kept(home), JSON.stringify(stored));

    const old = await session(home, [initialize(1, '2024-11-05')], 1);
    expect(answer(old, 1).result).toMatchObject({
      protocolVersion: '2024-11-05',
      instructions: 'from the kept answers',
    });
    const unknown = await session(home, [initialize(1, '1999-01-01')], 1);
    expect(answer(unknown, 1).result).toMatchObject({
      protocolVersion: stored.protocolVersions[0],
      instructions: 'from the kept answers',
    });
  });

  it('does not replay after a configuration variable changed: the SDK answers for the new one', async () => {
    const home = join(dir, 'changed');
    const writable = await session(home, handshake, 2, {}, [], true);
    expect(answer(writable, 2).result!.tools!.map((t) => t.name)).toContain('write_file');
    const readOnly = await session(home, handshake, 2, { STOWAGE_READ_ONLY: 'true' }, [], true);
    const names = answer(readOnly, 2).result!.tools!.map((t) => t.name);
    expect(names).toContain('read_file');
    expect(names).not.toContain('write_file');
    // And the read-only answers are the ones kept now.
    const again = await session(home, handshake, 2, { STOWAGE_READ_ONLY: 'true' });
    expect(answer(again, 2)).toEqual(answer(readOnly, 2));
  });

  it('leaves a malformed initialize to the SDK, which answers it once with its error', async () => {
    const home = join(dir, 'malformed');
    await session(home, handshake, 2, {}, [], true);
    const bad = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18' } };
    const received = await session(home, [bad], 1);
    expect(answer(received, 1).error?.message).toMatch(/clientInfo/);
  });
});
