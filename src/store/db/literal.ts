// pg's escapeLiteral, for the few statements that travel without parameters (see sql.ts), loaded
// on first use: `serve --stdio` answers its client before storage opens, and pg is not needed
// for that. Kept once loaded: require() resolves its specifier again on every call (file system
// lookups, a fifth of a millisecond), which a write paid twice.
import { createRequire } from 'node:module';
import type Pg from 'pg';

const require = createRequire(import.meta.url);
let pg: typeof Pg | undefined;

export const escapeLiteral = (value: string): string =>
  (pg ??= require('pg') as typeof Pg).escapeLiteral(value);
