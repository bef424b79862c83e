// Recovery from a killed embedded postmaster: the time from `kill -9` of the postmaster (the pid
// in <home>/pg/postmaster.pid) to the first write_file that succeeds, three times, while the
// process keeps running (the supervisor in src/store/db/embedded-supervisor.ts restarts it; the
// target in issue 15 is within 10 s). Writes are retried every 20 ms, as an agent told
// `unavailable … retry shortly` would, only faster.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { postmasterOf } from '../test/support/embedded-admin.js';

type Call = (name: string, args: Record<string, unknown>) => Promise<unknown>;

const ROUNDS = 3;
const GIVE_UP_MS = 60_000;

export async function benchRecovery(call: Call, home: string, project: string): Promise<string[]> {
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await call('write_file', { project, path: `recovery/${round}-before.txt`, content: 'before' });
    const postmaster = postmasterOf(home);
    if (!postmaster) throw new Error(`no embedded Postgres is running in ${home}`);
    process.kill(postmaster.pid, 'SIGKILL');
    const killed = performance.now();
    let refused = 0;
    for (;;) {
      try {
        await call('write_file', { project, path: `recovery/${round}-after.txt`, content: 'after' });
        break;
      } catch (err) {
        if (!/unavailable/.test(String(err))) throw err;
        if (performance.now() - killed > GIVE_UP_MS)
          throw new Error('no write succeeded within 60 s of the kill');
        refused++;
        await sleep(20);
      }
    }
    times.push(performance.now() - killed);
    if (round === 0 && refused === 0) throw new Error('the first write after the kill did not notice it');
  }
  const sorted = [...times].sort((a, b) => a - b);
  return [
    `killed embedded postmaster → first successful write: median ${sorted[1]!.toFixed(0)} ms ` +
      `(${times.map((t) => t.toFixed(0)).join(', ')} ms; target ≤ 10,000 ms, no restart of Stowage)`,
  ];
}
