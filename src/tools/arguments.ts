// A tool call's arguments, checked against its closed input schema. Every failure is an
// `invalid_input` naming the argument and the fix, returned as a tool result so the model can
// correct itself (MCP 2025-11-25: input validation errors are tool execution errors). An unknown
// argument is never dropped: `cleanup {dryRun: true}` would otherwise run a real cleanup.
import { z } from 'zod';
import { invalidInput } from '../errors.js';

/** The arguments as the handler takes them, or throws `invalid_input` naming every problem. */
export async function parseArguments<S extends z.ZodType>(schema: S, args: unknown): Promise<z.output<S>> {
  const parsed = await schema.safeParseAsync(args ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.slice(0, 5).map((issue) => describe(schema, issue));
  const more = parsed.error.issues.length > 5 ? `; and ${parsed.error.issues.length - 5} more` : '';
  throw invalidInput(`${problems.join('; ')}${more}`);
}

function describe(schema: z.ZodType, issue: z.core.$ZodIssue): string {
  const at = pathOf(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(schema, issue.path);
    return issue.keys
      .map((key) => {
        const name = at ? `${at}.${key}` : key;
        const nearest = closest(key, known);
        return nearest
          ? `unknown argument ${name}: did you mean ${nearest}?`
          : `unknown argument ${name}: the arguments${at ? ` of ${at}` : ''} are ${known.join(', ') || 'none'}`;
      })
      .join('; ');
  }
  return `argument ${at || '(the arguments)'}: ${issue.message}: fix it and call again`;
}

const pathOf = (path: readonly PropertyKey[]) =>
  path.reduce<string>(
    (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
    '',
  );

/** The property names of the object schema at `path` inside `schema` (through optionals and arrays). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let at: unknown = schema;
  for (const step of [...path, undefined]) {
    at = unwrap(at);
    if (step === undefined) break;
    if (at instanceof z.ZodArray && typeof step === 'number') at = at.element;
    else if (at instanceof z.ZodObject) at = at.shape[String(step)];
    else return [];
  }
  return at instanceof z.ZodObject ? Object.keys(at.shape) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault)
    s = s.unwrap();
  return s instanceof z.ZodPipe ? unwrap(s.in) : s;
}

/** The known name nearest to `key`, if near enough: case and `_`/`-` aside, then by edit distance. */
function closest(key: string, known: readonly string[]): string | undefined {
  const plain = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(plain(key), plain(name));
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(plain(key).length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}
