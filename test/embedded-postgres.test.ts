// The embedded Postgres lifecycle with real processes: start, share between stowage processes,
// stop with the last one out, and recover from killed processes and stale lock files.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/store/db/embedded-postgres.js';
import { isRunning } from './support/embedded-admin.js';

const PEER = fileURLToPath(new URL('./fixtures/embedded-postgres-peer.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/store/db/embedded-postgres.js', import.meta.url));
const WARN = 40;

const homes: string[] = [];
const peers: ChildProcessWithoutNullStreams[] = [];

beforeAll(() => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first (npm test does)`);
});

afterEach(async () => {
  for (const child of peers.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const home of homes.splice(0)) {
    await killEverythingIn(join(home, 'pg')); // only does anything after a failed test
    await rm(home, { recursive: true, force: true });
  }
});

describe('embedded Postgres', () => {
  it('starts, serves the stowage database, and stops at the last release', async () => {
    const home = await makeHome();
    const { logger, records } = capture();
    const db = await startEmbeddedPostgres({ home, logger });
    const pid = postmasterPid(home);
    expect(isRunning(pid)).toBe(true);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('SELECT current_database() AS db, inet_server_port() AS port');
    expect(rows).toEqual([{ db: 'stowage', port: db.port }]);
    await client.end();

    const credentials = join(home, 'pg', 'stowage-credentials.json');
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    const { password } = JSON.parse(await readFile(credentials, 'utf8')) as { password: string };
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(JSON.stringify(records)).not.toContain(password);
    expect(await readFile(join(home, 'pg.log'), 'utf8')).not.toContain(password);
    if (process.getuid?.() === 0) {
      const postgresUid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
      expect((await stat(join(home, 'pg'))).uid).toBe(postgresUid); // postgres refuses to run as root
    }

    await db.release();
    await db.release();
    await expectStopped(home, pid);
  });

  it('keeps its data when the next process starts it again', async () => {
    const home = await makeHome();
    const first = await startEmbeddedPostgres({ home });
    await query(first.url, 'CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$kept$$)');
    await first.release();

    const second = await startEmbeddedPostgres({ home });
    expect(await query(second.url, 'SELECT body FROM notes')).toEqual([{ body: 'kept' }]);
    await second.release();
    expect((await readdir(home)).sort()).toEqual(['pg', 'pg.log']); // no leftover init dirs
  });

  it('shares one server between two processes and stops it after the last one leaves', async () => {
    const home = await makeHome();
    const a = await startPeer(home);
    await a.call({ sql: 'CREATE TABLE notes (body text)' });
    await a.call({ sql: 'INSERT INTO notes VALUES ($1)', params: ['from A'] });
    const pid = postmasterPid(home);

    const b = await startPeer(home);
    expect(b.port).toBe(a.port);
    expect(postmasterPid(home)).toBe(pid);
    expect((await b.call({ sql: 'SELECT body FROM notes' })).rows).toEqual([{ body: 'from A' }]);
    await b.call({ sql: 'INSERT INTO notes VALUES ($1)', params: ['from B'] });
    expect((await a.call({ sql: 'SELECT body FROM notes ORDER BY body' })).rows).toEqual([
      { body: 'from A' },
      { body: 'from B' },
    ]);

    await a.call({ release: true });
    expect(await a.exited).toBe(0);
    expect(isRunning(pid)).toBe(true);
    expect((await b.call({ sql: 'SELECT count(*)::int AS n FROM notes' })).rows).toEqual([{ n: 2 }]);

    await b.call({ release: true });
    expect(await b.exited).toBe(0);
    await expectStopped(home, pid);
  });

  it('converges concurrent first starts on one cluster and one server', async () => {
    const home = await makeHome();
    const dbs = await Promise.all([1, 2, 3].map(() => startEmbeddedPostgres({ home })));
    expect(new Set(dbs.map((db) => db.port)).size).toBe(1);
    expect((await readdir(home)).sort()).toEqual(['pg', 'pg.log']);
    const pid = postmasterPid(home);

    await query(dbs[0]!.url, 'CREATE TABLE notes (body text)');
    await Promise.all(dbs.map((db, i) => query(db.url, 'INSERT INTO notes VALUES ($1)', [`from ${i}`])));
    expect(await query(dbs[2]!.url, 'SELECT count(*)::int AS n FROM notes')).toEqual([{ n: 3 }]);

    await Promise.all(dbs.map((db) => db.release()));
    await expectStopped(home, pid);
  });

  it('adopts the server of a killed process, warns, and stops it on release', async () => {
    const home = await makeHome();
    const killed = await startPeer(home);
    const pid = postmasterPid(home);
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(isRunning(pid)).toBe(true); // pg_ctl detached it: it outlives its starter...
    await waitFor(async () => (await presenceSessions(home, killed.port)) === 0); // ...and nobody uses it

    const { logger, records } = capture();
    const db = await startEmbeddedPostgres({ home, logger });
    expect(records).toContainEqual(
      expect.objectContaining({ level: WARN, pid, msg: expect.stringMatching(/^adopting/) }),
    );
    expect(db.port).toBe(killed.port);
    expect(postmasterPid(home)).toBe(pid);
    expect(await query(db.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await db.release();
    await expectStopped(home, pid);
  });

  it('kills an orphaned server that no longer accepts connections and starts afresh', async () => {
    const home = await makeHome();
    const killed = await startPeer(home);
    const pid = postmasterPid(home);
    killed.child.kill('SIGKILL');
    await killed.exited;
    process.kill(pid, 'SIGSTOP'); // alive, "ready" in postmaster.pid, but answers nobody

    const { logger, records } = capture();
    const db = await startEmbeddedPostgres({ home, logger });
    const refused = expect.stringMatching(/does not accept connections/);
    expect(records).toContainEqual(expect.objectContaining({ level: WARN, pid, msg: refused }));
    expect(isRunning(pid)).toBe(false);
    const fresh = postmasterPid(home);
    expect(fresh).not.toBe(pid);
    expect(await query(db.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await db.release();
    await expectStopped(home, fresh);
  });

  it.each([
    ['a dead process', () => spawnSync('true').pid],
    ['a live process that is not postgres', () => process.pid],
  ])('replaces a stale postmaster.pid naming %s', async (_, stalePid) => {
    const home = await makeHome();
    await (await startEmbeddedPostgres({ home })).release();
    const pid = stalePid();
    const lock = [
      pid,
      join(home, 'pg'),
      Math.floor(Date.now() / 1000),
      1,
      '',
      '127.0.0.1',
      '  0 0',
      'ready   ',
    ];
    await writeFile(join(home, 'pg', 'postmaster.pid'), `${lock.join('\n')}\n`);

    const { logger, records } = capture();
    const db = await startEmbeddedPostgres({ home, logger });
    const stale = expect.stringMatching(/stale postmaster.pid/);
    expect(records).toContainEqual(expect.objectContaining({ level: WARN, pid, msg: stale }));
    expect(await query(db.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    const fresh = postmasterPid(home);
    expect(fresh).not.toBe(pid);

    await db.release();
    await expectStopped(home, fresh);
    expect(isRunning(process.pid)).toBe(true);
  });

  it('creates a missing home owner-only; as root, one the postgres user can only pass through', async () => {
    const parent = await makeHome();
    const home = join(parent, 'new', 'home');
    homes.unshift(home); // its server is stopped before the parent is removed
    // Processes starting together on a fresh home: none may see it before its modes are set.
    const dbs = await Promise.all([1, 2, 3].map(() => startEmbeddedPostgres({ home })));
    expect(new Set(dbs.map((db) => db.port)).size).toBe(1);
    expect(await query(dbs[0]!.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    for (const dir of [join(parent, 'new'), home]) {
      const created = await stat(dir);
      if (process.getuid?.() === 0) {
        const postgresGid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
        expect(created.mode & 0o777, dir).toBe(0o710);
        expect(created.gid, dir).toBe(postgresGid);
        expect(created.uid, dir).toBe(0);
      } else {
        expect(created.mode & 0o777, dir).toBe(0o700);
      }
    }
    expect((await stat(parent)).mode & 0o777).toBe(0o755); // an existing directory is left alone
    expect((await readdir(parent)).sort()).toEqual(['new']); // no leftovers of the creation
    const pid = postmasterPid(home);
    await Promise.all(dbs.map((db) => db.release()));
    await expectStopped(home, pid);
  });

  it('reopens its presence session after a crashed backend resets every connection', async () => {
    const home = await makeHome();
    const db = await startEmbeddedPostgres({ home });
    const pid = postmasterPid(home);
    expect(await presenceSessions(home, db.port)).toBe(1);
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    process.kill(rows[0]!.pid, 'SIGKILL'); // the postmaster resets every session, ours included

    await waitFor(async () => (await presenceSessions(home, db.port).catch(() => 0)) === 1);
    expect(postmasterPid(home)).toBe(pid);
    await db.release();
    await expectStopped(home, pid);
  });

  it('restarts its killed postmaster on the same port and data, without being started again', async () => {
    const home = await makeHome();
    const { logger, records } = capture();
    const db = await startEmbeddedPostgres({ home, logger });
    await query(db.url, 'CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$kept$$)');
    const { port } = db;
    const killed = postmasterPid(home);
    process.kill(killed, 'SIGKILL');

    await waitFor(async () => (await query(db.url, 'SELECT body FROM notes').catch(() => [])).length === 1);
    expect(await query(db.url, 'SELECT body FROM notes')).toEqual([{ body: 'kept' }]);
    expect(db.port).toBe(port);
    const fresh = postmasterPid(home);
    expect(fresh).not.toBe(killed);
    expect(records).toContainEqual(
      expect.objectContaining({ level: WARN, msg: expect.stringMatching(/^lost the session/) }),
    );
    await db.release();
    await expectStopped(home, fresh);
  });

  it('is not stopped by the last one out while another stowage process lives without a session', async () => {
    const home = await makeHome();
    const a = await startPeer(home);
    await a.call({ sql: 'CREATE TABLE notes (body text)' });
    const pid = postmasterPid(home);
    // A cannot reopen its presence session while stopped: it is alive, but has no session.
    a.child.kill('SIGSTOP');
    try {
      await query(
        `postgres://${await superuser(home)}@127.0.0.1:${a.port}/postgres`,
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [`stowage-presence:${a.child.pid}`],
      );
      await waitFor(async () => (await presenceSessions(home, a.port)) === 0);
      const b = await startEmbeddedPostgres({ home });
      await b.release();
      expect(isRunning(pid)).toBe(true);
    } finally {
      a.child.kill('SIGCONT');
    }
    await waitFor(async () => (await presenceSessions(home, a.port)) === 1); // A rejoined
    await a.call({ sql: 'INSERT INTO notes VALUES ($1)', params: ['from A'] });
    await a.call({ release: true });
    expect(await a.exited).toBe(0);
    await expectStopped(home, pid);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses, as root, a home the postgres user cannot reach', async () => {
    const parent = await makeHome();
    await chmod(parent, 0o700);
    const start = startEmbeddedPostgres({ home: join(parent, 'home') });
    await expect(start).rejects.toThrow(/cannot reach .*STOWAGE_HOME the postgres user can reach/s);
    await expect(start).rejects.toThrow(parent);
  });
});

async function makeHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'stowage-pg-test-'));
  await chmod(home, 0o755); // mkdtemp's 0700 would lock out the postgres user when we are root
  homes.push(home);
  return home;
}

function capture() {
  const records: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) };
  return { logger: pino({ level: 'debug' }, stream), records };
}

async function query(url: string, sql: string, params?: unknown[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** user:password of the home's superuser, URL-encoded. */
async function superuser(home: string): Promise<string> {
  const credentials = JSON.parse(await readFile(join(home, 'pg', 'stowage-credentials.json'), 'utf8')) as {
    user: string;
    password: string;
  };
  return `${credentials.user}:${encodeURIComponent(credentials.password)}`;
}

async function presenceSessions(home: string, port: number): Promise<number> {
  const url = `postgres://${await superuser(home)}@127.0.0.1:${port}/postgres`;
  const rows = await query(
    url,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'stowage-presence:%'",
  );
  return (rows[0] as { n: number }).n;
}

function postmasterPid(home: string): number {
  const pid = Number(readFileSync(join(home, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster.pid in ${home}`);
  return pid;
}

/** Every postgres process of a cluster (postmaster and children) has the data dir as its cwd. */
async function processesIn(dataDir: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  const cwds = await Promise.all(pids.map((p) => readlink(`/proc/${p}/cwd`).catch(() => undefined)));
  return pids.filter((_, i) => cwds[i] === dataDir).map(Number);
}

async function expectStopped(home: string, pid: number): Promise<void> {
  expect(existsSync(join(home, 'pg', 'postmaster.pid'))).toBe(false);
  expect(isRunning(pid)).toBe(false);
  expect(await processesIn(join(home, 'pg'))).toEqual([]);
}

async function killEverythingIn(dataDir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = await processesIn(dataDir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}

interface PeerReply {
  ready?: boolean;
  port?: number;
  rows?: unknown[];
  released?: boolean;
  error?: string;
}

/** A child Node process running the fixture: a second stowage process on the same home. */
async function startPeer(home: string) {
  const child = spawn(process.execPath, [PEER, home]);
  peers.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<PeerReply> => {
    const line = await lines.next();
    if (line.done) throw new Error(`peer exited: ${stderr}`);
    const reply = JSON.parse(line.value) as PeerReply;
    if (reply.error) throw new Error(`peer: ${reply.error}`);
    return reply;
  };
  const ready = await next();
  return {
    child,
    port: ready.port!,
    exited,
    call(command: { sql?: string; params?: unknown[]; release?: true }): Promise<PeerReply> {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return next();
    },
  };
}
