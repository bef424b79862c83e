// Reaching into a STOWAGE_HOME's embedded Postgres from outside, as an operator would: its
// postmaster's pid and port (postmaster.pid), its credentials (stowage-credentials.json), and
// superuser queries on it. For fault tests and the bench, which kill parts of it on purpose.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** The postmaster's pid and port, from <home>/pg/postmaster.pid; undefined while there is none. */
export function postmasterOf(home: string): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(home, 'pg', 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) && port > 0 ? { pid, port } : undefined;
}

/** Alive and not a zombie (a killed postmaster reparented to a lazy init can linger as one). */
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** A superuser connection to `database` on the home's running embedded Postgres. */
export async function connectEmbedded(home: string, database = 'stowage'): Promise<pg.Client> {
  const { user, password } = JSON.parse(
    await readFile(join(home, 'pg', 'stowage-credentials.json'), 'utf8'),
  ) as { user: string; password: string };
  const running = postmasterOf(home);
  if (!running) throw new Error(`no embedded Postgres is running in ${home}`);
  const client = new pg.Client({
    host: '127.0.0.1',
    port: running.port,
    user,
    password,
    database,
    application_name: 'stowage-test-admin',
  });
  client.on('error', () => undefined); // the tests using it kill connections on purpose
  await client.connect();
  return client;
}

/** Runs one query on a fresh superuser connection to the home's embedded Postgres. */
export async function queryEmbedded<R extends pg.QueryResultRow = Record<string, unknown>>(
  home: string,
  text: string,
  params?: unknown[],
  database = 'stowage',
): Promise<R[]> {
  const client = await connectEmbedded(home, database);
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Polls `condition` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}
