// What the HTTP server is started with (startHttp in app.ts): its address, the server each
// session gets, authentication, the optional routes and the session and rate limits. Apart from
// app.ts so the /mcp endpoint (mcp-endpoint.ts), which app.ts builds, reads it without a cycle.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Logger } from '../logger.js';
import type { ListenDeps } from '../modern/listen.js';
import type { VerifiedToken } from '../store/tokens.js';
import type { BearerAuth } from './bearer.js';
import type { Downloads } from './downloads.js';
import type { Metrics } from './metrics.js';
import type { OAuthResource } from './oauth.js';
import type { RateLimit } from './rate-limit.js';

export interface HttpOptions {
  host: string;
  port: number;
  /** Host names accepted in the Host header; default: the loopback names (and `host`). */
  allowedHosts?: readonly string[] | undefined;
  /** Largest request body; a write of a maximum-size file in base64 must fit. */
  bodyLimitBytes: number;
  /** A new session's server; with `auth`, for the session's token. `live` is false for a server
   *  that answers requests one at a time (stateless POSTs, and every 2026-07-28 request): no
   *  session outlives them to hear changes (resources/subscribe). */
  createServer(token: VerifiedToken | undefined, use?: { live: boolean }): McpServer;
  /** Changes from every instance, for 2026-07-28 subscriptions/listen streams; absent: listen is
   *  not served (Method not found) and server/discover offers no subscriptions. */
  listen?: ListenDeps | undefined;
  /** Bearer tokens on /mcp; absent: no authentication (loopback only, enforced by the CLI). */
  auth?: BearerAuth | undefined;
  /** OAuth resource-server mode (with `auth`): serves its metadata; told the /mcp URL once listening. */
  oauth?: Pick<OAuthResource, 'listening' | 'metadata' | 'metadataUrl' | 'metadataPaths'> | undefined;
  logger: Logger;
  /** Serves GET /downloads/<token> (signed artifact links); told the server's origin once listening. */
  downloads?: Pick<Downloads, 'handler' | 'listening'> | undefined;
  /** Readiness checks by name (e.g. database, blobs) for GET /readyz; each throws when not ready. */
  ready?: Record<string, () => Promise<unknown>> | undefined;
  /** Serves GET /metrics in the Prometheus text format; under `auth`, to admin-scoped tokens only. */
  metrics?: Pick<Metrics, 'contentType' | 'render' | 'countSessions'> | undefined;
  /** A session without requests for this long is closed; default 30 minutes. */
  sessionIdleMs?: number | undefined;
  /** A session that carries no request after initialize is closed after this long; default 60 s. */
  unusedSessionMs?: number | undefined;
  /** Sessions open at once; past it, initialize gets 503 with Retry-After. Default 1000. */
  maxSessions?: number | undefined;
  /** Sessions open at once per token (under `auth`); past it, 429 with Retry-After. Default 50. */
  maxSessionsPerToken?: number | undefined;
  /** No sessions: a fresh server and transport per POST; GET and DELETE answer 405. */
  stateless?: boolean | undefined;
  /** Answer each POST with one JSON object instead of an event stream: less work per call, but
   *  no progress notifications during a call (the session's GET stream still carries the rest). */
  jsonResponses?: boolean | undefined;
  /** Per token (or remote address without auth); absent or perMinute 0: unlimited. */
  rateLimit?: RateLimit | undefined;
  /** Under `auth`: requests per client address whose credentials fail, checked before verifying
   *  any, so a flood of made-up tokens gets 429 without a lookup each; absent: unlimited. */
  addressRateLimit?: RateLimit | undefined;
  /** Public base URL behind a proxy (STOWAGE_PUBLIC_URL): its origin may call /mcp too. */
  publicUrl?: string | undefined;
  /** How long close() waits for in-flight requests before closing them; default 10 s. */
  shutdownGraceMs?: number | undefined;
}
