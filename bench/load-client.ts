// The throughput bench's load (issue 5, seed 001): SESSIONS MCP clients over raw HTTP, each
// autosaving a 4 KiB file into its own workspace as fast as it is answered: 2025-11-25 sessions
// (initialize, then calls on the session), or 2026-07-28 clients (no handshake and no session:
// each call carries the revision in its _meta and its headers, SEP-2243). It runs as its own
// process (`node --import tsx bench/load-client.ts` with BENCH_LOAD set, by throughput.ts), so the
// load generator's heap is not the bench's, whose earlier steps leave hundreds of megabytes
// behind, and its CPU is measured apart from the bench's other work; it prints one JSON line.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';

export type Revision = '2025-11-25' | '2026-07-28';

export interface LoadOptions {
  url: string;
  project: string;
  /** The protocol revision the clients speak; default 2025-11-25. */
  revision?: Revision;
  sessions: number;
  warmupSeconds: number;
  seconds: number;
}

export interface LoadResult {
  /** Acknowledged writes per second over the measured seconds (after the warm-up). */
  perSecond: number;
  /** Of each write started after the warm-up, in ms. */
  latencies: number[];
  /** Writes each session had acknowledged, warm-up included: session s's last was body(s, acked[s] - 1). */
  acked: number[];
  /** CPU seconds this process used, session set-up included. */
  cpuSeconds: number;
}

/** The content of session `session`'s `n`th save: 4 KiB, its first line naming both. */
export const body = (session: number, n: number) => {
  const head = `// session ${session} save ${n}\n`;
  return head + 'x'.repeat(4096 - head.length - 1) + '\n';
};

const CLIENT_INFO = { name: 'bench', version: '1' };

/** One MCP client over raw HTTP: a 2025-11-25 session (initialize, then tool calls on it) or a
 *  2026-07-28 client (each call on its own, with the envelope and mirrored headers); answers come
 *  as JSON or one SSE event. node:http with keep-alive, the lightest client at hand, so the cores
 *  go to the server. */
export async function openSession(url: string, agent?: Agent, revision: Revision = '2025-11-25') {
  let id = 0;
  let session = '';
  const post = async (message: object, headers: Record<string, string> = {}) => {
    const res = await postRaw(
      url,
      agent,
      {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': revision,
        ...(session ? { 'mcp-session-id': session } : {}),
        ...headers,
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
  const modern = revision === '2026-07-28';
  if (!modern) {
    await post({
      jsonrpc: '2.0',
      id: ++id,
      method: 'initialize',
      params: { protocolVersion: revision, capabilities: {}, clientInfo: CLIENT_INFO },
    });
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }
  const meta = {
    'io.modelcontextprotocol/protocolVersion': revision,
    'io.modelcontextprotocol/clientInfo': CLIENT_INFO,
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  return async (name: string, args: Record<string, unknown>) => {
    const reply = await post(
      {
        jsonrpc: '2.0',
        id: ++id,
        method: 'tools/call',
        params: { name, arguments: args, ...(modern ? { _meta: meta } : {}) },
      },
      modern
        ? {
            'mcp-method': 'tools/call',
            'mcp-name': name,
            ...(typeof args.project === 'string' ? { 'mcp-param-project': args.project } : {}),
          }
        : {},
    );
    if (reply.error || reply.result?.isError) throw new Error(`${name}: ${JSON.stringify(reply)}`);
    return reply.result.structuredContent as Record<string, unknown>;
  };
}

function postRaw(url: string, agent: Agent | undefined, headers: Record<string, string>, text: string) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (answer += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: answer }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** Runs the load against one server and project. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const cpu0 = process.cpuUsage();
  const agent = new Agent({ keepAlive: true, maxSockets: options.sessions + 5 });
  const calls = await Promise.all(
    Array.from({ length: options.sessions }, () => openSession(options.url, agent, options.revision)),
  );
  const latencies: number[] = [];
  const acked = new Array<number>(options.sessions).fill(0);
  const measureFrom = performance.now() + options.warmupSeconds * 1000;
  const end = measureFrom + options.seconds * 1000;
  await Promise.all(
    calls.map(async (call, s) => {
      for (let n = 0; performance.now() < end; n++) {
        const t = performance.now();
        await call('write_file', {
          project: options.project,
          path: 'src/draft.ts',
          content: body(s, n),
          workspace: `w${s}`,
        });
        acked[s]! += 1;
        if (t >= measureFrom) latencies.push(performance.now() - t);
      }
    }),
  );
  agent.destroy();
  const cpu = process.cpuUsage(cpu0);
  return {
    perSecond: latencies.length / options.seconds,
    latencies,
    acked,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

if (process.env.BENCH_LOAD) {
  const result = await load(JSON.parse(process.env.BENCH_LOAD) as LoadOptions);
  process.stdout.write(JSON.stringify(result) + '\n');
}
