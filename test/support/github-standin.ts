// A stand-in for the few GitHub REST endpoints Stowage calls (user, repos, Git Data API, compare,
// pulls). GitHub's API is unreachable from this machine (no network but package registries), so the
// GitHub adapter's tests run against this instead, for the REST API only. Everything it stores is
// a real git object in a real bare repository, `<root>/<owner>/<repo>.git`, written with git
// plumbing; the git smart-HTTP test server can serve the same repositories from the same root.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoggedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RefUpdate {
  owner: string;
  repo: string;
  branch: string;
}

export interface GitHubStandIn {
  /** The API base URL to hand to Octokit. */
  baseUrl: string;
  /** A remote URL for a repository: `<origin>/<owner>/<repo>.git`. */
  remoteUrl(owner: string, repo: string): string;
  /** Answers every later request with GitHub's primary (403) or secondary (429) rate-limit reply. */
  rateLimit(mode: 'none' | 'primary' | 'secondary'): void;
  /** Answers the next request with this status, body and headers instead of handling it. */
  failNext(status: number, body: unknown, headers?: Record<string, string>): void;
  /** Runs before every `PATCH …/git/refs/heads/…` is handled; tests move branches here. */
  beforeRefUpdate(hook: ((update: RefUpdate) => Promise<void>) | undefined): void;
  /** Every request received so far, oldest first. */
  requests(): readonly LoggedRequest[];
  /** Runs git in a bare repository; stdout without its trailing newline. */
  git(owner: string, repo: string, args: string[]): Promise<string>;
  /** The bytes of `<rev>:<path>` in a bare repository. */
  show(owner: string, repo: string, object: string): Promise<Buffer>;
  /** Commits `files` (content, or null to delete) on `branch` directly in the bare repository. */
  commit(owner: string, repo: string, branch: string, files: Record<string, string | null>): Promise<string>;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Repo {
  owner: string;
  name: string;
  git(args: string[], input?: Buffer | string, env?: Record<string, string>): Promise<string>;
}
type Handler = (params: string[], body: any) => Reply | Promise<Reply>;
type RepoHandler = (repo: Repo, params: string[], body: any) => Reply | Promise<Reply>;

const ZERO = '0'.repeat(40);
const fail = (status: number, message: string, errors?: unknown[]): Reply => ({
  status,
  body: { message, documentation_url: 'https://docs.github.com/rest', ...(errors ? { errors } : {}) },
});
const ok = (body: unknown, status = 200): Reply => ({ status, body });

function run(cwd: string, args: string[], input?: Buffer | string, env: Record<string, string> = {}) {
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: cwd,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        ...env,
      },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(new Error(`git ${args[0]}: ${Buffer.concat(err).toString()}`)),
    );
    child.stdin.end(input);
  });
}

const resolveRef = (repo: Repo, ref: string) =>
  repo.git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => undefined);
const succeeds = (work: Promise<unknown>) => work.then(() => true).catch(() => false);

/** Writes a tree: `base` read into a temporary index, then each entry (`content`, `sha` or `sha: null`). */
async function writeTree(repo: Repo, base: string | undefined, entries: any[]): Promise<string> {
  const env = { GIT_INDEX_FILE: join(tmpdir(), `standin-index-${randomBytes(8).toString('hex')}`) };
  try {
    if (base) await repo.git(['read-tree', base], undefined, env);
    const lines: string[] = [];
    for (const e of entries) {
      const sha =
        e.content === undefined ? e.sha : await repo.git(['hash-object', '-w', '--stdin'], e.content);
      lines.push(sha === null ? `0 ${ZERO}\t${e.path}` : `${e.mode} ${sha}\t${e.path}`);
    }
    await repo.git(['update-index', '--replace', '--index-info'], lines.join('\n') + '\n', env);
    return await repo.git(['write-tree'], undefined, env);
  } finally {
    await rm(env.GIT_INDEX_FILE, { force: true });
  }
}

async function commitTree(repo: Repo, body: any): Promise<string> {
  const author = body.author ?? { name: 'Stand-in', email: 'standin@example.com' };
  const committer = body.committer ?? author;
  const env: Record<string, string> = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
    ...(author.date ? { GIT_AUTHOR_DATE: author.date } : {}),
  };
  const parents = (body.parents as string[]).flatMap((p) => ['-p', p]);
  return repo.git(['commit-tree', body.tree, ...parents], body.message, env);
}

export async function startGitHubStandIn(options: {
  root: string;
  token: string;
  /** The token's user (default `octocat`). */
  login?: string;
  /** Organisations the token may create repositories in. */
  orgs?: string[];
}): Promise<GitHubStandIn> {
  const { root, token } = options;
  const login = options.login ?? 'octocat';
  const log: LoggedRequest[] = [];
  const pulls = new Map<string, { head: string; base: string }[]>();
  let limited: 'none' | 'primary' | 'secondary' = 'none';
  let nextFailure: Reply | undefined;
  let refHook: ((update: RefUpdate) => Promise<void>) | undefined;
  let origin = '';

  const dirOf = (owner: string, name: string) => join(root, owner, `${name}.git`);
  const repoOf = (owner: string, name: string): Repo => ({
    owner,
    name,
    git: async (args, input, env) =>
      (await run(dirOf(owner, name), args, input, env)).toString().replace(/\n$/, ''),
  });
  const repoJson = (repo: Repo, isPrivate = false) => ({
    name: repo.name,
    full_name: `${repo.owner}/${repo.name}`,
    owner: { login: repo.owner },
    private: isPrivate,
    default_branch: 'main',
    html_url: `${origin}/${repo.owner}/${repo.name}`,
  });

  async function createRepo(owner: string, body: any): Promise<Reply> {
    const repo = repoOf(owner, String(body.name));
    if (existsSync(dirOf(owner, repo.name))) {
      const taken = {
        resource: 'Repository',
        code: 'custom',
        field: 'name',
        message: 'name already exists on this account',
      };
      return fail(422, 'Repository creation failed.', [taken]);
    }
    await mkdir(join(root, owner), { recursive: true });
    await run(join(root, owner), ['init', '--quiet', '--bare', '--initial-branch=main', `${repo.name}.git`]);
    if (body.auto_init) {
      const tree = await writeTree(repo, undefined, [
        { path: 'README.md', mode: '100644', content: `# ${repo.name}\n` },
      ]);
      const sha = await commitTree(repo, { tree, parents: [], message: 'Initial commit' });
      await repo.git(['update-ref', 'refs/heads/main', sha, ZERO]);
    }
    return ok(repoJson(repo, body.private === true), 201);
  }

  const routes: { method: string; pattern: RegExp; handle: Handler }[] = [];
  const on = (method: string, path: string, handle: Handler) =>
    routes.push({ method, pattern: new RegExp(`^${path}$`), handle });
  /** A route under `/repos/{owner}/{repo}` of an existing repository. */
  const onRepo = (method: string, path: string, handle: RepoHandler) =>
    on(method, `/repos/([\\w.-]+)/([\\w.-]+)${path}`, ([owner, name, ...params], body) =>
      existsSync(dirOf(owner!, name!)) && !['.', '..'].includes(name!)
        ? handle(repoOf(owner!, name!), params, body)
        : fail(404, 'Not Found'),
    );

  on('GET', '/user', () => ok({ login, id: 1, type: 'User' }));
  on('POST', '/user/repos', (_, body) => createRepo(login, body));
  on('POST', '/orgs/([\\w.-]+)/repos', ([org], body) =>
    options.orgs?.includes(org!) ? createRepo(org!, body) : fail(404, 'Not Found'),
  );
  onRepo('GET', '', (repo) => ok(repoJson(repo)));
  onRepo('GET', '/git/ref/heads/(.+)', async (repo, [branch]) => {
    const sha = await resolveRef(repo, `refs/heads/${branch}`);
    return sha
      ? ok({ ref: `refs/heads/${branch}`, object: { sha, type: 'commit' } })
      : fail(404, 'Not Found');
  });
  onRepo('POST', '/git/refs', async (repo, _, body) => {
    if (await resolveRef(repo, body.ref)) return fail(422, 'Reference already exists');
    await repo.git(['update-ref', body.ref, body.sha, ZERO]);
    return ok({ ref: body.ref, object: { sha: body.sha, type: 'commit' } }, 201);
  });
  onRepo('PATCH', '/git/refs/heads/(.+)', async (repo, [branch], body) => {
    await refHook?.({ owner: repo.owner, repo: repo.name, branch: branch! });
    const ref = `refs/heads/${branch}`;
    const current = await resolveRef(repo, ref);
    if (!current) return fail(422, 'Reference does not exist');
    const fastForward = await succeeds(repo.git(['merge-base', '--is-ancestor', current, body.sha]));
    // update-ref with the old value is a compare-and-swap: a concurrent move fails it too.
    if (
      (!body.force && !fastForward) ||
      !(await succeeds(repo.git(['update-ref', ref, body.sha, current])))
    ) {
      return fail(422, 'Update is not a fast forward');
    }
    return ok({ ref, object: { sha: body.sha, type: 'commit' } });
  });
  onRepo('GET', '/git/commits/([0-9a-f]{40})', async (repo, [sha]) => {
    const raw = await repo
      .git(['log', '-1', '--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%B', sha!])
      .catch(() => '');
    if (!raw) return fail(404, 'Not Found');
    const [tree, parents, name, email, date, message] = raw.split('\0');
    const parentList = parents ? parents.split(' ').map((p) => ({ sha: p })) : [];
    return ok({ sha, tree: { sha: tree }, parents: parentList, author: { name, email, date }, message });
  });
  onRepo('POST', '/git/commits', async (repo, _, body) => ok({ sha: await commitTree(repo, body) }, 201));
  onRepo('GET', '/git/trees/([0-9a-f]{40})', async (repo, [sha]) => {
    const listing = await repo.git(['ls-tree', '-z', sha!]).catch(() => undefined);
    if (listing === undefined) return fail(404, 'Not Found');
    const tree = listing
      .split('\0')
      .filter(Boolean)
      .map((line) => line.match(/^(\d+) (\w+) ([0-9a-f]{40})\t(.*)$/s)!)
      .map(([, mode, type, sha, path]) => ({ path, mode, type, sha }));
    return ok({ sha, tree, truncated: false });
  });
  onRepo('POST', '/git/trees', async (repo, _, body) => {
    // As GitHub does: deleting a path that is not there is an error, not a no-op.
    for (const { path } of (body.tree as any[]).filter((e) => e.sha === null)) {
      const present = await succeeds(repo.git(['cat-file', '-e', `${body.base_tree}:${path}`]));
      if (!present) return fail(422, `${path} does not exist in base_tree`);
    }
    return ok({ sha: await writeTree(repo, body.base_tree, body.tree) }, 201);
  });
  onRepo('GET', '/git/blobs/([0-9a-f]{40})', async (repo, [sha]) => {
    const content = await run(dirOf(repo.owner, repo.name), ['cat-file', 'blob', sha!]).catch(
      () => undefined,
    );
    if (content === undefined) return fail(404, 'Not Found');
    return ok({ sha, size: content.length, encoding: 'base64', content: content.toString('base64') });
  });
  // Only `<commit sha>...<branch>`, and only the status: what Stowage asks of a push intent.
  onRepo('GET', '/compare/([0-9a-f]{40})\\.\\.\\.(.+)', async (repo, [base, branch]) => {
    const head = await resolveRef(repo, `refs/heads/${branch}`);
    const known = await succeeds(repo.git(['cat-file', '-e', `${base}^{commit}`]));
    if (!head || !known) return fail(404, 'Not Found');
    const ancestor = (a: string, b: string) => succeeds(repo.git(['merge-base', '--is-ancestor', a, b]));
    const status =
      base === head
        ? 'identical'
        : (await ancestor(base!, head))
          ? 'ahead'
          : (await ancestor(head, base!))
            ? 'behind'
            : 'diverged';
    return ok({ status });
  });
  onRepo('POST', '/git/blobs', async (repo, _, body) => {
    const content = Buffer.from(body.content, body.encoding === 'base64' ? 'base64' : 'utf8');
    return ok({ sha: await repo.git(['hash-object', '-w', '--stdin'], content) }, 201);
  });
  onRepo('POST', '/pulls', async (repo, _, body) => {
    const open = pulls.get(`${repo.owner}/${repo.name}`) ?? [];
    if (!(await resolveRef(repo, `refs/heads/${body.head}`))) {
      return fail(422, 'Validation Failed', [{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
    }
    if (open.some((p) => p.head === body.head && p.base === body.base)) {
      const message = `A pull request already exists for ${repo.owner}:${body.head}.`;
      return fail(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message }]);
    }
    open.push({ head: body.head, base: body.base });
    pulls.set(`${repo.owner}/${repo.name}`, open);
    const number = open.length;
    const html_url = `${origin}/${repo.owner}/${repo.name}/pull/${number}`;
    return ok({ number, html_url, state: 'open', head: { ref: body.head }, base: { ref: body.base } }, 201);
  });

  async function answer(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    raw: Buffer,
  ): Promise<Reply> {
    if ((headers.authorization ?? '').split(' ')[1] !== token) return fail(401, 'Bad credentials');
    if (limited === 'primary') {
      const reset = String(Math.ceil(Date.now() / 1000) + 120);
      const rateHeaders = {
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': reset,
      };
      return { ...fail(403, 'API rate limit exceeded for user ID 1.'), headers: rateHeaders };
    }
    if (limited === 'secondary') {
      return { ...fail(429, 'You have exceeded a secondary rate limit.'), headers: { 'retry-after': '60' } };
    }
    const failure = nextFailure;
    nextFailure = undefined;
    if (failure) return failure;
    for (const route of routes) {
      const match = route.method === method ? route.pattern.exec(path) : null;
      if (match) return route.handle(match.slice(1), raw.length ? JSON.parse(raw.toString()) : {});
    }
    return fail(404, 'Not Found');
  }

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    log.push({ method, url, headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // Octokit encodes the slashes of `heads/<branch>`; the routes match the decoded path.
      const path = decodeURIComponent(new URL(url, origin).pathname);
      const reply = answer(method, path, req.headers, Buffer.concat(chunks)).catch((err: Error) =>
        fail(500, err.message),
      );
      void reply.then(({ status, body, headers }) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl: origin,
    remoteUrl: (owner, repo) => `${origin}/${owner}/${repo}.git`,
    rateLimit: (mode) => void (limited = mode),
    failNext: (status, body, headers) => void (nextFailure = { status, body, ...(headers && { headers }) }),
    beforeRefUpdate: (hook) => void (refHook = hook),
    requests: () => log,
    git: (owner, repo, args) => repoOf(owner, repo).git(args),
    show: (owner, repo, object) => run(dirOf(owner, repo), ['cat-file', 'blob', object]),
    async commit(owner, name, branch, files) {
      const repo = repoOf(owner, name);
      const ref = `refs/heads/${branch}`;
      const head = await repo.git(['rev-parse', ref]);
      const entries = Object.entries(files).map(([path, content]) =>
        content === null ? { path, sha: null } : { path, mode: '100644', content },
      );
      const tree = await writeTree(repo, head, entries);
      const sha = await commitTree(repo, {
        tree,
        parents: [head],
        message: `Someone else changed ${branch}`,
      });
      await repo.git(['update-ref', ref, sha, head]);
      return sha;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
