// Lines of text for edit_file (pure): line endings kept as the file has them, blank lines around
// a block, whitespace squashed for tolerant matching, and new_text re-indented to the file's style.

const TAB_COLUMNS = 4;

/**
 * Re-indent new_text for the file: its first line takes the matched block's first-line
 * indentation; other lines keep their offset from it, scaled from the caller's indent step to
 * the file's (both read off the matched lines) and written in the file's tabs or spaces.
 */
export function reindent(
  newLines: readonly string[],
  oldCore: readonly string[],
  fileLines: readonly string[],
): string[] {
  const first = newLines.find((line) => line.trim() !== '');
  if (first === undefined) return newLines.map(() => '');
  const newBase = indentOf(first);
  const fileBase = indentOf(fileLines[0]!);
  const fileIndents = fileLines.filter((line) => line.trim() !== '').map(indentOf);
  const style = fileIndents.some((i) => i.startsWith('\t'))
    ? '\t'
    : fileIndents.some((i) => i !== '')
      ? ' '
      : null;
  const fileStep = indentStep(fileIndents);
  const callerStep = indentStep(oldCore.filter((line) => line.trim() !== '').map(indentOf));
  const scale = fileStep !== undefined && callerStep !== undefined ? fileStep / callerStep : 1;
  return newLines.map((line) => {
    if (line.trim() === '') return '';
    const indent = indentOf(line);
    const rest = line.slice(indent.length);
    if (indent === newBase) return fileBase + rest;
    // The file gives no indentation style to follow: keep the caller's own characters.
    if (style === null && indent.startsWith(newBase)) return fileBase + indent.slice(newBase.length) + rest;
    const cols = Math.max(0, Math.round(columns(fileBase) + (columns(indent) - columns(newBase)) * scale));
    const base = cols >= columns(fileBase) ? fileBase : '';
    const extra = cols - columns(base);
    return base + (style === '\t' ? '\t'.repeat(Math.round(extra / TAB_COLUMNS)) : ' '.repeat(extra)) + rest;
  });
}

/** The smallest positive difference between indentation widths, in columns. */
function indentStep(indents: readonly string[]): number | undefined {
  const widths = [...new Set(indents.map(columns))].sort((a, b) => a - b);
  let step: number | undefined;
  for (let i = 1; i < widths.length; i++) step = Math.min(step ?? Infinity, widths[i]! - widths[i - 1]!);
  return step;
}

/** '\r\n' when most line breaks are CRLF, else '\n'. */
export function detectEol(text: string): string {
  let crlf = 0;
  let lf = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', nl + 1)) {
    if (nl > 0 && text.charCodeAt(nl - 1) === 13) crlf++;
    else lf++;
  }
  return crlf > lf ? '\r\n' : '\n';
}

export function toLf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

export function withEol(text: string, eol: string): string {
  const lf = toLf(text);
  return eol === '\n' ? lf : lf.replace(/\n/g, eol);
}

export function keepFinalNewline(original: string, content: string, eol: string): string {
  if (content === '') return content;
  const had = original.endsWith('\n');
  const has = content.endsWith('\n');
  if (had && !has) return content + eol;
  if (!had && has) return content.replace(/\r?\n$/, '');
  return content;
}

/** Lines and the terminators between them: texts.length === terms.length + 1. */
export function splitLines(text: string): { texts: string[]; terms: string[] } {
  const texts: string[] = [];
  const terms: string[] = [];
  let at = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
    const cr = nl > at && text.charCodeAt(nl - 1) === 13;
    texts.push(text.slice(at, cr ? nl - 1 : nl));
    terms.push(cr ? '\r\n' : '\n');
    at = nl + 1;
  }
  texts.push(text.slice(at));
  return { texts, terms };
}

export function joinLines(texts: readonly string[], terms: readonly string[]): string {
  return texts.map((t, i) => t + (terms[i] ?? '')).join('');
}

export function countBlank(lines: readonly string[]): number {
  let n = 0;
  while (n < lines.length && lines[n]!.trim() === '') n++;
  return n;
}

/** Lines without leading and trailing blank ones, and how many of each were dropped. */
export function trimBlankLines(lines: readonly string[]): { lead: number; trail: number; core: string[] } {
  const lead = countBlank(lines);
  const trail = lead === lines.length ? 0 : countBlank([...lines].reverse());
  return { lead, trail, core: lines.slice(lead, lines.length - trail) };
}

export function squash(line: string): string {
  return line.trim().replace(/\s+/g, ' ');
}

function indentOf(line: string): string {
  return /^[ \t]*/.exec(line)![0];
}

function columns(indent: string): number {
  let n = 0;
  for (const ch of indent) n += ch === '\t' ? TAB_COLUMNS : 1;
  return n;
}
