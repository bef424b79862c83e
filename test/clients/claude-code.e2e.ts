// Claude Code, for real: its own MCP client runs Stowage over stdio and the scripted stand-in
// plays the Anthropic Messages API (ANTHROPIC_BASE_URL). Claude Code hands its model a result's
// structuredContent, serialised, and drops the text content when both are present, so the text
// that Gemini CLI needs costs Claude's model nothing.
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

beforeAll(async () => {
  stowage = await seedStowage();
  model = await startModelStandin();
  model.script(SCRIPT);
  const home = join(stowage.home, 'home');
  const cwd = join(stowage.home, 'work');
  await mkdir(home);
  await mkdir(cwd);
  const mcpConfig = join(home, 'mcp.json');
  const server = { command: stowage.command, args: stowage.args, env: stowage.env };
  await writeFile(mcpConfig, JSON.stringify({ mcpServers: { stowage: server } }));
  agent = await run(
    binOf(CLIENTS.claude),
    [
      '-p',
      'Read the plan in project demo',
      '--mcp-config',
      mcpConfig,
      '--strict-mcp-config',
      '--allowedTools',
      'mcp__stowage',
      '--output-format',
      'json',
    ],
    {
      cwd,
      env: {
        ...agentEnv(home),
        ANTHROPIC_API_KEY: 'standin',
        ANTHROPIC_BASE_URL: model.url,
        // MCP tools offered up front, not behind a ToolSearch call the script would have to make.
        ENABLE_TOOL_SEARCH: 'false',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
      },
      timeoutMs: 120_000,
    },
  );
});

afterAll(async () => {
  await model?.close();
  await stowage?.close();
});

it('runs the whole script and ends the turn', () => {
  expect(agent.code, agent.stderr || agent.stdout).toBe(0);
  expect(model.results.map((r) => r.call.tool)).toEqual(SCRIPT.map((s) => s.tool));
  expect(model.results[0]!.declaredAs.name).toBe('mcp__stowage__read_file');
});

it('the model gets structuredContent, serialised, and none of the text content', () => {
  expect(model.results).toHaveLength(SCRIPT.length);
  model.results.forEach((result, i) => {
    const seen = seenText(result);
    expect(JSON.parse(seen)).toEqual(stowage.expected[i]!.structuredContent);
    expect(seen).not.toContain(textOf(stowage.expected[i]!).split('\n')[0]);
  });
  expect(JSON.parse(seenText(model.results[0]!)).content).toBe(FILES['notes/plan.md']);
});
