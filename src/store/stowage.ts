// The domain, composed: createStowage builds every service from the adapters handed in and
// returns the services. Each service declares what it takes (WorkspaceDeps, JobDeps,
// LifecycleDeps, MaintenanceDeps, RemoteDeps, …) and is given that here; the adapters (Postgres,
// the blob and artifact stores, git) stay inside, reached through the services.
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
import { createChangeFeed } from './db/change-feed.js';
import type { Sql } from './db/sql.js';
import { createHealth } from './health.js';
import { createFactsService } from './project-facts.js';
import { createProjectService } from './projects.js';
import { createRemoteService } from './remotes.js';
import { createHistoryService } from './history/index.js';
import { createReader, createWorkspaceCore, createWorkspaceService, type Limits } from './workspace/index.js';
import { createDeflater } from '../formats/deflater.js';
import { createCpuWork } from '../workers/cpu-work.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createJobService } from './jobs/index.js';
import { createLifecycleService } from './lifecycle/index.js';
import { createBackupService, type BackupTarget } from './backups/index.js';
import { createMaintenanceService } from './maintenance/index.js';
import { createTokenService } from './tokens.js';
import { createOwnership } from './ownership.js';
import { createSecretService } from './secrets.js';

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
  /** Backups: the target (BACKUP_TARGET, opened), the schedule and the retention; absent: none. */
  backup?: (Omit<Config['backup'], 'target'> & { target: BackupTarget | undefined }) | undefined;
  /** Where errors nobody expected go, with their stacks (a batch read's file), and the change feed logs. */
  logger: Logger;
  /** Concurrent writes to one project share a transaction; default on. */
  groupCommit?: boolean | undefined;
}

export function createStowage(deps: StowageDeps) {
  const { sql, blobs, cache, limits, lifecycle: settings } = deps;
  const core = createWorkspaceCore(deps);
  // One deflate worker for the process: job drafts are deflated as they are written, and zips
  // deflate what has no stored deflate.
  const deflater = createDeflater();
  // One pool of CPU workers for the process: edit matching, diffs and content search.
  const cpu = createCpuWork({ timeLimitMs: limits.cpuTimeMs });
  const workspace = createWorkspaceService({
    sql,
    core,
    limits,
    groupCommit: deps.groupCommit,
    deflater,
    cpu,
  });
  const facts = createFactsService({ sql, readBlob: core.readBlob });
  const projects = createProjectService(sql, facts);
  const artifacts = createArtifactService(sql, deps.artifacts);
  const ownership = createOwnership(sql);
  const secrets = createSecretService({ sql, cpu, projects });
  // Drafts the committed tree moves under (a commit, a sync) are rebased by a three-way merge.
  const rebaser = createDraftRebaser({
    core,
    mergeText: deps.git.mergeText,
    inlineBytes: limits.inlineBytes,
  });
  const applier = createCommitApplier(sql, core, rebaser);
  const intents = createPushIntents({ sql, applier, remote: deps.git.remote });
  const commits = createCommitService({
    sql,
    workspace,
    applier,
    intents,
    remote: deps.git.remote,
    author: deps.git.author,
    mergeText: deps.git.mergeText,
    core,
    secrets,
  });
  const sync = createRemoteSync({
    sql,
    remote: deps.git.remote,
    storeBlobs: core.storeBlobs,
    projects,
    limits,
    checkUrl: deps.git.checkUrl,
    rebaser,
    reconcile: (project, actor, call) => commits.reconcile(project, actor, call),
  });
  const history = createHistoryService({ sql, core, limits, cpu });
  return {
    /** The configured limits, which tool definitions advertise. */
    limits,
    projects,
    /** What each project's committed tree holds: bytes, files, languages, frameworks. */
    facts,
    workspace,
    artifacts,
    reader: createReader(workspace, limits.batchFiles, limits.responseChars, cpu, deps.logger, {
      sql,
      readBlob: core.readBlob,
    }),
    commits,
    remotes: createRemoteService({ projects, sync, ownership, host: deps.git.host, limits, history, facts }),
    tokens: createTokenService(sql),
    history,
    ownership,
    secrets,
    jobs: createJobService({ sql, projects, workspace, artifacts, deflater, limits, settings, secrets }),
    lifecycle: createLifecycleService({ sql, blobs, projects, artifacts, limits, settings }),
    backups: createBackupService({
      sql,
      blobs,
      projects,
      artifacts,
      limits,
      target: deps.backup?.target,
      settings: {
        intervalHours: deps.backup?.intervalHours ?? 0,
        retentionDays: deps.backup?.retentionDays ?? 30,
        graceMinutes: settings.cleanupGraceMinutes,
      },
    }),
    maintenance: createMaintenanceService({ sql, blobs, artifacts, cache, limits, settings }),
    health: createHealth({ sql, blobs, cache }),
    /** Changes from every instance, for live resources; connects on first use. */
    openChangeFeed: () => createChangeFeed(sql, deps.logger),
  };
}

export type Stowage = ReturnType<typeof createStowage>;

/** The storage, once open: stdio answers initialize and tools/list before it is (server.ts). */
export type Storage = () => Promise<Stowage>;
