// A storm of write_files calls from several MCP clients at once, each call writing its own new
// paths, with every outcome recorded: acknowledged, refused (the tool's error text), or lost in
// transport (the server went away). Fault tests run one while they break the database, then
// check what each agent was told against what is stored.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export interface StormCall {
  files: { path: string; content: string }[];
  startedAt: number;
  outcome: 'acknowledged' | 'refused' | 'transport';
  /** The tool's error text, or the transport error's message. */
  error?: string;
}

export interface WriteStorm {
  readonly calls: readonly StormCall[];
  /** Acknowledged calls that started after `since` (a Date.now() value). */
  acknowledgedSince(since: number): number;
  refused(): StormCall[];
  /** Stops issuing calls and waits for those in flight. */
  stop(): Promise<void>;
}

const FILES_PER_CALL = 3;

export function startWriteStorm(
  clients: readonly Client[],
  project: string,
  options: { workersPerClient?: number; tag?: string } = {},
): WriteStorm {
  const calls: StormCall[] = [];
  let stopping = false;
  const tag = options.tag ?? 'storm';
  const worker = async (client: Client, name: string) => {
    for (let i = 0; !stopping; i++) {
      const files = Array.from({ length: FILES_PER_CALL }, (_, j) => ({
        path: `${tag}/${name}/c${i}/f${j}.txt`,
        content: `${tag} ${name} call ${i} file ${j}\n`,
      }));
      const call: StormCall = { files, startedAt: Date.now(), outcome: 'acknowledged' };
      calls.push(call);
      try {
        const result = (await client.callTool({
          name: 'write_files',
          arguments: { project, files },
        })) as CallToolResult;
        if (result.isError) {
          call.outcome = 'refused';
          call.error = (result.content[0] as { text: string }).text;
        }
      } catch (err) {
        call.outcome = 'transport';
        call.error = err instanceof Error ? err.message : String(err);
      }
      // A refused call backs off a little, as an agent would, instead of spinning on 2 cores.
      if (call.outcome !== 'acknowledged') await sleep(50);
    }
  };
  const workers = clients.flatMap((client, c) =>
    Array.from({ length: options.workersPerClient ?? 2 }, (_, w) => worker(client, `w${c}-${w}`)),
  );
  return {
    calls,
    acknowledgedSince: (since) =>
      calls.filter((c) => c.outcome === 'acknowledged' && c.startedAt >= since).length,
    refused: () => calls.filter((c) => c.outcome !== 'acknowledged'),
    async stop() {
      stopping = true;
      await Promise.all(workers);
    },
  };
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The storm calls whose stored drafts do not match what the agent was told: an acknowledged
 *  call missing a file (or holding other content), or any call with some files but not all.
 *  `stored` maps each draft path to its content hash. */
export function stormViolations(calls: readonly StormCall[], stored: ReadonlyMap<string, string>): string[] {
  const violations: string[] = [];
  for (const call of calls) {
    const present = call.files.filter((f) => stored.get(f.path) === sha256(f.content));
    if (call.outcome === 'acknowledged' && present.length !== call.files.length) {
      violations.push(`acknowledged but missing: ${call.files.map((f) => f.path).join(', ')}`);
    } else if (present.length !== 0 && present.length !== call.files.length) {
      violations.push(`partly stored (${call.outcome}): ${present.map((f) => f.path).join(', ')}`);
    }
  }
  return violations;
}
