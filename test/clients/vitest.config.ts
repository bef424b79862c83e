// `npm run test:clients`: real coding agents (Gemini CLI, Codex, Claude Code) driving Stowage
// through their own MCP code, each against a scripted model stand-in. Kept out of `npm test`
// because it installs the agents (several hundred MB) on first use.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/clients/**/*.e2e.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/clients/install.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // One agent at a time: each starts its own Stowage, and the machine may have two cores.
    fileParallelism: false,
  },
});
