// Bench (issue 5, seed 001): 50 concurrent HTTP sessions, each autosaving a 4 KiB file into its
// own workspace of one project as fast as it can, against `stowage serve --http` spawned as its
// own process on the bench's Postgres. Printed: acknowledged writes/s and p50/p99 latency, with
// group commit (the default) beside one write per transaction (WRITE_GROUP_COMMIT=false), and the
// same load from 50 protocol revision 2026-07-28 clients (no sessions: each call carries its
// revision and mirrored headers, served by one shared server) beside the 2025-11-25 sessions, then a
// count: every acknowledged write must be in the event log, and each workspace's draft must hold
// the last content it acknowledged. During the group-commit run a subscriber measures how soon
// notifications/resources/updated follows an acknowledged write (target ≤ 2 s); a run without
// the NOTIFY trigger shows what LISTEN/NOTIFY costs the writers, one with STOWAGE_JSON_RESPONSES
// what answering with an event stream costs, and one with the history triggers off what keeping
// every version costs (beside the bytes history keeps per autosave). The load runs as its own
// process (load-client.ts); CPU per write is the server's, every Postgres process's and the
// load's own, over all rounds.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { connectHttp } from '../test/support/http.js';
import { spawnHttpServer } from '../test/support/spawn.js';
import { ranDirectly, runAlone } from './alone.js';
import { body, openSession, type LoadOptions, type LoadResult, type Revision } from './load-client.js';

const SESSIONS = 50;
const PROBE_MS = 400; // over the 250 ms coalescing window: each probe is notified at once
const SECONDS = 8;
// A fresh server compiles its hot paths in its first seconds; a serving fleet is past that.
const WARMUP_SECONDS = 3;
// Each configuration runs ROUNDS times, the configurations taking turns, and prints its median:
// this shared 2-core machine's speed drifts by tens of percent within minutes.
const ROUNDS = 3;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const median = (xs: number[]) => pct(xs, 50);

/** The load (load-client.ts) in its own process; resolves with its figures. */
function runLoad(options: LoadOptions) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./load-client.ts', import.meta.url))],
    {
      env: { ...process.env, BENCH_LOAD: JSON.stringify(options) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise<LoadResult>((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult)
        : reject(new Error(`the load client exited with ${code}`)),
    ),
  );
}

/** Until `stop` resolves: every PROBE_MS a write to a subscribed file, and the time from its
 *  acknowledgement to the notification (the subscriber's default workspace is the writer's). */
async function probe(url: string, project: string, stop: Promise<unknown>) {
  const { client } = await connectHttp(url);
  const uri = `stowage://${project}/probe.txt`;
  const call = (content: string) =>
    client.callTool({ name: 'write_file', arguments: { project, path: 'probe.txt', content } });
  await call('start');
  await client.subscribeResource({ uri });
  let heard: (() => void) | undefined;
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    if (n.params.uri === uri) heard?.();
  });
  const delays: number[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  for (let n = 0; !stopped; n++) {
    const notified = new Promise<number>((resolve) => (heard = () => resolve(performance.now())));
    await call(`probe ${n}`);
    const acked = performance.now();
    delays.push(Math.max(0, (await notified) - acked));
    await new Promise((r) => setTimeout(r, PROBE_MS));
  }
  await client.close();
  return delays;
}

/** CPU seconds used from now on by the server process and by every Postgres process; from
 *  /proc, so Linux only (undefined elsewhere). */
async function cpuMeter(serverPid: number) {
  const seconds = async (pid: string | number) => {
    try {
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks
    } catch {
      return undefined;
    }
  };
  /** CPU seconds by Postgres process: backends come and go, so each is compared with itself. */
  const postgres = async () => {
    const byPid = new Map<string, number>();
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
      const used = comm.trim() === 'postgres' ? await seconds(pid) : undefined;
      if (used !== undefined) byPid.set(pid, used);
    }
    return byPid;
  };
  const [server0, postgres0] = [await seconds(serverPid), await postgres()];
  return {
    async used() {
      const server = await seconds(serverPid);
      let postgresUsed = 0;
      for (const [pid, cpu] of await postgres()) postgresUsed += cpu - (postgres0.get(pid) ?? 0);
      return {
        server: server !== undefined && server0 !== undefined ? server - server0 : NaN,
        postgres: postgresUsed,
      };
    },
  };
}

/** Every acknowledged write is in the event log, and each workspace holds its last one. */
async function verify(sql: pg.Client, project: string, acked: number[]) {
  const { rows } = await sql.query<{ workspace: string; n: string; content: Buffer }>(
    `SELECT e.workspace, count(*) AS n, (SELECT content FROM drafts d WHERE d.project_id = p.id
        AND d.workspace = e.workspace AND d.path = 'src/draft.ts') AS content
     FROM events e JOIN projects p ON p.id = e.project_id
     WHERE p.name = $1 AND e.kind = 'file.write' GROUP BY p.id, e.workspace`,
    [project],
  );
  const byWorkspace = new Map(rows.map((r) => [r.workspace, r]));
  let missing = 0;
  let stale = 0;
  acked.forEach((count, s) => {
    const row = byWorkspace.get(`w${s}`);
    missing += Math.max(0, count - Number(row?.n ?? 0));
    if (row?.content?.toString() !== body(s, count - 1)) stale++;
  });
  // What history kept of these autosaves (coalesced: one version per workspace and path within
  // HISTORY_COALESCE_SECONDS), in row bytes.
  const { rows: kept } = await sql.query<{ bytes: string }>(
    `SELECT coalesce(sum(pg_column_size(v.*)), 0) AS bytes FROM versions v
     JOIN projects p ON p.id = v.project_id WHERE p.name = $1`,
    [project],
  );
  return { total: acked.reduce((a, b) => a + b, 0), missing, stale, historyBytes: Number(kept[0]!.bytes) };
}

const CONFIGURATIONS: {
  label: string;
  groupCommit: string;
  notify: boolean;
  json: string;
  probe?: boolean;
  history?: false;
  /** The clients' protocol revision; default 2025-11-25 (sessions). */
  revision?: Revision;
}[] = [
  { label: 'one write per transaction', groupCommit: 'false', notify: true, json: 'false' },
  { label: 'group commit', groupCommit: 'true', notify: true, json: 'false', probe: true },
  { label: 'group commit', groupCommit: 'true', notify: true, json: 'false', revision: '2026-07-28' },
  { label: 'group commit, NOTIFY trigger off', groupCommit: 'true', notify: false, json: 'false' },
  { label: 'group commit, JSON responses', groupCommit: 'true', notify: true, json: 'true' },
  // What keeping every version costs the writers (migration 0013's triggers off).
  { label: 'group commit, history off', groupCommit: 'true', notify: true, json: 'false', history: false },
];

/** The history triggers (migration 0013), switched off for the run that measures their cost. */
const HISTORY_TRIGGERS = ['insert', 'update', 'delete'].flatMap((op) => [
  `drafts drafts_history_${op}`,
  `files files_history_${op}`,
]);

interface Round {
  perSecond: number;
  latencies: number[];
  delays: number[];
  total: number;
  missing: number;
  stale: number;
  historyBytes: number;
  cpu: { server: number; postgres: number; client: number };
}

/** One run of one configuration against a freshly spawned `stowage serve --http`. */
async function runOnce(
  sql: pg.Client,
  databaseUrl: string,
  project: string,
  home: string,
  config: (typeof CONFIGURATIONS)[number],
): Promise<Round> {
  // Each run starts from the same database state: the earlier bench steps and runs leave dead
  // rows and dirty pages (a 200 MB restore among them), and a checkpoint or vacuum falling
  // inside one run would be charged to that run alone.
  await sql.query('CHECKPOINT');
  await sql.query('VACUUM ANALYZE');
  // `stowage serve --http` on the bench's Postgres, as a user would start it.
  const served = await spawnHttpServer({
    DATABASE_URL: databaseUrl,
    STOWAGE_HOME: home,
    WRITE_GROUP_COMMIT: config.groupCommit,
    STOWAGE_JSON_RESPONSES: config.json,
  });
  if (!config.notify) await sql.query('ALTER TABLE events DISABLE TRIGGER events_notify');
  if (config.history === false) {
    for (const t of HISTORY_TRIGGERS) await sql.query(`ALTER TABLE ${t.replace(' ', ' DISABLE TRIGGER ')}`);
  }
  try {
    await (
      await openSession(served.url)
    )('create_project', { name: project });
    const cpu = await cpuMeter(served.proc.pid!);
    const running = runLoad({
      url: served.url,
      project,
      revision: config.revision,
      sessions: SESSIONS,
      warmupSeconds: WARMUP_SECONDS,
      seconds: SECONDS,
    });
    const delays = config.probe
      ? probe(
          served.url,
          project,
          running.catch(() => undefined),
        )
      : undefined;
    const run = await running;
    const used = await cpu.used();
    const check = await verify(sql, project, run.acked);
    return {
      perSecond: run.perSecond,
      latencies: run.latencies,
      delays: (await delays) ?? [],
      ...check,
      cpu: { ...used, client: run.cpuSeconds },
    };
  } finally {
    if (!config.notify) await sql.query('ALTER TABLE events ENABLE TRIGGER events_notify');
    if (config.history === false) {
      for (const t of HISTORY_TRIGGERS) await sql.query(`ALTER TABLE ${t.replace(' ', ' ENABLE TRIGGER ')}`);
    }
    await served.stop();
  }
}

/** The lines for `npm run bench`; `databaseUrl` is the bench's Postgres, `home` a scratch dir. */
export async function benchThroughput(databaseUrl: string, home: string): Promise<string[]> {
  const sql = new pg.Client(databaseUrl);
  await sql.connect();
  const rounds = CONFIGURATIONS.map(() => [] as Round[]);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, config] of CONFIGURATIONS.entries()) {
        const run = await runOnce(
          sql,
          databaseUrl,
          `load-${r}-${i}`,
          join(home, `throughput-${r}-${i}`),
          config,
        );
        rounds[i]!.push(run);
      }
    }
  } finally {
    await sql.end();
  }
  return CONFIGURATIONS.flatMap((config, i) =>
    describe(
      config.revision === '2026-07-28'
        ? `${SESSIONS} HTTP clients of protocol revision 2026-07-28 (no sessions), ${config.label}`
        : `${SESSIONS} HTTP sessions (2025-11-25), ${config.label}`,
      rounds[i]!,
    ),
  );
}

/** A configuration's line: the median round's writes/s beside every round's, latencies over all
 *  rounds' measured writes, CPU per write over all rounds, and the count of every round. */
function describe(label: string, rounds: Round[]): string[] {
  const all = rounds.flatMap((r) => r.latencies);
  const sum = (f: (r: Round) => number) => rounds.reduce((a, r) => a + f(r), 0);
  const total = sum((r) => r.total);
  const perWrite = (f: (r: Round) => number) => ((sum(f) / total) * 1000).toFixed(2);
  const each = rounds.map((r) => r.perSecond.toFixed(0)).join(', ');
  const lines = [
    `write_file 4 KiB, ${label}: ${median(rounds.map((r) => r.perSecond)).toFixed(0)} acknowledged writes/s (median of ${rounds.length} rounds: ${each}), p50 ${pct(all, 50).toFixed(1)} ms, p99 ${pct(all, 99).toFixed(1)} ms; ${total} acknowledged, ${sum((r) => r.missing)} missing, ${sum((r) => r.stale)} workspaces not holding their last write (target ≥ 2,500/s, p99 ≤ 50 ms, 0 missing); CPU ms per write: server ${perWrite((r) => r.cpu.server)}, Postgres ${perWrite((r) => r.cpu.postgres)}, client ${perWrite((r) => r.cpu.client)}`,
  ];
  const kept = sum((r) => r.historyBytes);
  if (kept > 0) {
    lines.push(`  history kept: ${((kept / total) * 1000).toFixed(0)} bytes per 1,000 autosaves (coalesced)`);
  }
  const delays = rounds.flatMap((r) => r.delays);
  if (delays.length) {
    lines.push(
      `  under that load, notifications/resources/updated after an acknowledged write (LISTEN/NOTIFY, ${delays.length} probes): p50 ${pct(delays, 50).toFixed(1)} ms, p99 ${pct(delays, 99).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms (target ≤ 2 s)`,
    );
  }
  return lines;
}

if (ranDirectly(import.meta.url)) await runAlone('throughput', benchThroughput);
