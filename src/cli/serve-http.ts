// `stowage serve --http`: opens storage, then serves streamable HTTP (signed downloads, /metrics,
// /readyz; API tokens and, with an issuer, OAuth access tokens) with live resources fed by the
// change feed, until SIGINT/SIGTERM.
import { fullAccess, tokenAccess } from '../access.js';
import { authMode, type AuthMode, type Config } from '../config.js';
import { startHttp } from '../http/app.js';
import { createDownloads, loadDownloadSecret } from '../http/downloads.js';
import { createMetrics } from '../http/metrics.js';
import { bearerVerifier, createOAuthResource } from '../http/oauth.js';
import type { Logger } from '../logger.js';
import { openRuntime } from '../runtime.js';
import { createServer, perRequest } from '../server.js';
import type { VerifiedToken } from '../store/tokens.js';
import { runUntilStopped } from './lifetime.js';

export async function serveHttp(config: Config, logger: Logger): Promise<void> {
  const runtime = await openRuntime(config, logger);
  const { stowage } = runtime;
  // Live resources: for sessions (none when stateless) and 2026-07-28 subscriptions/listen
  // streams, which need none. Connects on first use.
  const changes = stowage.openChangeFeed();
  let stop: () => Promise<void>;
  try {
    const downloads = createDownloads({
      secret: await loadDownloadSecret(config.home, config.downloads.secret),
      ttlMinutes: config.downloads.ttlMinutes,
      publicUrl: config.downloads.publicUrl,
      artifacts: stowage.artifacts,
      logger,
    });
    // One set of metrics for the process, shared by every session's server.
    const metrics = createMetrics({ ...stowage.health.metricSources, processMetrics: true });
    // A token's principal is its caller's default workspace; without one, the configured principal.
    const create = (token?: VerifiedToken, use = { live: !config.http.stateless }) =>
      createServer({
        stowage,
        principal: token?.principal ?? config.principal,
        access: token ? tokenAccess(token) : undefined,
        toolsets: config.toolsets,
        readOnly: config.readOnly,
        logger,
        downloads,
        metrics,
        changes: use.live ? changes : undefined,
      });
    const auth = authMode(config.http);
    // Reads the issuer's metadata now, so a wrong issuer stops start-up rather than every request.
    const oauth = config.http.oauth && (await createOAuthResource(config.http.oauth));
    const http = await startHttp({
      host: config.http.host,
      port: config.http.port,
      allowedHosts: config.http.allowedHosts,
      bodyLimitBytes: Math.ceil(config.limits.fileBytes * 1.4) + 1024 * 1024,
      createServer: create,
      listen: {
        storage: () => Promise.resolve(stowage),
        feed: changes,
        accessOf: perRequest(fullAccess(config.principal)),
        logger,
      },
      auth: oauth ? bearerVerifier(oauth, stowage.tokens) : auth === 'tokens' ? stowage.tokens : undefined,
      oauth,
      downloads,
      ready: stowage.health.readiness({ minFreeBytes: config.readiness.minFreeBytes }),
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
  } catch (err) {
    // Release the embedded Postgres before reporting, so a failed start leaves nothing running.
    await changes?.close();
    await runtime.close().catch(() => undefined);
    throw err;
  }
  runUntilStopped({ config, logger, stowage, runtime, changes, stop });
}

/** What callers of the HTTP server must send, for the start-up line; undefined: nothing. */
function required(auth: AuthMode, issuer: string | undefined): string | undefined {
  if (auth === 'oauth') return `OAuth access tokens from ${issuer} or API tokens required`;
  return auth === 'tokens' ? 'bearer tokens required' : undefined;
}
