// OAuth 2.1 resource server (optional): verifies JWT access tokens of one issuer against its keys
// (jose, remote JWKS), for this server's resource URL (RFC 8707 audience), maps their scopes and
// projects claim to a VerifiedToken, and describes the resource to clients (RFC 9728). An access
// token is checked here and dropped: it is never logged, stored, or passed on (to git, GitHub or tools).
import { createHash } from 'node:crypto';
import { discoverAuthorizationServerMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { OAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import {
  compileProjectPatterns,
  compileRemotePatterns,
  compileWorkspacePatterns,
  SCOPES,
  type Scope,
} from '../access.js';
import type { OAuthConfig } from '../config.js';
import { StowageError } from '../errors.js';
import { isValidWorkspaceName } from '../paths.js';
import type { TokenCheck, VerifiedToken } from '../store/tokens.js';

/** A bearer token's holder, or why it is refused: the RFC 6750 error (default invalid_token) and fix. */
export type BearerCheck =
  | { ok: true; token: VerifiedToken }
  | { ok: false; reason: string; error?: 'invalid_token' | 'insufficient_scope'; fix?: string };

export interface OAuthResource {
  issuer: string;
  /** A JWT access token's holder and rights; throws `unavailable` when the keys cannot be fetched. */
  verify(token: string): Promise<BearerCheck>;
  /** Told this server's /mcp URL once it listens: the resource, unless one is configured. */
  listening(mcpUrl: string): void;
  /** The RFC 9728 document, and where it is served: with and without the resource's path. */
  metadata(): OAuthProtectedResourceMetadata;
  metadataUrl(): string;
  metadataPaths: readonly string[];
}

export interface OAuthOptions extends OAuthConfig {
  /** How soon a token naming an unknown key may refetch the key set; default 30 s (jose's). */
  jwksCooldownMs?: number | undefined;
}

/** Asymmetric algorithms only: a shared-secret (HS256) or unsigned (`none`) token is refused. */
const ALGORITHMS = [
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'],
  ...['EdDSA', 'Ed25519'],
];
const CLOCK_TOLERANCE_S = 30;
/** A JWS in compact form; API tokens (`stw_…`) have no dots. */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const METADATA_PATH = '/.well-known/oauth-protected-resource';
/** Remote URL globs the token may attach, and others' workspaces it may use (as API tokens'
 *  --remotes and --workspaces); without them, none. */
const REMOTES_CLAIM = 'stowage_remotes';
const WORKSPACES_CLAIM = 'stowage_workspaces';

/** The resource server of `options.issuer`; without a JWKS URL, finds it in the issuer's metadata. */
export async function createOAuthResource(options: OAuthOptions): Promise<OAuthResource> {
  const { issuer, scopeClaim, projectsClaim } = options;
  const jwksUrl = options.jwksUrl ?? (await discoverJwksUrl(issuer));
  const jwks = createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: options.jwksCooldownMs });
  let resource = options.audience;
  const resourceOf = () => {
    if (!resource) throw new Error('the OAuth resource URL is known only once the server listens');
    return resource;
  };
  const refuse = (reason: string): BearerCheck => ({
    ok: false,
    reason,
    error: 'invalid_token',
    fix: `get a new access token from ${issuer}`,
  });

  const metadataUrl = () => getOAuthProtectedResourceMetadataUrl(new URL(resourceOf()));
  // A configured resource may sit below a proxy's path prefix; the default one is <origin>/mcp.
  const ownPath = resource
    ? new URL(getOAuthProtectedResourceMetadataUrl(new URL(resource))).pathname
    : `${METADATA_PATH}/mcp`;
  return {
    issuer,
    listening(mcpUrl) {
      resource ??= mcpUrl;
    },
    metadata: () => ({
      resource: resourceOf(),
      authorization_servers: [issuer],
      scopes_supported: [...SCOPES],
      bearer_methods_supported: ['header'],
      resource_name: 'Stowage',
    }),
    metadataUrl,
    // Most specific first: the SDK's handler also answers for paths below the one it is mounted at.
    metadataPaths: [...new Set([ownPath, `${METADATA_PATH}/mcp`, METADATA_PATH])],

    async verify(token) {
      const audience = resourceOf();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer,
          // The same resource with or without a trailing slash, as the SDK compares them.
          audience: [audience.replace(/\/$/, ''), audience.replace(/\/?$/, '/')],
          algorithms: ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (err) {
        const reason = refusalOf(err, audience);
        if (reason) return refuse(reason);
        // Not the token's fault: the key set could not be fetched or read. The error carries no token.
        throw new StowageError(
          'unavailable',
          `the keys of ${issuer} (${jwksUrl}) cannot be fetched: ${(err as Error).message}`,
        );
      }
      const sub = payload.sub;
      if (typeof sub !== 'string' || !sub) return refuse('without a subject (sub)');
      const scopes = scopesOf(payload, scopeClaim);
      if (!scopes.length) {
        return {
          ok: false,
          error: 'insufficient_scope',
          reason: `without a Stowage scope in ${scopeClaim ?? 'scope or scp'}`,
          fix: `ask ${issuer} for a token with the read, write or admin scope`,
        };
      }
      const projects = payload[projectsClaim] === undefined ? ['*'] : patternsOf(payload[projectsClaim]);
      if (!projects || !valid(compileProjectPatterns, projects))
        return refuse(`carrying a ${projectsClaim} claim that is not a list of project patterns`);
      const remotes = patternsOf(payload[REMOTES_CLAIM]);
      if (remotes === undefined || (remotes && !valid(compileRemotePatterns, remotes)))
        return refuse(`carrying a ${REMOTES_CLAIM} claim that is not a list of remote URL patterns`);
      const workspaces = patternsOf(payload[WORKSPACES_CLAIM]);
      if (workspaces === undefined || (workspaces && !valid(compileWorkspacePatterns, workspaces)))
        return refuse(`carrying a ${WORKSPACES_CLAIM} claim that is not a list of workspace patterns`);
      // Bound to the subject, not the token string: a refreshed token keeps its session. Its
      // rights are those of each request's own token.
      const id = `oauth:${issuer}:${sub}`;
      const principal = principalOf(sub);
      return { ok: true, token: { id, principal, scopes, projects, remotes, workspaces } };
    },
  };
}

/** JWT access tokens to the OAuth resource server; anything else to the API tokens. */
export function bearerVerifier(
  oauth: Pick<OAuthResource, 'verify'>,
  apiTokens: { verify(token: string): Promise<TokenCheck> },
): { verify(token: string): Promise<BearerCheck> } {
  return { verify: (token) => (COMPACT_JWS.test(token) ? oauth.verify(token) : apiTokens.verify(token)) };
}

/** `jwks_uri` from the issuer's RFC 8414 or OpenID Connect metadata, whose issuer must be this one. */
async function discoverJwksUrl(issuer: string): Promise<string> {
  const unset = 'set STOWAGE_OAUTH_JWKS_URL, or check STOWAGE_OAUTH_ISSUER';
  let metadata: Awaited<ReturnType<typeof discoverAuthorizationServerMetadata>>;
  try {
    metadata = await discoverAuthorizationServerMetadata(issuer);
  } catch (err) {
    throw new StowageError(
      'unavailable',
      `the metadata of ${issuer} cannot be read (${(err as Error).message}): ${unset}`,
    );
  }
  if (!metadata) {
    throw new StowageError('unavailable', `${issuer} publishes no authorization server metadata: ${unset}`);
  }
  if (metadata.issuer !== issuer) {
    throw new StowageError(
      'unavailable',
      `the metadata of ${issuer} names the issuer ${metadata.issuer}: set STOWAGE_OAUTH_ISSUER to exactly that`,
    );
  }
  if (typeof metadata.jwks_uri !== 'string') {
    throw new StowageError('unavailable', `the metadata of ${issuer} has no jwks_uri: ${unset}`);
  }
  return metadata.jwks_uri;
}

/** Why a token is refused, for error_description (no quotes); undefined: not the token's fault. */
function refusalOf(err: unknown, audience: string): string | undefined {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return `not for this server: its aud must include ${audience}`;
    if (err.claim === 'iss') return 'from another issuer';
    if (err.claim === 'nbf') return 'not yet valid';
    return err.reason === 'missing' ? `without the ${err.claim} claim` : `invalid in its ${err.claim} claim`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'signed with an algorithm this server refuses';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'not validly signed';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return "signed by a key the issuer's key set does not hold";
  }
  if (
    err instanceof errors.JWSInvalid ||
    err instanceof errors.JWTInvalid ||
    err instanceof errors.JOSENotSupported
  ) {
    return 'not a valid JWT';
  }
  return undefined;
}

/** Stowage scopes named `read`, `write`, `admin`, or the same with a `stowage:` prefix. */
function scopesOf(payload: JWTPayload, claim: string | undefined): Scope[] {
  const raw = claim ? payload[claim] : (payload.scope ?? payload.scp);
  const names =
    typeof raw === 'string'
      ? raw.split(' ')
      : Array.isArray(raw)
        ? raw.filter((s) => typeof s === 'string')
        : [];
  return SCOPES.filter((s) => names.includes(s) || names.includes(`stowage:${s}`));
}

/** Patterns from an array or a comma/space-separated string; null: no claim; undefined: malformed. */
function patternsOf(raw: unknown): string[] | null | undefined {
  if (raw === undefined) return null;
  if (typeof raw === 'string') return raw.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(raw) && raw.every((p) => typeof p === 'string') ? raw : undefined;
}

const valid = (compile: (patterns: readonly string[]) => unknown, patterns: readonly string[]) => {
  try {
    compile(patterns);
    return true;
  } catch {
    return false;
  }
};

/**
 * The subject as principal (its default workspace), one-to-one. A subject that cannot name a
 * workspace (`auth0|abc`) keeps its valid characters and gains a hash of itself. A valid subject
 * that looks like such a result (`auth0-abc-c5d09a7716`) gains one too, so no subject can take
 * another's principal.
 */
export function principalOf(sub: string): string {
  if (isValidWorkspaceName(sub) && !HASHED.test(sub)) return sub;
  const readable = sub
    .replace(/[^A-Za-z0-9._@-]+/g, '-')
    .replace(/^\.+/, '')
    .slice(0, 53);
  return `${readable}-${createHash('sha256').update(sub).digest('hex').slice(0, 10)}`;
}

const HASHED = /-[0-9a-f]{10}$/;
