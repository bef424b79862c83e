// `stowage serve`: stdio here, HTTP in serve-http.ts (loaded only for it). Over stdio the client
// (an IDE, Codex, Gemini CLI) waits for `initialize` before it lists tools, some for one second at
// most: so the transport answers first, from the SDK and the tool definitions alone, while
// storage (the embedded Postgres, migrations, the blob store) opens in the background. A call
// that needs storage waits for it; if it could not be opened, the call says so (and the log says
// why) and the next call tries again.
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { fullAccess } from '../access.js';
import { ENV_VARIABLES, type Config } from '../config.js';
import { StowageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createModernServer, type ModernServer } from '../modern/modern-server.js';
import { DualEraStdio } from '../modern/stdio.js';
import type { Runtime } from '../runtime.js';
import { createServer, type ServerDeps } from '../server.js';
import { deferChangeFeed } from '../store/db/deferred-feed.js';
import type { Stowage } from '../store/stowage.js';
import type { EarlyStdio } from './early-answers.js';
import { runUntilStopped } from './lifetime.js';

/** After a failed attempt, storage is opened again at the next call, at most this often. */
const RETRY_MS = 5_000;

export async function serve(
  config: Config,
  logger: Logger,
  mode: 'stdio' | 'http',
  early?: EarlyStdio,
): Promise<void> {
  if (mode === 'http') return (await import('./serve-http.js')).serveHttp(config, logger);
  const storage = openingStorage(config, logger);
  const changes = deferChangeFeed(storage.get().then((s) => s.openChangeFeed()));
  const deps: ServerDeps = {
    stowage: storage.get,
    limits: config.limits,
    principal: config.principal,
    toolsets: config.toolsets,
    readOnly: config.readOnly,
    logger,
  };
  const server = createServer({ ...deps, changes });
  // A 2026-07-28 client needs no handshake: its requests go to a server of their own (stdio.ts),
  // built when the first one comes.
  let modern: ModernServer | undefined;
  const modernServer = () =>
    (modern ??= createModernServer({
      server: createServer(deps),
      listen: { storage: storage.get, feed: changes, accessOf: () => fullAccess(config.principal), logger },
      logger,
    }));
  const transport = (input?: Readable, output?: Writable) =>
    new DualEraStdio(new StdioServerTransport(input, output), modernServer);
  let input: Readable = process.stdin;
  if (early) {
    const handed = early.handOver();
    input = handed.input;
    early.keep(ENV_VARIABLES, [...SUPPORTED_PROTOCOL_VERSIONS]);
    void storage.opened.then(() => early.homeReady());
    await server.connect(transport(input, handed.output));
  } else {
    await server.connect(transport());
  }
  // Open once the client has been answered: the modules storage loads would otherwise hold the
  // first answers back.
  setImmediate(() => void storage.get().catch(() => undefined));
  let shutdown: ((reason: string) => Promise<void>) | undefined;
  const stopNow = () => {
    // Storage never opened: nothing to close but the transport.
    if (!shutdown) void Promise.all([server.close(), modern?.close()]).finally(() => process.exit(0));
    else void shutdown('stdin closed');
  };
  input.on('end', stopNow);
  void storage.opened.then((runtime) => {
    shutdown = runUntilStopped({
      config,
      logger,
      stowage: runtime.stowage,
      runtime,
      changes: undefined, // the deferred feed above closes with the process
      stop: async () => {
        await Promise.all([server.close(), modern?.close()]);
      },
    });
  });
}

/** Storage, opened on first use and kept; a failed attempt is reported and retried later. */
function openingStorage(config: Config, logger: Logger) {
  let attempt: Promise<Runtime> | undefined;
  let failedAt = 0;
  let resolveOpened!: (runtime: Runtime) => void;
  const opened = new Promise<Runtime>((resolve) => (resolveOpened = resolve));
  const open = () =>
    import('../runtime.js')
      .then(({ openRuntime }) => openRuntime(config, logger))
      .then((runtime) => {
        resolveOpened(runtime);
        return runtime;
      });
  return {
    /** The first successful opening. */
    opened,
    get: async (): Promise<Stowage> => {
      if (!attempt || (failedAt && Date.now() - failedAt >= RETRY_MS)) {
        failedAt = 0;
        attempt = open();
        attempt.catch((err: unknown) => {
          failedAt = Date.now();
          logger.error({ err }, 'storage could not be opened');
        });
      }
      try {
        return (await attempt).stowage;
      } catch (err) {
        const reason = (err instanceof Error ? err.message : String(err)).replace(/; retry shortly$/, '');
        throw new StowageError(
          'unavailable',
          `storage could not be opened (${reason}): see the server log; the next call tries again, retry shortly`,
        );
      }
    },
  };
}
