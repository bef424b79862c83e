// What tools/list says of each tool, kept small: clients forward every definition to the model
// on every turn (Claude Code about name, description and input schema; Gemini CLI more), so
// each byte is paid per turn per tool. Input schemas keep every constraint the server checks,
// without what says nothing (`$schema`, JavaScript's safe-integer bounds, `propertyNames` of
// string keys); output schemas, which clients only validate results against, keep each field's
// type but not the shape nested under it.
import type { Tool, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** The configured limits tool schemas advertise (the model sees the server's real bound). */
export interface ToolLimits {
  /** MAX_BATCH_FILES: files in one write_files, paths in one batch_read or delete_file. */
  batchFiles: number;
  /** RESPONSE_MAX_CHARS: the size of a read's result as clients receive it. */
  responseChars: number;
}

/** What tools/list shows of a tool; define.ts's ToolDefinition adds how it is called. */
export interface ToolListing<
  I extends z.ZodRawShape = z.ZodRawShape,
  O extends z.ZodRawShape = z.ZodRawShape,
> {
  name: string;
  title: string;
  /** What it does, in a sentence first; a function of the limits when it names them (clients
   *  such as Codex drop schema bounds, so the model reads them here). */
  description: string | ((limits: ToolLimits) => string);
  /** The arguments; a function of the limits when they bound what may be passed. */
  input: I | ((limits: ToolLimits) => I);
  output: O;
  annotations: ToolAnnotations;
}

type Schema = { [key: string]: unknown };

export interface PreparedTool {
  /** The closed schema arguments are parsed with: an unknown argument, at any depth the tool
   *  declares an object, is refused. */
  input: z.ZodObject;
  listed: Tool;
}

// A pure memo: every HTTP session builds its own server, and converting the tools' schemas
// costs about 15 ms, which a session should not pay again for the same tool and limits.
const prepared = new WeakMap<ToolListing, Map<string, PreparedTool>>();

/** The tool's parse schema and listing under `limits`, computed once. */
export function prepareTool(tool: ToolListing, limits: ToolLimits): PreparedTool {
  const key = JSON.stringify(limits);
  let byLimits = prepared.get(tool);
  if (!byLimits) prepared.set(tool, (byLimits = new Map<string, PreparedTool>()));
  let done = byLimits.get(key);
  if (!done) {
    const input = z.strictObject(typeof tool.input === 'function' ? tool.input(limits) : tool.input);
    const listed: Tool = {
      name: tool.name,
      title: tool.title,
      description: typeof tool.description === 'function' ? tool.description(limits) : tool.description,
      inputSchema: listedInputSchema(input),
      outputSchema: listedOutputSchema(z.object(tool.output)),
      annotations: tool.annotations,
    };
    byLimits.set(key, (done = { input, listed }));
  }
  return done;
}

/** The input schema as listed: draft-07, as the SDK lists it, less what says nothing. */
export function listedInputSchema(input: z.ZodType): Tool['inputSchema'] {
  return strip(z.toJSONSchema(input, { target: 'draft-7', io: 'input' })) as Tool['inputSchema'];
}

/** The output schema as listed: each top-level field with its type(s), nothing nested, and no
 *  `required` list (which fields a result carries is the handler's, and clients only validate). */
export function listedOutputSchema(output: z.ZodType): Tool['outputSchema'] {
  const full = z.toJSONSchema(output, { target: 'draft-7', io: 'output' }) as Schema;
  const properties = Object.fromEntries(
    Object.entries((full.properties ?? {}) as Record<string, Schema>).map(([key, field]) => [
      key,
      typeOnly(field),
    ]),
  );
  return { type: 'object', properties };
}

const SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (!node || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key === '$schema') continue;
    if (key === 'propertyNames' && isStringKeys(value)) continue;
    if ((key === 'maximum' && value === SAFE_INTEGER) || (key === 'minimum' && value === -SAFE_INTEGER))
      continue;
    out[key] = strip(value);
  }
  return out;
}

const isStringKeys = (value: unknown) =>
  !!value &&
  typeof value === 'object' &&
  Object.keys(value).length === 1 &&
  (value as Schema).type === 'string';

/** A field's type(s) alone: `{type}` from its type, or its anyOf branches' types; no type (any
 *  value) stays `{}`. */
function typeOnly(field: Schema): Schema {
  const types = new Set<string>();
  const collect = (s: Schema) => {
    if (Array.isArray(s.type)) for (const t of s.type as string[]) types.add(t);
    else if (typeof s.type === 'string') types.add(s.type);
    else if (Array.isArray(s.anyOf)) for (const branch of s.anyOf as Schema[]) collect(branch);
    else if ('const' in s || 'enum' in s) {
      const value = 'const' in s ? s.const : (s.enum as unknown[])[0];
      types.add(value === null ? 'null' : typeof value);
    } else types.add('any');
  };
  collect(field);
  if (types.has('any')) return {};
  const list = [...types];
  return { type: list.length === 1 ? list[0] : list };
}
