// Secret detection over file texts (pure, so it runs on the calling thread or a worker alike),
// with gitleaks' ruleset: rules/gitleaks.toml, vendored as data from github.com/gitleaks/gitleaks
// (config/gitleaks.toml, MIT: rules/gitleaks.LICENSE). A finding names the line and the rule id,
// never the text matched.
//
// Decisions:
// - Regexes run in re2js (linear time in the text, as in content-search.ts); gitleaks' rules are
//   written for Go's RE2, so nearly all compile. Those that do not are skipped and counted.
// - A rule runs only on texts holding one of its keywords (lowercased, as gitleaks does), which
//   leaves most texts with no regex run at all; one pass finds every keyword a text holds
//   (keyword-set.ts). Its regexes are compiled when it first runs: compiling all of them took
//   360 ms and 31 MB, paid by the first write after a start, while ordinary source files wake
//   few rules or none.
// - A woken rule first asks whether its regex matches anywhere, which re2js answers with its DFA;
//   only then does it walk the matches for their groups, which takes its NFA, 25–50 times slower
//   (gitleaks' generic-api-key wakes on `key` or `token` in most source files: 4 ms over 4 KiB
//   of code walked, 0.1–0.2 ms asked). The findings are the same.
// - What gitleaks checks of a match is kept: the secret group (secretGroup, else the first
//   non-empty group, else the match), its Shannon entropy, and the global and per-rule
//   allowlists (regexes against secret, match or line; stopwords; paths; AND/OR). Rules that
//   match on a path alone are skipped: Stowage warns about content.
import { readFileSync } from 'node:fs';
import { RE2JS } from 're2js';
import { parse } from 'smol-toml';
import { keywordSet, type KeywordSet } from './keyword-set.js';

export interface SecretFinding {
  /** 1-based line where the match starts. */
  line: number;
  /** The gitleaks rule id, e.g. `aws-access-token`. */
  rule: string;
}

interface Allowlist {
  condition: 'AND' | 'OR';
  target: 'secret' | 'match' | 'line';
  regexes: RE2JS[];
  stopwords: string[];
  paths: RE2JS[];
}

/** What a rule matches with, compiled when the rule first runs. */
interface Compiled {
  regex: RE2JS;
  path: RE2JS | undefined;
  allowlists: Allowlist[];
}

interface Rule {
  id: string;
  /** Indexes into SecretRules.keywords; none: the rule runs on every text. */
  keywords: number[];
  entropy: number;
  secretGroup: number;
  /** Compiles on first call; undefined when RE2 cannot compile the rule (it is then skipped). */
  compiled(): Compiled | undefined;
}

export interface SecretRules {
  rules: Rule[];
  /** Rules that match on a path alone, and rules RE2 could not compile once they ran: skipped. */
  skipped: string[];
  global: Allowlist;
  /** Every rule's keywords, lowercased, each once. */
  keywords: KeywordSet;
}

/** At most this many findings per text: enough to name the file and fix it. */
const MAX_FINDINGS = 20;

const GENERIC = 'generic-api-key';

const RULES_FILE = new URL('../../rules/gitleaks.toml', import.meta.url);

let loaded: SecretRules | undefined;

/** The vendored ruleset, parsed and compiled once per thread. */
export function secretRules(): SecretRules {
  loaded ??= compileRules(readFileSync(RULES_FILE, 'utf8'));
  return loaded;
}

type TomlTable = Record<string, unknown>;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s) => typeof s === 'string') : []);

export function compileRules(toml: string): SecretRules {
  const doc = parse(toml) as TomlTable;
  const skipped: string[] = [];
  const compile = (pattern: string): RE2JS => RE2JS.compile(pattern);
  const allowlist = (t: TomlTable): Allowlist => ({
    condition: t.condition === 'AND' ? 'AND' : 'OR',
    target: t.regexTarget === 'match' || t.regexTarget === 'line' ? t.regexTarget : 'secret',
    regexes: strings(t.regexes).map(compile),
    stopwords: strings(t.stopwords).map((s) => s.toLowerCase()),
    paths: strings(t.paths).map(compile),
  });
  const rules: Rule[] = [];
  const keywords = new Map<string, number>();
  const indexOf = (keyword: string) => {
    if (!keywords.has(keyword)) keywords.set(keyword, keywords.size);
    return keywords.get(keyword)!;
  };
  for (const r of (doc.rules ?? []) as TomlTable[]) {
    const id = String(r.id);
    if (typeof r.regex !== 'string') {
      skipped.push(id);
      continue;
    }
    const regex = r.regex;
    let compiled: Compiled | null | undefined; // null: tried, and RE2 refused it
    rules.push({
      id,
      keywords: strings(r.keywords).map((k) => indexOf(k.toLowerCase())),
      entropy: typeof r.entropy === 'number' ? r.entropy : 0,
      secretGroup: typeof r.secretGroup === 'number' ? r.secretGroup : 0,
      compiled() {
        if (compiled === undefined) {
          try {
            compiled = {
              regex: compile(regex),
              path: typeof r.path === 'string' ? compile(r.path) : undefined,
              allowlists: ((r.allowlists ?? []) as TomlTable[]).map(allowlist),
            };
          } catch {
            compiled = null;
            skipped.push(id);
          }
        }
        return compiled ?? undefined;
      },
    });
  }
  return {
    rules,
    skipped,
    global: allowlist((doc.allowlist ?? {}) as TomlTable),
    keywords: keywordSet([...keywords.keys()]),
  };
}

/** The secrets `text` (the content of `path`) holds, by line and rule, in order of position. */
export function scanSecrets(path: string, text: string, rules: SecretRules = secretRules()): SecretFinding[] {
  if (rules.global.paths.some((p) => p.test(path))) return [];
  const held = rules.keywords.find(text.toLowerCase());
  const found: { at: number; rule: string }[] = [];
  for (const rule of rules.rules) {
    if (rule.keywords.length && !rule.keywords.some((k) => held[k])) continue;
    const compiled = rule.compiled();
    if (!compiled || (compiled.path && !compiled.path.test(path))) continue;
    if (!compiled.regex.test(text)) continue;
    const m = compiled.regex.matcher(text);
    let hits = 0;
    while (m.find() && hits < MAX_FINDINGS) {
      const match = m.group(0) ?? '';
      if (!match) continue;
      const secret = secretOf(m, rule.secretGroup) ?? match;
      if (rule.entropy && shannonEntropy(secret) < rule.entropy) continue;
      const line = () => lineAround(text, m.start(0), m.end(0));
      if (allowed(rules.global, path, secret, match, line)) continue;
      if (compiled.allowlists.some((a) => allowed(a, path, secret, match, line))) continue;
      found.push({ at: m.start(0), rule: rule.id });
      hits++;
    }
  }
  found.sort((a, b) => a.at - b.at);
  const all = found.map((f) => ({ line: lineAt(text, f.at), rule: f.rule }));
  // As in gitleaks, the catch-all rule gives way to a specific one on the same line.
  const specific = new Set(all.filter((f) => f.rule !== GENERIC).map((f) => f.line));
  return all.filter((f) => f.rule !== GENERIC || !specific.has(f.line)).slice(0, MAX_FINDINGS);
}

function secretOf(m: ReturnType<RE2JS['matcher']>, group: number): string | undefined {
  if (group) return m.group(group) ?? undefined;
  for (let g = 1; g <= m.groupCount(); g++) {
    const s = m.group(g);
    if (s) return s;
  }
  return undefined;
}

function allowed(a: Allowlist, path: string, secret: string, match: string, line: () => string): boolean {
  const checks: boolean[] = [];
  if (a.regexes.length) {
    const target = a.target === 'secret' ? secret : a.target === 'match' ? match : line();
    checks.push(a.regexes.some((r) => r.test(target)));
  }
  if (a.stopwords.length) {
    const s = secret.toLowerCase();
    checks.push(a.stopwords.some((w) => s.includes(w)));
  }
  if (a.paths.length) checks.push(a.paths.some((p) => p.test(path)));
  if (!checks.length) return false;
  return a.condition === 'AND' ? checks.every(Boolean) : checks.some(Boolean);
}

export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let nl = text.indexOf('\n'); nl !== -1 && nl < offset; nl = text.indexOf('\n', nl + 1)) n++;
  return n;
}

function lineAround(text: string, start: number, end: number): string {
  const from = text.lastIndexOf('\n', start - 1) + 1;
  const to = text.indexOf('\n', end);
  return text.slice(from, to === -1 ? text.length : to);
}
