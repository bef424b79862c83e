// OpenAI Codex CLI, for real: its own MCP client runs Stowage over stdio and the scripted
// stand-in plays the Responses API (a custom model provider, `wire_api = "responses"`). Codex
// hands its model a result's structuredContent, serialised, and drops the text content when both
// are present, so the text that Gemini CLI needs costs Codex's model nothing.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seenText, startModelStandin, type ModelStandin } from '../support/model-standin.js';
import {
  agentEnv,
  binOf,
  CLIENTS,
  FILES,
  run,
  SCRIPT,
  seedStowage,
  textOf,
  type AgentRun,
  type SeededStowage,
} from './clients.js';

let stowage: SeededStowage;
let model: ModelStandin;
let agent: AgentRun;

const toml = (value: unknown) => JSON.stringify(value); // TOML basic strings and arrays read as JSON's

beforeAll(async () => {
  stowage = await seedStowage();
  model = await startModelStandin();
  model.script(SCRIPT);
  const home = join(stowage.home, 'home');
  const codexHome = join(home, '.codex');
  const cwd = join(stowage.home, 'work');
  await mkdir(codexHome, { recursive: true });
  await mkdir(cwd);
  const env = Object.entries(stowage.env).map(([k, v]) => `${k} = ${toml(v)}`);
  const config = [
    'model = "standin"',
    'model_provider = "standin"',
    'approval_policy = "never"',
    'sandbox_mode = "read-only"',
    '[model_providers.standin]',
    'name = "standin"',
    `base_url = ${toml(`${model.url}/v1`)}`,
    'wire_api = "responses"',
    'env_key = "STANDIN_API_KEY"',
    '[mcp_servers.stowage]',
    `command = ${toml(stowage.command)}`,
    `args = ${toml(stowage.args)}`,
    `env = { ${env.join(', ')} }`,
    // Codex builds the first turn's tools from the optional servers ready within 1 s
    // (mcp_optional_startup_grace_ms) and silently leaves the others out. Stowage is not marked
    // `required`: it answers the handshake from what the seeding start kept, well within that.
    'startup_timeout_sec = 60',
    'tool_timeout_sec = 60',
  ];
  await writeFile(join(codexHome, 'config.toml'), `${config.join('\n')}\n`);
  agent = await run(
    binOf(CLIENTS.codex),
    ['exec', '--skip-git-repo-check', 'Read the plan in project demo'],
    {
      cwd,
      env: { ...agentEnv(home), CODEX_HOME: codexHome, STANDIN_API_KEY: 'standin' },
      timeoutMs: 120_000,
    },
  );
});

afterAll(async () => {
  await model?.close();
  await stowage?.close();
});

it('runs the whole script and ends the turn', () => {
  expect(agent.code, agent.stderr).toBe(0);
  expect(model.results.map((r) => r.call.tool)).toEqual(SCRIPT.map((s) => s.tool));
  expect(model.results[0]!.declaredAs).toEqual({ namespace: 'mcp__stowage', name: 'read_file' });
});

it('the model gets structuredContent, serialised, and none of the text content', () => {
  expect(model.results).toHaveLength(SCRIPT.length);
  model.results.forEach((result, i) => {
    const seen = seenText(result); // "Wall time: …\nOutput:\n" and the JSON
    expect(JSON.parse(seen.slice(seen.indexOf('{')))).toEqual(stowage.expected[i]!.structuredContent);
    expect(seen).not.toContain(textOf(stowage.expected[i]!).split('\n')[0]);
  });
  const read = JSON.parse(seenText(model.results[0]!).replace(/^[^{]*/, ''));
  expect(read.content).toBe(FILES['notes/plan.md']);
});
