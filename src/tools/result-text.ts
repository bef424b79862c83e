// The text content of a tool result: the summary line, then everything its structuredContent
// carries. Some clients forward only `content` to their model (Gemini CLI), others only
// `structuredContent` (Claude Code, Codex: they drop the text when both are present, so it costs
// them no tokens); either way the model sees the whole result.
//
// Decisions:
// - Text goes as it is, not escaped inside JSON: a string under a `content` key (file content,
//   even a single line, so its quotes and backslashes stay readable) and any string with a line
//   break (diffs, commit messages) is taken out of the JSON and shown after it as a block: a
//   header line naming where it sits (`--- files[0].content (src/a.ts) ---`, with the path of the
//   object that holds it when it has one), then the text.
// - A block is exact: everything after its header line up to the line break before the next
//   header; the last block runs to the end of the text, so a lone file ends the result as it ends.
// - Only object properties are taken out; a string in a list stays in the JSON, so indices hold.
// - The rest is compact JSON on one line, except that each element of a top-level list gets a
//   line of its own (still valid JSON), so long listings read line by line.

interface Block {
  at: string;
  path: string | undefined;
  text: string;
}

export function resultText(summary: string, structured: Record<string, unknown>): string {
  const blocks: Block[] = [];
  const rest = liftObject(structured, '', blocks);
  const lines = [summary];
  if (Object.keys(rest).length) lines.push(topLevelJson(rest));
  for (const b of blocks) lines.push(`--- ${b.at}${b.path === undefined ? '' : ` (${b.path})`} ---`, b.text);
  return lines.join('\n');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const shownAsText = (key: string, value: unknown): value is string =>
  typeof value === 'string' && (key === 'content' || /[\r\n]/.test(value));

/** `value` without its text properties (at any depth), which are appended to `blocks` in order. */
function liftObject(value: Record<string, unknown>, at: string, blocks: Block[]): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const here = at ? `${at}.${key}` : key;
    if (shownAsText(key, v)) {
      blocks.push({ at: here, path: typeof value.path === 'string' ? value.path : undefined, text: v });
    } else {
      kept[key] = lift(v, here, blocks);
    }
  }
  return kept;
}

function lift(value: unknown, at: string, blocks: Block[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => lift(v, `${at}[${i}]`, blocks));
  if (isPlainObject(value)) return liftObject(value, at, blocks);
  return value;
}

const json = (value: unknown) => JSON.stringify(value) ?? 'null';

function topLevelJson(value: Record<string, unknown>): string {
  const fields = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([key, v]) => {
      const shown = Array.isArray(v) && v.length ? `[\n${v.map(json).join(',\n')}\n]` : json(v);
      return `${JSON.stringify(key)}:${shown}`;
    });
  return `{${fields.join(',')}}`;
}
