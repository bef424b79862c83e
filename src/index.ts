#!/usr/bin/env node
// The CLI: `stowage serve --stdio | --http [--host H] [--port P]` and `stowage migrate`.
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ConfigError, loadConfig, TOOLSETS, type Config, type Toolset } from './config.js';
import { startHttp } from './http/app.js';
import { createLogger } from './logger.js';
import { openDatabase, openRuntime } from './runtime.js';
import { createServer } from './server.js';
import { migrate } from './store/db/migrate.js';

const USAGE = `usage:
  stowage serve --stdio                         MCP over stdin/stdout (for IDEs)
  stowage serve --http [--host H] [--port P]    streamable HTTP at http://H:P/mcp
        [--read-only] [--toolsets files,changes,jobs,admin]
  stowage migrate                               apply database migrations and exit`;

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stdio: { type: 'boolean' },
      http: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'read-only': { type: 'boolean' },
      toolsets: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stderr.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const config = withFlags(loadConfig(), values);
  const logger = createLogger(config.logLevel);

  if (command === 'migrate') {
    const db = await openDatabase(config, logger);
    try {
      const { applied, current } = await migrate(db.sql);
      process.stderr.write(`schema at version ${current}; applied: ${applied.join(', ') || 'nothing'}\n`);
    } finally {
      await db.close();
    }
    return 0;
  }
  if (command !== 'serve' || values.stdio === values.http) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (values.http && !LOOPBACK_HOSTS.includes(config.http.host)) {
    throw new ConfigError(
      `--host ${config.http.host} is not a loopback address; serving beyond loopback needs bearer authentication, which this version does not have: bind 127.0.0.1 and put an authenticating proxy in front`,
    );
  }
  const runtime = await openRuntime(config, logger);
  const create = () =>
    createServer({
      stowage: runtime.stowage,
      principal: config.principal,
      toolsets: config.toolsets,
      readOnly: config.readOnly,
      logger,
    });
  let stop: () => Promise<void>;
  try {
    if (values.stdio) {
      const server = create();
      await server.connect(new StdioServerTransport());
      stop = () => server.close();
      process.stdin.on('end', () => void shutdown('stdin closed'));
    } else {
      const http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        allowedHosts: config.http.allowedHosts,
        bodyLimitBytes: Math.ceil(config.limits.fileBytes * 1.4) + 1024 * 1024,
        createServer: create,
        logger,
      });
      logger.info({ url: http.url }, 'stowage listening');
      process.stderr.write(`Stowage on ${http.url} (principal ${config.principal})\n`);
      stop = () => http.close();
    }
  } catch (err) {
    // Release the embedded Postgres before reporting, so a failed start leaves nothing running.
    await runtime.close().catch(() => undefined);
    throw err;
  }

  let stopping = false;
  async function shutdown(reason: string) {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    await stop().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
    await runtime.close().catch((err: unknown) => logger.error({ err }, 'error while closing storage'));
    logger.flush();
    process.exit(0);
  }
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return -1; // keep running
}

function withFlags(
  config: Config,
  flags: { host?: string; port?: string; 'read-only'?: boolean; toolsets?: string },
): Config {
  const toolsets = flags.toolsets?.split(',').map((s) => s.trim());
  const unknown = toolsets?.filter((t) => !(TOOLSETS as readonly string[]).includes(t));
  if (unknown?.length)
    throw new ConfigError(`--toolsets: unknown ${unknown.join(', ')}; choose from ${TOOLSETS.join(', ')}`);
  const port = flags.port === undefined ? config.http.port : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port: '${flags.port}' is not a port number`);
  return {
    ...config,
    readOnly: flags['read-only'] ?? config.readOnly,
    toolsets: (toolsets as Toolset[] | undefined) ?? config.toolsets,
    http: { ...config.http, host: flags.host ?? config.http.host, port },
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`stowage: ${message}\n`);
    process.exit(1);
  },
);
