// The configuration schema: the only reader of process.env. A bad value stops start-up with a
// message naming the variable and what it accepts.
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseCredentials, type GitCredential } from './git/credentials.js';
import { parseAllowedHosts } from './git/remote-guard.js';

const MiB = 1024 * 1024;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** A whole number of at least `min`, the message saying so whatever is wrong with the value. */
const count = (what: string, min: number, fallback: number) => {
  const error = `must be a whole number of ${what}, at least ${min}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).default(fallback);
};
/** `a, b,,c` → ['a', 'b', 'c']. */
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const optionalText = z
  .string()
  .trim()
  .transform((v) => v || undefined)
  .optional();

/** The values of STOWAGE_AUTH; `oauth` is chosen by setting STOWAGE_OAUTH_ISSUER instead. */
export const AUTH_MODES = ['none', 'tokens'] as const;
export type AuthMode = (typeof AUTH_MODES)[number] | 'oauth';

export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

/**
 * The HTTP auth mode: `oauth` with an issuer (API tokens are accepted too), else STOWAGE_AUTH,
 * else `tokens` beyond loopback and `none` on it.
 */
export const authMode = (http: Config['http']): AuthMode =>
  http.oauth ? 'oauth' : (http.auth ?? (LOOPBACK_HOSTS.includes(http.host) ? 'none' : 'tokens'));

export const TOOLSETS = ['files', 'changes', 'jobs', 'admin'] as const;
export type Toolset = (typeof TOOLSETS)[number];

/** What each toolset needs to be usable: committing, jobs and administration all act on
 *  projects and files, which only `files` can create, write, read and list. */
const TOOLSET_NEEDS: Record<Toolset, readonly Toolset[]> = {
  files: [],
  changes: ['files'],
  jobs: ['files'],
  admin: ['files'],
};

/** The chosen toolsets with what they need, in TOOLSETS order. */
export const withNeeds = (chosen: readonly Toolset[]): Toolset[] =>
  TOOLSETS.filter((t) => chosen.includes(t) || chosen.some((c) => TOOLSET_NEEDS[c].includes(t)));

const envSchema = z.object({
  STOWAGE_HOME: z.string().default('.stowage'),
  DATABASE_URL: optionalText,
  S3_BUCKET: optionalText,
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_PREFIX: z.string().default('blobs/'),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY_ID: optionalText,
  S3_SECRET_ACCESS_KEY: optionalText,
  S3_CHECKSUM: z.enum(['WHEN_REQUIRED', 'WHEN_SUPPORTED']).optional(),
  CACHE_MAX_BYTES: bytes(64 * MiB),
  MAX_FILE_BYTES: bytes(10 * MiB),
  MAX_PROJECT_BYTES: bytes(100 * MiB),
  MAX_BATCH_FILES: z.coerce.number().int().min(1).max(10_000).default(200),
  INLINE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .max(MiB)
    .default(64 * 1024),
  // A default batch_read stays whole in Codex (about 48,000 characters of a tool result, head and
  // tail kept) and inline in Claude Code (results over about 50,000 go to a file).
  RESPONSE_MAX_CHARS: z.coerce.number().int().min(1000).default(40_000),
  MAX_OLD_TEXT_CHARS: z.coerce.number().int().min(1).default(500_000),
  CPU_TIME_LIMIT_MS: z.coerce.number().int().min(1).default(5000),
  WRITE_GROUP_COMMIT: bool.default(true),
  STOWAGE_PRINCIPAL: optionalText,
  STOWAGE_TOOLSETS: commaList.pipe(z.array(z.enum(TOOLSETS))).optional(),
  STOWAGE_READ_ONLY: bool.default(false),
  STOWAGE_HOST: z.string().default('127.0.0.1'),
  STOWAGE_AUTH: z.enum(AUTH_MODES).optional(),
  STOWAGE_PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  STOWAGE_ALLOWED_HOSTS: commaList.optional(),
  STOWAGE_STATELESS: bool.default(false),
  STOWAGE_JSON_RESPONSES: bool.default(false),
  SESSION_IDLE_MINUTES: z.coerce.number().positive().default(30),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  RATE_LIMIT_BURST: z.coerce.number().int().positive().optional(),
  RATE_LIMIT_PER_ADDRESS_PER_MINUTE: count('requests per minute', 0, 60),
  MAX_SESSIONS: count('sessions', 1, 1000),
  MAX_SESSIONS_PER_TOKEN: count('sessions', 1, 50),
  GITHUB_TOKEN: optionalText,
  GITHUB_API_URL: z.url().default('https://api.github.com'),
  GIT_PUSH_STRATEGY: z.enum(['clone', 'api']).default('clone'),
  GIT_ALLOWED_PROTOCOLS: z
    .string()
    .default('https')
    .pipe(commaList)
    .pipe(z.array(z.enum(['https', 'http', 'ssh', 'file', 'git'])).min(1)),
  GIT_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
  // host=token entries; the message never echoes an entry (it may hold a token).
  GIT_CREDENTIALS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parseCredentials(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  GIT_ALLOWED_HOSTS: z
    .string()
    .default('')
    .pipe(commaList)
    .superRefine((hosts, ctx) => {
      try {
        parseAllowedHosts(hosts);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  COMMIT_AUTHOR_NAME: optionalText,
  COMMIT_AUTHOR_EMAIL: z.string().default('{principal}@users.stowage.local'),
  JOB_TTL_HOURS: z.coerce.number().positive().default(48),
  MAX_TOTAL_BYTES: z.coerce.number().int().min(0).default(0),
  CLEANUP_INTERVAL_MINUTES: z.coerce.number().min(0).default(60),
  // Every blob write must finish within the grace period, so it cannot be zero.
  CLEANUP_GRACE_MINUTES: z.coerce.number().min(1).default(60),
  AUTO_ARCHIVE_DAYS: z.coerce.number().min(0).default(0),
  READY_MIN_FREE_BYTES: count('bytes', 0, 256 * MiB),
  DOWNLOAD_SECRET: optionalText,
  DOWNLOAD_TTL_MINUTES: z.coerce.number().positive().default(60),
  STOWAGE_PUBLIC_URL: z.url().optional(),
  STOWAGE_OAUTH_ISSUER: z
    .url({ error: "must be your authorization server's issuer URL, e.g. https://auth.example.com" })
    .optional(),
  STOWAGE_OAUTH_JWKS_URL: z
    .url({ error: "must be the URL of the issuer's JSON Web Key Set, or unset to discover it" })
    .optional(),
  STOWAGE_OAUTH_AUDIENCE: z
    .url({
      error: "must be this server's resource URL as tokens name it, e.g. https://stowage.example.com/mcp",
    })
    .optional(),
  STOWAGE_OAUTH_SCOPE_CLAIM: optionalText,
  STOWAGE_OAUTH_PROJECTS_CLAIM: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Every environment variable Stowage reads (the README's configuration table names each). */
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export interface Config {
  home: string;
  databaseUrl: string | undefined;
  s3:
    | {
        bucket: string;
        endpoint: string | undefined;
        region: string;
        prefix: string;
        forcePathStyle: boolean;
        credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
        checksum: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
      }
    | undefined;
  cacheMaxBytes: number;
  /** Concurrent writes to one project share a transaction (WRITE_GROUP_COMMIT, default on). */
  groupCommit: boolean;
  limits: {
    fileBytes: number;
    projectBytes: number;
    batchFiles: number;
    inlineBytes: number;
    responseChars: number;
    /** Per edit_file edit (MAX_OLD_TEXT_CHARS). */
    oldTextChars: number;
    /** What one call may spend on the CPU worker threads (CPU_TIME_LIMIT_MS): edit matching,
     *  diffs, content search. */
    cpuTimeMs: number;
  };
  principal: string;
  toolsets: Toolset[];
  readOnly: boolean;
  http: {
    host: string;
    port: number;
    allowedHosts: string[] | undefined;
    /** As configured; undefined: chosen by the host (see authMode). */
    auth: (typeof AUTH_MODES)[number] | undefined;
    /** OAuth resource-server mode (STOWAGE_OAUTH_ISSUER); API tokens stay accepted alongside. */
    oauth: OAuthConfig | undefined;
    /** No MCP sessions: every POST is served on its own. */
    stateless: boolean;
    /** POSTs answered as one JSON object, not an event stream: cheaper, but no progress. */
    jsonResponses: boolean;
    sessionIdleMinutes: number;
    /** Per token (or remote address); perMinute 0: unlimited. */
    rateLimit: { perMinute: number; burst: number };
    /** Requests with failing credentials per client address, checked before verifying any. */
    addressRateLimit: { perMinute: number; burst: number };
    /** Sessions open at once, in all and per token. */
    maxSessions: number;
    maxSessionsPerToken: number;
  };
  git: {
    /** GITHUB_TOKEN: Octokit's, and git's for the GitHub web host of githubApiUrl only. Sent as
     *  an http.<url>.extraHeader through GIT_CONFIG_* env; never in a URL, argv or file. */
    token: string | undefined;
    /** GIT_CREDENTIALS: further tokens, each sent by git only to its own scheme, host and port. */
    credentials: GitCredential[];
    /** GIT_ALLOWED_HOSTS: names, addresses and CIDR ranges on loopback or private networks that
     *  git may contact all the same. */
    allowedHosts: string[];
    githubApiUrl: string;
    pushStrategy: 'clone' | 'api';
    allowedProtocols: string[];
    timeoutMs: number;
    /** Author name (default: the principal) and email; `{principal}` is replaced. */
    authorName: string | undefined;
    authorEmail: string;
  };
  lifecycle: {
    jobTtlHours: number;
    /** 0: no total quota. */
    totalBytes: number;
    /** 0: no background sweeper. */
    cleanupIntervalMinutes: number;
    /** Unreferenced blobs younger than this are kept, so a concurrent write never loses its blob. */
    cleanupGraceMinutes: number;
    /** 0: off. Projects idle this many days are archived by the sweeper. */
    autoArchiveDays: number;
  };
  readiness: {
    /** /readyz fails below this many free bytes for the local blob directory; 0: not checked. */
    minFreeBytes: number;
  };
  downloads: {
    /** HMAC key of download links; generated into STOWAGE_HOME when unset (one instance). */
    secret: string | undefined;
    ttlMinutes: number;
    /** Base URL of download links (behind a proxy); default: the HTTP server's own URL. */
    publicUrl: string | undefined;
  };
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

export interface OAuthConfig {
  /** Compared exactly with a token's `iss`. */
  issuer: string;
  /** Absent: `jwks_uri` from the issuer's metadata, read at start-up. */
  jwksUrl: string | undefined;
  /** RFC 8707 resource URL a token's `aud` must contain; absent: this server's own /mcp URL. */
  audience: string | undefined;
  /** Claim holding the scopes; absent: `scope` (space-separated), else `scp`. */
  scopeClaim: string | undefined;
  /** Claim holding project patterns; a token without it may use every project. */
  projectsClaim: string;
}

export class ConfigError extends Error {}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError(
      'invalid configuration: set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither',
    );
  }
  const oauth = oauthConfig(e);
  return {
    home: resolve(cwd, e.STOWAGE_HOME),
    databaseUrl: e.DATABASE_URL,
    s3: e.S3_BUCKET
      ? {
          bucket: e.S3_BUCKET,
          endpoint: e.S3_ENDPOINT,
          region: e.S3_REGION,
          prefix: e.S3_PREFIX,
          forcePathStyle: e.S3_FORCE_PATH_STYLE,
          credentials:
            e.S3_ACCESS_KEY_ID && e.S3_SECRET_ACCESS_KEY
              ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY }
              : undefined,
          // Custom endpoints often mishandle the SDK's default CRC32 + aws-chunked bodies.
          checksum: e.S3_CHECKSUM ?? (e.S3_ENDPOINT ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED'),
        }
      : undefined,
    cacheMaxBytes: e.CACHE_MAX_BYTES,
    groupCommit: e.WRITE_GROUP_COMMIT,
    limits: {
      fileBytes: e.MAX_FILE_BYTES,
      projectBytes: e.MAX_PROJECT_BYTES,
      batchFiles: e.MAX_BATCH_FILES,
      inlineBytes: e.INLINE_MAX_BYTES,
      responseChars: e.RESPONSE_MAX_CHARS,
      oldTextChars: e.MAX_OLD_TEXT_CHARS,
      cpuTimeMs: e.CPU_TIME_LIMIT_MS,
    },
    principal: e.STOWAGE_PRINCIPAL ?? safeUserName(),
    toolsets: e.STOWAGE_TOOLSETS?.length ? withNeeds(e.STOWAGE_TOOLSETS) : [...TOOLSETS],
    readOnly: e.STOWAGE_READ_ONLY,
    http: {
      host: e.STOWAGE_HOST,
      port: e.STOWAGE_PORT,
      allowedHosts: e.STOWAGE_ALLOWED_HOSTS,
      auth: e.STOWAGE_AUTH,
      oauth,
      stateless: e.STOWAGE_STATELESS,
      jsonResponses: e.STOWAGE_JSON_RESPONSES,
      sessionIdleMinutes: e.SESSION_IDLE_MINUTES,
      rateLimit: {
        perMinute: e.RATE_LIMIT_PER_MINUTE,
        burst: e.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(e.RATE_LIMIT_PER_MINUTE / 6)),
      },
      addressRateLimit: {
        perMinute: e.RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
        burst: Math.max(1, Math.ceil(e.RATE_LIMIT_PER_ADDRESS_PER_MINUTE / 6)),
      },
      maxSessions: e.MAX_SESSIONS,
      maxSessionsPerToken: e.MAX_SESSIONS_PER_TOKEN,
    },
    git: {
      token: e.GITHUB_TOKEN,
      githubApiUrl: e.GITHUB_API_URL,
      pushStrategy: e.GIT_PUSH_STRATEGY,
      allowedProtocols: e.GIT_ALLOWED_PROTOCOLS,
      credentials: e.GIT_CREDENTIALS,
      allowedHosts: e.GIT_ALLOWED_HOSTS,
      timeoutMs: e.GIT_TIMEOUT_MS,
      authorName: e.COMMIT_AUTHOR_NAME,
      authorEmail: e.COMMIT_AUTHOR_EMAIL,
    },
    lifecycle: {
      jobTtlHours: e.JOB_TTL_HOURS,
      totalBytes: e.MAX_TOTAL_BYTES,
      cleanupIntervalMinutes: e.CLEANUP_INTERVAL_MINUTES,
      cleanupGraceMinutes: e.CLEANUP_GRACE_MINUTES,
      autoArchiveDays: e.AUTO_ARCHIVE_DAYS,
    },
    readiness: { minFreeBytes: e.READY_MIN_FREE_BYTES },
    downloads: {
      secret: e.DOWNLOAD_SECRET,
      ttlMinutes: e.DOWNLOAD_TTL_MINUTES,
      publicUrl: e.STOWAGE_PUBLIC_URL,
    },
    logLevel: e.LOG_LEVEL,
  };
}

function safeUserName(): string {
  try {
    return userInfo().username || 'local';
  } catch {
    return 'local';
  }
}

const LOOPBACK_URL_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** The OAuth settings, checked together: they only make sense with an issuer, and with auth on. */
function oauthConfig(e: z.infer<typeof envSchema>): OAuthConfig | undefined {
  const issuer = e.STOWAGE_OAUTH_ISSUER;
  if (!issuer) {
    const stray = (
      [
        'STOWAGE_OAUTH_JWKS_URL',
        'STOWAGE_OAUTH_AUDIENCE',
        'STOWAGE_OAUTH_SCOPE_CLAIM',
        'STOWAGE_OAUTH_PROJECTS_CLAIM',
      ] as const
    ).filter((name) => e[name] !== undefined);
    if (stray.length) {
      throw new ConfigError(
        `invalid configuration: ${stray.join(', ')} need STOWAGE_OAUTH_ISSUER: set the issuer, or unset them`,
      );
    }
    return undefined;
  }
  if (e.STOWAGE_AUTH === 'none') {
    throw new ConfigError(
      'invalid configuration: STOWAGE_OAUTH_ISSUER turns on OAuth but STOWAGE_AUTH is none: unset one of them',
    );
  }
  // The keys that sign tokens must come over TLS; plain http only for an issuer on this machine.
  for (const name of ['STOWAGE_OAUTH_ISSUER', 'STOWAGE_OAUTH_JWKS_URL'] as const) {
    const value = e[name];
    if (value === undefined) continue;
    const url = new URL(value);
    const local = url.protocol === 'http:' && LOOPBACK_URL_HOSTS.includes(url.hostname);
    if ((url.protocol !== 'https:' && !local) || url.search || url.hash) {
      throw new ConfigError(
        `invalid configuration: ${name} '${value}' must be an https URL without query or fragment (http only on loopback)`,
      );
    }
  }
  // RFC 8707: the resource is the server's URL; behind a proxy, the public one.
  const audience =
    e.STOWAGE_OAUTH_AUDIENCE ??
    (e.STOWAGE_PUBLIC_URL ? `${e.STOWAGE_PUBLIC_URL.replace(/\/+$/, '')}/mcp` : undefined);
  if (audience && new URL(audience).hash) {
    throw new ConfigError(
      `invalid configuration: STOWAGE_OAUTH_AUDIENCE '${audience}' must not have a fragment (RFC 8707)`,
    );
  }
  return {
    issuer,
    jwksUrl: e.STOWAGE_OAUTH_JWKS_URL,
    audience,
    scopeClaim: e.STOWAGE_OAUTH_SCOPE_CLAIM,
    projectsClaim: e.STOWAGE_OAUTH_PROJECTS_CLAIM ?? 'stowage_projects',
  };
}
