// The one error type of Stowage: a code the caller can act on and a message that names the fix;
// and the one policy for any other error that reaches a caller (reportInternal).
import { randomBytes } from 'node:crypto';
import type { Logger } from './logger.js';

export type ErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'conflict'
  | 'invalid_input'
  | 'forbidden'
  | 'too_large'
  | 'unavailable'
  | 'internal';

export class StowageError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'StowageError';
    this.code = code;
    this.details = details;
  }
}

export const notFound = (message: string, details?: Record<string, unknown>) =>
  new StowageError('not_found', message, details);
export const invalidInput = (message: string, details?: Record<string, unknown>) =>
  new StowageError('invalid_input', message, details);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new StowageError('conflict', message, details);
export const tooLarge = (message: string, details?: Record<string, unknown>) =>
  new StowageError('too_large', message, details);
export const alreadyExists = (message: string, details?: Record<string, unknown>) =>
  new StowageError('already_exists', message, details);

export function isStowageError(err: unknown, code?: ErrorCode): err is StowageError {
  return err instanceof StowageError && (code === undefined || err.code === code);
}
export const forbidden = (message: string, details?: Record<string, unknown>) =>
  new StowageError('forbidden', message, details);

/** An error that is not a StowageError (a bug, an adapter's untranslated failure), as every
 *  caller is told it: logged with its stack under a short reference, and the caller reads the
 *  reference only, so SQL, paths and stack traces never reach the model. Tools (toolError),
 *  resources (resourceError) and batch reads (one file's error) all answer through this. */
export function reportInternal(
  err: unknown,
  logger: Logger,
  context: Record<string, unknown>,
  what: string,
): string {
  const ref = randomBytes(4).toString('hex');
  logger.error({ err, ...context, ref }, what);
  return `internal error (ref ${ref}): retry, or report the ref`;
}
