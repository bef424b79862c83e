// What a caller may do: its scopes and the project names it may touch. One value per session,
// checked before every tool call (registerTools) and by the resources.
import picomatch from 'picomatch/posix.js';
import { invalidInput } from './errors.js';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Access {
  principal: string;
  scopes: readonly Scope[];
  /** The project-name patterns, for messages; undefined: every project. */
  patterns: readonly string[] | undefined;
  allows: (project: string) => boolean;
}

/** stdio and unauthenticated loopback HTTP: everything, as the configured principal. */
export const fullAccess = (principal: string): Access => ({
  principal,
  scopes: SCOPES,
  patterns: undefined,
  allows: () => true,
});

/** A token's access; its patterns were checked when it was created. */
export function tokenAccess(token: {
  principal: string;
  scopes: readonly Scope[];
  projects: readonly string[];
}) {
  const allows = compileProjectPatterns(token.projects);
  return {
    principal: token.principal,
    scopes: token.scopes,
    patterns: token.projects,
    allows,
  } satisfies Access;
}

/** Scopes from a list such as `read,write`; refuses unknown and empty ones. */
export function parseScopes(scopes: readonly string[]): Scope[] {
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length || !scopes.length) {
    throw invalidInput(
      `scopes ${unknown.length ? `'${unknown.join(', ')}' unknown` : 'empty'}: pass some of ${SCOPES.join(', ')}`,
    );
  }
  return SCOPES.filter((s) => scopes.includes(s));
}

/** One matcher over glob patterns of project names (`team-*`, `*`); refuses empty patterns. */
export function compileProjectPatterns(patterns: readonly string[]): (project: string) => boolean {
  if (!patterns.length || patterns.some((p) => !p.trim())) {
    throw invalidInput(
      `project patterns are empty: pass globs over project names, e.g. 'team-*', or '*' for all`,
    );
  }
  const matchers = patterns.map((p) => {
    try {
      return picomatch(p.trim(), { dot: true });
    } catch (err) {
      throw invalidInput(`project pattern '${p}' cannot be compiled (${(err as Error).message}): check it`);
    }
  });
  return (project) => matchers.some((m) => m(project));
}
