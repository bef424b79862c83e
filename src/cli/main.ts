// The CLI: serve (stdio or HTTP), migrate, cleanup, export, import, backups, working copies and API
// tokens.
import { parseArgs } from 'node:util';
// Each command loads what it needs when it runs (dynamic imports): `serve --stdio` answers its
// client's first requests before the storage modules (Postgres, S3, express, …) are even read.
import { ConfigError, loadConfig, type Config } from '../config.js';
import { TOKEN_USAGE } from './token-usage.js';
import { createLogger, type Logger } from '../logger.js';
import type { EarlyStdio } from './early-answers.js';

const USAGE = `usage:
  stowage serve --stdio                         MCP over stdin/stdout (for IDEs)
  stowage serve --http [--host H] [--port P]    streamable HTTP at http://H:P/mcp
        [--read-only] [--toolsets files,changes,jobs,admin] [--stateless]
  stowage migrate                               apply database migrations and exit
  stowage cleanup [--dry-run]                   remove expired jobs, artifacts and unused blobs
  stowage export <project> <file.tar.gz>        back a project up
        [--allow-secrets]                       even if its files hold likely secrets
  stowage import <project> <file.tar.gz|dir>    create a project from a backup or a directory
  stowage backup [project]                      back up one project, or all (then prune), to
                                                BACKUP_TARGET
        [--list]                                list its backups instead (all: each project's newest)
  stowage restore-backup <backup|project>       restore a backup (a project name: its newest)
        [--as NAME]                             into another name (new, or an archived project)
  stowage restore-backup --all                  restore every project in the target missing here
  stowage checkout <project> <dir>              write a workspace's files into a directory
        [--workspace W] [--at POINT]
  stowage push-dir <dir>                        send local changes to the workspace as drafts
  stowage pull-dir <dir>                        bring the directory up to date with the workspace
${TOKEN_USAGE}`;

export async function main(argv: string[], early?: EarlyStdio): Promise<number> {
  // What Stowage writes is its users' data (blobs, artifacts, exports, the download secret,
  // STOWAGE_HOME itself): owner-only, and so is what its children (git) create. The embedded
  // Postgres, run as another user when we are root, is let through STOWAGE_HOME explicitly.
  process.umask(0o077);
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stdio: { type: 'boolean' },
      http: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      'read-only': { type: 'boolean' },
      stateless: { type: 'boolean' },
      toolsets: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'allow-secrets': { type: 'boolean' },
      principal: { type: 'string' },
      scopes: { type: 'string' },
      projects: { type: 'string' },
      remotes: { type: 'string' },
      workspaces: { type: 'string' },
      'expires-in': { type: 'string' },
      workspace: { type: 'string' },
      at: { type: 'string' },
      list: { type: 'boolean' },
      as: { type: 'string' },
      all: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stderr.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  // The serve flags go through the configuration schema, each in place of its variable.
  const servingHttp = command === 'serve' && values.http === true && !values.stdio;
  const config = loadConfig(process.env, process.cwd(), { ...values, http: servingHttp });
  const logger = createLogger(config.logLevel);

  if (command === 'migrate') {
    const [{ openDatabase }, { migrate }] = await Promise.all([
      import('../runtime.js'),
      import('../store/db/migrate.js'),
    ]);
    const db = await openDatabase(config, logger);
    try {
      const { applied, current } = await migrate(db.sql);
      process.stderr.write(`schema at version ${current}; applied: ${applied.join(', ') || 'nothing'}\n`);
    } finally {
      await db.close();
    }
    return 0;
  }
  if (command === 'token') {
    const { runTokenCommand } = await import('./tokens.js');
    return runTokenCommand(positionals.slice(1), values, config, logger);
  }
  if (command === 'cleanup' || command === 'export' || command === 'import') {
    process.stderr.write(
      `${await once(command, positionals.slice(1), config, logger, values['dry-run'] ?? false, values['allow-secrets'] ?? false)}\n`,
    );
    return 0;
  }
  if (command === 'backup' || command === 'restore-backup') {
    const { runBackupCommand } = await import('./backup.js');
    return runBackupCommand(command, positionals.slice(1), values, config, logger, USAGE);
  }
  if (command === 'checkout' || command === 'push-dir' || command === 'pull-dir') {
    const args = positionals.slice(1);
    if (args.length !== (command === 'checkout' ? 2 : 1)) throw new ConfigError(USAGE);
    return workingCopy(command, args, values, config, logger);
  }
  if (command !== 'serve' || values.stdio === values.http) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { serve } = await import('./serve.js');
  await serve(config, logger, values.stdio ? 'stdio' : 'http', early);
  (await import('./idle-memory.js')).releaseMemoryWhenIdle();
  return -1; // keep running
}

/** Commands that open storage, do one thing, and close it again. */
async function once(
  command: string,
  args: string[],
  config: Config,
  logger: Logger,
  dryRun: boolean,
  allowSecrets: boolean,
) {
  const usage = () => new ConfigError(USAGE);
  if (command === 'cleanup' && args.length) throw usage();
  if ((command === 'export' || command === 'import') && args.length !== 2) throw usage();
  const [{ openRuntime }, { runCleanup }, { runExport, runImport }] = await Promise.all([
    import('../runtime.js'),
    import('../store/maintenance/index.js'),
    import('./backup.js'),
  ]);
  const runtime = await openRuntime(config, logger);
  try {
    if (command === 'cleanup') {
      const { summary } = await runCleanup(runtime.stowage, { dryRun });
      return summary;
    }
    if (command === 'export') {
      const r = await runExport(runtime.stowage, args[0]!, args[1]!, {}, { allowSecrets });
      return `exported ${r.files} file(s) of ${args[0]} to ${args[1]} (${r.size} bytes, sha256 ${r.sha256})`;
    }
    const r = await runImport(runtime.stowage, args[0]!, args[1]!, config.principal);
    return `imported ${r.files} file(s) into ${r.project.name} (${r.bytes} bytes)`;
  } finally {
    await runtime.close();
  }
}

/** checkout, push-dir and pull-dir: a summary line, then each file refused with its fix. */
async function workingCopy(
  command: 'checkout' | 'push-dir' | 'pull-dir',
  args: string[],
  options: { workspace?: string | undefined; at?: string | undefined },
  config: Config,
  logger: Logger,
): Promise<number> {
  const [{ openRuntime }, { createGitAdapters }, copy] = await Promise.all([
    import('../runtime.js'),
    import('../git/index.js'),
    import('./working-copy.js'),
  ]);
  const runtime = await openRuntime(config, logger);
  try {
    const deps = {
      stowage: runtime.stowage,
      mergeText: createGitAdapters(config.git, config.home).mergeText,
      principal: config.principal,
    };
    const outcome =
      command === 'checkout'
        ? await copy.checkout(deps, args[0]!, args[1]!, options)
        : await (command === 'push-dir' ? copy.pushDir : copy.pullDir)(deps, args[0]!);
    const lines = [outcome.summary];
    for (const { path, reason } of outcome.problems) lines.push(`  refused ${path}: ${reason}`);
    for (const { path, reason } of outcome.notes ?? []) lines.push(`  note ${path}: ${reason}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    return outcome.problems.length ? 1 : 0;
  } finally {
    await runtime.close();
  }
}
