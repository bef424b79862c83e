// Every tool, gathered in one list; registerTools filters by toolset and read-only mode.
import type { AnyTool } from './define.js';
import changes from './changes.js';
import filesRead from './files-read.js';
import filesWrite from './files-write.js';
import admin from './admin.js';
import git from './git.js';
import history from './history.js';
import jobs from './jobs.js';
import lifecycle from './lifecycle.js';
import projects from './projects.js';

export const allTools: readonly AnyTool[] = [
  ...projects,
  ...filesRead,
  ...filesWrite,
  ...changes,
  ...git,
  ...history,
  ...jobs,
  ...lifecycle,
  ...admin,
];
