// What the real-client tests share: the coding agents they drive (pinned, installed once into
// .cache/clients), a Stowage seeded over stdio with the results the script's calls give a plain
// SDK client, and running an agent headless with only the environment the test gives it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import type { ScriptedCall } from '../support/model-standin.js';
import { ROOT } from '../support/spawn.js';

export interface AgentClient {
  pkg: string;
  version: string;
  bin: string;
}

/** Bump a version here to test another release; the old install is removed on the next run. */
export const CLIENTS = {
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' },
  codex: { pkg: '@openai/codex', version: '0.171.0', bin: 'codex' },
  claude: { pkg: '@anthropic-ai/claude-code', version: '2.1.332', bin: 'claude' },
} satisfies Record<string, AgentClient>;

const CACHE = join(ROOT, '.cache/clients');
const baseName = (client: AgentClient) => client.pkg.split('/').pop()!;
const installDir = (client: AgentClient) => join(CACHE, `${baseName(client)}-${client.version}`);
export const binOf = (client: AgentClient) => join(installDir(client), 'node_modules/.bin', client.bin);

/** Installs `client` unless the cache has it complete; drops other versions of it. */
export async function installClient(client: AgentClient): Promise<void> {
  const dir = installDir(client);
  const marker = join(dir, '.installed');
  if (existsSync(marker) && existsSync(binOf(client))) return;
  const stale = (existsSync(CACHE) ? await readdir(CACHE) : []).filter((d) =>
    d.startsWith(`${baseName(client)}-`),
  );
  for (const d of stale) await rm(join(CACHE, d), { recursive: true, force: true });
  const spec = `${client.pkg}@${client.version}`;
  const args = ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', spec];
  const { code, stderr } = await run('npm', args, { cwd: ROOT, env: process.env as Record<string, string> });
  if (code !== 0) throw new Error(`npm install ${spec} failed (${code}): ${stderr}`);
  await writeFile(marker, `${spec}\n`);
}

/** Two files, one with the characters JSON escapes (quotes, a backslash, a tab), committed. */
export const FILES = {
  'notes/plan.md': '# Plan\n\nSay "hi" \\ then:\n\tindent, ünïcödé\n',
  'src/app.ts': 'export const app = () => `app`;\n',
};

export const SCRIPT: ScriptedCall[] = [
  { tool: 'read_file', arguments: { project: 'demo', path: 'notes/plan.md' } },
  { tool: 'batch_read', arguments: { project: 'demo', paths: Object.keys(FILES) } },
  { tool: 'list_files', arguments: { project: 'demo' } },
];

export interface SeededStowage {
  /** A temp directory for the agent's HOME, config and working directory. */
  home: string;
  /** `serve --stdio`, as the agent's MCP config gives it. */
  command: string;
  args: string[];
  /** The server's environment: its own database (DATABASE_URL) and STOWAGE_HOME. */
  env: Record<string, string>;
  /** What each SCRIPT call returns to a plain SDK client. */
  expected: CallToolResult[];
  close(): Promise<void>;
}

/** A fresh database and STOWAGE_HOME with project `demo` holding FILES, and SCRIPT's results. */
export async function seedStowage(): Promise<SeededStowage> {
  const db: TestDatabase = await createTestDatabase();
  const home = await mkdtemp(join(tmpdir(), 'stowage-clients-'));
  await chmod(home, 0o755);
  const env = {
    DATABASE_URL: db.url,
    STOWAGE_HOME: join(home, 'stowage'),
    STOWAGE_PRINCIPAL: 'agent',
    LOG_LEVEL: 'warn',
  };
  const command = process.execPath;
  const args = [join(ROOT, 'dist/index.js'), 'serve', '--stdio'];
  const client = new Client({ name: 'seed', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command,
      args,
      env: { PATH: process.env.PATH ?? '', ...env },
      stderr: 'pipe',
    }),
  );
  const expected: CallToolResult[] = [];
  try {
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
      return result;
    };
    await call('create_project', { name: 'demo' });
    const files = Object.entries(FILES).map(([path, content]) => ({ path, content }));
    await call('write_files', { project: 'demo', files });
    await call('commit_task', { project: 'demo', task: { id: 1, title: 'Plan' } });
    for (const step of SCRIPT) expected.push(await call(step.tool, step.arguments));
  } finally {
    await client.close();
  }
  return {
    home,
    command,
    args,
    env,
    expected,
    async close() {
      await rm(home, { recursive: true, force: true });
      await db.drop();
    },
  };
}

export const textOf = (result: CallToolResult) => (result.content[0] as { text: string }).text;

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with only `env` (an agent must not see the caller's API keys). */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<AgentRun> {
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => {
    stderr += `\n[killed after ${options.timeoutMs} ms]`;
    proc.kill('SIGKILL');
  }, options.timeoutMs ?? 600_000);
  return new Promise((ok, fail) => {
    proc.on('error', fail);
    proc.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, stdout, stderr });
    });
  });
}

/** The environment every agent run starts from: PATH (agents are node scripts) and a temp HOME. */
export const agentEnv = (home: string): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: home,
  NO_COLOR: '1',
});
