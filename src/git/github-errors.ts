// GitHub's REST failures as StowageErrors whose messages name the fix: rate limits become
// retriable `unavailable` errors with a time, a bad token `forbidden`; the token never appears.
import { StowageError, conflict, invalidInput, notFound } from '../errors.js';

/** What a call is called in messages: "GitHub refused to <verb> <target>", "GitHub has no <target>". */
export interface Step {
  verb: string;
  target: string;
}

/** The HTTP status behind a translated error, for the callers that act on one; never shown. */
const httpStatus = new WeakMap<StowageError, number>();

/** Handles a translated GitHub error of one status (`handle` may rethrow); rethrows the rest. */
export const onStatus =
  <T>(status: number, handle: (err: StowageError) => T) =>
  (err: unknown): T => {
    if (err instanceof StowageError && httpStatus.get(err) === status) return handle(err);
    throw err;
  };

/** An Octokit failure as a StowageError whose message names the fix; `redact` strips the token. */
export function translate(
  err: unknown,
  step: Step,
  host: string,
  redact: (text: string) => string,
): StowageError {
  const { status, response } = (err ?? {}) as {
    status?: unknown;
    response?: { headers?: unknown; data?: unknown };
  };
  if (typeof status !== 'number' || !response) {
    // Octokit reports a failed fetch as status 500 without a response, its cause as the message.
    const cause = err instanceof Error ? err.message : String(err);
    const message = `Could not reach GitHub at ${host} to ${step.verb} ${step.target} (${cause}): check the network and retry`;
    return new StowageError('unavailable', redact(message));
  }
  const headers = (response.headers ?? {}) as Record<string, string | undefined>;
  const body = (typeof response.data === 'object' && response.data) || {};
  const said = [
    'message' in body ? String(body.message) : '',
    ...('errors' in body && Array.isArray(body.errors) ? body.errors : []).map((e: unknown) =>
      typeof e === 'object' && e && 'message' in e ? String(e.message) : '',
    ),
  ];
  const message = redact(said.filter(Boolean).join(': ').slice(0, 500)) || `HTTP ${status}`;
  const error = (() => {
    if (status === 401) return new StowageError('forbidden', 'GitHub rejected the token: check GITHUB_TOKEN');
    const limited =
      headers['retry-after'] || headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(message);
    if ((status === 403 || status === 429) && limited) {
      const reset = Number(headers['x-ratelimit-reset']) - Date.now() / 1000;
      const after = Number(headers['retry-after'] ?? NaN); // GitHub sends seconds; an HTTP date falls through
      const seconds =
        Number.isInteger(after) && after >= 0
          ? after
          : headers['x-ratelimit-remaining'] === '0' && reset >= 0
            ? Math.ceil(reset)
            : 60; // GitHub's advice for a secondary limit that names no time
      const at = new Date(Date.now() + seconds * 1000).toISOString();
      const text = `GitHub rate limit reached; retry after ${at} (in ${seconds} s)`;
      return new StowageError('unavailable', text, { retryAfterSeconds: seconds });
    }
    if (status === 403) {
      const needs = headers['x-accepted-github-permissions'] ?? headers['x-accepted-oauth-scopes'];
      const fix = needs ? `the token needs ${needs}` : `give the token access to ${step.target}`;
      return new StowageError(
        'forbidden',
        `GitHub refused to ${step.verb} ${step.target} (${message}): ${fix}`,
      );
    }
    if (status === 404) {
      return notFound(
        `GitHub has no ${step.target}, or the token cannot see it: check the name and the token's access`,
      );
    }
    if (status === 409) return conflict(`GitHub could not ${step.verb} ${step.target}: ${message}`);
    if (status >= 500) {
      const text = `GitHub failed to ${step.verb} ${step.target} (HTTP ${status}): retry later`;
      return new StowageError('unavailable', text);
    }
    return invalidInput(`GitHub could not ${step.verb} ${step.target}: ${message}`);
  })();
  httpStatus.set(error, status);
  return error;
}
