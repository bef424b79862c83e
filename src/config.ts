// The configuration: the only reader of process.env and of the `serve` flags, each flag standing
// in for its variable. One zod schema checks each value (config/env-schema.ts), then the rules
// across values (config/cross-field-rules.ts), then shapes `Config` (config/shape.ts); a bad value
// stops start-up with a message naming the variable or flag and what it accepts.
import type { z } from 'zod';
import { crossFieldRules, type ParseContext } from './config/cross-field-rules.js';
import { envSchema, type AuthMode, type Env } from './config/env-schema.js';
import { toConfig } from './config/shape.js';
import { isLoopback } from './loopback.js';

export {
  AUTH_MODES,
  ENV_VARIABLES,
  TOOLSETS,
  withNeeds,
  type AuthMode,
  type Toolset,
} from './config/env-schema.js';

/**
 * The HTTP auth mode: `oauth` with an issuer (API tokens are accepted too), else STOWAGE_AUTH,
 * else `tokens` beyond loopback and `none` on it.
 */
export const authMode = (http: Config['http']): AuthMode =>
  http.oauth ? 'oauth' : (http.auth ?? (isLoopback(http.host) ? 'none' : 'tokens'));

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
