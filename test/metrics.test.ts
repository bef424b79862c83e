// GET /metrics over a real HTTP server, real Stowage and real SDK clients: tool calls, errors and
// latency as counted by registerTools, the blob cache, Postgres pool and sessions read at scrape
// time, and who may scrape (anyone without auth; admin-scoped tokens only with it).
import { request } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { createMetrics, type Metrics } from '../src/http/metrics.js';
import { createHarness, type Harness } from './support/harness.js';
import { connectHttp, serveHttp, callTool as call } from './support/http.js';

let h: Harness;
const running: RunningHttp[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  // Every write goes to the blob store (and so through the cache), not inline into Postgres.
  h = await createHarness({ principal: 'admin', limits: { inlineBytes: 0 } });
  await h.ok('create_project', { name: 'demo' });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(running.map((r) => r.close()));
  await h.close();
});

/** An HTTP server whose sessions' servers report to `metrics`; with `auth`, bearer tokens. */
async function serve(metrics: Metrics, auth = false) {
  const http = await serveHttp(h.stowage, {
    principal: 'admin',
    auth: auth ? h.stowage.tokens : undefined,
    metrics,
    server: { metrics },
  });
  running.push(http);
  return http;
}

async function connect(http: RunningHttp, token?: string) {
  const connected = await connectHttp(http.url, token);
  clients.push(connected.client);
  return connected;
}

const scrape = (http: RunningHttp, token?: string) =>
  fetch(http.url.replace(/\/mcp$/, '/metrics'), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
      );
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

describe('/metrics without auth', () => {
  let metrics: Metrics;
  let http: RunningHttp;
  beforeAll(async () => {
    metrics = createMetrics(h.stowage.health.metricSources);
    http = await serve(metrics);
  });

  it('counts tool calls per tool and outcome, errors by code, and their latency', async () => {
    const { client } = await connect(http);
    const files = ['a.txt', 'b.txt', 'c.txt'];
    for (const path of files) {
      const written = await call(client, 'write_file', {
        project: 'demo',
        path,
        content: `content of ${path}`,
      });
      expect(written.isError, JSON.stringify(written.content)).toBeFalsy();
    }
    for (const path of files) {
      const read = await call(client, 'read_file', { project: 'demo', path });
      expect(read.structuredContent).toMatchObject({ content: `content of ${path}` });
    }
    const missing = await call(client, 'read_file', { project: 'demo', path: 'missing.txt' });
    expect(missing.isError).toBe(true);

    const res = await scrape(http);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parse(await res.text());

    const calls = (tool: string, outcome: string) =>
      valueOf(samples, 'stowage_tool_calls_total', { tool, outcome });
    expect(calls('write_file', 'ok')).toBe(3);
    expect(calls('write_file', 'error')).toBeUndefined();
    expect(calls('read_file', 'ok')).toBe(3);
    expect(calls('read_file', 'error')).toBe(1);
    expect(valueOf(samples, 'stowage_tool_errors_total', { tool: 'read_file', code: 'not_found' })).toBe(1);
    expect(samples.filter((s) => s.name === 'stowage_tool_errors_total')).toHaveLength(1);

    const count = (tool: string) => valueOf(samples, 'stowage_tool_duration_seconds_count', { tool });
    expect(count('write_file')).toBe(3);
    expect(count('read_file')).toBe(4);
    expect(valueOf(samples, 'stowage_tool_duration_seconds_bucket', { tool: 'read_file', le: '+Inf' })).toBe(
      4,
    );
    expect(valueOf(samples, 'stowage_tool_duration_seconds_bucket', { tool: 'read_file', le: '30' })).toBe(4);
    expect(valueOf(samples, 'stowage_tool_duration_seconds_sum', { tool: 'read_file' })).toBeGreaterThan(0);
  });

  it('reports the blob cache, the Postgres pool and the open sessions at scrape time', async () => {
    const sessionsBefore = valueOf(parse(await (await scrape(http)).text()), 'stowage_http_sessions_open')!;
    const before = h.stowage.health.metricSources.cache.stats();
    const { client, transport } = await connect(http);
    const content = 'x'.repeat(1000);
    await call(client, 'write_file', { project: 'demo', path: 'cached.txt', content });
    for (let i = 0; i < 2; i++) await call(client, 'read_file', { project: 'demo', path: 'cached.txt' });
    const samples = parse(await (await scrape(http)).text());
    const stats = h.stowage.health.metricSources.cache.stats();

    // Reads of a file just written are served from the cache the write primed.
    expect(stats.hits - before.hits).toBe(2);
    expect(stats.bytes - before.bytes).toBe(content.length);
    expect(valueOf(samples, 'stowage_blob_cache_hits_total')).toBe(stats.hits);
    expect(valueOf(samples, 'stowage_blob_cache_misses_total')).toBe(stats.misses);
    expect(valueOf(samples, 'stowage_blob_cache_entries')).toBe(stats.entries);
    expect(valueOf(samples, 'stowage_blob_cache_bytes')).toBe(stats.bytes);
    expect(valueOf(samples, 'stowage_blob_cache_max_bytes')).toBe(stats.maxBytes);

    const pool = (state: string) => valueOf(samples, 'stowage_db_pool_connections', { state })!;
    expect(pool('total')).toBeGreaterThanOrEqual(1);
    expect(pool('idle')).toBeGreaterThanOrEqual(0);
    expect(pool('idle')).toBeLessThanOrEqual(pool('total'));
    expect(pool('waiting')).toBe(0);
    expect(valueOf(samples, 'stowage_db_pool_max_connections')).toBe(10);
    expect(pool('total')).toBeLessThanOrEqual(10);

    expect(valueOf(samples, 'stowage_http_sessions_open')).toBe(sessionsBefore + 1);
    await transport.terminateSession();
    const after = parse(await (await scrape(http)).text());
    expect(valueOf(after, 'stowage_http_sessions_open')).toBe(sessionsBefore);
  });

  it('is served whatever the Host header, as scrapers come by IP address', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: http.port, path: '/metrics', headers: { host: '10.1.2.3:9100' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(body).toContain('stowage_tool_calls_total');
  });
});

describe('/metrics under token auth', () => {
  let http: RunningHttp;
  const tokens = { admin: '', reader: '' };
  beforeAll(async () => {
    const create = async (principal: string, scopes: string[]) =>
      (await h.stowage.tokens.create({ principal, scopes, projects: ['*'] })).token;
    tokens.admin = await create('admin', ['read', 'write', 'admin']);
    tokens.reader = await create('rita', ['read']);
    http = await serve(createMetrics({ ...h.stowage.health.metricSources, processMetrics: true }), true);
  });

  it('answers 401 without a valid token and 403 for a token without the admin scope', async () => {
    const missing = await scrape(http);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="stowage"');
    expect(await missing.text()).not.toContain('stowage_');

    const unknown = await scrape(http, `stw_${'x'.repeat(43)}`);
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    const reader = await scrape(http, tokens.reader);
    expect(reader.status).toBe(403);
    expect(reader.headers.get('www-authenticate')).toMatch(/error="insufficient_scope", scope="admin"/);
    const text = await reader.text();
    expect(text).toMatch(/needs the 'admin' scope and this token has read/);
    expect(text).not.toContain('stowage_tool');
  });

  it('serves an admin token, counting calls refused by authorisation as forbidden errors', async () => {
    const { client } = await connect(http, tokens.reader);
    const write = await call(client, 'write_file', { project: 'demo', path: 'x.txt', content: 'x' });
    expect(write.isError).toBe(true);

    const res = await scrape(http, tokens.admin);
    expect(res.status).toBe(200);
    const samples = parse(await res.text());
    expect(valueOf(samples, 'stowage_tool_calls_total', { tool: 'write_file', outcome: 'error' })).toBe(1);
    expect(valueOf(samples, 'stowage_tool_errors_total', { tool: 'write_file', code: 'forbidden' })).toBe(1);
    // A registry of its own: the calls of the other server are not counted here.
    expect(
      valueOf(samples, 'stowage_tool_calls_total', { tool: 'read_file', outcome: 'ok' }),
    ).toBeUndefined();
    expect(valueOf(samples, 'stowage_http_sessions_open')).toBe(1);
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
