// Spawned `serve --http` servers on the embedded Postgres while the database is broken under them:
// backends terminated and killed, the postmaster killed. The server stays up, agents are told
// `unavailable` (never an internal error), writes resume without a restart, and every write an
// agent was told succeeded is stored, whole (as is any other write that stored anything).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectEmbedded,
  isRunning,
  postmasterOf,
  queryEmbedded,
  waitUntil,
} from './support/embedded-admin.js';
import { connectHttp } from './support/http.js';
import { spawnHttpServer } from './support/spawn.js';
import { startWriteStorm, stormViolations, type WriteStorm } from './support/write-storm.js';

type Server = Awaited<ReturnType<typeof spawnHttpServer>>;

let root: string;
let home: string;
let env: Record<string, string>;
const servers: Server[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-faults-'));
  await chmod(root, 0o755); // the embedded Postgres runs as the postgres user when we are root
  home = join(root, 'home');
  env = { STOWAGE_HOME: home, STOWAGE_PRINCIPAL: 'tester' };
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => (s.proc.exitCode === null ? s.stop() : s.exited)));
});

afterAll(async () => {
  // Only after a failed test can a postmaster outlive its servers; stop it with its data dir.
  const left = postmasterOf(home);
  if (left && isRunning(left.pid)) process.kill(left.pid, 'SIGQUIT');
  await rm(root, { recursive: true, force: true });
});

async function serve(): Promise<Server> {
  const server = await spawnHttpServer(env);
  servers.push(server);
  return server;
}

async function connect(server: Server, count = 1): Promise<Client[]> {
  const made = await Promise.all(
    Array.from({ length: count }, async () => (await connectHttp(server.url)).client),
  );
  clients.push(...made);
  return made;
}

const call = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;
const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;
async function ok(client: Client, name: string, args: Record<string, unknown>) {
  const r = await call(client, name, args);
  if (r.isError) throw new Error(`${name}: ${textOf(r)}`);
}

/** A write that succeeds, retried while the server answers `unavailable` (as an agent is told to). */
async function writeEventually(client: Client, project: string, path: string) {
  let last = '';
  await waitUntil(
    `a write to ${path} succeeds (last: ${last})`,
    async () => {
      const r = await call(client, 'write_file', { project, path, content: path });
      if (!r.isError) return true;
      last = textOf(r);
      expect(last).toMatch(/^unavailable: /);
      return false;
    },
    30_000,
  );
}

/** Every draft path of `project` and its content hash, read straight from the database. */
async function storedDrafts(project: string): Promise<Map<string, string>> {
  const rows = await queryEmbedded<{ path: string; content_hash: string }>(
    home,
    `SELECT d.path, d.content_hash FROM drafts d JOIN projects p ON p.id = d.project_id
      WHERE p.name = $1 AND d.op = 'upsert'`,
    [project],
  );
  return new Map(rows.map((r) => [r.path, r.content_hash]));
}

/** What the agents of a storm were told: only acknowledgements and `unavailable`, and the server
 *  never went away. Then what is stored: every acknowledged call whole, no call in part. */
async function expectHonestStorm(server: Server, storm: WriteStorm, project: string) {
  expect(server.proc.exitCode, server.stderr()).toBeNull();
  const refused = storm.refused();
  expect(refused.filter((c) => c.outcome === 'transport').map((c) => c.error)).toEqual([]);
  for (const c of refused) expect(c.error).toMatch(/^unavailable: .*retry/);
  expect(server.stderr()).not.toMatch(/Unhandled 'error' event|uncaught/i);
  expect(stormViolations(storm.calls, await storedDrafts(project))).toEqual([]);
}

/** The readiness endpoint's status code. */
async function readyz(server: Server): Promise<number> {
  return (await fetch(new URL('/readyz', server.url))).status;
}

describe('a spawned server while its embedded Postgres fails', () => {
  it('stays up when its backends are terminated under a write storm, telling agents unavailable', async () => {
    const server = await serve();
    const agents = await connect(server, 3);
    await ok(agents[0]!, 'create_project', { name: 'terminated' });
    const storm = startWriteStorm(agents, 'terminated', { tag: 'terminated' });
    try {
      await waitUntil('the storm is under way', () => storm.acknowledgedSince(0) >= 20);
      // Terminate every connection of the server (its pool, transactions in flight, its change
      // feed and presence session), round after round, until an agent has been refused.
      const admin = await connectEmbedded(home, 'postgres');
      let lastKill = Date.now();
      try {
        await waitUntil('an agent is told the database is unavailable', async () => {
          await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE starts_with(application_name, 'stowage') AND application_name <> 'stowage-test-admin'`,
          );
          lastKill = Date.now();
          return storm.refused().length > 0 || server.proc.exitCode !== null;
        });
      } finally {
        await admin.end().catch(() => undefined);
      }
      await waitUntil(
        'writes resume',
        () => storm.acknowledgedSince(lastKill) >= 20 || server.proc.exitCode !== null,
      );
    } finally {
      await storm.stop();
    }
    await expectHonestStorm(server, storm, 'terminated');
    expect(storm.refused().length).toBeGreaterThan(0);
  });

  it('restarts a killed postmaster on the same home, and writes work again without a restart', async () => {
    const server = await serve();
    const agents = await connect(server, 3);
    await ok(agents[0]!, 'create_project', { name: 'postmaster' });
    const before = postmasterOf(home)!;
    const storm = startWriteStorm(agents, 'postmaster', { tag: 'postmaster' });
    let killedAt = 0;
    try {
      await waitUntil('the storm is under way', () => storm.acknowledgedSince(0) >= 20);
      process.kill(before.pid, 'SIGKILL');
      killedAt = Date.now();
      await waitUntil(
        'writes work again',
        () => storm.acknowledgedSince(killedAt) >= 20 || server.proc.exitCode !== null,
      );
    } finally {
      await storm.stop();
    }
    const after = postmasterOf(home)!;
    expect(after.pid).not.toBe(before.pid);
    expect(isRunning(after.pid)).toBe(true);
    await expectHonestStorm(server, storm, 'postmaster');
    await waitUntil('/readyz answers 200', async () => (await readyz(server)) === 200);
  });

  it("keeps a live server's Postgres running when a server that joined after a reset exits", async () => {
    const first = await serve();
    const [viaFirst] = await connect(first);
    await ok(viaFirst!, 'create_project', { name: 'shared' });
    const postmaster = postmasterOf(home)!;

    // Killing one backend makes the postmaster reset every connection, the first server's too.
    const admin = await connectEmbedded(home, 'postgres');
    const [{ pid }] = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [
      { pid: number },
    ];
    process.kill(pid, 'SIGKILL');
    await admin.end().catch(() => undefined);
    await writeEventually(viaFirst!, 'shared', 'after-reset/first.txt');

    const second = await serve();
    const [viaSecond] = await connect(second);
    await writeEventually(viaSecond!, 'shared', 'after-reset/second.txt');
    await servers.splice(servers.indexOf(second), 1)[0]!.stop();
    expect(await second.exited).toBe(0);

    expect(postmasterOf(home)?.pid).toBe(postmaster.pid); // the second did not stop it...
    expect(isRunning(postmaster.pid)).toBe(true);
    const r = await call(viaFirst!, 'write_file', {
      project: 'shared',
      path: 'after/first.txt',
      content: 'x',
    });
    expect(r.isError ? textOf(r) : 'ok').toBe('ok'); // ...so the first writes on, without a pause
    expect(first.proc.exitCode).toBeNull();
  });
});
