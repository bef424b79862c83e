// Bench (issue 5, seed 001): 50 concurrent HTTP sessions, each autosaving a 4 KiB file into its
// own workspace of one project as fast as it can, against `stowage serve --http` spawned as its
// own process on the bench's Postgres. Printed: acknowledged writes/s and p50/p99 latency, with
// group commit (the default) beside one write per transaction (WRITE_GROUP_COMMIT=false), then a
// count: every acknowledged write must be in the event log, and each workspace's draft must hold
// the last content it acknowledged. During the group-commit run a subscriber measures how soon
// notifications/resources/updated follows an acknowledged write (target ≤ 2 s); a run without
// the NOTIFY trigger shows what LISTEN/NOTIFY costs the writers, and one with
// STOWAGE_JSON_RESPONSES what answering with an event stream costs.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { connectHttp } from '../test/support/http.js';
import { spawnHttpServer } from '../test/support/spawn.js';

const SESSIONS = 50;
const PROBE_MS = 400; // over the 250 ms coalescing window: each probe is notified at once
const SECONDS = 8;
const WARMUP_SECONDS = 1;
const PROTOCOL = '2025-06-18';

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

// node:http with keep-alive: the lightest client at hand, so the machine's cores go to the server.
const agent = new Agent({ keepAlive: true, maxSockets: SESSIONS + 5 });

function postRaw(url: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One MCP session over raw HTTP: initialize, then tool calls answered as JSON or one SSE event. */
export async function openSession(url: string) {
  let id = 0;
  let session = '';
  const post = async (message: object) => {
    const res = await postRaw(
      url,
      {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': PROTOCOL,
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      JSON.stringify(message),
    );
    session ||= [res.headers['mcp-session-id'] ?? ''].flat()[0]!;
    if (res.status !== 200 && res.status !== 202) throw new Error(`HTTP ${res.status}: ${res.text}`);
    const json = (res.headers['content-type'] ?? '').includes('event-stream')
      ? /^data: (.*)$/m.exec(res.text)?.[1]
      : res.text;
    return json ? (JSON.parse(json) as { result?: any; error?: unknown }) : {};
  };
  await post({
    jsonrpc: '2.0',
    id: ++id,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  });
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return async (name: string, args: object) => {
    const reply = await post({
      jsonrpc: '2.0',
      id: ++id,
      method: 'tools/call',
      params: { name, arguments: args },
    });
    if (reply.error || reply.result?.isError) throw new Error(`${name}: ${JSON.stringify(reply)}`);
    return reply.result.structuredContent as Record<string, unknown>;
  };
}

const body = (session: number, n: number) => {
  const head = `// session ${session} save ${n}\n`;
  return head + 'x'.repeat(4096 - head.length - 1) + '\n';
};

/** Runs the load against one server; returns its figures and what each session acknowledged. */
export async function load(url: string, project: string) {
  const calls = await Promise.all(Array.from({ length: SESSIONS }, () => openSession(url)));
  const latencies: number[] = [];
  const acked = new Array<number>(SESSIONS).fill(0);
  const last = new Array<string>(SESSIONS).fill('');
  const start = performance.now();
  const measureFrom = start + WARMUP_SECONDS * 1000;
  const end = measureFrom + SECONDS * 1000;
  let measured = 0;
  await Promise.all(
    calls.map(async (call, s) => {
      for (let n = 0; performance.now() < end; n++) {
        const content = body(s, n);
        const t = performance.now();
        await call('write_file', { project, path: 'src/draft.ts', content, workspace: `w${s}` });
        const done = performance.now();
        acked[s]! += 1;
        last[s] = content;
        if (t >= measureFrom) {
          latencies.push(done - t);
          measured++;
        }
      }
    }),
  );
  return { perSecond: measured / SECONDS, latencies, acked, last };
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

/** CPU seconds used from now on by the server process, by every Postgres process and by this
 *  one (client); from /proc, so Linux only (undefined elsewhere). */
async function cpuMeter(serverPid: number) {
  const seconds = async (pid: string | number) => {
    try {
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      return { cpu: (Number(fields[11]) + Number(fields[12])) / 100 }; // utime + stime, in ticks
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
      if (used) byPid.set(pid, used.cpu);
    }
    return byPid;
  };
  const [server0, postgres0, client0] = [await seconds(serverPid), await postgres(), process.cpuUsage()];
  return {
    async used() {
      const server = await seconds(serverPid);
      const client = process.cpuUsage(client0);
      let postgresUsed = 0;
      for (const [pid, cpu] of await postgres()) postgresUsed += cpu - (postgres0.get(pid) ?? 0);
      return {
        server: server && server0 ? server.cpu - server0.cpu : undefined,
        postgres: postgresUsed,
        client: (client.user + client.system) / 1e6,
      };
    },
  };
}

/** Every acknowledged write is in the event log, and each workspace holds its last one. */
async function verify(sql: pg.Client, project: string, acked: number[], last: string[]) {
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
    if (row?.content?.toString() !== last[s]) stale++;
  });
  return { total: acked.reduce((a, b) => a + b, 0), missing, stale };
}

/** The lines for `npm run bench`; `databaseUrl` is the bench's Postgres, `home` a scratch dir. */
export async function benchThroughput(databaseUrl: string, home: string): Promise<string[]> {
  const sql = new pg.Client(databaseUrl);
  await sql.connect();
  const lines: string[] = [];
  const runs = [
    { label: 'one write per transaction', groupCommit: 'false', notify: true, json: 'false' },
    { label: 'group commit', groupCommit: 'true', notify: true, json: 'false' },
    { label: 'group commit, NOTIFY trigger off', groupCommit: 'true', notify: false, json: 'false' },
    { label: 'group commit, JSON responses', groupCommit: 'true', notify: true, json: 'true' },
  ];
  try {
    for (const [i, { label, groupCommit, notify, json }] of runs.entries()) {
      // Each configuration starts from the same database state: the earlier bench steps and
      // runs leave dead rows and dirty pages (a 200 MB restore among them), and a checkpoint or
      // vacuum falling inside one run would be charged to that configuration alone.
      await sql.query('CHECKPOINT');
      await sql.query('VACUUM ANALYZE');
      // `stowage serve --http` on the bench's Postgres, as a user would start it.
      const served = await spawnHttpServer({
        DATABASE_URL: databaseUrl,
        STOWAGE_HOME: join(home, `throughput-${i}`),
        WRITE_GROUP_COMMIT: groupCommit,
        STOWAGE_JSON_RESPONSES: json,
      });
      if (!notify) await sql.query('ALTER TABLE events DISABLE TRIGGER events_notify');
      try {
        const project = `load-${i}`;
        await (
          await openSession(served.url)
        )('create_project', { name: project });
        const cpu = await cpuMeter(served.proc.pid!);
        const running = load(served.url, project);
        const delays = i === 1 ? probe(served.url, project, running) : undefined;
        const run = await running;
        const used = await cpu.used();
        const check = await verify(sql, project, run.acked, run.last);
        const perWrite = (seconds: number | undefined) =>
          seconds === undefined ? '?' : ((seconds / check.total) * 1000).toFixed(2);
        lines.push(
          `write_file 4 KiB, ${SESSIONS} HTTP sessions, ${label}: ${run.perSecond.toFixed(0)} acknowledged writes/s, p50 ${pct(run.latencies, 50).toFixed(1)} ms, p99 ${pct(run.latencies, 99).toFixed(1)} ms; ${check.total} acknowledged, ${check.missing} missing, ${check.stale} workspaces not holding their last write (target ≥ 2,000/s, p99 ≤ 100 ms, 0 missing); CPU ms per write: server ${perWrite(used.server)}, Postgres ${perWrite(used.postgres)}, client ${perWrite(used.client)}`,
        );
        if (delays) {
          const d = await delays;
          lines.push(
            `  under that load, notifications/resources/updated after an acknowledged write (LISTEN/NOTIFY, ${d.length} probes): p50 ${pct(d, 50).toFixed(1)} ms, p99 ${pct(d, 99).toFixed(1)} ms, max ${Math.max(...d).toFixed(1)} ms (target ≤ 2 s)`,
          );
        }
      } finally {
        if (!notify) await sql.query('ALTER TABLE events ENABLE TRIGGER events_notify');
        await served.stop();
      }
    }
  } finally {
    await sql.end();
  }
  return lines;
}
