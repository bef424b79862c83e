// `stowage token create|list|revoke`: API tokens for the HTTP transport. A new token is printed
// once, to stdout; only its hash is stored. Bad input exits 2 with a message naming the fix.
import type { Config } from '../config.js';
import { invalidInput, isStowageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { openDatabase } from '../runtime.js';
import { migrate } from '../store/db/migrate.js';
import { createTokenService, validateTokenInput, type TokenInfo } from '../store/tokens.js';
import { TOKEN_USAGE } from './token-usage.js';

export interface TokenFlags {
  principal?: string | undefined;
  scopes?: string | undefined;
  projects?: string | undefined;
  remotes?: string | undefined;
  workspaces?: string | undefined;
  'expires-in'?: string | undefined;
}

interface Output {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

const UNITS: Record<string, number> = { d: 86_400, h: 3600, m: 60 };

/** `30d`, `12h`, `90m` in seconds. */
export function parseExpiresIn(value: string): number {
  const match = /^(\d+)([dhm])$/.exec(value.trim());
  if (!match || Number(match[1]) === 0) {
    throw invalidInput(`--expires-in '${value}' is not a duration: pass e.g. 30d, 12h or 90m`);
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Runs a token command; returns the exit code (2: bad input). */
export async function runTokenCommand(
  args: string[],
  flags: TokenFlags,
  config: Config,
  logger: Logger,
  io: Output = stdio,
): Promise<number> {
  const [sub, ...rest] = args;
  try {
    // Everything that can be checked without a database is checked before one is opened.
    let run: (tokens: ReturnType<typeof createTokenService>) => Promise<void>;
    if (sub === 'create' && !rest.length) {
      if (!flags.principal || !flags.scopes || !flags.projects) {
        throw invalidInput(
          "token create needs --principal, --scopes and --projects: e.g. --principal ci --scopes read,write --projects 'team-*'",
        );
      }
      const input = {
        principal: flags.principal,
        scopes: list(flags.scopes),
        projects: list(flags.projects),
        remotes: flags.remotes === undefined ? undefined : list(flags.remotes),
        workspaces: flags.workspaces === undefined ? undefined : list(flags.workspaces),
        expiresInSeconds: flags['expires-in'] === undefined ? undefined : parseExpiresIn(flags['expires-in']),
      };
      validateTokenInput(input);
      run = async (tokens) => {
        const { token, info } = await tokens.create(input);
        io.out(token);
        io.err(
          `created token ${info.id} for ${info.principal} (${info.scopes.join(',')} on ${info.projects.join(',')}; remotes ${info.remotes?.join(',') ?? 'none'}; workspaces ${info.workspaces ? `own and ${info.workspaces.join(',')}` : 'own'}${info.expires_at ? `, expires ${info.expires_at}` : ''}); it cannot be shown again: store it now`,
        );
      };
    } else if (sub === 'list' && !rest.length) {
      run = async (tokens) => {
        const rows = await tokens.list();
        if (!rows.length) io.err('no tokens: create one with stowage token create');
        for (const row of rows) io.out(describe(row));
      };
    } else if (sub === 'revoke' && rest.length === 1) {
      run = async (tokens) => {
        const row = await tokens.revoke(rest[0]!);
        io.err(`revoked token ${row.id} of ${row.principal} at ${row.revoked_at}`);
      };
    } else {
      throw invalidInput(`usage:\n${TOKEN_USAGE}`);
    }
    const db = await openDatabase(config, logger);
    try {
      await migrate(db.sql);
      await run(createTokenService(db.sql));
    } finally {
      await db.close();
    }
    return 0;
  } catch (err) {
    if (isStowageError(err, 'invalid_input') || isStowageError(err, 'not_found')) {
      io.err(`stowage: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

function describe(row: TokenInfo): string {
  const status = row.revoked_at
    ? `revoked ${row.revoked_at}`
    : row.expires_at && Date.parse(row.expires_at) <= Date.now()
      ? `expired ${row.expires_at}`
      : row.expires_at
        ? `expires ${row.expires_at}`
        : 'no expiry';
  return [
    row.id,
    row.principal,
    row.scopes.join(','),
    row.projects.join(','),
    `remotes ${row.remotes?.join(',') ?? 'none'}`,
    `workspaces ${row.workspaces ? `own,${row.workspaces.join(',')}` : 'own'}`,
    status,
    `last used ${row.last_used_at ?? 'never'}`,
  ].join('\t');
}
