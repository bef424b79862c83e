// Which branch names Stowage hands to git: a project's remote branch and commit_task's branch.
//
// Decisions:
// - git's own rules (`git check-ref-format --branch`, see git-check-ref-format(1)), written out
//   here so a name is refused before anything is fetched or pushed, not by git half-way.
// - Stricter than git in three ways: a name may not be `@` (git reads it as HEAD), may not hold
//   Unicode control or format characters (a bidi override makes one branch read as another), and
//   is at most 200 characters.
// - A name that is fine for git but odd (`refs/heads/x`, `x/HEAD`) is allowed: git makes it a
//   plain branch under refs/heads/.
import { invalidInput } from '../errors.js';

/** Why `name` is not a branch name git and Stowage accept, or undefined when it is one. */
export function branchNameProblem(name: string): string | undefined {
  if (!name) return 'is empty';
  if (name.length > 200) return 'is longer than 200 characters';
  if (name.startsWith('-')) return "starts with '-'";
  if (name === 'HEAD' || name === '@') return 'names HEAD';
  // git's bytes: ASCII control characters and DEL; Stowage's: every Unicode control or format character.
  if (/[\p{Cc}\p{Cf}]/u.test(name)) return 'holds a control or format character';
  const bad = /[ ~^:?*[\\]/.exec(name);
  if (bad) return `holds '${bad[0]}'`;
  if (name.includes('..')) return "holds '..'";
  if (name.includes('@{')) return "holds '@{'";
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
    return "starts or ends with '/', or holds '//'";
  }
  if (name.endsWith('.')) return "ends with '.'";
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return "has a part starting with '.'";
    if (part.endsWith('.lock')) return "has a part ending with '.lock'";
  }
  return undefined;
}

/** Throws invalid_input naming the problem with `name` and `fix`, unless it is a good branch name. */
export function checkBranchName(name: string, what: string, fix: string): void {
  const problem = branchNameProblem(name);
  if (problem) throw invalidInput(`${what} ${quoted(name.slice(0, 100))} ${problem}: ${fix}`);
}

/** `name` in double quotes, a control or format character shown as its \u escape, not as itself. */
const quoted = (name: string) =>
  `"${name.replace(/["\\]/g, '\\$&').replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)}"`;
