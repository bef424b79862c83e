// A real git smart-HTTP server on loopback for tests: Node's http in front of `git http-backend`
// (CGI) serving every bare repo under a root, with token auth, a request log for leak checks, and
// switches to rotate the token or make it fail or hang.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gitEnv } from './git-repos.js';

export interface GitRequest {
  method: string;
  /** The request target exactly as received (path and query). */
  url: string;
  /** Headers as Node parsed them (lower-case names). */
  headers: IncomingHttpHeaders;
  /** Header names and values exactly as received, alternating. */
  rawHeaders: string[];
}

/** `none`: serve; `error`: answer every request 500; `hang`: accept and never answer. */
export type FailMode = 'none' | 'error' | 'hang';

export interface GitServer {
  /** `http://<host>:<port>`; a repo `<root>/<owner>/<name>.git` is at `<url>/<owner>/<name>.git`. */
  url: string;
  repoUrl(fullName: string): string;
  /** Every request received so far (including rejected ones), oldest first. */
  requests(): readonly GitRequest[];
  /** Rotates the token; undefined turns auth off. */
  setToken(token: string | undefined): void;
  fail(mode: FailMode): void;
  /** Kills in-flight CGI processes, drops connections, stops listening. */
  close(): Promise<void>;
}

export interface GitServerOptions {
  /** Directory holding `<owner>/<name>.git` bare repos. */
  root: string;
  /** Required as `Basic base64(<any user>:<token>)` or `Bearer <token>`; undefined disables auth. */
  token: string | undefined;
  /** The loopback address to listen on (default 127.0.0.1; Linux routes all of 127/8 to lo). */
  host?: string | undefined;
}

/** The Authorization header value GitHub's git endpoint takes for an installation token. */
export function basicAuth(token: string, user = 'x-access-token'): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

export async function startGitServer(options: GitServerOptions): Promise<GitServer> {
  const execPath = (await promisify(execFile)('git', ['--exec-path'])).stdout.trim();
  const backend = join(execPath, 'git-http-backend');
  let token = options.token;
  const host = options.host ?? '127.0.0.1';
  let mode: FailMode = 'none';
  const log: GitRequest[] = [];
  const children = new Set<ChildProcess>();

  const server = createServer((req, res) => {
    const { method = 'GET', url = '/', headers, rawHeaders } = req;
    log.push({ method, url, headers, rawHeaders });
    if (mode === 'hang') return; // close() drops the connection
    const user = token === undefined ? 'anonymous' : authenticate(headers.authorization, token);
    if (mode === 'error') {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('failing on purpose\n');
    } else if (user === undefined) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="stowage-test"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
    } else {
      children.add(runBackend(backend, options.root, user, req, res, children));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;

  return {
    url,
    repoUrl: (fullName) => `${url}/${fullName}.git`,
    requests: () => log,
    setToken(next) {
      token = next;
    },
    fail(next) {
      mode = next;
    },
    async close() {
      for (const child of children) child.kill('SIGKILL');
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** The user the request authenticates as, or undefined. */
function authenticate(header: string | undefined, token: string): string | undefined {
  const [scheme = '', value = ''] = (header ?? '').trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') return value === token ? 'bearer' : undefined;
  if (scheme.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(colon + 1) !== token) return undefined;
  return decoded.slice(0, colon) || 'token';
}

/** Bridges one request to `git http-backend` as CGI, streaming both bodies. */
function runBackend(
  backend: string,
  root: string,
  user: string,
  req: IncomingMessage,
  res: ServerResponse,
  children: Set<ChildProcess>,
): ChildProcess {
  const target = new URL(req.url ?? '/', 'http://localhost');
  const env = gitEnv({
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: target.pathname, // percent-decoding is not needed for owner/name.git paths
    REQUEST_METHOD: req.method ?? 'GET',
    QUERY_STRING: target.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    CONTENT_LENGTH: req.headers['content-length'],
    // http-backend allows receive-pack (push) only to an authenticated user, unless
    // http.receivepack says otherwise.
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    GIT_PROTOCOL: header(req.headers['git-protocol']),
    // http-backend inflates gzip request bodies itself when told (git clients gzip large ones).
    HTTP_CONTENT_ENCODING: header(req.headers['content-encoding']),
  });
  const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4096);
  });
  child.stdin.on('error', () => undefined); // the backend may answer before reading it all
  req.pipe(child.stdin);
  res.on('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL'); // the client went away
  });
  child.on('close', () => {
    children.delete(child);
    if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`http-backend: ${stderr}`);
  });
  child.on('error', (err) => {
    children.delete(child);
    if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(String(err));
    else res.destroy(err);
  });

  // CGI output: header lines up to a blank line, then the body, piped as it comes.
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (!end) return;
    child.stdout.off('data', onData);
    let status = 200;
    const headers: Record<string, string[]> = {};
    for (const line of head.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else (headers[name] ??= []).push(value);
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end.at + end.length));
    child.stdout.pipe(res);
  };
  child.stdout.on('data', onData);
  return child;
}

/** Where the CGI header block ends (CRLF or bare LF lines), or undefined if not yet. */
function headerEnd(buffer: Buffer): { at: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  return lf >= 0 ? { at: lf, length: 2 } : undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
