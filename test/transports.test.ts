// The real thing, spawned: `serve --stdio` from mcp.json and `serve --http`, both on the
// embedded default (no DATABASE_URL) sharing one STOWAGE_HOME, driven by the SDK's clients.
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf as text } from './support/http.js';
import { ROOT, spawnHttpServer, spawnStowage } from './support/spawn.js';

let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'stowage-home-'));
  await chmod(home, 0o755); // the embedded Postgres runs as the postgres user when we are root
  env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k, v]) => v !== undefined && !/^(DATABASE_URL|S3_|STOWAGE_)/.test(k),
    ),
  ) as Record<string, string>;
  Object.assign(env, { STOWAGE_HOME: join(home, 'data'), STOWAGE_PRINCIPAL: 'tester', LOG_LEVEL: 'warn' });
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

/** The stdio command exactly as mcp.json gives it, with the clone's path filled in. */
function mcpJsonCommand() {
  const config = JSON.parse(readFileSync(join(ROOT, 'mcp.json'), 'utf8')) as {
    mcpServers: { stowage: { command: string; args: string[]; env: Record<string, string> } };
  };
  const entry = config.mcpServers.stowage;
  const fill = (s: string) => s.replaceAll('${workspaceFolder}', ROOT);
  return { command: entry.command, args: entry.args.map(fill), env: Object.keys(entry.env) };
}

function rawRequest(url: string, method: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; body: string }>((ok, fail) => {
    const req = request(url, { method, headers }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => ok({ status: res.statusCode!, body: data }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

describe('stdio and HTTP servers on one embedded STOWAGE_HOME', () => {
  let stdio: Client;
  let stdioTransport: StdioClientTransport;
  let http: Awaited<ReturnType<typeof spawnHttpServer>>;
  let httpClient: Client;
  const transportErrors: Error[] = [];

  beforeAll(async () => {
    const cmd = mcpJsonCommand();
    expect(cmd.env).toEqual(['STOWAGE_HOME']);
    stdioTransport = new StdioClientTransport({ command: cmd.command, args: cmd.args, env, stderr: 'pipe' });
    stdioTransport.onerror = (e) => transportErrors.push(e);
    stdio = new Client({ name: 'ide', version: '1.0.0' });
    await stdio.connect(stdioTransport);
    http = await spawnHttpServer(env);
    httpClient = new Client({ name: 'hosted', version: '1.0.0' });
    await httpClient.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  }, 120_000);

  afterAll(async () => {
    await httpClient?.close();
    await stdio?.close();
    if (http && http.proc.exitCode === null) http.proc.kill('SIGKILL');
  });

  it('a write over stdio is read over HTTP through the shared embedded Postgres', async () => {
    const created = (await stdio.callTool({
      name: 'create_project',
      arguments: { name: 'shared' },
    })) as CallToolResult;
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ name: 'shared', created_by: 'tester' });
    const w = (await stdio.callTool({
      name: 'write_file',
      arguments: { project: 'shared', path: 'hello.txt', content: 'hi from stdio', workspace: 'team' },
    })) as CallToolResult;
    expect(w.isError).toBeFalsy();
    const r = (await httpClient.callTool({
      name: 'read_file',
      arguments: { project: 'shared', path: 'hello.txt', workspace: 'team' },
    })) as CallToolResult;
    expect(r.structuredContent).toMatchObject({ content: 'hi from stdio', state: 'added' });
    expect(text(r)).toMatch(/^hello\.txt: lines 1-1/);
  });

  it('keeps stdout to protocol messages only', () => {
    expect(transportErrors).toEqual([]);
  });

  it('serves /healthz', async () => {
    const res = await fetch(http.url.replace(/\/mcp$/, '/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('refuses a foreign Host or Origin (DNS rebinding) and unknown sessions', async () => {
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const port = new URL(http.url).port;
    expect(
      (await rawRequest(http.url, 'POST', { ...headers, host: `evil.example:${port}` }, init)).status,
    ).toBe(403);
    expect(
      (await rawRequest(http.url, 'POST', { ...headers, origin: 'http://evil.example' }, init)).status,
    ).toBe(403);
    expect(
      (await rawRequest(http.url, 'POST', { ...headers, origin: `http://localhost:${port}` }, init)).status,
    ).toBe(200);
    expect((await rawRequest(http.url, 'POST', { ...headers, 'mcp-session-id': 'nope' }, init)).status).toBe(
      404,
    );
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    expect((await rawRequest(http.url, 'POST', headers, ping)).status).toBe(400);
  });

  it('stops on SIGTERM, and the last process out stops the embedded Postgres', async () => {
    await httpClient.close();
    expect(await http.stop()).toBe(0);
    const pid = join(env.STOWAGE_HOME!, 'pg', 'postmaster.pid');
    expect(existsSync(pid)).toBe(true); // the stdio server still uses it
    await stdio.close();
    await expect.poll(() => existsSync(pid), { timeout: 20_000 }).toBe(false);
  });
});

describe('stdio before storage is open', () => {
  it('answers initialize and tools/list at once; a call says storage could not be opened, and why', async () => {
    // Nothing listens on port 1: storage cannot open. The client is answered all the same.
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(ROOT, 'dist/index.js'), 'serve', '--stdio'],
      env: {
        ...env,
        STOWAGE_HOME: join(home, 'unopened'),
        DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'impatient', version: '1.0.0' });
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('write_file');
      const result = (await client.callTool({ name: 'list_projects', arguments: {} })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(
        /^unavailable: storage could not be opened \(the metadata database is unavailable\): see the server log; the next call tries again/,
      );
      // The next call tries again (and fails again the same way): the server is still up.
      await expect(client.ping()).resolves.toBeDefined();
    } finally {
      await client.close();
    }
  });
});

describe('start-up errors', () => {
  it('refuses a bad configuration value, naming the variable', async () => {
    const { code, stderr } = await spawnStowage(['serve', '--http'], { ...env, CACHE_MAX_BYTES: 'lots' })
      .done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/CACHE_MAX_BYTES/);
  });

  it('refuses to serve HTTP beyond loopback with STOWAGE_AUTH=none', async () => {
    const { code, stderr } = await spawnStowage(['serve', '--http', '--host', '0.0.0.0'], {
      ...env,
      STOWAGE_AUTH: 'none',
    }).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/not a loopback address and STOWAGE_AUTH is none.*set STOWAGE_AUTH=tokens/);
  });
});
