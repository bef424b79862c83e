// The domain, composed: one object the tools and resources call, built from adapters handed in.
import type { BlobCache } from './blobs/blob-cache.js';
import type { BlobStore } from './blobs/blob-store.js';
import type { Sql } from './db/sql.js';
import { createProjectService } from './projects.js';
import { createReader } from './reader.js';
import { createWorkspaceService, type Limits } from './workspace.js';

export interface StowageDeps {
  sql: Sql;
  blobs: BlobStore;
  cache: BlobCache;
  limits: Limits & { responseChars: number };
}

export function createStowage(deps: StowageDeps) {
  const workspace = createWorkspaceService(deps);
  return {
    sql: deps.sql,
    blobs: deps.blobs,
    cache: deps.cache,
    limits: deps.limits,
    projects: createProjectService(deps.sql),
    workspace,
    reader: createReader(workspace, deps.limits.batchFiles, deps.limits.responseChars),
  };
}

export type Stowage = ReturnType<typeof createStowage>;
