// A serving process gives memory back once it goes idle. V8 grows the young generation to 32 MB
// through start-up and bursts of calls, and keeps it: a stdio server sat at 98 MB idle, with
// 8 MB of that space in use. V8's own memory reducer shrinks it only after half a minute or
// more of idleness; this asks for the same collection (a last-resort one, which also shrinks
// the heap's spaces) after one quiet second following activity, once per quiet period.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** CPU a second may use and still count as quiet (timers, keepalives). */
const QUIET_CPU_MS = 5;
const CHECK_MS = 1_000;

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** Starts watching; returns the function that stops it. */
export function releaseMemoryWhenIdle(): () => void {
  // `gc` is exposed only to contexts made after the flag is set: this one context, not the
  // process's own globals.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as Gc;
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
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    last = process.cpuUsage(); // the collection's own CPU is not activity
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
