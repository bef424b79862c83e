// Bearer authentication (RFC 6750) for every route that needs it (/mcp, /metrics): the token's
// holder, or the status, challenge and message of a refusal. With OAuth, every challenge names the
// protected-resource metadata (RFC 9728 §5.1). A token is only checked here, never logged.
import type { Logger } from '../logger.js';
import type { VerifiedToken } from '../store/tokens.js';
import type { BearerCheck } from './oauth.js';

export interface BearerAuth {
  verify(token: string): Promise<BearerCheck>;
}

export type BearerOutcome =
  | { ok: true; token: VerifiedToken }
  | { ok: false; status: 401 | 403 | 503; challenge?: string; message: string };

export async function authenticate(
  auth: BearerAuth,
  header: string | undefined,
  options: { logger: Logger; metadataUrl?: (() => string) | undefined; fix?: string | undefined },
): Promise<BearerOutcome> {
  const challenge = (...params: string[]) =>
    [
      'Bearer realm="stowage"',
      ...params,
      ...(options.metadataUrl ? [`resource_metadata="${options.metadataUrl()}"`] : []),
    ].join(', ');
  const bearer = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  if (!bearer) {
    // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
    return {
      ok: false,
      status: 401,
      challenge: challenge(),
      message: 'authentication required: send Authorization: Bearer <token>',
    };
  }
  let check: BearerCheck;
  try {
    check = await auth.verify(bearer);
  } catch (err) {
    // The database or the issuer's keys are out of reach; the error never holds the token.
    options.logger.warn({ err }, 'a bearer token could not be checked');
    return { ok: false, status: 503, message: 'the token cannot be checked now: retry shortly' };
  }
  if (check.ok) return check;
  const error = check.error ?? 'invalid_token';
  const description = `the token is ${check.reason}`;
  // A valid token without any Stowage scope: 403, naming the scopes to ask for (RFC 6750 §3.1).
  const scope = error === 'insufficient_scope' ? ['scope="read write admin"'] : [];
  return {
    ok: false,
    status: error === 'insufficient_scope' ? 403 : 401,
    challenge: challenge(`error="${error}"`, `error_description="${description}"`, ...scope),
    message: `${description}: ${check.fix ?? options.fix ?? 'ask for a new one (stowage token create)'}`,
  };
}
