// api_tokens: who a bearer is, what it may do and to which projects. Only a token's SHA-256 is
// stored, and no statement here returns it.
import type { Scope } from '../../../access.js';
import type { Queryable } from '../sql.js';

/** Who a token's bearer is and what it may do. */
export interface TokenGrant {
  id: string;
  principal: string;
  scopes: Scope[];
  projects: string[];
  /** Remote URL patterns it may attach; null: none. */
  remotes: string[] | null;
  /** Other principals' workspaces it may use; null: its own only. */
  workspaces: string[] | null;
}

export interface TokenInfo extends TokenGrant {
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** A token found by its hash: its rights, and whether it may be used now. */
export interface TokenLookup extends TokenGrant {
  expired: boolean;
  revoked: boolean;
  /** last_used_at is older than the touch interval (or unset). */
  stale: boolean;
}

const ts = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;
const COLUMNS = `id, principal, scopes, projects, remotes, workspaces, ${ts('created_at')}, ${ts('expires_at')}, ${ts('revoked_at')}, ${ts('last_used_at')}`;

export async function insertToken(
  db: Queryable,
  token: {
    principal: string;
    scopes: readonly Scope[];
    projects: readonly string[];
    hash: string;
    /** null: it does not expire. */
    expiresInSeconds: number | null;
    remotes: readonly string[] | null;
    workspaces: readonly string[] | null;
  },
): Promise<TokenInfo> {
  const [info] = await db.query<TokenInfo>(
    `INSERT INTO api_tokens (principal, scopes, projects, token_hash, expires_at, remotes, workspaces)
         VALUES ($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $5) END, $6, $7)
         RETURNING ${COLUMNS}`,
    [
      token.principal,
      token.scopes,
      token.projects,
      token.hash,
      token.expiresInSeconds,
      token.remotes,
      token.workspaces,
    ],
  );
  return info!;
}

/** Every token, newest first. */
export const listTokens = (db: Queryable) =>
  db.query<TokenInfo>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC, id`);

/** Revokes the token, keeping the first revocation time; undefined when there is none. */
export async function revokeToken(db: Queryable, id: string): Promise<TokenInfo | undefined> {
  const [row] = await db.query<TokenInfo>(
    `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return row;
}

/** The token whose SHA-256 is `hash`; `stale` when it was last used over `touchEverySeconds` ago. */
export async function findToken(
  db: Queryable,
  hash: string,
  touchEverySeconds: number,
): Promise<TokenLookup | undefined> {
  const [row] = await db.query<TokenLookup>(
    `SELECT id, principal, scopes, projects, remotes, workspaces, expires_at <= now() AS expired, revoked_at IS NOT NULL AS revoked,
                (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)) AS stale
         FROM api_tokens WHERE token_hash = $1`,
    [hash, touchEverySeconds],
  );
  return row;
}

export async function touchToken(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, [id]);
}
