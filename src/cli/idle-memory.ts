// A serving process keeps its memory small, most of all while it waits for its agent.
// - A stdio server's young generation does not grow: V8 doubles it whenever many objects
//   survive a collection, which module loading at start-up and bursts of calls both do, and then
//   keeps it (Node 20 never gives it back; later Node only after half a minute or more of
//   idleness). It grew from 2 to 16 MB this way, with 2 MB of it in use. One agent's sequential
//   calls did not get measurably slower without the growth; 50 HTTP sessions did (server CPU
//   per write 0.42 against 0.58-0.66 ms, 25% fewer writes/s), so an HTTP server, serving many
//   agents, lets it grow (`npm run bench`).
// - After one quiet second following activity, once per quiet period, a full collection returns
//   what the burst left: a last-resort one where V8 offers it (Node 22 and later), which also
//   shrinks the heap's spaces; on Node 20, whose `gc` takes no options, a plain full one.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** CPU a second may use and still count as quiet (timers, keepalives). */
const QUIET_CPU_MS = 5;
const CHECK_MS = 1_000;

type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** Keeps the young generation at its initial size; call before start-up loads the rest (stdio). */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** Starts watching; returns the function that stops it. */
export function releaseMemoryWhenIdle(): () => void {
  // `gc` is exposed only to contexts made after the flag is set: this one context, not the
  // process's own globals.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as Gc;
  // V8 before 12 reads any argument as "a minor collection only".
  const takesOptions = Number(process.versions.v8.split('.')[0]) >= 12;
  let last = process.cpuUsage();
  let busy = true; // start-up counts as activity
  const timer = setInterval(() => {
    const used = process.cpuUsage(last);
    last = process.cpuUsage();
    if ((used.user + used.system) / 1000 > QUIET_CPU_MS) {
      busy = true;
      return;
    }
    if (!busy) return;
    busy = false;
    if (takesOptions) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    else gc();
    last = process.cpuUsage(); // the collection's own CPU is not activity
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
