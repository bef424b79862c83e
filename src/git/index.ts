// The git adapters a process runs with, from configuration: the ephemeral-clone remote, and
// GitHub (Octokit) for repository creation, pull requests and the API push strategy. git gets
// each credential scoped to its host; Octokit uses GITHUB_TOKEN against GITHUB_API_URL only.
import { join } from 'node:path';
import type { Config } from '../config.js';
import { createCloneRemote } from './clone-remote.js';
import { scopedCredentials } from './credentials.js';
import { createGitCli } from './git-cli.js';
import { createPushCache } from './push-cache.js';
import { createGitHub } from './github.js';
import { createTextMerger } from './merge-file.js';
import type { GitHost, GitRemote, MergeText } from './types.js';

export interface GitAdapters {
  remote: GitRemote;
  host: GitHost | undefined;
  /** Validates a remote URL (protocol, credentials, host) before anything is stored. */
  checkUrl: (url: string) => Promise<void>;
  author: { name: string | undefined; email: string };
  /** Three-way merges of text (git merge-file), for drafts the committed tree moved under. */
  mergeText: MergeText;
}

export function createGitAdapters(git: Config['git'], home: string): GitAdapters {
  const cli = createGitCli({
    credentials: scopedCredentials({ token: git.token, apiUrl: git.githubApiUrl }, git.credentials),
    allowedProtocols: git.allowedProtocols,
    allowedHosts: git.allowedHosts,
    timeoutMs: git.timeoutMs,
    scratchDir: join(home, 'tmp'),
  });
  const clone = createCloneRemote(cli, createPushCache(join(home, 'git-cache')));
  const github = git.token
    ? createGitHub({ token: git.token, baseUrl: git.githubApiUrl, request: { timeout: git.timeoutMs } })
    : undefined;
  return {
    remote: git.pushStrategy === 'api' && github ? github.apiRemote(clone) : clone,
    host: github,
    checkUrl: async (url) => {
      await cli.checkUrl(url);
    },
    author: { name: git.authorName, email: git.authorEmail },
    mergeText: createTextMerger(cli),
  };
}
