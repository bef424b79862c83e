// Catches the StowageError a synchronous call throws, failing the test when it returns instead.
import { expect } from 'vitest';
import { StowageError } from '../../src/errors.js';

export function rejection(fn: () => unknown): StowageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StowageError);
    return err as StowageError;
  }
  throw new Error('expected a StowageError, got a value');
}
