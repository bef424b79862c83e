// What a caller may do: its scopes, the projects it may touch, the remotes it may attach and the
// workspaces of others it may use. Computed from the bearer of each request (HTTP) or once for
// the one user of stdio and tokenless loopback; checked before every tool call (registerTools)
// and by the resources. Ownership of jobs and workspaces is checked in store/ownership.ts.
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
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
  /** One user (stdio, tokenless loopback): every project, job, workspace and remote is theirs. */
  unrestricted: boolean;
  /** Admin over every project (`*`): cleanup and storage_stats act on everything. */
  global: boolean;
  /** The remote URL patterns, for messages; undefined with `unrestricted` (any), else [] (none). */
  remotePatterns: readonly string[] | undefined;
  allowsRemote: (url: string) => boolean;
  /** Workspaces of other principals this caller may use (a token's --workspaces). */
  sharesWorkspace: (workspace: string) => boolean;
}

/** The rights of one request: its own bearer's when it carries one (HTTP), else its session's. */
export type AccessOf = (auth: AuthInfo | undefined) => Access;

/** What a token says of its holder; `remotes` and `workspaces` null: none beyond its own. */
export interface TokenRights {
  principal: string;
  scopes: readonly Scope[];
  projects: readonly string[];
  remotes?: readonly string[] | null | undefined;
  workspaces?: readonly string[] | null | undefined;
}

/** stdio and unauthenticated loopback HTTP: everything, as the configured principal. */
export const fullAccess = (principal: string): Access => ({
  principal,
  scopes: SCOPES,
  patterns: undefined,
  allows: () => true,
  unrestricted: true,
  global: true,
  remotePatterns: undefined,
  allowsRemote: () => true,
  sharesWorkspace: () => true,
});

/** A token's access; its patterns were checked when it was created. */
export function tokenAccess(token: TokenRights): Access {
  const remotes = token.remotes ?? [];
  const allowsRemote = remotes.length ? compileRemotePatterns(remotes) : () => false;
  const workspaces = token.workspaces ?? [];
  return {
    principal: token.principal,
    scopes: token.scopes,
    patterns: token.projects,
    allows: compileProjectPatterns(token.projects),
    unrestricted: false,
    global: token.scopes.includes('admin') && token.projects.some((p) => p.trim() === '*'),
    remotePatterns: remotes,
    allowsRemote,
    sharesWorkspace: workspaces.length ? compilePatterns(workspaces, 'workspace') : () => false,
  };
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
  return compilePatterns(patterns, 'project');
}

/** One matcher over workspace-name globs (`team-*`); refuses empty patterns. */
export function compileWorkspacePatterns(patterns: readonly string[]): (workspace: string) => boolean {
  if (!patterns.length || patterns.some((p) => !p.trim())) {
    throw invalidInput(`workspace patterns are empty: pass globs over workspace names, e.g. 'team-*'`);
  }
  return compilePatterns(patterns, 'workspace');
}

/**
 * One matcher over remote URL globs (`https://github.com/acme/*`). Patterns must name a scheme
 * and host, so that `*` cannot stand for every host; URLs are compared in their normalised form
 * (lower-case host, no `..` segments), so `https://github.com/acme/x/../../evil/r` is not acme's.
 */
export function compileRemotePatterns(patterns: readonly string[]): (url: string) => boolean {
  const bad = patterns.find((p) => !/^[a-z][a-z0-9+.-]*:\/\/[^/*?[\]{}]+\/\S*$/i.test(p.trim()));
  if (!patterns.length || bad !== undefined) {
    throw invalidInput(
      `remote pattern '${bad ?? ''}' must be a URL glob with a scheme and an exact host: e.g. 'https://github.com/acme/*'`,
    );
  }
  // Scheme and host compare case-insensitively, as in a normalised URL; the path as written.
  const matches = compilePatterns(
    patterns.map((p) => p.trim().replace(/^[^/]+:\/\/[^/]+/, (origin) => origin.toLowerCase())),
    'remote',
  );
  return (url) => {
    try {
      return matches(normalizeRemoteUrl(url));
    } catch {
      return false;
    }
  };
}

/** A remote URL as compared: WHATWG-normalised (lower-case scheme and host, `..` resolved). */
export const normalizeRemoteUrl = (url: string) => new URL(url).href;

function compilePatterns(patterns: readonly string[], what: string): (name: string) => boolean {
  const matchers = patterns.map((p) => {
    try {
      return picomatch(p.trim(), { dot: true });
    } catch (err) {
      throw invalidInput(`${what} pattern '${p}' cannot be compiled (${(err as Error).message}): check it`);
    }
  });
  return (name) => matchers.some((m) => m(name));
}
