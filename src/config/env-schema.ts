// Every environment variable Stowage reads, each checked on its own by one zod object: the field
// types it is built from (booleans, byte counts, comma lists, ports, toolsets) and their defaults.
// The rules across values are cross-field-rules.ts's; the shape Stowage reads, shape.ts's.
import { z } from 'zod';
import { parseCredentials } from '../git/credentials.js';
import { parseAllowedHosts } from '../git/remote-guard.js';

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
/** BACKUP_TARGET: `s3://bucket/prefix` (the prefix ending in `/`, or empty), else a directory. */
const backupTarget = z
  .string()
  .trim()
  .transform((v, ctx): { directory: string } | { bucket: string; prefix: string } | undefined => {
    if (!v) return undefined;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return { directory: v };
    const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(v);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `'${v}' is neither a directory nor s3://bucket/prefix` });
      return z.NEVER;
    }
    if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(m[1]!)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${m[1]}' is not a bucket name: give s3://bucket/prefix, the bucket 3-63 lowercase letters, digits, '.', '-' or '_'`,
      });
      return z.NEVER;
    }
    const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
  })
  .optional();
const port = z
  .string()
  .default('8787')
  .transform((v, ctx) => {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a port number` });
    return z.NEVER;
  });

export const envSchema = z.object({
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
  BACKUP_TARGET: backupTarget,
  BACKUP_INTERVAL_HOURS: z.coerce.number().min(0).default(0),
  BACKUP_RETENTION_DAYS: z.coerce.number().min(0).default(30),
  // The target's own S3 settings: none is taken from S3_*, whose keys must not reach another store.
  BACKUP_S3_ENDPOINT: z.url().optional(),
  BACKUP_S3_REGION: optionalText,
  BACKUP_S3_FORCE_PATH_STYLE: bool.optional(),
  BACKUP_S3_ACCESS_KEY_ID: optionalText,
  BACKUP_S3_SECRET_ACCESS_KEY: optionalText,
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

export type Env = z.output<typeof envSchema>;
