// GitHub through Octokit: repository identity from a remote URL, creating a missing repository,
// pull requests, and a GitRemote that commits through the Git Data API. Octokit's errors become
// StowageErrors here, where they cross into Stowage; the token never appears in one.
import type { Octokit } from '@octokit/rest';
import { StowageError, alreadyExists, conflict, invalidInput } from '../errors.js';
import { onStatus, translate, type Step } from './github-errors.js';
import { gitMode, holdsAlready, isText, type HeadEntry, type TreeEntry } from './github-tree.js';
import { version } from '../version.js';
import type {
  CommitRequest,
  FileChange,
  GitHost,
  GitRemote,
  PullRequest,
  PushOutcome,
  RemoteCallOptions,
  RemoteRef,
} from './types.js';

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

type Call<T> = (request: { signal: AbortSignal }) => Promise<{ data: T }>;

export function createGitHub(options: GitHubOptions): GitHub {
  if (!options.token) throw invalidInput('No GitHub token: set GITHUB_TOKEN');
  const { token } = options;
  const baseUrl = (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const host = new URL(baseUrl).host;
  const timeoutMs = options.request?.timeout ?? 60_000;
  const redact = (text: string) => text.split(token).join('[token]');
  const quiet = () => undefined;
  const log = { debug: quiet, info: quiet, error: quiet, warn: (m: string) => options.logger?.warn(m) };
  // @octokit/rest 22 bundles request-log, paginate and the endpoint methods only: no retry or
  // throttling plugin waits minutes behind our back, so a rate limit surfaces at once. Loaded by
  // the first request (send), not with the server: Octokit costs a process 9 MB.
  let octokit!: Octokit;
  const userAgent = `stowage/${version()}`;
  const load = async () =>
    new (await import('@octokit/rest')).Octokit({ auth: token, baseUrl, userAgent, log });

  /** One request, stopped by the caller's signal or the timeout; failures translated. */
  async function send<T>(step: Step, signal: AbortSignal | undefined, call: Call<T>): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let answer: { data: T } | undefined;
    let failure: unknown;
    try {
      octokit ??= await load();
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
    const git = () => octokit.rest.git; // in send's calls: loaded by then
    const base64 = (content: Buffer) => content.toString('base64');
    const say = (step: number, message: string) => request.progress?.(step, 4, message);
    const headOf = async (name: string) => {
      const ref = await send({ verb: 'read', target: `branch ${name} of ${where}` }, signal, (r) =>
        git().getRef({ owner, repo, ref: `heads/${name}`, request: r }),
      );
      return ref.object.sha;
    };
    const createBranch = (name: string, sha: string) =>
      send({ verb: 'create', target: `branch ${name} on ${where}` }, signal, (r) =>
        git().createRef({ owner, repo, ref: `refs/heads/${name}`, sha, request: r }),
      );
    /** Moves `name` to `sha` if that is a fast-forward; the 422 error when it is not. */
    const advance = (name: string, sha: string) =>
      send({ verb: 'update', target: `branch ${name} of ${where}` }, signal, (r) =>
        git().updateRef({ owner, repo, ref: `heads/${name}`, sha, force: false, request: r }),
      ).then(
        () => undefined,
        onStatus(422, (err) => err),
      );

    /** Directory listings by tree SHA, shared by every attempt. */
    const listings = new Map<string, Promise<Map<string, HeadEntry>>>();
    const list = (sha: string) => {
      const listing =
        listings.get(sha) ??
        send({ verb: 'read', target: `tree ${sha} of ${where}` }, signal, (r) =>
          git().getTree({ owner, repo, tree_sha: sha, request: r }),
        ).then(
          (t) =>
            new Map(
              t.tree.map((e) => [e.path ?? '', { sha: e.sha ?? '', type: e.type ?? '', mode: e.mode ?? '' }]),
            ),
        );
      listings.set(sha, listing);
      return listing;
    };
    /** The entry at each path in `tree` (absent: none), reading only the directories on the way. */
    const entriesAt = async (tree: string, paths: string[]) => {
      const found = new Map<string, HeadEntry>();
      for (const path of paths) {
        let at: HeadEntry | undefined = { sha: tree, type: 'tree', mode: '040000' };
        for (const name of path.split('/')) {
          at = at?.type === 'tree' ? (await list(at.sha)).get(name) : undefined;
        }
        if (at) found.set(path, at);
      }
      return found;
    };
    const readBlob = async (sha: string) => {
      const blob = await send({ verb: 'read', target: `blob ${sha} of ${where}` }, signal, (r) =>
        git().getBlob({ owner, repo, file_sha: sha, request: r }),
      );
      return Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8');
    };
    /** A change as a tree entry: text inline, anything else uploaded as a blob first; one at a
     *  time, as GitHub asks of content-creating requests so as not to trip its rate limit. */
    const entryOf = async (change: FileChange): Promise<TreeEntry> => {
      const { path, content } = change;
      if (content === undefined) return { path, mode: '100644', type: 'blob', sha: null };
      const mode = gitMode(change);
      if (isText(content)) return { path, mode, type: 'blob', content: content.toString('utf8') };
      const blob = await send({ verb: 'upload', target: `${path} to ${where}` }, signal, (r) =>
        git().createBlob({ owner, repo, content: base64(content), encoding: 'base64', request: r }),
      );
      return { path, mode, type: 'blob', sha: blob.sha };
    };

    // The entries do not depend on the head, so blobs go up once for every attempt.
    say(0, 'uploading');
    const entries = new Map<FileChange, TreeEntry>();
    for (const change of changes) entries.set(change, await entryOf(change));
    // Paths whose content at the head matters: those with a base, and deletions, since GitHub
    // refuses to delete a path that is not there.
    const checked = changes.filter((c) => c.base !== undefined || c.content === undefined).map((c) => c.path);

    /** The commit of the changes on `parent`: paths the parent changed since their base are merged
     *  with its version; the changes it already holds are left out. */
    const commitOn = async (parent: string) => {
      const head = await send({ verb: 'read', target: `commit ${parent} of ${where}` }, signal, (r) =>
        git().getCommit({ owner, repo, commit_sha: parent, request: r }),
      );
      const atHead = await entriesAt(head.tree.sha, checked);
      const moved = changes.filter(
        (c) => c.base !== undefined && (atHead.get(c.path)?.sha ?? null) !== c.base,
      );
      if (moved.length && !request.merge) {
        const tree = [...entries.values()].filter((e) => e.sha !== null || atHead.has(e.path));
        return {
          ...(await commitTree(parent, head.tree.sha, tree)),
          changes,
          conflicts: moved.map((c) => c.path),
        };
      }
      // Their versions, read one at a time (GitHub's advice for its API), merged in one call.
      const sides: { change: FileChange; theirs: Buffer | undefined }[] = [];
      for (const change of moved) {
        const entry = atHead.get(change.path);
        sides.push({ change, theirs: entry ? await readBlob(entry.sha) : undefined });
      }
      const results = sides.length ? await request.merge!(sides) : [];
      const merged = new Map(moved.map((c, i) => [c, results[i]!]));
      const final: FileChange[] = [];
      const tree: TreeEntry[] = [];
      const conflicts: string[] = [];
      for (const change of changes) {
        const entry = atHead.get(change.path);
        const result = merged.get(change);
        if (!result) {
          final.push(change);
          if (entries.get(change)!.sha !== null || entry) tree.push(entries.get(change)!);
          continue;
        }
        final.push(result.change);
        if (result.conflict) conflicts.push(change.path);
        if (!holdsAlready(entry, result.change)) tree.push(await entryOf(result.change));
      }
      if (!tree.length) return { sha: parent, changes: final, conflicts, empty: true };
      return { ...(await commitTree(parent, head.tree.sha, tree)), changes: final, conflicts, empty: false };
    };
    const commitTree = async (parent: string, baseTree: string, tree: TreeEntry[]) => {
      const made = await send({ verb: 'create a tree in', target: where }, signal, (r) =>
        git().createTree({ owner, repo, base_tree: baseTree, tree, request: r }),
      );
      const { message, author } = request;
      const commit = await send({ verb: 'create a commit in', target: where }, signal, (r) =>
        git().createCommit({ owner, repo, message, tree: made.sha, parents: [parent], author, request: r }),
      );
      return { sha: commit.sha, empty: false };
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
      const rebased = request.expectedHead !== undefined && request.expectedHead !== parent;
      const built = await commitOn(parent);
      if (built.conflicts.length > 0) return divert(built.sha, parent, built.conflicts);
      const { sha, changes: final, empty } = built;
      if (empty) {
        say(4, `${branch} already holds these changes`);
        return { status: 'pushed', sha, branch, parent, rebased, changes: final, empty };
      }
      await request.beforePush?.({ sha, parent, changes: final });
      say(2, `updating ${branch}`);
      // A 422 says the update is not a fast-forward: the branch moved, as a rejected push would.
      const rejected = await advance(branch, sha);
      if (!rejected) {
        say(4, `pushed to ${branch}`);
        return { status: 'pushed', sha, branch, parent, rebased, changes: final, empty };
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

  /** Whether `remote`'s branch has `sha` in its history: compare says `identical` or `ahead`
   *  (the branch is ahead of the commit); 404 when GitHub never saw the commit. */
  async function holds(remote: RemoteRef, sha: string, options: RemoteCallOptions = {}) {
    const { owner, repo } = parseRepository(remote.url);
    const step = { verb: 'compare', target: `${sha} with branch ${remote.branch} of ${owner}/${repo}` };
    return send(step, options.signal, (r) =>
      octokit.rest.repos.compareCommitsWithBasehead({
        owner,
        repo,
        basehead: `${sha}...${remote.branch}`,
        per_page: 1,
        request: r,
      }),
    ).then(
      (compared) => compared.status === 'identical' || compared.status === 'ahead',
      onStatus(404, () => false),
    );
  }

  return {
    ensureRepository,
    openPullRequest,
    apiRemote: (snapshotVia) => ({
      // A tree read through REST costs a request per blob against 5,000 an hour; a clone, one fetch.
      snapshot: (remote, snapshotOptions) => snapshotVia.snapshot(remote, snapshotOptions),
      // Likewise a page of commits: one blob-less fetch, no API quota.
      log: (remote, limit, logOptions) => snapshotVia.log(remote, limit, logOptions),
      commitAndPush,
      holds,
    }),
  };
}
