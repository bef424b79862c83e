// Gemini CLI, for real: its own MCP client runs Stowage over stdio and the scripted stand-in
// plays the Gemini API. Gemini CLI hands its model a result's text content only (never
// structuredContent), so that text must carry the whole result, file contents as they are.
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
  await mkdir(join(home, '.gemini'), { recursive: true });
  await mkdir(cwd);
  const settings = {
    // An API key (any: the stand-in takes it) rather than a Google login.
    security: { auth: { selectedType: 'gemini-api-key' } },
    mcpServers: { stowage: { command: stowage.command, args: stowage.args, env: stowage.env, trust: true } },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    general: { disableAutoUpdate: true, disableUpdateNag: true },
  };
  await writeFile(join(home, '.gemini/settings.json'), JSON.stringify(settings));
  // Gemini CLI starts no MCP server in a folder it does not trust.
  await writeFile(join(home, '.gemini/trustedFolders.json'), JSON.stringify({ [cwd]: 'TRUST_FOLDER' }));
  agent = await run(
    binOf(CLIENTS.gemini),
    ['-p', 'Read the plan in project demo', '--approval-mode', 'yolo', '-m', 'gemini-2.5-flash'],
    {
      cwd,
      env: {
        ...agentEnv(home),
        GEMINI_API_KEY: 'standin',
        GOOGLE_GEMINI_BASE_URL: model.url,
        GEMINI_CLI_NO_RELAUNCH: 'true', // one process: no child relaunched with a larger heap
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
  expect(agent.code, agent.stderr).toBe(0);
  expect(model.results.map((r) => r.call.tool)).toEqual(SCRIPT.map((s) => s.tool));
  expect(model.results[0]!.declaredAs.name).toBe('mcp_stowage_read_file');
});

it("the model gets each result's whole text content, and only that", () => {
  expect(model.results).toHaveLength(SCRIPT.length);
  model.results.forEach((result, i) => {
    const seen = seenText(result);
    expect(seen).toContain(textOf(stowage.expected[i]!));
    expect(seen).not.toContain('"content":'); // no structuredContent, where file content is JSON
  });
});

it('the model reads file contents as they are and every listed entry', () => {
  const [read, batch, list] = model.results.map(seenText);
  expect(list).toBeDefined();
  expect(read).toContain(`\n${FILES['notes/plan.md']}`);
  for (const content of Object.values(FILES)) expect(batch).toContain(`\n${content}`);
  const entries = stowage.expected[2]!.structuredContent!.entries as { path: string; etag: string }[];
  expect(entries.map((e) => e.path)).toEqual(Object.keys(FILES));
  for (const entry of entries) expect(list).toContain(JSON.stringify(entry));
});
