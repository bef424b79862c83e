// The stdio handshake answered before anything heavy is read. A client spawns `serve --stdio`
// afresh for every session and some give up on a server that has not answered within a second
// (Codex): so the SDK's own answers to `initialize` and `tools/list` are kept in STOWAGE_HOME
// the first time it gives them, and replayed at once on the next start, while the SDK, the tools
// and storage load. Every message read meanwhile is held and then handed to the SDK's transport
// as if it had read it itself (so the SDK sees the client's initialize), and the SDK's own
// answers to the replayed requests are dropped. The answers are replayed only when nothing that
// shapes them changed: the build, the arguments, and each configuration variable.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';

interface Kept {
  /** Of the build, the arguments and the variables named below. */
  key: string;
  /** The configuration's variables: a change to any of them may change the answers. */
  variables: string[];
  /** The protocol revisions the SDK speaks (it answers the client's if listed, else the first). */
  protocolVersions: string[];
  initialize: { protocolVersion: string } & Record<string, unknown>;
  tools: unknown;
}

interface Request {
  jsonrpc: '2.0';
  id: string | number;
  method: string;
  params?: Record<string, unknown>;
}

const DIST = resolve(import.meta.dirname, '..');

/** Where the answers are kept: STOWAGE_HOME as the configuration resolves it (default .stowage). */
const keptPath = (env: NodeJS.ProcessEnv, cwd: string) =>
  join(resolve(cwd, env.STOWAGE_HOME || '.stowage'), 'cache', 'stdio-answers.json');

/** The newest modification of the built code, and the package version: a rebuild changes it. */
function buildStamp(): string {
  let newest = statSync(join(DIST, '..', 'package.json')).mtimeMs;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(DIST);
  return String(newest);
}

function keyOf(variables: string[], argv: string[], env: NodeJS.ProcessEnv): string {
  const values = variables.map((name) => env[name] ?? null);
  return createHash('sha256')
    .update(JSON.stringify([buildStamp(), argv, values]))
    .digest('hex');
}

/** `serve --stdio` (with any other flags), the one command whose client waits on a handshake. */
export const servesStdio = (argv: string[]) =>
  argv[0] === 'serve' &&
  argv.includes('--stdio') &&
  !argv.some((a) => a === '--http' || a === '-h' || a === '--help');

export type EarlyStdio = ReturnType<typeof answerEarly>;

/** What the replay needs to go on: the transport's streams, and how to keep the SDK's answers. */
export interface EarlyAnswers {
  /** The transport's stdin: what was read before, then the rest of process.stdin (its end too). */
  input: Readable;
  /** The transport's stdout: process.stdout without the answers already given. */
  output: Writable;
}

/**
 * Starts reading stdin at once. With kept answers that still hold, a well-formed `initialize` and
 * a plain `tools/list` are answered from them right away; the rest waits for the transport.
 * Without (first start, or anything changed), the SDK's answers to them are kept by `keep`.
 */
export function answerEarly(argv: string[], env = process.env, cwd = process.cwd()) {
  const path = keptPath(env, cwd);
  let kept: Kept | undefined;
  try {
    const read = JSON.parse(readFileSync(path, 'utf8')) as Kept;
    if (read.key === keyOf(read.variables, argv, env)) kept = read;
  } catch {
    // None kept yet, or unreadable: the SDK answers, and its answers are kept.
  }
  const held: Buffer[] = [];
  const answered = new Set<string | number>();
  let pending = '';
  let replaying = kept !== undefined;
  // The rest loads once the handshake is answered, or the client has been quiet for a moment:
  // loading holds the event loop for long stretches (Node 22 loads a module graph without
  // reading stdin in between), so stdin is read first.
  let settle!: () => void;
  const ready = new Promise<void>((resolve) => (settle = resolve));
  let quiet: NodeJS.Timeout | undefined;
  const waitOrSettle = () => {
    clearTimeout(quiet);
    if (!replaying) return settle();
    quiet = setTimeout(() => {
      replaying = false;
      settle();
    }, QUIET_MS);
  };
  const hold = (chunk: Buffer) => {
    held.push(chunk);
    if (!replaying) return;
    pending += chunk.toString('utf8');
    // A handshake line is short: a long one is a call, the SDK's to read.
    if (pending.length > LONGEST_LINE) replaying = false;
    for (let end = pending.indexOf('\n'); end >= 0 && replaying; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      replaying = replay(line, kept!, answered);
    }
    waitOrSettle();
  };
  process.stdin.on('data', hold);
  waitOrSettle();
  // A client may have sent everything and closed stdin before the transport is handed it.
  let ended = false;
  process.stdin.once('end', () => (ended = true));

  // Without kept answers: the ids of the first initialize and tools/list the SDK is handed, and
  // its answers to them, looked for only among the first few messages each way.
  const wanted = new Map<string | number, 'initialize' | 'tools'>();
  const captured: Partial<Pick<Kept, 'initialize' | 'tools'>> = {};
  let keepAs: ((answers: Pick<Kept, 'initialize' | 'tools'>) => void) | undefined;
  let outgoing = kept ? 0 : WATCHED;
  let storageOpen = false;

  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (answered.size || outgoing > 0) {
        outgoing--;
        const message = parsed(chunk);
        const id = message.id;
        if (id !== undefined && answered.delete(id)) return done();
        const as = id !== undefined ? wanted.get(id) : undefined;
        if (as && message.result) {
          captured[as] = message.result;
          if (captured.initialize && captured.tools) keepAs?.(captured as Pick<Kept, 'initialize' | 'tools'>);
        }
      }
      process.stdout.write(chunk, done);
    },
  });

  return {
    /** Resolves when the rest may load: the handshake answered (or nothing kept to answer it
     *  with), or the client quiet for QUIET_MS. */
    ready,
    /** Hands what was read to the transport; process.stdin goes on flowing into it. */
    handOver(): EarlyAnswers {
      replaying = false;
      clearTimeout(quiet);
      process.stdin.off('data', hold);
      const input = new PassThrough();
      if (!kept) {
        const watch = watcher(wanted, () => process.stdin.off('data', watch));
        for (const chunk of held) watch(chunk);
        process.stdin.on('data', watch);
      }
      for (const chunk of held) input.write(chunk);
      // Ended already: the end follows once the transport has taken what was read, as it would.
      if (ended) setImmediate(() => input.end());
      else process.stdin.pipe(input);
      return { input, output };
    },
    /** Keeps the SDK's first answers for the next start, keyed by the configuration's variables;
     *  in STOWAGE_HOME once it exists (storage creates it, with the modes it needs). */
    keep(variables: string[], protocolVersions: string[]) {
      if (kept) return;
      keepAs = ({ initialize, tools }) => {
        const answers: Kept = {
          key: keyOf(variables, argv, env),
          variables,
          protocolVersions,
          initialize: initialize,
          tools,
        };
        try {
          // Before storage opens, only into an existing home: the embedded Postgres creates it.
          mkdirSync(dirname(path), { recursive: storageOpen, mode: 0o700 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return; // no home yet: try again
        }
        keepAs = undefined;
        try {
          writeFileSync(`${path}.${process.pid}`, JSON.stringify(answers), { mode: 0o600 });
          renameSync(`${path}.${process.pid}`, path);
        } catch {
          // Not kept: the next start answers through the SDK, as this one did.
        }
      };
    },
    /** Storage is open (STOWAGE_HOME may be created now): keeps answers held back for want of it. */
    homeReady() {
      storageOpen = true;
      if (captured.initialize && captured.tools) keepAs?.(captured as Pick<Kept, 'initialize' | 'tools'>);
    },
  };
}

/** A message the SDK writes (one JSON line); what is not one is passed on untouched. */
function parsed(chunk: Buffer): { id?: string | number; result?: never } {
  try {
    return JSON.parse(chunk.toString('utf8')) as { id?: string | number; result?: never };
  } catch {
    return {};
  }
}

/** Answers one line from the kept answers if it is the next handshake step; false stops it. */
function replay(line: string, kept: Kept, answered: Set<string | number>): boolean {
  let message: Request;
  try {
    message = JSON.parse(line) as Request;
  } catch {
    return false;
  }
  const send = (result: unknown) => {
    answered.add(message.id);
    process.stdout.write(`${JSON.stringify({ result, jsonrpc: '2.0', id: message.id })}\n`);
  };
  if (message.method === 'notifications/initialized') return true;
  if (message.method === 'initialize' && wellFormedInitialize(message)) {
    const requested = message.params!.protocolVersion as string;
    const protocolVersion = kept.protocolVersions.includes(requested) ? requested : kept.protocolVersions[0]!;
    send({ ...kept.initialize, protocolVersion });
    return true;
  }
  if (message.method === 'tools/list' && answered.size && isPlain(message)) {
    send(kept.tools);
  }
  // Anything else, and what follows it, is the SDK's to answer in order.
  return false;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A 2026-07-28 request (its _meta names a revision): never answered from, nor kept as, the
 *  2025-11-25 handshake's answers (modern/wire.ts is not loaded here: it is heavy). */
const claimsEnvelope = (message: Partial<Request>) =>
  isObject(message.params) &&
  isObject(message.params._meta) &&
  'io.modelcontextprotocol/protocolVersion' in message.params._meta;

const wellFormedInitialize = (message: Request) =>
  message.jsonrpc === '2.0' &&
  !claimsEnvelope(message) &&
  (typeof message.id === 'string' || typeof message.id === 'number') &&
  isObject(message.params) &&
  typeof message.params.protocolVersion === 'string' &&
  isObject(message.params.capabilities) &&
  isObject(message.params.clientInfo) &&
  typeof message.params.clientInfo.name === 'string' &&
  typeof message.params.clientInfo.version === 'string';

/** tools/list with no cursor (the first page, which is every tool). */
const isPlain = (message: Request) =>
  message.jsonrpc === '2.0' &&
  !claimsEnvelope(message) &&
  (typeof message.id === 'string' || typeof message.id === 'number') &&
  (message.params === undefined || (isObject(message.params) && message.params.cursor === undefined));

/** How long a quiet client is waited for before the rest loads (with answers kept). */
const QUIET_MS = 250;

/** Messages looked at each way for the handshake whose answers are to be kept. */
const WATCHED = 8;
/** Longer lines than this are not handshake messages and are not parsed here. */
const LONGEST_LINE = 1 << 20;

/** Notes the ids of the first initialize and tools/list (among the first messages) in `wanted`. */
function watcher(wanted: Map<string | number, 'initialize' | 'tools'>, stop: () => void) {
  let partial = '';
  let lines = 0;
  return function watch(chunk: Buffer) {
    if (lines >= WATCHED) return;
    const text = partial + chunk.toString('utf8');
    if (text.length > LONGEST_LINE) return stop();
    const complete = text.split('\n');
    partial = complete.pop()!;
    for (const line of complete) {
      if (++lines > WATCHED) return stop();
      let message: Partial<Request>;
      try {
        message = JSON.parse(line) as Partial<Request>;
      } catch {
        continue;
      }
      const as =
        message.method === 'initialize'
          ? 'initialize'
          : message.method === 'tools/list'
            ? 'tools'
            : undefined;
      if (message.id === undefined || !as || claimsEnvelope(message) || [...wanted.values()].includes(as)) {
        continue;
      }
      if (as === 'initialize' || isPlain(message as Request)) wanted.set(message.id, as);
      if (wanted.size === 2) return stop();
    }
  };
}
