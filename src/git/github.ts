// GitHub through Octokit: repository identity from a remote URL, creating a missing repository,
// pull requests, and a GitRemote that commits through the Git Data API. Octokit's errors become
// StowageErrors here, where they cross into Stowage; the token never appears in one.
import { isUtf8 } from 'node:buffer';
import { Octokit } from '@octokit/rest';
import { StowageError, alreadyExists, conflict, invalidInput } from '../errors.js';
import { onStatus, translate, type Step } from './github-errors.js';
import { version } from '../version.js';
import type { CommitRequest, FileChange, GitHost, GitRemote, PullRequest, PushOutcome } from './types.js';

export interface GitHubOptions {
  token: string;
  /** The REST API root: https://api.github.com (default), or https://<host>/api/v3 for Enterprise. */
  baseUrl?: string | undefined;
  /** Per-request limit in ms (default 60 s), enforced here: Octokit 22 ignores `request.timeout`. */
  request?: { timeout?: number | undefined } | undefined;
  /** Receives Octokit's deprecation warnings; its per-request logs are dropped. */
  logger?: { warn(message: string): void } | undefined;
}

export interface GitHub extends GitHost {
  /** A remote that commits through the Git Data API and takes snapshots through `snapshotVia`. */
  apiRemote(snapshotVia: GitRemote): GitRemote;
}

export interface RepositoryId {
  owner: string;
  repo: string;
}

const EXPECTED_URL = 'use https://github.com/<owner>/<repo>(.git) or http(s)://<host>/…/<owner>/<repo>(.git)';
/** Rebuilds on a branch that moved meanwhile before giving up. */
const MAX_REBUILDS = 3;

/** `{ owner, repo }` from a web or clone URL. The URL is never echoed: it may carry credentials. */
export function parseRepository(url: string): RepositoryId {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidInput(`The remote is not a URL: ${EXPECTED_URL}`);
  }
  if (parsed.username || parsed.password) {
    throw invalidInput('The remote URL carries credentials: remove them; the token comes from GITHUB_TOKEN');
  }
  const segments = parsed.pathname.split('/').filter(Boolean);
  const [owner, last] = segments.slice(-2);
  const repo = last?.replace(/\.git$/, '');
  const name = (s: string | undefined): s is string =>
    s !== undefined && /^[\w.-]+$/.test(s) && !/^\.\.?$/.test(s);
  const onGitHub = /^(www\.)?github\.com$/i.test(parsed.hostname);
  if (
    !['http:', 'https:'].includes(parsed.protocol) ||
    (onGitHub && segments.length !== 2) ||
    !name(owner) ||
    !name(repo) ||
    parsed.search ||
    parsed.hash
  ) {
    throw invalidInput(`The remote URL does not name a repository: ${EXPECTED_URL}`);
  }
  return { owner, repo };
}

/** One entry of a `POST git/trees` body: inline text, an uploaded blob, or `sha: null` to delete. */
interface TreeEntry {
  path: string;
  mode: '100644' | '100755' | '120000';
  type: 'blob';
  sha?: string | null;
  content?: string;
}

function gitMode(change: FileChange): TreeEntry['mode'] {
  const mode = (change.mode ?? 0o100644).toString(8);
  if (mode === '100644' || mode === '100755' || mode === '120000') return mode;
  throw invalidInput(`Mode ${mode} of ${change.path} cannot be committed: use 100644, 100755 or 120000`);
}

/** Text GitHub takes inline in a tree: valid UTF-8 without NUL. The rest goes up as a base64 blob. */
const isText = (content: Buffer) => !content.includes(0) && isUtf8(content);

type Call<T> = (request: { signal: AbortSignal }) => Promise<{ data: T }>;

export function createGitHub(options: GitHubOptions): GitHub {
  if (!options.token) throw invalidInput('No GitHub token: set GITHUB_TOKEN');
  const { token } = options;
  const baseUrl = (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const host = new URL(baseUrl).host;
  const timeoutMs = options.request?.timeout ?? 60_000;
  const redact = (text: string) => text.split(token).join('[token]');
  const quiet = () => undefined;
  // @octokit/rest 22 bundles request-log, paginate and the endpoint methods only: no retry or
  // throttling plugin waits minutes behind our back, so a rate limit surfaces at once.
  const octokit = new Octokit({
    auth: token,
    baseUrl,
    userAgent: `stowage/${version()}`,
    log: { debug: quiet, info: quiet, error: quiet, warn: (m: string) => options.logger?.warn(m) },
  });

  /** One request, stopped by the caller's signal or the timeout; failures translated. */
  async function send<T>(step: Step, signal: AbortSignal | undefined, call: Call<T>): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let answer: { data: T } | undefined;
    let failure: unknown;
    try {
      answer = await call({ signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (err) {
      failure = err;
    }
    // Octokit answers `data: ''` rather than failing when aborted while it reads a JSON body.
    if (!answer || (answer.data as unknown) === '') {
      if (signal?.aborted) {
        const text = `Cancelled while waiting for GitHub to ${step.verb} ${step.target}; retry if still wanted`;
        throw new StowageError('unavailable', text, { cancelled: true });
      }
      if (timeout.aborted) {
        const text = `GitHub did not ${step.verb} ${step.target} within ${timeoutMs / 1000} s: retry later`;
        throw new StowageError('unavailable', text);
      }
    }
    if (answer) return answer.data;
    throw translate(failure, step, host, redact);
  }

  async function ensureRepository(
    url: string,
    settings: { private: boolean; description?: string | undefined },
  ) {
    const { owner, repo } = parseRepository(url);
    const exists = await send({ verb: 'read', target: `repository ${owner}/${repo}` }, undefined, (r) =>
      octokit.rest.repos.get({ owner, repo, request: r }),
    ).then(
      () => true,
      onStatus(404, () => false),
    );
    if (exists) return false;
    const me = await send({ verb: 'read', target: "the token's user" }, undefined, (r) =>
      octokit.rest.users.getAuthenticated({ request: r }),
    );
    // auto_init gives the repository its default branch, which the Git Data API needs to commit on.
    const body = {
      name: repo,
      private: settings.private,
      description: settings.description,
      auto_init: true,
    };
    const created =
      me.login.toLowerCase() === owner.toLowerCase()
        ? send({ verb: 'create', target: `repository ${owner}/${repo}` }, undefined, (r) =>
            octokit.rest.repos.createForAuthenticatedUser({ ...body, request: r }),
          )
        : send({ verb: `create repository ${repo} in`, target: `organization ${owner}` }, undefined, (r) =>
            octokit.rest.repos.createInOrg({ org: owner, ...body, request: r }),
          );
    return created.then(
      () => true,
      // Someone else created it meanwhile.
      onStatus(422, (err) => {
        if (!/already exists/i.test(err.message)) throw err;
        return false;
      }),
    );
  }

  async function openPullRequest(
    url: string,
    pr: { head: string; base: string; title: string; body?: string | undefined },
  ): Promise<PullRequest> {
    const { owner, repo } = parseRepository(url);
    const step = { verb: 'open a pull request on', target: `repository ${owner}/${repo}` };
    const made = await send(step, undefined, (r) =>
      octokit.rest.pulls.create({ owner, repo, ...pr, request: r }),
    ).catch(
      onStatus(422, (err) => {
        if (!/already exists/i.test(err.message)) throw err;
        const fix = `push to ${pr.head} to update it instead of opening another`;
        throw alreadyExists(
          `A pull request from ${pr.head} into ${pr.base} is already open on ${owner}/${repo}: ${fix}`,
        );
      }),
    );
    return { number: made.number, url: made.html_url, head: made.head.ref, base: made.base.ref };
  }

  async function commitAndPush(request: CommitRequest): Promise<PushOutcome> {
    const { owner, repo } = parseRepository(request.remote.url);
    const { branch, signal, changes } = request;
    const where = `${owner}/${repo}`;
    const git = octokit.rest.git;
    const say = (step: number, message: string) => request.progress?.(step, 4, message);
    const headOf = async (name: string) => {
      const ref = await send({ verb: 'read', target: `branch ${name} of ${where}` }, signal, (r) =>
        git.getRef({ owner, repo, ref: `heads/${name}`, request: r }),
      );
      return ref.object.sha;
    };
    const createBranch = (name: string, sha: string) =>
      send({ verb: 'create', target: `branch ${name} on ${where}` }, signal, (r) =>
        git.createRef({ owner, repo, ref: `refs/heads/${name}`, sha, request: r }),
      );
    /** Moves `name` to `sha` if that is a fast-forward; the 422 error when it is not. */
    const advance = (name: string, sha: string) =>
      send({ verb: 'update', target: `branch ${name} of ${where}` }, signal, (r) =>
        git.updateRef({ owner, repo, ref: `heads/${name}`, sha, force: false, request: r }),
      ).then(
        () => undefined,
        onStatus(422, (err) => err),
      );

    /** Directory listings by tree SHA, shared by every attempt. */
    const listings = new Map<string, Promise<Map<string, { sha: string; type: string }>>>();
    const list = (sha: string) => {
      const listing =
        listings.get(sha) ??
        send({ verb: 'read', target: `tree ${sha} of ${where}` }, signal, (r) =>
          git.getTree({ owner, repo, tree_sha: sha, request: r }),
        ).then((t) => new Map(t.tree.map((e) => [e.path ?? '', { sha: e.sha ?? '', type: e.type ?? '' }])));
      listings.set(sha, listing);
      return listing;
    };
    /** The object SHA at each path in `tree` (null: absent), reading only the directories on the way. */
    const shasAt = async (tree: string, paths: string[]) => {
      const found = new Map<string, string | null>();
      for (const path of paths) {
        let at: { sha: string; type: string } | undefined = { sha: tree, type: 'tree' };
        for (const name of path.split('/')) {
          at = at?.type === 'tree' ? (await list(at.sha)).get(name) : undefined;
        }
        found.set(path, at?.sha ?? null);
      }
      return found;
    };

    // The entries do not depend on the head, so blobs go up once for every attempt; one at a time,
    // as GitHub asks of content-creating requests so as not to trip its secondary rate limit.
    say(0, 'uploading');
    const entries: TreeEntry[] = [];
    for (const change of changes) {
      const { path, content } = change;
      if (content === undefined) {
        entries.push({ path, mode: '100644', type: 'blob', sha: null });
      } else if (isText(content)) {
        entries.push({ path, mode: gitMode(change), type: 'blob', content: content.toString('utf8') });
      } else {
        const mode = gitMode(change);
        const blob = await send({ verb: 'upload', target: `${path} to ${where}` }, signal, (r) =>
          git.createBlob({
            owner,
            repo,
            content: content.toString('base64'),
            encoding: 'base64',
            request: r,
          }),
        );
        entries.push({ path, mode, type: 'blob', sha: blob.sha });
      }
    }
    // Paths whose content at the head matters: those with a base, and deletions, since GitHub
    // refuses to delete a path that is not there.
    const checked = changes.filter((c) => c.base !== undefined || c.content === undefined).map((c) => c.path);

    /** A commit of the entries on `parent`, and the changed paths whose base the parent contradicts. */
    const commitOn = async (parent: string) => {
      const head = await send({ verb: 'read', target: `commit ${parent} of ${where}` }, signal, (r) =>
        git.getCommit({ owner, repo, commit_sha: parent, request: r }),
      );
      const atHead = await shasAt(head.tree.sha, checked);
      const conflicts = changes
        .filter((c) => c.base !== undefined && atHead.get(c.path) !== c.base)
        .map((c) => c.path);
      const tree = await send({ verb: 'create a tree in', target: where }, signal, (r) => {
        const present = entries.filter((e) => e.sha !== null || atHead.get(e.path));
        return git.createTree({ owner, repo, base_tree: head.tree.sha, tree: present, request: r });
      });
      const { message, author } = request;
      const commit = await send({ verb: 'create a commit in', target: where }, signal, (r) =>
        git.createCommit({ owner, repo, message, tree: tree.sha, parents: [parent], author, request: r }),
      );
      return { sha: commit.sha, conflicts };
    };

    /** Puts the commit on the conflict branch, or a fresh one beside it; never rewrites a branch. */
    const divert = async (sha: string, parent: string, conflicts: string[]): Promise<PushOutcome> => {
      for (const name of [request.conflictBranch, `${request.conflictBranch}-${sha.slice(0, 7)}`]) {
        const created = await createBranch(name, sha).then(
          () => true,
          onStatus(422, (err) => {
            if (!/already exists/i.test(err.message)) throw err;
            return false;
          }),
        );
        if (created || !(await advance(name, sha))) {
          say(4, `pushed to ${name}`);
          return { status: 'diverged', sha, branch: name, parent, conflicts };
        }
      }
      const fix = 'delete them or pass branch';
      throw conflict(`Branches ${request.conflictBranch} and its fallback already exist on ${where}: ${fix}`);
    };

    let parent = await headOf(request.remote.branch);
    for (let attempt = 0; ; attempt++) {
      say(1, 'building the commit');
      const { sha, conflicts } = await commitOn(parent);
      if (conflicts.length > 0) return divert(sha, parent, conflicts);
      say(2, `updating ${branch}`);
      // A 422 says the update is not a fast-forward: the branch moved, as a rejected push would.
      const rejected = await advance(branch, sha);
      if (!rejected) {
        say(4, `pushed to ${branch}`);
        const rebased = request.expectedHead !== undefined && request.expectedHead !== parent;
        return { status: 'pushed', sha, branch, parent, rebased };
      }
      const head = await headOf(branch);
      if (head === parent) throw rejected;
      if (attempt === MAX_REBUILDS) {
        throw conflict(
          `Branch ${branch} of ${where} moved ${attempt + 1} times while committing: retry later`,
        );
      }
      say(3, `${branch} moved; building on its new head`);
      parent = head;
    }
  }

  return {
    ensureRepository,
    openPullRequest,
    apiRemote: (snapshotVia) => ({
      // A tree read through REST costs a request per blob against 5,000 an hour; a clone, one fetch.
      snapshot: (remote, snapshotOptions) => snapshotVia.snapshot(remote, snapshotOptions),
      commitAndPush,
    }),
  };
}
