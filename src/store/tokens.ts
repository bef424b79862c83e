// API tokens: created (the secret is returned once and stored only as its SHA-256), listed
// without secrets, revoked, and verified on every HTTP request. Tokens are never logged.
import { createHash, randomBytes } from 'node:crypto';
import {
  compileProjectPatterns,
  compileRemotePatterns,
  compileWorkspacePatterns,
  parseScopes,
  type Scope,
} from '../access.js';
import { invalidInput, notFound } from '../errors.js';
import type { Sql } from './db/sql.js';
import { assertWorkspaceName } from './paths.js';

const PREFIX = 'stw_';
const TOKEN = /^stw_[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** last_used_at is written at most this often per token, not on every request. */
const TOUCH_EVERY_MS = 60_000;

export interface TokenInfo {
  id: string;
  principal: string;
  scopes: Scope[];
  projects: string[];
  /** Remote URL patterns it may attach; null: none. */
  remotes: string[] | null;
  /** Other principals' workspaces it may use; null: its own only. */
  workspaces: string[] | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface VerifiedToken {
  id: string;
  principal: string;
  scopes: Scope[];
  projects: string[];
  remotes: string[] | null;
  workspaces: string[] | null;
}

export type TokenCheck =
  { ok: true; token: VerifiedToken } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' };

export interface CreateTokenInput {
  principal: string;
  scopes: readonly string[];
  projects: readonly string[];
  /** Remote URL globs it may attach to projects; absent: none. */
  remotes?: readonly string[] | undefined;
  /** Workspace-name globs of other principals it may use; absent: its own only. */
  workspaces?: readonly string[] | undefined;
  /** Absent: the token does not expire. */
  expiresInSeconds?: number | undefined;
}

const ts = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;
const COLUMNS = `id, principal, scopes, projects, remotes, workspaces, ${ts('created_at')}, ${ts('expires_at')}, ${ts('revoked_at')}, ${ts('last_used_at')}`;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Checks what create would refuse, without a database: for the CLI, before it opens one. */
export function validateTokenInput(input: CreateTokenInput) {
  assertWorkspaceName(input.principal);
  const scopes = parseScopes(input.scopes);
  const projects = input.projects.map((p) => p.trim());
  compileProjectPatterns(projects);
  const remotes = input.remotes?.map((p) => p.trim());
  if (remotes) compileRemotePatterns(remotes);
  const workspaces = input.workspaces?.map((p) => p.trim());
  if (workspaces) compileWorkspacePatterns(workspaces);
  if (
    input.expiresInSeconds !== undefined &&
    !(Number.isFinite(input.expiresInSeconds) && input.expiresInSeconds > 0)
  ) {
    throw invalidInput('expiry must be in the future: pass e.g. 30d, 12h or 90m');
  }
  return { principal: input.principal, scopes, projects, remotes, workspaces };
}

export function createTokenService(sql: Sql) {
  return {
    /** A new token; the returned `token` is the only time the secret exists outside its holder. */
    async create(input: CreateTokenInput): Promise<{ token: string; info: TokenInfo }> {
      const { principal, scopes, projects, remotes, workspaces } = validateTokenInput(input);
      const token = PREFIX + randomBytes(32).toString('base64url');
      const [info] = await sql.query<TokenInfo>(
        `INSERT INTO api_tokens (principal, scopes, projects, token_hash, expires_at, remotes, workspaces)
         VALUES ($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $5) END, $6, $7)
         RETURNING ${COLUMNS}`,
        [
          principal,
          scopes,
          projects,
          hashOf(token),
          input.expiresInSeconds ?? null,
          remotes ?? null,
          workspaces ?? null,
        ],
      );
      return { token, info: info! };
    },

    /** Every token, newest first; no secrets (only hashes are stored, and those are not returned). */
    list: () => sql.query<TokenInfo>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC, id`),

    /** Revokes the token; revoking it again keeps the first revocation time. */
    async revoke(id: string): Promise<TokenInfo> {
      if (!UUID.test(id))
        throw invalidInput(`'${id}' is not a token id: take the id from stowage token list`);
      const [row] = await sql.query<TokenInfo>(
        `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
        [id],
      );
      if (!row) throw notFound(`token ${id} not found: see stowage token list`);
      return row;
    },

    /** The token's holder and rights, or why it is refused. */
    async verify(token: string): Promise<TokenCheck> {
      if (!TOKEN.test(token)) return { ok: false, reason: 'unknown' };
      const [row] = await sql.query<{
        id: string;
        principal: string;
        scopes: Scope[];
        projects: string[];
        remotes: string[] | null;
        workspaces: string[] | null;
        expired: boolean;
        revoked: boolean;
        stale: boolean;
      }>(
        `SELECT id, principal, scopes, projects, remotes, workspaces, expires_at <= now() AS expired, revoked_at IS NOT NULL AS revoked,
                (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)) AS stale
         FROM api_tokens WHERE token_hash = $1`,
        [hashOf(token), TOUCH_EVERY_MS / 1000],
      );
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.revoked) return { ok: false, reason: 'revoked' };
      if (row.expired) return { ok: false, reason: 'expired' };
      if (row.stale) {
        await sql.query(`UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, [row.id]);
      }
      const { id, principal, scopes, projects, remotes, workspaces } = row;
      return { ok: true, token: { id, principal, scopes, projects, remotes, workspaces } };
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
