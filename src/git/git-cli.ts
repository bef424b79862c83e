// Runs git safely: simple-git with a minimal environment (empty HOME, no system config, no
// prompts, literal pathspecs, an allow-list of protocols), hooks and symlinks off, a timeout,
// abort, and each token only as an http.<its origin>.extraHeader passed through GIT_CONFIG_*
// variables. Network commands run only against a remote the guard checked (remote-guard.ts).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as SimpleGitModule from 'simple-git';
import type { SimpleGit } from 'simple-git';
import { StowageError } from '../errors.js';
import { credentialConfig, secretsOf, type GitCredential } from './credentials.js';
import { createRemoteGuard, UNREACHABLE, type CheckedRemote, type LookupAll } from './remote-guard.js';
import { scratchPrefix } from './scratch-dirs.js';

export interface GitCliOptions {
  /** Each token goes only to its own origin (see credentials.ts). */
  credentials: readonly GitCredential[];
  allowedProtocols: readonly string[];
  /** GIT_ALLOWED_HOSTS (see remote-guard.ts). */
  allowedHosts: readonly string[];
  timeoutMs: number;
  /** Host name resolution for the guard (default dns.lookup). */
  lookup?: LookupAll | undefined;
  /** Where ephemeral clones and the empty HOME live. */
  scratchDir: string;
}

export interface RunOptions {
  cwd: string;
  /** What git reads on stdin; parts are written in turn, so a large input needs no copy. */
  input?: string | Buffer | readonly Buffer[] | undefined;
  signal?: AbortSignal | undefined;
  /** Extra GIT_* variables for this command (author identity, GIT_INDEX_FILE). */
  env?: Record<string, string> | undefined;
  /** The remote a network command (clone, fetch, push) contacts, as checkUrl returned it. */
  remote?: CheckedRemote | undefined;
  /** Sees the exit code (stream and plumb); a non-zero one it returns true for is no failure
   *  (`git merge-file` exits with its count of conflicts). */
  onExit?: ((code: number) => boolean) | undefined;
}

export interface GitCli {
  /** Runs `git <args>` and returns its stdout; failures become StowageErrors. */
  run(args: readonly string[], options: RunOptions): Promise<string>;
  /** Runs local plumbing that prints little or nothing (read-tree, update-index, write-tree,
   *  commit-tree, hash-object) directly: simple-git waits a fixed 50 ms after every command
   *  that prints nothing, which would triple the cost of a commit. Same env and config. */
  plumb(args: readonly string[], options: RunOptions): Promise<string>;
  /** Runs git with stdout as a stream (large binary output: cat-file --batch). */
  stream(
    args: readonly string[],
    options: RunOptions,
    consume: (stdout: Readable) => Promise<void>,
  ): Promise<void>;
  /** A fresh temporary directory, removed by the returned function (call it in `finally`). */
  scratch(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }>;
  /** Refuses URLs git must not use (other protocols, credentials in the URL, hosts on loopback
   *  or private networks not allowed); network commands must be run with what it returns. */
  checkUrl(url: string, signal?: AbortSignal): Promise<CheckedRemote>;
}

const joined = (input: string | Buffer | readonly Buffer[]) =>
  typeof input === 'string' || Buffer.isBuffer(input) ? input : Buffer.concat(input);

/** Thrown (inside a StowageError `conflict`) when a push was rejected because the branch moved. */
export const PUSH_REJECTED = 'push_rejected';

// Config that makes a hostile repository inert: no hooks, no symlinks on disk, no attribute
// filters or external tools, no credential helpers, no redirect to another protocol.
const SAFE_CONFIG = [
  'core.hooksPath=/dev/null',
  'core.symlinks=false',
  'core.fsmonitor=false',
  'core.askPass=',
  'credential.helper=',
  'protocol.allow=never',
  'http.followRedirects=false',
  'init.templateDir=',
  'advice.detachedHead=false',
];

export function createGitCli(options: GitCliOptions): GitCli {
  let home: string | undefined;
  // Named after this process, so a later start-up can tell it from a live one's (scratch-dirs.ts).
  const emptyHome = async () => {
    if (!home) {
      await mkdir(options.scratchDir, { recursive: true, mode: 0o700 });
      home = await mkdtemp(join(options.scratchDir, scratchPrefix('home')));
    }
    return home;
  };

  const protocolConfig = options.allowedProtocols.map((p) => `protocol.${p}.allow=always`);

  const guard = createRemoteGuard(options);
  const credentials = credentialConfig(options.credentials);
  const secrets = secretsOf(options.credentials);

  async function environment(args: readonly string[], opts: RunOptions): Promise<Record<string, string>> {
    // The one door to the network: a clone, fetch or push run without a checked remote (a new
    // call site that skipped checkUrl) is refused here rather than sent anywhere.
    if (NETWORK_COMMANDS.has(args[0] ?? '') && !guard.issued(opts.remote)) {
      throw new StowageError('internal', `git ${args[0]} was run without checking its remote first`);
    }
    const config = [
      ...credentials,
      ...(opts.remote?.pin ? [['http.curloptResolve', opts.remote.pin]] : []),
      ...(opts.remote && isLocalUrl(opts.remote.url)
        ? [['remote.origin.uploadpack', LOCAL_UPLOAD_PACK]]
        : []),
    ];
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: await emptyHome(),
      LANG: 'C',
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      GIT_LITERAL_PATHSPECS: '1',
      GIT_ALLOW_PROTOCOL: options.allowedProtocols.join(':'),
      GIT_NO_REPLACE_OBJECTS: '1',
      ...opts.env,
      ...(config.length ? { GIT_CONFIG_COUNT: String(config.length) } : {}),
      ...Object.fromEntries(
        config.flatMap(([key, value], i) => [
          [`GIT_CONFIG_KEY_${i}`, key],
          [`GIT_CONFIG_VALUE_${i}`, value],
        ]),
      ),
    };
  }

  /** What a failure of `args` means, with every token removed from git's words first. */
  const failure = (err: unknown, args: readonly string[], opts: RunOptions) =>
    translateGitError(err, args, {
      signal: opts.signal,
      redact: (text) => secrets.reduce((t, secret) => t.split(secret).join('***'), text),
      network: NETWORK_COMMANDS.has(args[0] ?? ''),
      credentialed: hasCredential(options.credentials, opts.remote),
    });

  async function client(opts: RunOptions, env: Record<string, string>): Promise<SimpleGit> {
    const { simpleGit } = await loadSimpleGit();
    return simpleGit({
      baseDir: opts.cwd,
      config: [...SAFE_CONFIG, ...protocolConfig],
      timeout: { block: options.timeoutMs },
      completion: { onClose: true, onExit: false },
      ...(opts.signal ? { abort: opts.signal } : {}),
      ...(opts.input !== undefined ? { input: () => joined(opts.input!) } : {}),
      // simple-git resolves a non-zero exit with empty stderr unless told otherwise.
      errors: (error, result) =>
        result.exitCode === 0 ? error : (error ?? Buffer.from(`git exited with ${result.exitCode}`)),
      // Every GIT_* variable must be allowed one by one; config through env too.
      allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')),
      // Opted into one by one: these are the settings that make git safer here (hooks off, no askpass).
      unsafe: {
        allowUnsafeConfigEnvCount: true,
        allowUnsafeAskPass: true,
        allowUnsafeProtocolOverride: true,
        allowUnsafeHooksPath: true,
        allowUnsafeCredentialHelper: true,
        allowUnsafeFsMonitor: true,
        allowUnsafeTemplateDir: true,
        allowUnsafePack: true, // LOCAL_UPLOAD_PACK, a constant, for file:// remotes only
      },
    }).env(env);
  }

  return {
    async run(args, opts) {
      const env = await environment(args, opts);
      try {
        return await (await client(opts, env)).raw([...args]);
      } catch (err) {
        throw failure(err, args, opts);
      }
    },

    async stream(args, opts, consume) {
      // simple-git buffers all of stdout (cat-file output can be the whole repository) and
      // waits after silent commands, so this spawns git directly, same environment and config.
      const env = await environment(args, opts);
      const configArgs = [...SAFE_CONFIG, ...protocolConfig].flatMap((c) => ['-c', c]);
      const child = spawn('git', [...configArgs, ...args], {
        cwd: opts.cwd,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(opts.signal ? { signal: opts.signal } : {}),
        timeout: options.timeoutMs,
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      const input = opts.input ?? '';
      if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
      // A write that fails shows as git's own failure below.
      else pipeline(Readable.from(input), child.stdin).catch(() => undefined);
      const exited = new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
      // Awaited below unless reading stdout failed first (an abort ends both): never left unhandled.
      exited.catch(() => undefined);
      try {
        await consume(child.stdout);
        const code = await exited;
        const accepted = code !== null && opts.onExit ? opts.onExit(code) : false;
        if (code !== 0 && !accepted) throw new Error(stderr || `git exited with ${code}`);
      } catch (err) {
        child.kill('SIGKILL');
        throw failure(err, args, opts);
      }
    },

    async plumb(args, opts) {
      const chunks: Buffer[] = [];
      await this.stream(args, opts, async (stdout) => {
        for await (const chunk of stdout as AsyncIterable<Buffer>) chunks.push(chunk);
      });
      return Buffer.concat(chunks).toString('utf8');
    },

    async scratch(prefix) {
      await mkdir(options.scratchDir, { recursive: true, mode: 0o700 });
      const dir = await mkdtemp(join(options.scratchDir, scratchPrefix(prefix)));
      return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
    },

    checkUrl: (url, signal) => guard.check(url, signal),
  };
}

/** Commands that contact a remote: they run only with a remote the guard checked. */
/** A file:// remote is served by an upload-pack git starts locally, with the serving repository's
 *  own config, which refuses the filters and object wants a blob-less clone needs: git then
 *  ignores --filter=blob:none with a warning and copies every blob. This one allows them (for
 *  a clone it is passed as --upload-pack, which a clone takes from nowhere else). */
export const LOCAL_UPLOAD_PACK =
  'git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack';
export const isLocalUrl = (url: string) => url.startsWith('file:');

// simple-git is loaded with the first git command, not with the server (11 MB of a stdio process).
let simpleGitModule: Promise<typeof SimpleGitModule> | undefined;
const loadSimpleGit = () => (simpleGitModule ??= import('simple-git'));

const NETWORK_COMMANDS = new Set(['clone', 'fetch', 'pull', 'push', 'ls-remote', 'fetch-pack', 'send-pack']);

/** Whether one of `credentials` is for the origin of `remote` (git would send it there). */
function hasCredential(credentials: readonly GitCredential[], remote: CheckedRemote | undefined): boolean {
  if (!remote) return false;
  try {
    const origin = `${new URL(remote.url).origin}/`;
    return credentials.some((c) => c.url === origin);
  } catch {
    return false;
  }
}

interface FailureContext {
  signal: AbortSignal | undefined;
  redact: (text: string) => string;
  /** A command that contacts the remote: what git says of the connection is never passed on. */
  network: boolean;
  /** Whether a credential is configured for the remote's host. */
  credentialed: boolean;
}

/** Git's failures, as errors that name the problem and the fix. A network command's failure to
 *  reach the remote (refused, reset, empty or garbled reply, TLS, timeout, 5xx) is always the
 *  one UNREACHABLE message: git's words would tell an open port from a closed one. */
function translateGitError(err: unknown, args: readonly string[], context: FailureContext): StowageError {
  if (err instanceof StowageError) return err;
  const text = context.redact(err instanceof Error ? err.message : String(err));
  const command = `git ${args[0] ?? ''}`;
  if (context.signal?.aborted) return new StowageError('unavailable', `${command} was cancelled`);
  if (/\[(remote )?rejected\]|non-fast-forward|fetch first|failed to update ref|stale info/.test(text)) {
    return new StowageError('conflict', 'the remote branch moved', { reason: PUSH_REJECTED });
  }
  if (
    /Authentication failed|could not read Username|terminal prompts disabled|HTTP 401|403 Forbidden|returned error: 40[13]/i.test(
      text,
    )
  ) {
    return new StowageError(
      'forbidden',
      context.credentialed
        ? "the git remote rejected the credentials: check GITHUB_TOKEN (or the host's entry in GIT_CREDENTIALS) and its access to the repository"
        : 'the git remote asks for credentials and none is configured for its host: add host=token to GIT_CREDENTIALS (GITHUB_TOKEN goes only to the GitHub host of GITHUB_API_URL)',
    );
  }
  if (/not found|does not appear to be a git repository|returned error: 404/i.test(text)) {
    return new StowageError(
      'not_found',
      'the git remote or branch was not found: check the remote url and branch',
    );
  }
  const refused = /invalid path '([^']*)'/.exec(text);
  if (refused) {
    return new StowageError(
      'invalid_input',
      `the remote tree holds a path git itself refuses ('${refused[1]}'): fix the repository before committing to it`,
    );
  }
  if (/transport '.*' not allowed|unsupported protocol/i.test(text)) {
    return new StowageError(
      'invalid_input',
      'the remote uses a protocol that is not allowed: add it to GIT_ALLOWED_PROTOCOLS',
    );
  }
  if (context.network || /timed out|timeout|ETIMEDOUT|unable to access/i.test(text)) {
    return new StowageError('unavailable', UNREACHABLE);
  }
  return new StowageError('internal', `${command} failed: ${firstLine(text)}`);
}

const firstLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-1)[0]
    ?.slice(0, 300) ?? 'no output';
