// The checked configuration in the shape the rest of Stowage reads (`Config` is inferred from
// toConfig): grouped by who reads it, with defaults that depend on other values filled in.
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { oauthAudience } from './cross-field-rules.js';
import { TOOLSETS, withNeeds, type Env } from './env-schema.js';

/** The checked values in the shape the rest of Stowage reads (`Config` is inferred from it). */
export function toConfig(e: Env, cwd: string) {
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
    backup: {
      /** BACKUP_TARGET: where backups go (a directory, or an S3 bucket and prefix); undefined: none. */
      target: backupTarget(e, cwd),
      /** 0: no scheduled backups. */
      intervalHours: e.BACKUP_INTERVAL_HOURS,
      /** Backups older than this are pruned, all but the newest of each project; 0: kept. */
      retentionDays: e.BACKUP_RETENTION_DAYS,
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

/** The backup target: a directory (absolute), or S3 with the target's own settings (BACKUP_S3_*). */
function backupTarget(e: Env, cwd: string) {
  const target = e.BACKUP_TARGET;
  if (!target) return undefined;
  if ('directory' in target) {
    const directory = resolve(cwd, target.directory);
    return { kind: 'dir' as const, where: directory, directory };
  }
  const endpoint = e.BACKUP_S3_ENDPOINT;
  return {
    kind: 's3' as const,
    where: `s3://${target.bucket}/${target.prefix}`,
    s3: {
      bucket: target.bucket,
      endpoint,
      region: e.BACKUP_S3_REGION ?? 'us-east-1',
      prefix: target.prefix,
      forcePathStyle: e.BACKUP_S3_FORCE_PATH_STYLE ?? false,
      credentials:
        e.BACKUP_S3_ACCESS_KEY_ID && e.BACKUP_S3_SECRET_ACCESS_KEY
          ? { accessKeyId: e.BACKUP_S3_ACCESS_KEY_ID, secretAccessKey: e.BACKUP_S3_SECRET_ACCESS_KEY }
          : undefined,
      checksum: endpoint ? ('WHEN_REQUIRED' as const) : ('WHEN_SUPPORTED' as const),
    },
  };
}

function safeUserName(): string {
  try {
    return userInfo().username || 'local';
  } catch {
    return 'local';
  }
}
