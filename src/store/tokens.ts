// API tokens: created (the secret is returned once and stored only as its SHA-256), listed
// without secrets, revoked, and verified on every HTTP request. Tokens are never logged.
import { createHash, randomBytes } from 'node:crypto';
import {
  compileProjectPatterns,
  compileRemotePatterns,
  compileWorkspacePatterns,
  parseScopes,
} from '../access.js';
import { invalidInput, notFound } from '../errors.js';
import {
  findToken,
  insertToken,
  listTokens,
  revokeToken,
  touchToken,
  type TokenGrant,
  type TokenInfo,
} from './db/queries/index.js';
import type { Sql } from './db/sql.js';
import { assertWorkspaceName } from '../paths.js';

export type { TokenInfo };

const PREFIX = 'stw_';
const TOKEN = /^stw_[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** last_used_at is written at most this often per token, not on every request. */
const TOUCH_EVERY_MS = 60_000;

/** The holder and rights of a token that passed verification. */
export type VerifiedToken = TokenGrant;

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
      const info = await insertToken(sql, {
        principal,
        scopes,
        projects,
        hash: hashOf(token),
        expiresInSeconds: input.expiresInSeconds ?? null,
        remotes: remotes ?? null,
        workspaces: workspaces ?? null,
      });
      return { token, info };
    },

    /** Every token, newest first; no secrets (only hashes are stored, and those are not returned). */
    list: () => listTokens(sql),

    /** Revokes the token; revoking it again keeps the first revocation time. */
    async revoke(id: string): Promise<TokenInfo> {
      if (!UUID.test(id))
        throw invalidInput(`'${id}' is not a token id: take the id from stowage token list`);
      const row = await revokeToken(sql, id);
      if (!row) throw notFound(`token ${id} not found: see stowage token list`);
      return row;
    },

    /** The token's holder and rights, or why it is refused. */
    async verify(token: string): Promise<TokenCheck> {
      if (!TOKEN.test(token)) return { ok: false, reason: 'unknown' };
      const row = await findToken(sql, hashOf(token), TOUCH_EVERY_MS / 1000);
      if (!row) return { ok: false, reason: 'unknown' };
      if (row.revoked) return { ok: false, reason: 'revoked' };
      if (row.expired) return { ok: false, reason: 'expired' };
      if (row.stale) await touchToken(sql, row.id);
      const { id, principal, scopes, projects, remotes, workspaces } = row;
      return { ok: true, token: { id, principal, scopes, projects, remotes, workspaces } };
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
