// The configuration schema: the only reader of process.env and of the `serve` flags, each flag
// standing in for its variable. One zod schema checks each value, then the rules across values
// (refinements), then shapes `Config`; a bad value stops start-up with a message naming the
// variable or flag and what it accepts.
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { z, type RefinementCtx } from 'zod';
import { parseCredentials } from './git/credentials.js';
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
const isLoopback = (host: string) => LOOPBACK_HOSTS.includes(host);

/**
 * The HTTP auth mode: `oauth` with an issuer (API tokens are accepted too), else STOWAGE_AUTH,
 * else `tokens` beyond loopback and `none` on it.
 */
export const authMode = (http: Config['http']): AuthMode =>
  http.oauth ? 'oauth' : (http.auth ?? (isLoopback(http.host) ? 'none' : 'tokens'));

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

const isToolset = (name: string): name is Toolset => (TOOLSETS as readonly string[]).includes(name);

/** The chosen toolsets with what they need, in TOOLSETS order. */
export const withNeeds = (chosen: readonly Toolset[]): Toolset[] =>
  TOOLSETS.filter((t) => chosen.includes(t) || chosen.some((c) => TOOLSET_NEEDS[c].includes(t)));

/** `files,jobs` → ['files', 'jobs'], naming any unknown toolset and the known ones. */
const toolsetList = commaList
  .superRefine((names, ctx) => {
    const unknown = names.filter((name) => !isToolset(name));
    if (unknown.length) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown ${unknown.join(', ')}; choose from ${TOOLSETS.join(', ')}`,
      });
    }
  })
  .transform((names) => names.filter(isToolset));
const port = z
  .string()
  .default('8787')
  .transform((v, ctx) => {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a port number` });
    return z.NEVER;
  });

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
  STOWAGE_TOOLSETS: toolsetList.optional(),
  STOWAGE_READ_ONLY: bool.default(false),
  STOWAGE_HOST: z.string().default('127.0.0.1'),
  STOWAGE_AUTH: z.enum(AUTH_MODES).optional(),
  STOWAGE_PORT: port,
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
  HISTORY_COALESCE_SECONDS: z.coerce.number().int().min(0).default(60),
  HISTORY_RETENTION_DAYS: z.coerce.number().min(0).default(30),
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

type Env = z.output<typeof envSchema>;

/** The `serve` flags (parseArgs values; other keys are ignored). */
export interface Flags {
  /** `serve --http`: the rules for serving beyond loopback apply. */
  http?: boolean | undefined;
  host?: string | undefined;
  port?: string | undefined;
  'read-only'?: boolean | undefined;
  toolsets?: string | undefined;
  stateless?: boolean | undefined;
}

/** The variable each flag stands in for: a flag given replaces its variable before parsing. */
const FLAG_VARIABLES = {
  host: 'STOWAGE_HOST',
  port: 'STOWAGE_PORT',
  'read-only': 'STOWAGE_READ_ONLY',
  toolsets: 'STOWAGE_TOOLSETS',
  stateless: 'STOWAGE_STATELESS',
} as const satisfies Record<Exclude<keyof Flags, 'http'>, keyof Env>;
type VariableFlag = keyof typeof FLAG_VARIABLES;
const VARIABLE_FLAGS = Object.keys(FLAG_VARIABLES) as VariableFlag[];

/** What a parse needs beyond the values: where STOWAGE_HOME is relative to, whether HTTP is
 *  being served, and what the user called each value. */
interface ParseContext {
  cwd: string;
  servingHttp: boolean;
  /** The name the user gave a value by: `--port` if the flag was passed, else STOWAGE_PORT. */
  named: (variable: string) => string;
}

const configSchema = (context: ParseContext) =>
  envSchema
    // Only once every value is valid (a failed check, such as z.url(), would not stop it).
    .superRefine((e, ctx) => crossFieldRules(e, ctx, context), { when: ({ issues }) => !issues.length })
    .transform((e) => toConfig(e, context.cwd));

export type Config = z.output<ReturnType<typeof configSchema>>;
export type OAuthConfig = NonNullable<Config['http']['oauth']>;

export class ConfigError extends Error {}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
  flags: Flags = {},
): Config {
  const given = VARIABLE_FLAGS.filter((flag) => flags[flag] !== undefined);
  const named = (variable: string) => {
    const flag = given.find((f) => FLAG_VARIABLES[f] === variable);
    return flag ? `--${flag}` : variable;
  };
  const input = { ...env, ...Object.fromEntries(given.map((f) => [FLAG_VARIABLES[f], String(flags[f])])) };
  const parsed = configSchema({ cwd, servingHttp: flags.http ?? false, named }).safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(({ path: [name, ...rest], message }) =>
      name === undefined ? message : `${[named(String(name)), ...rest].join('.')}: ${message}`,
    );
    throw new ConfigError(`invalid configuration:\n${lines.map((line) => `  ${line}`).join('\n')}`);
  }
  return parsed.data;
}

/** The rules across values, run once each value is valid; each message names what to change. */
function crossFieldRules(e: Env, ctx: RefinementCtx, { servingHttp, named }: ParseContext): void {
  const refuse = (message: string) => ctx.addIssue({ code: 'custom', message });
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    refuse('set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  oauthRules(e, refuse);
  if (!servingHttp || isLoopback(e.STOWAGE_HOST)) return;
  const host = `${named('STOWAGE_HOST')} ${e.STOWAGE_HOST} is not a loopback address`;
  // Beyond loopback, auth defaults to tokens: `none` there is only ever chosen outright.
  if (e.STOWAGE_AUTH === 'none' && !e.STOWAGE_OAUTH_ISSUER) {
    refuse(
      `${host} and STOWAGE_AUTH is none: serving beyond loopback needs bearer tokens: set STOWAGE_AUTH=tokens (create tokens with stowage token create), or bind 127.0.0.1`,
    );
  }
  if (e.STOWAGE_OAUTH_ISSUER && !oauthAudience(e)) {
    refuse(
      `${host}: OAuth access tokens must name this server's public URL as their audience: set STOWAGE_PUBLIC_URL (e.g. https://stowage.example.com) or STOWAGE_OAUTH_AUDIENCE (e.g. https://stowage.example.com/mcp)`,
    );
  }
}

/** The OAuth settings, checked together: they only make sense with an issuer, and with auth on. */
function oauthRules(e: Env, refuse: (message: string) => void): void {
  if (!e.STOWAGE_OAUTH_ISSUER) {
    const stray = (
      [
        'STOWAGE_OAUTH_JWKS_URL',
        'STOWAGE_OAUTH_AUDIENCE',
        'STOWAGE_OAUTH_SCOPE_CLAIM',
        'STOWAGE_OAUTH_PROJECTS_CLAIM',
      ] as const
    ).filter((name) => e[name] !== undefined);
    if (stray.length) {
      refuse(`${stray.join(', ')} need STOWAGE_OAUTH_ISSUER: set the issuer, or unset them`);
    }
    return;
  }
  if (e.STOWAGE_AUTH === 'none') {
    refuse('STOWAGE_OAUTH_ISSUER turns on OAuth but STOWAGE_AUTH is none: unset one of them');
  }
  // The keys that sign tokens must come over TLS; plain http only for an issuer on this machine.
  for (const name of ['STOWAGE_OAUTH_ISSUER', 'STOWAGE_OAUTH_JWKS_URL'] as const) {
    const value = e[name];
    if (value === undefined) continue;
    const url = new URL(value);
    // A URL writes an IPv6 host in brackets: [::1].
    const local = url.protocol === 'http:' && isLoopback(url.hostname.replace(/^\[(.*)\]$/, '$1'));
    if ((url.protocol !== 'https:' && !local) || url.search || url.hash) {
      refuse(`${name} '${value}' must be an https URL without query or fragment (http only on loopback)`);
    }
  }
  const audience = oauthAudience(e);
  if (audience && new URL(audience).hash) {
    refuse(`STOWAGE_OAUTH_AUDIENCE '${audience}' must not have a fragment (RFC 8707)`);
  }
}

/** RFC 8707: the resource is the server's URL; behind a proxy, the public one. */
const oauthAudience = (e: Env) =>
  e.STOWAGE_OAUTH_AUDIENCE ??
  (e.STOWAGE_PUBLIC_URL ? `${e.STOWAGE_PUBLIC_URL.replace(/\/+$/, '')}/mcp` : undefined);

/** The checked values in the shape the rest of Stowage reads (`Config` is inferred from it). */
function toConfig(e: Env, cwd: string) {
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
    /** Concurrent writes to one project share a transaction (WRITE_GROUP_COMMIT, default on). */
    groupCommit: e.WRITE_GROUP_COMMIT,
    limits: {
      fileBytes: e.MAX_FILE_BYTES,
      projectBytes: e.MAX_PROJECT_BYTES,
      batchFiles: e.MAX_BATCH_FILES,
      inlineBytes: e.INLINE_MAX_BYTES,
      responseChars: e.RESPONSE_MAX_CHARS,
      /** Per edit_file edit (MAX_OLD_TEXT_CHARS). */
      oldTextChars: e.MAX_OLD_TEXT_CHARS,
      /** What one call may spend on the CPU worker threads (CPU_TIME_LIMIT_MS): edit matching,
       *  diffs, content search. */
      cpuTimeMs: e.CPU_TIME_LIMIT_MS,
    },
    principal: e.STOWAGE_PRINCIPAL ?? safeUserName(),
    toolsets: e.STOWAGE_TOOLSETS?.length ? withNeeds(e.STOWAGE_TOOLSETS) : [...TOOLSETS],
    readOnly: e.STOWAGE_READ_ONLY,
    http: {
      host: e.STOWAGE_HOST,
      port: e.STOWAGE_PORT,
      allowedHosts: e.STOWAGE_ALLOWED_HOSTS,
      /** As configured; undefined: chosen by the host (see authMode). */
      auth: e.STOWAGE_AUTH,
      /** OAuth resource-server mode (STOWAGE_OAUTH_ISSUER); API tokens stay accepted alongside. */
      oauth: e.STOWAGE_OAUTH_ISSUER
        ? {
            /** Compared exactly with a token's `iss`. */
            issuer: e.STOWAGE_OAUTH_ISSUER,
            /** Absent: `jwks_uri` from the issuer's metadata, read at start-up. */
            jwksUrl: e.STOWAGE_OAUTH_JWKS_URL,
            /** RFC 8707 resource URL a token's `aud` must contain; absent: this server's own /mcp URL. */
            audience: oauthAudience(e),
            /** Claim holding the scopes; absent: `scope` (space-separated), else `scp`. */
            scopeClaim: e.STOWAGE_OAUTH_SCOPE_CLAIM,
            /** Claim holding project patterns; a token without it may use every project. */
            projectsClaim: e.STOWAGE_OAUTH_PROJECTS_CLAIM ?? 'stowage_projects',
          }
        : undefined,
      /** No MCP sessions: every POST is served on its own. */
      stateless: e.STOWAGE_STATELESS,
      /** POSTs answered as one JSON object, not an event stream: cheaper, but no progress. */
      jsonResponses: e.STOWAGE_JSON_RESPONSES,
      sessionIdleMinutes: e.SESSION_IDLE_MINUTES,
      /** Per token (or remote address); perMinute 0: unlimited. */
      rateLimit: {
        perMinute: e.RATE_LIMIT_PER_MINUTE,
        burst: e.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(e.RATE_LIMIT_PER_MINUTE / 6)),
      },
      /** Requests with failing credentials per client address, checked before verifying any. */
      addressRateLimit: {
        perMinute: e.RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
        burst: Math.max(1, Math.ceil(e.RATE_LIMIT_PER_ADDRESS_PER_MINUTE / 6)),
      },
      /** Sessions open at once, in all and per token. */
      maxSessions: e.MAX_SESSIONS,
      maxSessionsPerToken: e.MAX_SESSIONS_PER_TOKEN,
    },
    git: {
      /** GITHUB_TOKEN: Octokit's, and git's for the GitHub web host of githubApiUrl only. Sent as
       *  an http.<url>.extraHeader through GIT_CONFIG_* env; never in a URL, argv or file. */
      token: e.GITHUB_TOKEN,
      githubApiUrl: e.GITHUB_API_URL,
      pushStrategy: e.GIT_PUSH_STRATEGY,
      allowedProtocols: e.GIT_ALLOWED_PROTOCOLS,
      /** GIT_CREDENTIALS: further tokens, each sent by git only to its own scheme, host and port. */
      credentials: e.GIT_CREDENTIALS,
      /** GIT_ALLOWED_HOSTS: names, addresses and CIDR ranges on loopback or private networks that
       *  git may contact all the same. */
      allowedHosts: e.GIT_ALLOWED_HOSTS,
      timeoutMs: e.GIT_TIMEOUT_MS,
      /** Author name (default: the principal) and email; `{principal}` is replaced. */
      authorName: e.COMMIT_AUTHOR_NAME,
      authorEmail: e.COMMIT_AUTHOR_EMAIL,
    },
    lifecycle: {
      jobTtlHours: e.JOB_TTL_HOURS,
      /** 0: no total quota. */
      totalBytes: e.MAX_TOTAL_BYTES,
      /** 0: no background sweeper. */
      cleanupIntervalMinutes: e.CLEANUP_INTERVAL_MINUTES,
      /** Unreferenced blobs younger than this are kept, so a concurrent write never loses its blob. */
      cleanupGraceMinutes: e.CLEANUP_GRACE_MINUTES,
      /** 0: off. Projects idle this many days are archived by the sweeper. */
      autoArchiveDays: e.AUTO_ARCHIVE_DAYS,
      /** Draft versions older than this are pruned by cleanup, unless the latest of their path
       *  or one a checkpoint needs. */
      historyRetentionDays: e.HISTORY_RETENTION_DAYS,
    },
    history: {
      /** Draft versions of a path in a workspace younger than this coalesce (0: never). */
      coalesceSeconds: e.HISTORY_COALESCE_SECONDS,
    },
    readiness: {
      /** /readyz fails below this many free bytes for the local blob directory; 0: not checked. */
      minFreeBytes: e.READY_MIN_FREE_BYTES,
    },
    downloads: {
      /** HMAC key of download links; generated into STOWAGE_HOME when unset (one instance). */
      secret: e.DOWNLOAD_SECRET,
      ttlMinutes: e.DOWNLOAD_TTL_MINUTES,
      /** Base URL of download links (behind a proxy); default: the HTTP server's own URL. */
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
