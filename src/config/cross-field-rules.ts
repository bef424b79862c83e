// The configuration's rules across values, run once each value is valid (env-schema.ts): S3 keys
// in pairs, OAuth settings together and over TLS, backups going somewhere else, and what serving
// beyond loopback requires. Each message names what to change, by the name the user gave it (flag
// or variable).
import { relative, resolve, isAbsolute } from 'node:path';
import type { RefinementCtx } from 'zod';
import { isLoopback } from '../loopback.js';
import type { Env } from './env-schema.js';

/** What a parse needs beyond the values: where STOWAGE_HOME is relative to, whether HTTP is
 *  being served, and what the user called each value. */
export interface ParseContext {
  cwd: string;
  servingHttp: boolean;
  /** The name the user gave a value by: `--port` if the flag was passed, else STOWAGE_PORT. */
  named: (variable: string) => string;
}

/** The rules across values, run once each value is valid; each message names what to change. */
export function crossFieldRules(e: Env, ctx: RefinementCtx, { servingHttp, named, cwd }: ParseContext): void {
  const refuse = (message: string) => ctx.addIssue({ code: 'custom', message });
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    refuse('set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  oauthRules(e, refuse);
  backupRules(e, refuse, cwd);
  if (!servingHttp || isLoopback(e.STOWAGE_HOST)) return;
  const host = `${named('STOWAGE_HOST')} ${e.STOWAGE_HOST} is not a loopback address`;
  // Beyond loopback, auth defaults to tokens: `none` there is only ever chosen outright.
  if (e.STOWAGE_AUTH === 'none' && !e.STOWAGE_OAUTH_ISSUER) {
    refuse(
      `${host} and STOWAGE_AUTH is none: serving beyond loopback needs bearer tokens: set STOWAGE_AUTH=tokens (create tokens with stowage token create), or bind 127.0.0.1`,
    );
  }
  if (e.STOWAGE_OAUTH_ISSUER && !oauthAudience(e)) {
    refuse(
      `${host}: OAuth access tokens must name this server's public URL as their audience: set STOWAGE_PUBLIC_URL (e.g. https://stowage.example.com) or STOWAGE_OAUTH_AUDIENCE (e.g. https://stowage.example.com/mcp)`,
    );
  }
}

/** The OAuth settings, checked together: they only make sense with an issuer, and with auth on. */
function oauthRules(e: Env, refuse: (message: string) => void): void {
  if (!e.STOWAGE_OAUTH_ISSUER) {
    const stray = (
      [
        'STOWAGE_OAUTH_JWKS_URL',
        'STOWAGE_OAUTH_AUDIENCE',
        'STOWAGE_OAUTH_SCOPE_CLAIM',
        'STOWAGE_OAUTH_PROJECTS_CLAIM',
      ] as const
    ).filter((name) => e[name] !== undefined);
    if (stray.length) {
      refuse(`${stray.join(', ')} need STOWAGE_OAUTH_ISSUER: set the issuer, or unset them`);
    }
    return;
  }
  if (e.STOWAGE_AUTH === 'none') {
    refuse('STOWAGE_OAUTH_ISSUER turns on OAuth but STOWAGE_AUTH is none: unset one of them');
  }
  // The keys that sign tokens must come over TLS; plain http only for an issuer on this machine.
  for (const name of ['STOWAGE_OAUTH_ISSUER', 'STOWAGE_OAUTH_JWKS_URL'] as const) {
    const value = e[name];
    if (value === undefined) continue;
    const url = new URL(value);
    // A URL writes an IPv6 host in brackets: [::1].
    const local = url.protocol === 'http:' && isLoopback(url.hostname.replace(/^\[(.*)\]$/, '$1'));
    if ((url.protocol !== 'https:' && !local) || url.search || url.hash) {
      refuse(`${name} '${value}' must be an https URL without query or fragment (http only on loopback)`);
    }
  }
  const audience = oauthAudience(e);
  if (audience && new URL(audience).hash) {
    refuse(`STOWAGE_OAUTH_AUDIENCE '${audience}' must not have a fragment (RFC 8707)`);
  }
}

/** Backups need a target, S3 settings only for an s3:// one, and a directory outside
 *  STOWAGE_HOME: a backup is there to survive the loss of the home. */
function backupRules(e: Env, refuse: (message: string) => void, cwd: string): void {
  const target = e.BACKUP_TARGET;
  if (!target && e.BACKUP_INTERVAL_HOURS > 0) {
    refuse(
      'BACKUP_INTERVAL_HOURS needs BACKUP_TARGET: set where backups go (a directory, or s3://bucket/prefix), or unset BACKUP_INTERVAL_HOURS',
    );
  }
  const s3Settings = (
    [
      'BACKUP_S3_ENDPOINT',
      'BACKUP_S3_REGION',
      'BACKUP_S3_FORCE_PATH_STYLE',
      'BACKUP_S3_ACCESS_KEY_ID',
      'BACKUP_S3_SECRET_ACCESS_KEY',
    ] as const
  ).filter((name) => e[name] !== undefined);
  if (s3Settings.length && !(target && 'bucket' in target)) {
    refuse(`${s3Settings.join(', ')} apply to an s3:// BACKUP_TARGET only: set one, or unset them`);
  }
  if ((e.BACKUP_S3_ACCESS_KEY_ID === undefined) !== (e.BACKUP_S3_SECRET_ACCESS_KEY === undefined)) {
    refuse('set both BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY, or neither');
  }
  if (target && 'directory' in target) {
    const within = relative(resolve(cwd, e.STOWAGE_HOME), resolve(cwd, target.directory));
    if (!within.startsWith('..') && !isAbsolute(within)) {
      refuse(
        `BACKUP_TARGET ${target.directory} is inside STOWAGE_HOME: backups must survive its loss, so choose a directory elsewhere (another disk, or s3://bucket/prefix)`,
      );
    }
  }
}

/** RFC 8707: the resource is the server's URL; behind a proxy, the public one. */
export const oauthAudience = (e: Env) =>
  e.STOWAGE_OAUTH_AUDIENCE ??
  (e.STOWAGE_PUBLIC_URL ? `${e.STOWAGE_PUBLIC_URL.replace(/\/+$/, '')}/mcp` : undefined);
