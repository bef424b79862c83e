// pg's escapeLiteral, for the few statements that travel without parameters (see sql.ts), loaded
// on first use: `serve --stdio` answers its client before storage opens, and pg is not needed
// for that.
import { createRequire } from 'node:module';
import type Pg from 'pg';

const require = createRequire(import.meta.url);

export const escapeLiteral = (value: string): string => (require('pg') as typeof Pg).escapeLiteral(value);
