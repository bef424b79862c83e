// The git boundary against a hostile tenant: each credential goes only to its own host, remotes
// on loopback or private networks are refused unless GIT_ALLOWED_HOSTS allows them, every
// failure to reach a remote reads the same, and branch names are checked before anything moves.
// Real git and real git servers on two loopback addresses (Linux routes all of 127/8 to lo).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloneRemote } from '../src/git/clone-remote.js';
import { githubWebUrl, scopedCredentials } from '../src/git/credentials.js';
import { createGitCli, type GitCliOptions } from '../src/git/git-cli.js';
import { UNREACHABLE } from '../src/git/remote-guard.js';
import { branches, commitToBare, createBareRepo, readTree, type BareRepo } from './support/git-repos.js';
import { basicAuth, startGitServer, type GitRequest, type GitServer } from './support/git-server.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';

const TOKEN = 'tok-7d1e09b4c2a5f836';
let root: string;
/** Wants TOKEN; on 127.0.0.1. */
let trusted: GitServer;
/** Another host (127.0.0.2) serving the same repositories to anyone. */
let other: GitServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-git-security-'));
  trusted = await startGitServer({ root, token: TOKEN });
  other = await startGitServer({ root, token: undefined, host: '127.0.0.2' });
});
afterAll(async () => {
  await Promise.all([trusted.close(), other.close()]);
  await rm(root, { recursive: true, force: true });
});

const task = (id: number) => ({ id, title: 'Do the thing' });
const portOf = (server: { url: string }) => new URL(server.url).port;
const authorizations = (requests: readonly GitRequest[]) => requests.map((r) => r.headers.authorization);

describe('credentials', () => {
  it('sends GITHUB_TOKEN only to its own host: import, sync and push elsewhere carry no credential', async () => {
    const h = await createHarness({
      git: {
        token: TOKEN,
        githubApiUrl: `${trusted.url}/api/v3`, // its web host is trusted.url, as api.github.com's is github.com
        allowedProtocols: ['http'],
        allowedHosts: ['127.0.0.1', '127.0.0.2'],
      },
    });
    try {
      const mine = await createBareRepo(root, 'acme/mine', { 'a.txt': 'a\n' });
      await h.ok('create_project', { name: 'mine', remote: { url: mine.url(trusted) } });
      const theirs = await createBareRepo(root, 'acme/theirs', { 'a.txt': 'a\n' });
      await h.ok('create_project', { name: 'theirs', remote: { url: theirs.url(other) } });
      await commitToBare(theirs.dir, { 'b.txt': 'b\n' });
      expect(await h.ok('sync_project', { project: 'theirs' })).toMatchObject({ updated: ['b.txt'] });
      await h.ok('write_file', { project: 'theirs', path: 'a.txt', content: 'A\n' });
      expect(await h.ok('commit_task', { project: 'theirs', task: task(1) })).toMatchObject({
        status: 'pushed',
      });

      const seen = other.requests();
      expect(seen.some((r) => r.url.includes('git-upload-pack'))).toBe(true);
      expect(seen.some((r) => r.url.includes('git-receive-pack'))).toBe(true);
      expect(new Set(authorizations(seen))).toEqual(new Set([undefined]));
      expect(JSON.stringify(seen.map((r) => r.rawHeaders))).not.toContain(
        basicAuth(TOKEN).slice('Basic '.length),
      );
      // The token's own host got it on every request.
      const home = trusted.requests().filter((r) => r.url.includes('acme/mine'));
      expect(home.length).toBeGreaterThan(0);
      expect(new Set(authorizations(home))).toEqual(new Set([basicAuth(TOKEN)]));
    } finally {
      await h.close();
    }
  });

  it('sends a GIT_CREDENTIALS token to its scheme, host and port exactly, and says which is missing', async () => {
    const h = await createHarness({
      git: {
        credentials: [{ url: trusted.url, token: TOKEN }],
        allowedProtocols: ['http'],
        allowedHosts: ['127.0.0.1', 'localhost'],
      },
    });
    try {
      const repo = await createBareRepo(root, 'acme/scoped', { 'a.txt': 'a\n' });
      await h.ok('create_project', { name: 'scoped', remote: { url: repo.url(trusted) } });
      // The same server by another name is another host to git: no token goes there.
      const before = trusted.requests().length;
      const byName = repo.url(trusted).replace('127.0.0.1', 'localhost');
      expect(await h.fail('create_project', { name: 'by-name', remote: { url: byName } })).toBe(
        'forbidden: the git remote asks for credentials and none is configured for its host: add host=token to GIT_CREDENTIALS (GITHUB_TOKEN goes only to the GitHub host of GITHUB_API_URL)',
      );
      const asked = trusted.requests().slice(before);
      expect(asked.map((r) => r.headers.host)).toContain(`localhost:${portOf(trusted)}`);
      expect(new Set(authorizations(asked))).toEqual(new Set([undefined]));
    } finally {
      await h.close();
    }
  });

  it("derives the GitHub web host from GITHUB_API_URL, keeping scheme and port; GIT_CREDENTIALS' own entry wins", () => {
    expect(githubWebUrl('https://api.github.com')).toBe('https://github.com/');
    expect(githubWebUrl('https://api.github.com/')).toBe('https://github.com/');
    expect(githubWebUrl('https://api.acme.ghe.com')).toBe('https://acme.ghe.com/');
    expect(githubWebUrl('https://ghe.example/api/v3')).toBe('https://ghe.example/');
    expect(githubWebUrl('https://ghe.example:8443/api/v3')).toBe('https://ghe.example:8443/');
    expect(githubWebUrl('http://127.0.0.1:4321/api/v3')).toBe('http://127.0.0.1:4321/');
    expect(
      scopedCredentials({ token: 'gh', apiUrl: 'https://api.github.com' }, [
        { url: 'http://127.0.0.1:8080', token: 'local' },
        { url: 'https://github.com:443', token: 'git-only' },
      ]),
    ).toEqual([
      { url: 'https://github.com/', token: 'git-only' },
      { url: 'http://127.0.0.1:8080/', token: 'local' },
    ]);
  });
});

describe('remotes on internal networks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ git: { allowedProtocols: ['http', 'https'], allowedHosts: [] } });
  });
  afterAll(() => h.close());

  it('refuses loopback, private and link-local hosts however spelled, contacting and creating nothing', async () => {
    const port = portOf(trusted);
    const urls = [
      `http://127.0.0.1:${port}/acme/x.git`,
      `http://127.0.0.2:${portOf(other)}/acme/x.git`,
      `http://2130706433:${port}/acme/x.git`,
      `http://0x7f.1:${port}/acme/x.git`,
      `http://0177.0.0.1:${port}/acme/x.git`,
      `http://127.1:${port}/acme/x.git`,
      `http://①②⑦.0.0.1:${port}/acme/x.git`,
      `http://127.0.0.1.:${port}/acme/x.git`,
      `http://[::ffff:127.0.0.1]:${port}/acme/x.git`,
      `http://[::1]:${port}/acme/x.git`,
      `http://localhost:${port}/acme/x.git`,
      `http://LOCALHOST.:${port}/acme/x.git`,
      `http://0.0.0.0:${port}/acme/x.git`,
      `http://0:${port}/acme/x.git`,
      `http://[::]:${port}/acme/x.git`,
      'http://10.1.2.3/acme/x.git',
      'http://172.16.0.1/acme/x.git',
      'http://192.168.1.1/acme/x.git',
      'http://100.64.0.1/acme/x.git',
      'http://169.254.169.254/latest/meta-data/',
      'https://[fe80::1]/acme/x.git',
      'https://[fd00::1]/acme/x.git',
      'https://[::ffff:a00:1]/acme/x.git',
      'https://[64:ff9b::a9fe:a9fe]/acme/x.git', // NAT64 of 169.254.169.254
      'https://[2002:c0a8:101::1]/acme/x.git', // 6to4 of 192.168.1.1
    ];
    const before = [trusted.requests().length, other.requests().length];
    const rows = await snapshot(h.db);
    for (const url of urls) {
      const error = await h.fail('create_project', { name: 'inside', remote: { url } });
      expect(error, url).toMatch(
        /^forbidden: remote host '[^']+' is on a loopback, private or link-local network, which Stowage does not let git contact: use a public host, or add it to GIT_ALLOWED_HOSTS$/,
      );
    }
    expect([trusted.requests().length, other.requests().length]).toEqual(before);
    expect(await snapshot(h.db)).toEqual(rows);
    expect((await h.ok('list_projects', {})).projects).toEqual([]);
  });

  it('refuses them again before every clone, fetch and push, and git reaches the network only through that check', async () => {
    const cli = createGitCli(cliOptions({ allowedHosts: [] }));
    const remote = createCloneRemote(cli);
    const repo = await createBareRepo(root, 'acme/checked', { 'a.txt': 'a\n' });
    const ref = { url: repo.url(other), branch: 'main' };
    const before = other.requests().length;
    const snap = remote.snapshot(ref, { want: () => true, onBlob: () => Promise.resolve() });
    await expect(snap).rejects.toMatchObject({ code: 'forbidden' });
    const push = remote.commitAndPush({
      remote: ref,
      branch: 'main',
      conflictBranch: 'stowage/task-1',
      changes: [{ path: 'a.txt', content: Buffer.from('A\n') }],
      message: 'm',
      author: { name: 'a', email: 'a@example.test' },
    });
    await expect(push).rejects.toMatchObject({ code: 'forbidden' });
    // A network command run without a checked remote is refused, not sent.
    const scratch = await cli.scratch('unchecked');
    try {
      const clone = cli.run(['clone', '--bare', '--', repo.url(other), 'repo'], { cwd: scratch.dir });
      await expect(clone).rejects.toThrow(/git clone was run without checking its remote first/);
    } finally {
      await scratch.remove();
    }
    expect(other.requests().length).toBe(before);
  });

  it('lets GIT_ALLOWED_HOSTS allow an address range or a host name, and nothing beyond it', async () => {
    const repo = await createBareRepo(root, 'acme/allowed', { 'a.txt': 'a\n' });
    const ranged = await createHarness({
      git: { allowedProtocols: ['http'], allowedHosts: ['127.0.0.2/31'] },
    });
    try {
      expect(
        await ranged.ok('create_project', { name: 'ranged', remote: { url: repo.url(other) } }),
      ).toMatchObject({
        head_sha: repo.head,
      });
      expect(
        await ranged.fail('create_project', { name: 'outside', remote: { url: repo.url(trusted) } }),
      ).toMatch(/^forbidden: remote host '127\.0\.0\.1' is on a loopback/);
    } finally {
      await ranged.close();
    }
    const named = await createHarness({
      git: {
        allowedProtocols: ['http'],
        allowedHosts: ['localhost'],
        credentials: [{ url: trusted.url.replace('127.0.0.1', 'localhost'), token: TOKEN }],
      },
    });
    try {
      const url = repo.url(trusted).replace('127.0.0.1', 'localhost');
      expect(await named.ok('create_project', { name: 'named', remote: { url } })).toMatchObject({
        head_sha: repo.head,
      });
      // The name is allowed, not the address it resolves to.
      expect(
        await named.fail('create_project', { name: 'by-address', remote: { url: repo.url(trusted) } }),
      ).toMatch(/^forbidden: remote host '127\.0\.0\.1'/);
    } finally {
      await named.close();
    }
  });

  it('pins git to the addresses it checked, so a second DNS answer cannot move it', async () => {
    // The guard's resolver is told what a hostile DNS server would say; git itself cannot
    // resolve these .invalid names at all, so a clone that works went to the address checked.
    const answers: Record<string, string[]> = {
      'git.pinned.invalid': ['127.0.0.2'],
      'rebind.invalid': ['93.184.216.34', '127.0.0.1'],
      'empty.invalid': [],
    };
    const cli = createGitCli(
      cliOptions({
        allowedHosts: ['127.0.0.2'],
        lookup: (host) => {
          const found = answers[host];
          if (!found) return Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`));
          return Promise.resolve(
            found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
          );
        },
      }),
    );
    const remote = createCloneRemote(cli);
    const repo = await createBareRepo(root, 'acme/pinned', { 'a.txt': 'a\n' });
    const url = (host: string) => repo.url(other).replace('127.0.0.2', host);
    const read = (host: string) =>
      remote.snapshot(
        { url: url(host), branch: 'main' },
        { want: () => false, onBlob: () => Promise.resolve() },
      );

    expect((await read('git.pinned.invalid')).head).toBe(repo.head);
    expect(other.requests().at(-1)!.headers.host).toBe(`git.pinned.invalid:${portOf(other)}`);
    // One private address among public ones refuses the host.
    await expect(read('rebind.invalid')).rejects.toMatchObject({ code: 'forbidden' });
    for (const host of ['empty.invalid', 'unknown.invalid']) {
      await expect(read(host)).rejects.toMatchObject({ code: 'unavailable', message: UNREACHABLE });
    }
  });
});

describe('failures to reach a remote', () => {
  let h: Harness;
  const listeners: Server[] = [];
  /** A TCP listener on 127.0.0.1 doing `onConnection` to each client; its port and how many came. */
  async function listen(onConnection: (socket: Socket) => void) {
    let connections = 0;
    const server = createTcpServer((socket) => {
      connections++;
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    listeners.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port, connections: () => connections };
  }
  beforeAll(async () => {
    h = await createHarness({ git: { allowedProtocols: ['http', 'https'] } });
  });
  afterAll(async () => {
    for (const server of listeners) server.close();
    await h.close();
  });

  it('reads the same whether the port is closed, hangs up, answers garbage, speaks no TLS or fails', async () => {
    const closed = await listen(() => undefined);
    listeners.pop()!.close();
    const hangsUp = await listen((socket) => socket.destroy());
    const emptyReply = await listen((socket) => socket.once('data', () => socket.end()));
    const redisLike = await listen((socket) =>
      socket.once('data', () => socket.end('-ERR unknown command\r\n')),
    );
    const sshLike = await listen((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    const at = (port: number, scheme = 'http') => `${scheme}://127.0.0.1:${port}/acme/x.git`;
    const repo = await createBareRepo(root, 'acme/failing', { 'a.txt': 'a\n' });
    const urls = [
      at(closed.port),
      at(hangsUp.port),
      at(emptyReply.port),
      at(redisLike.port),
      at(sshLike.port),
      at(redisLike.port, 'https'),
      at(Number(portOf(trusted)), 'https'),
    ];
    const messages = new Set<string>();
    for (const url of urls) messages.add(await h.fail('create_project', { name: 'probe', remote: { url } }));
    trusted.fail('error');
    try {
      messages.add(await h.fail('create_project', { name: 'probe', remote: { url: repo.url(trusted) } }));
    } finally {
      trusted.fail('none');
    }
    expect([...messages]).toEqual([`unavailable: ${UNREACHABLE}`]);
    // Each open port was really reached: the sameness is not for want of trying.
    for (const open of [hangsUp, emptyReply, redisLike, sshLike])
      expect(open.connections()).toBeGreaterThan(0);
    expect((await h.ok('list_projects', {})).projects).toEqual([]);
  });
});

describe('branch names', () => {
  let h: Harness;
  let repo: BareRepo;
  beforeAll(async () => {
    h = await createHarness({
      principal: 'ada',
      git: { credentials: [{ url: trusted.url, token: TOKEN }], allowedProtocols: ['http'] },
    });
    repo = await createBareRepo(root, 'acme/branches', { 'shared.txt': 'base\n' });
    await h.ok('create_project', { name: 'branches', remote: { url: repo.url(trusted) } });
  });
  afterAll(() => h.close());

  it("commit_task refuses the project's own branch and names git would misread, pushing nothing and keeping the drafts", async () => {
    // Another agent changed the same file: a commit now goes to `branch`, so `main` there would
    // put ours over theirs on main.
    await commitToBare(repo.dir, { 'shared.txt': 'theirs\n' });
    await h.ok('write_file', { project: 'branches', path: 'shared.txt', content: 'mine\n' });
    const refs = await branches(repo.dir);
    const drafts = (await h.ok('list_changes', { project: 'branches' })).changes;
    const rows = await snapshot(h.db);

    expect(await h.fail('commit_task', { project: 'branches', task: task(5), branch: 'main' })).toBe(
      "invalid_input: branch 'main' is the project's own remote branch, but branch is where a commit goes when the remote changed the same lines: pass another name, e.g. stowage/task-5",
    );
    const hostile = [
      '--delete',
      '-f',
      'a..b',
      'x.lock',
      'feature/',
      'a//b',
      '.hidden',
      'HEAD',
      '@{-1}',
      'a b',
      'a:b',
    ];
    for (const branch of hostile) {
      expect(await h.fail('commit_task', { project: 'branches', task: task(5), branch }), branch).toMatch(
        /^invalid_input: branch ".*" .+: pass branch as a new branch name, e.g. stowage\/task-1$/,
      );
    }
    expect(await branches(repo.dir)).toEqual(refs);
    expect((await h.ok('list_changes', { project: 'branches' })).changes).toEqual(drafts);
    expect(await snapshot(h.db)).toEqual(rows);
    expect((await h.ok('project_history', { project: 'branches' })).commits).toEqual([]);
    expect((await readTree(repo.dir)).get('shared.txt')!.content.toString()).toBe('theirs\n');
  });

  it('create_project refuses a remote.branch git would misread, contacting nothing', async () => {
    const before = trusted.requests().length;
    for (const branch of [
      'x.lock',
      'a//b',
      '.hidden',
      'HEAD',
      'main.',
      '-x',
      '--upload-pack=touch /tmp/pwned',
    ]) {
      const error = await h.fail('create_project', {
        name: 'odd',
        remote: { url: repo.url(trusted), branch },
      });
      expect(error, branch).toMatch(
        /^invalid_input: remote\.branch ".*" .+: name an existing branch, e.g\. main$/,
      );
    }
    expect(trusted.requests().length).toBe(before);
    expect(await h.fail('get_project', { project: 'odd' })).toMatch(/^not_found/);
  });
});

/** GitCli options as a test process runs them: http remotes, no credential unless given. */
function cliOptions(overrides: Partial<GitCliOptions>): GitCliOptions {
  return {
    credentials: [],
    allowedProtocols: ['http'],
    allowedHosts: [],
    timeoutMs: 30_000,
    scratchDir: join(root, 'scratch'),
    ...overrides,
  };
}
