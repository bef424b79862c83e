// The domain, composed: one object the tools and resources call, built from adapters handed in.
import type { BlobCache } from './blobs/blob-cache.js';
import type { ArtifactStore } from './blobs/artifact-store.js';
import type { BlobStore } from './blobs/blob-store.js';
import { createArtifactService } from './artifacts.js';
import type { GitHost, GitRemote, MergeText } from '../git/types.js';
import {
  createCommitApplier,
  createCommitService,
  createDraftRebaser,
  createPushIntents,
  createRemoteSync,
  type AuthorConfig,
} from './commits/index.js';
import type { Sql } from './db/sql.js';
import { createProjectService } from './projects.js';
import { createReader, createWorkspaceCore, createWorkspaceService, type Limits } from './workspace/index.js';
import { createDeflater } from '../formats/deflater.js';
import { createCpuWork } from '../workers/cpu-work.js';
import type { Config } from '../config.js';
import { createJobService } from './jobs/index.js';
import { createLifecycleService } from './lifecycle/index.js';
import { createMaintenanceService } from './maintenance/index.js';
import { createTokenService } from './tokens.js';
import { createOwnership } from './ownership.js';

export interface StowageDeps {
  sql: Sql;
  blobs: BlobStore;
  artifacts: ArtifactStore;
  cache: BlobCache;
  limits: Limits & {
    responseChars: number;
    /** CPU_TIME_LIMIT_MS: what one call may spend on the CPU worker threads (cpu-work.ts). */
    cpuTimeMs: number;
  };
  git: {
    remote: GitRemote;
    /** GitHub (repository creation, pull requests) when a token is configured. */
    host: GitHost | undefined;
    checkUrl: (url: string) => Promise<void>;
    author: AuthorConfig;
    mergeText: MergeText;
  };
  lifecycle: Config['lifecycle'];
  /** Concurrent writes to one project share a transaction; default on. */
  groupCommit?: boolean | undefined;
}

/** The services every later one is built from. */
function createStowageBase(deps: StowageDeps) {
  const core = createWorkspaceCore(deps);
  // One deflate worker for the process: job drafts are deflated as they are written, and zips
  // deflate what has no stored deflate.
  const deflater = createDeflater();
  // One pool of CPU workers for the process: edit matching, diffs and content search.
  const cpu = createCpuWork({ timeLimitMs: deps.limits.cpuTimeMs });
  const workspace = createWorkspaceService({
    sql: deps.sql,
    core,
    limits: deps.limits,
    groupCommit: deps.groupCommit,
    deflater,
    cpu,
  });
  const projects = createProjectService(deps.sql);
  // Drafts the committed tree moves under (a commit, a sync) are rebased by a three-way merge.
  const rebaser = createDraftRebaser({
    core,
    mergeText: deps.git.mergeText,
    inlineBytes: deps.limits.inlineBytes,
  });
  const applier = createCommitApplier(deps.sql, core, rebaser);
  const intents = createPushIntents({ sql: deps.sql, applier, remote: deps.git.remote });
  const commits = createCommitService({
    sql: deps.sql,
    workspace,
    applier,
    intents,
    remote: deps.git.remote,
    author: deps.git.author,
    mergeText: deps.git.mergeText,
    core,
  });
  return {
    sql: deps.sql,
    blobs: deps.blobs,
    cache: deps.cache,
    limits: deps.limits,
    deflater,
    projects,
    workspace,
    artifacts: createArtifactService(deps.sql, deps.artifacts),
    reader: createReader(workspace, deps.limits.batchFiles, deps.limits.responseChars, cpu),
    commits,
    remotes: createRemoteSync({
      sql: deps.sql,
      remote: deps.git.remote,
      storeBlobs: core.storeBlobs,
      projects,
      limits: deps.limits,
      checkUrl: deps.git.checkUrl,
      rebaser,
      reconcile: (project, actor, call) => commits.reconcile(project, actor, call),
    }),
    gitHost: deps.git.host,
    tokens: createTokenService(deps.sql),
    ownership: createOwnership(deps.sql),
    settings: deps.lifecycle,
  };
}

export type StowageBase = ReturnType<typeof createStowageBase>;

export function createStowage(deps: StowageDeps) {
  const base = createStowageBase(deps);
  return {
    ...base,
    jobs: createJobService(base),
    lifecycle: createLifecycleService(base),
    maintenance: createMaintenanceService(base),
  };
}

export type Stowage = ReturnType<typeof createStowage>;
