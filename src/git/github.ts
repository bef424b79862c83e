// GitHub through Octokit: repository identity from a remote URL, creating a missing repository,
// pull requests, and a GitRemote that commits through the Git Data API. Octokit's errors become
// StowageErrors here, where they cross into Stowage; the token never appears in one.
import { isUtf8 } from 'node:buffer';
import { Octokit } from '@octokit/rest';
import { StowageError, alreadyExists, conflict, invalidInput, notFound } from '../errors.js';
import { version } from '../version.js';
import type { CommitRequest, FileChange, GitHost, GitRemote, PullRequest, PushOutcome } from './types.js';

export interface GitHubOptions {
  token: string;
  /** The REST API root: https://api.github.com (the default), https://<host>/api/v3 for Enterprise. */
  baseUrl?: string | undefined;
  /** Per-request limit in ms (default 60 s). Octokit 22 ignores its own `request.timeout`. */
  request?: { timeout?: number | undefined } | undefined;
  /** Receives Octokit's deprecation warnings; its per-request logs are dropped. */
  logger?: { warn(message: string): void } | undefined;
}

export interface GitHub extends GitHost {
  /** A remote that commits through the Git Data API and reads trees through `snapshotVia`. */
  apiRemote(snapshotVia: GitRemote): GitRemote;
}

export interface RepositoryId {
  owner: string;
  repo: string;
}

const EXPECTED_URL =
  'use https://github.com/<owner>/<repo>(.git), or http(s)://<host>/…/<owner>/<repo>(.git)';
const NAME = /^[A-Za-z0-9._-]+$/;
/** Rebuilds on a moved branch before giving up; each costs about five requests. */
const MAX_REBUILDS = 3;
/** GitHub's compare lists at most this many files; a full list may hide ours. */
const COMPARE_FILE_CAP = 300;
const FILE_MODES = new Set([0o100644, 0o100755, 0o120000]);

/** `{ owner, repo }` from a web or clone URL; the URL is never echoed, as it may carry credentials. */
export function parseRepository(url: string): RepositoryId {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidInput(`The remote is not a URL: ${EXPECTED_URL}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw invalidInput(`The remote is not an http(s) URL: ${EXPECTED_URL}`);
  }
  if (parsed.username || parsed.password) {
    throw invalidInput('The remote URL carries credentials: remove them; the token comes from GITHUB_TOKEN');
  }
  const segments = parsed.pathname.split('/').filter(Boolean);
  const onGitHub = /^(www\.)?github\.com$/i.test(parsed.hostname);
  const [owner, name] = segments.slice(-2);
  const repo = name?.replace(/\.git$/, '');
  const valid = (s: string | undefined): s is string =>
    s !== undefined && NAME.test(s) && s !== '.' && s !== '..';
  if ((onGitHub && segments.length !== 2) || !valid(owner) || !valid(repo) || parsed.search || parsed.hash) {
    throw invalidInput(`The remote URL does not name a repository: ${EXPECTED_URL}`);
  }
  return { owner, repo };
}

/** Text GitHub can take inline in a tree: valid UTF-8 without NUL. The rest goes as a base64 blob. */
const isText = (content: Buffer) => !content.includes(0) && isUtf8(content);

function gitMode(change: FileChange): TreeEntry['mode'] {
  const mode = change.mode ?? 0o100644;
  if (!FILE_MODES.has(mode)) {
    throw invalidInput(
      `Mode ${mode.toString(8)} of ${change.path} cannot be committed: use 100644, 100755 or 120000`,
    );
  }
  return mode.toString(8) as TreeEntry['mode'];
}

/** What a failed call is described as: "GitHub refused to <verb> <target>", "GitHub has no <target>". */
interface Step {
  verb: string;
  target: string;
}

interface HttpFailure {
  status: number;
  /** GitHub's message and the messages of its `errors`, token removed. */
  message: string;
  headers: Record<string, string | undefined>;
}

/** One entry of a `POST git/trees` body: inline text, an uploaded blob, or `sha: null` to delete. */
interface TreeEntry {
  path: string;
  mode: '100644' | '100755' | '120000';
  type: 'blob';
  sha?: string | null;
  content?: string;
}

type Answer<T> = { ok: true; data: T } | { ok: false; failure: HttpFailure; error: StowageError };
type Call<T> = (request: { signal: AbortSignal }) => Promise<{ data: T }>;

export function createGitHub(options: GitHubOptions): GitHub {
  if (!options.token) throw invalidInput('No GitHub token: set GITHUB_TOKEN');
  const { token } = options;
  const baseUrl = (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, '');
  const timeoutMs = options.request?.timeout ?? 60_000;
  const noop = () => undefined;
  // @octokit/rest 22 bundles request-log, paginate and endpoint methods only: no retry or
  // throttling plugin waits behind our back, so a rate limit surfaces at once as `unavailable`.
  const octokit = new Octokit({
    auth: token,
    baseUrl,
    userAgent: `stowage/${version()}`,
    log: { debug: noop, info: noop, warn: (m: string) => options.logger?.warn(m), error: noop },
  });
  const redact = (text: string) => text.split(token).join('[token]');

  function translate(err: unknown, step: Step): StowageError {
    const status = typeof err === 'object' && err !== null && 'status' in err ? err.status : undefined;
    const response = typeof err === 'object' && err !== null && 'response' in err ? err.response : undefined;
    if (typeof status !== 'number' || typeof response !== 'object' || response === null) {
      const cause =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      return new StowageError(
        'unavailable',
        `Could not reach GitHub at ${new URL(baseUrl).host} to ${step.verb} ${step.target} (${redact(cause)}): check the network and retry`,
      );
    }
    return fromFailure(failureOf(status, response), step);
  }

  function failureOf(status: number, response: object): HttpFailure {
    const headers = 'headers' in response ? (response.headers as Record<string, string | undefined>) : {};
    const data: unknown = 'data' in response ? response.data : undefined;
    let message = typeof data === 'string' ? data : '';
    if (typeof data === 'object' && data !== null) {
      const body = data as { message?: unknown; errors?: unknown };
      const details = Array.isArray(body.errors)
        ? body.errors.map((e: unknown) =>
            typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : JSON.stringify(e),
          )
        : [];
      message = [typeof body.message === 'string' ? body.message : '', ...details].filter(Boolean).join(': ');
    }
    return { status, message: redact(message.slice(0, 500)) || `HTTP ${status}`, headers };
  }

  function fromFailure({ status, message, headers }: HttpFailure, step: Step): StowageError {
    if (status === 401) return new StowageError('forbidden', 'GitHub rejected the token: check GITHUB_TOKEN');
    const limited =
      headers['retry-after'] !== undefined ||
      headers['x-ratelimit-remaining'] === '0' ||
      /rate limit/i.test(message);
    if ((status === 403 || status === 429) && limited) {
      const reset = Number(headers['x-ratelimit-reset']);
      const seconds = headers['retry-after']
        ? Math.max(0, Number(headers['retry-after']) || 60)
        : Number.isFinite(reset) && headers['x-ratelimit-remaining'] === '0'
          ? Math.max(0, Math.ceil(reset - Date.now() / 1000))
          : 60; // GitHub's advice for a secondary limit that names no time
      const at = new Date(Date.now() + seconds * 1000).toISOString();
      return new StowageError(
        'unavailable',
        `GitHub rate limit reached; retry after ${at} (in ${seconds} s)`,
        {
          retryAfterSeconds: seconds,
        },
      );
    }
    if (status === 403) {
      const needs = headers['x-accepted-github-permissions'] ?? headers['x-accepted-oauth-scopes'];
      const fix = needs ? `the token needs ${needs}` : `give the token access to ${step.target}`;
      return new StowageError(
        'forbidden',
        `GitHub refused to ${step.verb} ${step.target} (${message}): ${fix}`,
      );
    }
    if (status === 404) {
      return notFound(
        `GitHub has no ${step.target}, or the token cannot see it: check the name and the token's access`,
      );
    }
    if (status === 409) return conflict(`GitHub could not ${step.verb} ${step.target}: ${message}`);
    if (status >= 500) {
      return new StowageError(
        'unavailable',
        `GitHub failed to ${step.verb} ${step.target} (HTTP ${status}): retry later`,
      );
    }
    return invalidInput(`GitHub could not ${step.verb} ${step.target}: ${message}`);
  }

  /** Runs one request with the caller's signal and the timeout; failures with `handled` statuses are returned. */
  async function attempt<T>(
    step: Step,
    signal: AbortSignal | undefined,
    call: Call<T>,
    handled: number[],
  ): Promise<Answer<T>> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const stopped = () => {
      if (signal?.aborted) {
        return new StowageError(
          'unavailable',
          `Cancelled while waiting for GitHub to ${step.verb} ${step.target}; retry if it is still wanted`,
          { cancelled: true },
        );
      }
      if (timeout.aborted) {
        return new StowageError(
          'unavailable',
          `GitHub did not ${step.verb} ${step.target} within ${timeoutMs / 1000} s: retry later`,
        );
      }
      return undefined;
    };
    try {
      const { data } = await call({ signal: combined });
      // Octokit swallows an abort while reading a JSON body and answers with `data: ''`.
      const aborted = stopped();
      if (aborted) throw aborted;
      return { ok: true, data };
    } catch (err) {
      if (err instanceof StowageError) throw err;
      const aborted = stopped();
      if (aborted) throw aborted;
      const error = translate(err, step);
      const status = (err as { status?: unknown }).status;
      const response = (err as { response?: unknown }).response;
      if (
        typeof status === 'number' &&
        handled.includes(status) &&
        typeof response === 'object' &&
        response
      ) {
        return { ok: false, failure: failureOf(status, response), error };
      }
      throw error;
    }
  }

  async function send<T>(step: Step, signal: AbortSignal | undefined, call: Call<T>): Promise<T> {
    const answer = await attempt(step, signal, call, []);
    if (!answer.ok) throw answer.error;
    return answer.data;
  }

  async function ensureRepository(
    url: string,
    settings: { private: boolean; description?: string | undefined },
  ) {
    const { owner, repo } = parseRepository(url);
    const step = { verb: 'read', target: `repository ${owner}/${repo}` };
    const found = await attempt(
      step,
      undefined,
      (r) => octokit.rest.repos.get({ owner, repo, request: r }),
      [404],
    );
    if (found.ok) return false;
    const me = await send({ verb: 'read', target: 'the token’s user' }, undefined, (r) =>
      octokit.rest.users.getAuthenticated({ request: r }),
    );
    // auto_init gives the repository a default branch, which the Git Data API needs to commit on.
    const body = {
      name: repo,
      private: settings.private,
      description: settings.description,
      auto_init: true,
    };
    const created =
      me.login.toLowerCase() === owner.toLowerCase()
        ? await attempt(
            { verb: 'create', target: `repository ${owner}/${repo}` },
            undefined,
            (r) => octokit.rest.repos.createForAuthenticatedUser({ ...body, request: r }),
            [422],
          )
        : await attempt(
            { verb: `create repository ${repo} in`, target: `organization ${owner}` },
            undefined,
            (r) => octokit.rest.repos.createInOrg({ org: owner, ...body, request: r }),
            [422],
          );
    if (created.ok) return true;
    if (/already exists/i.test(created.failure.message)) return false; // created meanwhile by someone else
    throw created.error;
  }

  async function openPullRequest(
    url: string,
    pr: { head: string; base: string; title: string; body?: string | undefined },
  ): Promise<PullRequest> {
    const { owner, repo } = parseRepository(url);
    const step = { verb: 'open a pull request on', target: `repository ${owner}/${repo}` };
    const made = await attempt(
      step,
      undefined,
      (r) => octokit.rest.pulls.create({ owner, repo, ...pr, request: r }),
      [422],
    );
    if (made.ok)
      return {
        number: made.data.number,
        url: made.data.html_url,
        head: made.data.head.ref,
        base: made.data.base.ref,
      };
    if (/already exists/i.test(made.failure.message)) {
      throw alreadyExists(
        `A pull request from ${pr.head} into ${pr.base} is already open on ${owner}/${repo}: push to ${pr.head} to update it instead of opening another`,
      );
    }
    throw made.error;
  }

  async function commitAndPush(request: CommitRequest): Promise<PushOutcome> {
    const { owner, repo } = parseRepository(request.remote.url);
    const { branch, conflictBranch, signal } = request;
    const where = `${owner}/${repo}`;
    const git = octokit.rest.git;
    const headOf = async (name: string) =>
      (
        await send({ verb: 'read', target: `branch ${name} of ${where}` }, signal, (r) =>
          git.getRef({ owner, repo, ref: `heads/${name}`, request: r }),
        )
      ).object.sha;

    // Entries do not depend on the head, so binary blobs are uploaded once for all attempts;
    // one at a time, as GitHub asks of content-creating requests to avoid its secondary limits.
    const entries: TreeEntry[] = [];
    for (const change of request.changes) {
      const path = change.path;
      if (change.content === undefined) {
        entries.push({ path, mode: '100644', type: 'blob', sha: null });
      } else if (isText(change.content)) {
        entries.push({
          path,
          mode: gitMode(change),
          type: 'blob',
          content: change.content.toString('utf8'),
        });
      } else {
        const mode = gitMode(change);
        request.progress?.(entries.length, request.changes.length, `uploading ${path}`);
        const blob = await send({ verb: 'upload', target: `${path} to ${where}` }, signal, (r) =>
          git.createBlob({
            owner,
            repo,
            content: change.content!.toString('base64'),
            encoding: 'base64',
            request: r,
          }),
        );
        entries.push({ path, mode, type: 'blob', sha: blob.sha });
      }
    }

    const commitOn = async (parent: string) => {
      const head = await send({ verb: 'read', target: `commit ${parent} of ${where}` }, signal, (r) =>
        git.getCommit({ owner, repo, commit_sha: parent, request: r }),
      );
      const tree = await send({ verb: 'create a tree in', target: where }, signal, (r) =>
        git.createTree({ owner, repo, base_tree: head.tree.sha, tree: entries, request: r }),
      );
      const commit = await send({ verb: 'create a commit in', target: where }, signal, (r) =>
        git.createCommit({
          owner,
          repo,
          message: request.message,
          tree: tree.sha,
          parents: [parent],
          author: request.author,
          request: r,
        }),
      );
      return commit.sha;
    };

    /** The request's paths that changed between `base` and `head`. */
    const touched = async (base: string, head: string) => {
      const paths = request.changes.map((c) => c.path);
      const comparison = await send(
        { verb: 'compare', target: `${base}...${head} in ${where}` },
        signal,
        (r) =>
          octokit.rest.repos.compareCommitsWithBasehead({
            owner,
            repo,
            basehead: `${base}...${head}`,
            request: r,
          }),
      );
      const files = comparison.files ?? [];
      // A list at GitHub's cap may be cut short: then any of our paths may have changed.
      if (files.length >= COMPARE_FILE_CAP) return paths;
      const changed = new Set(files.flatMap((f) => [f.filename, f.previous_filename ?? f.filename]));
      return paths.filter((p) => changed.has(p));
    };

    /** Points `name` at `sha`: creates it, or moves it forward; never rewrites it. */
    const pointBranch = async (name: string, sha: string) => {
      const step = { verb: 'create', target: `branch ${name} on ${where}` };
      const created = await attempt(
        step,
        signal,
        (r) => git.createRef({ owner, repo, ref: `refs/heads/${name}`, sha, request: r }),
        [422],
      );
      if (created.ok) return;
      if (!/already exists/i.test(created.failure.message)) throw created.error;
      const moved = await attempt(
        step,
        signal,
        (r) => git.updateRef({ owner, repo, ref: `heads/${name}`, sha, force: false, request: r }),
        [422],
      );
      if (!moved.ok) {
        throw conflict(
          `Branch ${name} already exists on ${where} with other commits: delete it or choose another branch`,
        );
      }
    };

    let parent = await headOf(branch);
    for (let rebuilds = 0; ; rebuilds++) {
      const sha = await commitOn(parent);
      request.progress?.(request.changes.length, request.changes.length, `updating ${branch}`);
      const step = { verb: 'update', target: `branch ${branch} of ${where}` };
      const updated = await attempt(
        step,
        signal,
        (r) => git.updateRef({ owner, repo, ref: `heads/${branch}`, sha, force: false, request: r }),
        [422],
      );
      if (updated.ok) return { status: 'pushed', sha, branch, parent, rebased: rebuilds > 0 };
      // Not a fast-forward: the branch moved since we read it, as a rejected push would say.
      const head = await headOf(branch);
      if (head === parent) throw updated.error;
      const conflicts = await touched(parent, head);
      if (conflicts.length > 0) {
        await pointBranch(conflictBranch, sha);
        return { status: 'diverged', sha, branch: conflictBranch, parent, conflicts };
      }
      if (rebuilds === MAX_REBUILDS) {
        throw conflict(
          `Branch ${branch} of ${where} moved ${rebuilds + 1} times while committing: retry when it is quieter`,
        );
      }
      parent = head;
    }
  }

  return {
    ensureRepository,
    openPullRequest,
    apiRemote: (snapshotVia) => ({
      // Reading a tree through REST costs a request per blob against 5,000/h; a clone fetches it at once.
      snapshot: (remote, snapshotOptions) => snapshotVia.snapshot(remote, snapshotOptions),
      commitAndPush,
    }),
  };
}
