// Runs CPU-heavy functions on worker threads, so the event loop (every other session's calls,
// /healthz) never waits on them. A task given a time budget runs alone on its worker, and past
// the budget the worker is terminated (the only way to stop a synchronous loop) and a new one
// starts for the next task; tasks without a budget are posted as they come, so a worker works
// through them back to back, one message each way per task.
//
// A worker runs the module `entry` (which calls `serveTasks`): tsc's output under dist/, and
// under vitest or tsx the TypeScript source, loaded through tsx's ESM hooks. Workers start on
// first use and are referenced only while they have work: a CLI that used one still exits.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parentPort, Worker, type Transferable } from 'node:worker_threads';
import { StowageError, type ErrorCode } from '../errors.js';

/** The functions a worker runs, by name; each takes one structured-cloneable input. */
export type TaskTable = Record<string, (input: never) => unknown>;

/** A task's result whose buffers `list` move to the caller instead of being copied. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: readonly Transferable[],
  ) {}
}

type Output<F> = F extends (input: never) => infer R
  ? Awaited<R> extends Transfer<infer V>
    ? V
    : Awaited<R>
  : never;

/** CPU time one call's tasks may take on the workers in all, drawn down as each one runs (not
 *  while it waits for a worker). */
export interface TimeBudget {
  readonly limitMs: number;
  remainingMs: number;
}

export const timeBudget = (limitMs: number): TimeBudget => ({ limitMs, remainingMs: limitMs });

/** A task ran past its call's time budget; its worker was terminated. */
export class TimeLimitExceeded extends Error {
  constructor(readonly limitMs: number) {
    super(`ran past its time limit of ${limitMs} ms`);
    this.name = 'TimeLimitExceeded';
  }
}

export interface WorkerPool<T extends TaskTable> {
  run<K extends keyof T & string>(
    task: K,
    input: Parameters<T[K]>[0],
    options?: { budget?: TimeBudget | undefined; transfer?: readonly Transferable[] },
  ): Promise<Output<T[K]>>;
}

interface WireError {
  message: string;
  stack?: string | undefined;
  code?: ErrorCode;
  details?: Record<string, unknown> | undefined;
}

type Reply = { ready: true } | { id: number; result?: unknown; error?: WireError };

interface Job {
  id: number;
  task: string;
  input: unknown;
  transfer: readonly Transferable[];
  budget: TimeBudget | undefined;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  jobs: Map<number, Job>;
  /** The one timed job running on this worker, its start and its deadline. */
  timed?: { job: Job; startedAt: number; timer: NodeJS.Timeout } | undefined;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');

export function createWorkerPool<T extends TaskTable>(
  entry: URL,
  options: { size: number; name: string },
): WorkerPool<T> {
  const slots = new Set<Slot>();
  const queue: Job[] = [];
  let nextId = 0;

  function start() {
    const slot: Slot = { worker: spawn(entry), ready: false, jobs: new Map() };
    slots.add(slot);
    const { worker } = slot;
    worker.on('message', (reply: Reply) => {
      if (!('ready' in reply)) return settle(slot, reply);
      slot.ready = true;
      pump();
      idle(slot);
    });
    worker.on('error', (err) => lost(slot, err));
    worker.on('exit', (code) => lost(slot, new Error(`the ${options.name} worker exited (code ${code})`)));
  }

  /** Hands queued tasks to ready workers, starting workers (up to `size`) for those left. */
  function pump() {
    for (const slot of slots) {
      while (slot.ready && queue.length) {
        const job = queue[0]!;
        if (slot.timed || (job.budget && slot.jobs.size)) break;
        queue.shift();
        dispatch(slot, job);
      }
    }
    let starting = [...slots].filter((s) => !s.ready).length;
    for (; queue.length > starting && slots.size < options.size; starting++) start();
  }

  function dispatch(slot: Slot, job: Job) {
    const { budget } = job;
    if (budget && budget.remainingMs <= 0) return job.reject(new TimeLimitExceeded(budget.limitMs));
    slot.jobs.set(job.id, job);
    slot.worker.ref();
    if (budget) {
      const timer = setTimeout(() => expire(slot), budget.remainingMs);
      slot.timed = { job, startedAt: performance.now(), timer };
    }
    try {
      slot.worker.postMessage({ id: job.id, task: job.task, input: job.input }, [...job.transfer]);
    } catch (err) {
      // Input that cannot be cloned: this task's fault, not the worker's.
      settle(slot, { id: job.id, error: { message: (err as Error).message } });
    }
  }

  function settle(slot: Slot, reply: { id: number; result?: unknown; error?: WireError }) {
    const job = slot.jobs.get(reply.id);
    if (!job) return;
    slot.jobs.delete(reply.id);
    if (slot.timed?.job === job) {
      clearTimeout(slot.timed.timer);
      job.budget!.remainingMs -= performance.now() - slot.timed.startedAt;
      slot.timed = undefined;
    }
    if (reply.error) job.reject(revive(reply.error, options.name));
    else job.resolve(reply.result);
    pump();
    idle(slot);
  }

  /** Referenced while a task is out (ref() also covers the port, which a 'message' listener
   *  refs on its own), unreferenced once the last one is back. */
  function idle(slot: Slot) {
    if (!slot.jobs.size) slot.worker.unref();
  }

  function expire(slot: Slot) {
    const job = slot.timed!.job;
    slot.jobs.clear();
    slot.timed = undefined;
    slots.delete(slot);
    void slot.worker.terminate();
    job.budget!.remainingMs = 0;
    job.reject(new TimeLimitExceeded(job.budget!.limitMs));
    pump();
  }

  function lost(slot: Slot, err: Error) {
    if (!slots.delete(slot)) return; // terminated on purpose, or already reported
    clearTimeout(slot.timed?.timer);
    for (const job of slot.jobs.values()) job.reject(err);
    // A worker that cannot even start will not start next time either: fail what waits for it
    // rather than start workers forever.
    if (!slot.ready) for (const job of queue.splice(0)) job.reject(err);
    pump();
  }

  return {
    run(task, input, { budget, transfer = [] } = {}) {
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, task, input, transfer, budget, resolve, reject });
        pump();
      });
    },
  };
}

/** Serves `tasks` to the pool that started this worker; the entry module calls it at load. */
export function serveTasks(tasks: TaskTable): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks runs on a worker thread');
  const run = async ({ id, task, input }: { id: number; task: string; input: never }) => {
    try {
      const out: unknown = await tasks[task]!(input);
      if (out instanceof Transfer) {
        const { value, list } = out as Transfer<unknown>;
        port.postMessage({ id, result: value }, [...list]);
      } else {
        port.postMessage({ id, result: out });
      }
    } catch (err) {
      const error: WireError =
        err instanceof StowageError
          ? { message: err.message, code: err.code, details: err.details }
          : { message: String((err as Error)?.message ?? err), stack: (err as Error)?.stack };
      port.postMessage({ id, error });
    }
  };
  port.on('message', (message: Parameters<typeof run>[0]) => void run(message));
  port.postMessage({ ready: true });
}

function revive(error: WireError, name: string): Error {
  if (error.code) return new StowageError(error.code, error.message, error.details);
  const err = new Error(`${name} worker: ${error.message}`);
  if (error.stack) err.stack = error.stack;
  return err;
}

/** No inherited flags: the worker runs the same way whatever the process was started with. */
function spawn(entry: URL): Worker {
  if (!FROM_SOURCE) return new Worker(entry, { execArgv: [] });
  const source = entry.href.replace(/\.js$/, '.ts');
  const tsx = tsxEsmApi();
  // Plain CommonJS run with `eval`: register tsx's hooks, then import the TypeScript entry.
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(boot, { eval: true, execArgv: [] });
}

/** The URL of tsx's ESM API (its `import` export, which require.resolve cannot name). */
function tsxEsmApi(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(manifest), exports['./esm/api']!.import.default)).href;
}
