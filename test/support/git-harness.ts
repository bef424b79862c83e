// A whole Stowage (harness.ts) whose git reaches a real git smart-HTTP server on loopback
// (git-server.ts) serving bare repositories under a fresh directory: what the tests of remotes
// start with.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGitServer, type GitServer } from './git-server.js';
import { createHarness, type Harness, type HarnessOptions } from './harness.js';

export interface GitHarness {
  /** Where the server's repositories live: createBareRepo(root, 'owner/name', …). */
  root: string;
  server: GitServer;
  h: Harness;
  close(): Promise<void>;
}

/** The server checks `token`, which Stowage sends as GITHUB_TOKEN: it reaches the loopback server
 *  as it reaches github.com, as the web host of the (stand-in) API URL. */
export async function createGitHarness(
  name: string,
  token: string,
  options: HarnessOptions = {},
): Promise<GitHarness> {
  const root = await mkdtemp(join(tmpdir(), `stowage-${name}-`));
  const server = await startGitServer({ root, token });
  const h = await createHarness({
    principal: 'ada',
    ...options,
    git: { token, githubApiUrl: `${server.url}/api/v3`, allowedProtocols: ['http'], ...options.git },
  });
  return {
    root,
    server,
    h,
    async close() {
      await h.close();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
