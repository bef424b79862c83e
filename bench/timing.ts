// What the bench files share to time a step and print it: medians, milliseconds, ratios.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const ms = (t: number) => `${t.toFixed(1)} ms`;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const time = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
export const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`;

/** A tool call on the bench's in-memory client; throws on a tool error. */
export type Call = (name: string, args: Record<string, unknown>) => Promise<Record<string, any>>;
