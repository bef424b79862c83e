#!/usr/bin/env node
// The entry: loads the CLI (cli/main.ts) and runs it. `serve --stdio` first starts answering its
// client's handshake from what an earlier start kept (cli/early-answers.ts, which reads nothing
// heavy), so a client that allows a second at most is answered before the rest loads. A stdio
// server, one agent's, keeps V8's young generation small from the start (cli/idle-memory.ts).
import { answerEarly, servesStdio } from './cli/early-answers.js';
import { keepYoungGenerationSmall } from './cli/idle-memory.js';

const argv = process.argv.slice(2);
const stdio = servesStdio(argv);
if (stdio) keepYoungGenerationSmall();
const early = stdio ? answerEarly(argv) : undefined;

(early ? early.ready : Promise.resolve())
  .then(() => import('./cli/main.js'))
  .then(({ main }) => main(argv, early))
  .then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`stowage: ${message}\n`);
      process.exit(1);
    },
  );
