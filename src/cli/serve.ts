// `stowage serve`: opens storage, serves MCP over stdio or HTTP (with signed downloads and
// /metrics; API tokens and, with an issuer, OAuth access tokens) with live resources fed by the
// change feed, runs the cleanup sweeper, and shuts everything down in order on SIGINT/SIGTERM or
// when stdin closes.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { tokenAccess } from '../access.js';
import { authMode, type AuthMode, type Config } from '../config.js';
import { startHttp } from '../http/app.js';
import { createDownloads, loadDownloadSecret } from '../http/downloads.js';
import { createMetrics } from '../http/metrics.js';
import { bearerVerifier, createOAuthResource } from '../http/oauth.js';
import type { Logger } from '../logger.js';
import { openRuntime } from '../runtime.js';
import { createServer } from '../server.js';
import { blobReadinessChecks } from '../store/blobs/blob-readiness.js';
import { createChangeFeed } from '../store/change-feed.js';
import type { VerifiedToken } from '../store/tokens.js';

export async function serve(config: Config, logger: Logger, mode: 'stdio' | 'http'): Promise<void> {
  const runtime = await openRuntime(config, logger);
  const { stowage } = runtime;
  let stop: () => Promise<void> = () => Promise.resolve();
  // Live resources need a session to notify; a stateless server has none. Connects on first use.
  const changes =
    mode === 'stdio' || !config.http.stateless ? createChangeFeed(stowage.sql, logger) : undefined;
  try {
    const downloads =
      mode === 'http'
        ? createDownloads({
            secret: await loadDownloadSecret(config.home, config.downloads.secret),
            ttlMinutes: config.downloads.ttlMinutes,
            publicUrl: config.downloads.publicUrl,
            artifacts: stowage.artifacts,
            logger,
          })
        : undefined;
    // One set of metrics for the process, shared by every session's server.
    const metrics =
      mode === 'http'
        ? createMetrics({ cache: stowage.cache, pool: stowage.sql.pool, processMetrics: true })
        : undefined;
    // A token's principal is its caller's default workspace; without one, the configured principal.
    const create = (token?: VerifiedToken) =>
      createServer({
        stowage,
        principal: token?.principal ?? config.principal,
        access: token ? tokenAccess(token) : undefined,
        toolsets: config.toolsets,
        readOnly: config.readOnly,
        logger,
        downloads,
        metrics,
        changes,
      });
    if (mode === 'stdio') {
      const server = create();
      await server.connect(new StdioServerTransport());
      stop = () => server.close();
      process.stdin.on('end', () => void shutdown('stdin closed'));
    } else {
      const auth = authMode(config.http);
      // Reads the issuer's metadata now, so a wrong issuer stops start-up rather than every request.
      const oauth = config.http.oauth && (await createOAuthResource(config.http.oauth));
      const http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        allowedHosts: config.http.allowedHosts,
        bodyLimitBytes: Math.ceil(config.limits.fileBytes * 1.4) + 1024 * 1024,
        createServer: create,
        auth: oauth ? bearerVerifier(oauth, stowage.tokens) : auth === 'tokens' ? stowage.tokens : undefined,
        oauth,
        downloads,
        ready: {
          database: () => stowage.sql.query('SELECT 1'),
          ...blobReadinessChecks(stowage.blobs, { minFreeBytes: config.readiness.minFreeBytes }),
        },
        metrics,
        stateless: config.http.stateless,
        jsonResponses: config.http.jsonResponses,
        sessionIdleMs: config.http.sessionIdleMinutes * 60_000,
        maxSessions: config.http.maxSessions,
        maxSessionsPerToken: config.http.maxSessionsPerToken,
        // Per token: a local server without tokens has one caller, and limiting it helps nobody.
        rateLimit: auth === 'none' ? undefined : config.http.rateLimit,
        addressRateLimit: config.http.addressRateLimit,
        publicUrl: config.downloads.publicUrl,
        logger,
      });
      logger.info({ url: http.url, auth, stateless: config.http.stateless }, 'stowage listening');
      process.stderr.write(
        `Stowage on ${http.url} (${required(auth, oauth?.issuer) ?? `principal ${config.principal}`})\n`,
      );
      stop = () => http.close();
    }
  } catch (err) {
    // Release the embedded Postgres before reporting, so a failed start leaves nothing running.
    await runtime.close().catch(() => undefined);
    throw err;
  }
  const sweeper = stowage.maintenance.startSweeper({
    intervalMinutes: config.lifecycle.cleanupIntervalMinutes,
    logger,
    extra:
      config.lifecycle.autoArchiveDays > 0
        ? async () => {
            await stowage.lifecycle.archiveIdleProjects();
          }
        : undefined,
  });

  let stopping = false;
  async function shutdown(reason: string) {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    await stop().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
    await changes?.close();
    await sweeper.stop().catch((err: unknown) => logger.error({ err }, 'error while stopping the sweeper'));
    await runtime.close().catch((err: unknown) => logger.error({ err }, 'error while closing storage'));
    logger.flush();
    process.exit(0);
  }
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

/** What callers of the HTTP server must send, for the start-up line; undefined: nothing. */
function required(auth: AuthMode, issuer: string | undefined): string | undefined {
  if (auth === 'oauth') return `OAuth access tokens from ${issuer} or API tokens required`;
  return auth === 'tokens' ? 'bearer tokens required' : undefined;
}
