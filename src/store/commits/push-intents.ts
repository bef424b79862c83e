// Push intents: a commit survives a crash between its push and its apply. Just before
// commit_task pushes to the branch it records the commit (sha, parent, and each path's pushed
// content, mode, draft and base) as a history row in status 'pushing'; the transaction that
// applies the commit turns that row into 'pushed'. A row still 'pushing' was left by a process
// that died (or is still pushing): the workspace's next commit_task, or the project's next
// sync_project, asks the remote whether its branch holds the commit, applies it if so (the
// drafts it was made from go, nothing is pushed again), and drops the row if it never landed.
// Each process also settles, from its start-up on, every row older than a push takes
// (startIntentRecovery), so a commit whose process died is applied even if nobody asks.
//
// Decisions:
// - The intent is a history row, not a table of its own: its id, task and files are the
//   commit's, and applying it is the one status change either way.
// - Applying claims the row under the project lock (a row lock, lockCommitStatus, taken after
//   the project's), so a commit is applied once even when its own process and a reconciler race:
//   a row already 'pushed' is not applied again, and one a reconciler dropped (it had not landed
//   when asked) is applied by its own process, which knows it landed.
// - A recovered commit applies only the paths whose committed blob is still the one it was
//   made on: a sync since then brought the remote's version, which holds it or something newer.
// - Recovery waits until a row is older than a push can take (the caller's minAgeMs), but it is
//   not what keeps a commit applied once: the claim is. Asked too early, it drops a row whose
//   push had not landed, and the process that pushed still applies the commit. Every process
//   runs it; the claim makes that safe, and finding no rows is one probe of a partial index.
import type { GitRemote } from '../../git/types.js';
import type { Logger } from '../../logger.js';
import type { CommitApplier } from './apply.js';
import {
  deleteIntent,
  insertIntent,
  lockCommitStatus,
  markIntentPushed,
  msUntilNextIntentDue,
  repointIntent,
  selectAbandonedIntents,
  selectIntents,
  type IntentRow,
} from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { getProject, type Project } from '../projects.js';
import type { Actor } from '../workspace/core.js';

export type { IntentRow };

/** What became of the row when its commit came to be applied. */
export type Claim = 'mine' | 'applied' | 'dropped';

/** One round of recovery: what it looked at and applied, the projects it could not settle, and
 *  when the youngest row it left comes of age (ms from now; undefined: none left). */
export interface RecoveryReport {
  settled: number;
  applied: { project: string; commit: number; sha: string }[];
  failed: { project: string; error: string }[];
  nextInMs: number | undefined;
}

// Rows per round: a backlog larger than this is worked off a round at a time.
const ROUND_ROWS = 500;

export function createPushIntents(deps: { sql: Sql; applier: CommitApplier; remote: GitRemote }) {
  const { sql, applier, remote } = deps;

  /** Locks the row (the project is locked already) and says who applies it. */
  async function claim(tx: Queryable, projectId: string, id: number): Promise<Claim> {
    const status = await lockCommitStatus(tx, projectId, id);
    return status === undefined ? 'dropped' : status === 'pushing' ? 'mine' : 'applied';
  }

  /** Marks the row applied, with the version it produced. */
  const markPushed = (tx: Queryable, projectId: string, id: number, version: number, detail?: object) =>
    markIntentPushed(tx, projectId, id, version, detail);

  /** Drops an intent whose commit never landed. */
  const drop = (projectId: string, id: number) => deleteIntent(sql, projectId, id);

  /** Settles each intent: applied when the remote branch holds its commit, else dropped.
   *  Returns the ones applied here. */
  async function reconcile(
    project: Project,
    intents: readonly IntentRow[],
    actor: Actor,
    signal?: AbortSignal,
  ): Promise<{ intent: IntentRow; version: number }[]> {
    const applied: { intent: IntentRow; version: number }[] = [];
    if (!project.remote || !intents.length) return applied;
    for (const intent of intents) {
      const landed = await remote.holds(project.remote, intent.git_sha, { signal });
      if (!landed) {
        await drop(project.id, intent.id);
        continue;
      }
      const done = await applier.applyCommit(
        { ...actor, workspace: intent.workspace },
        { project, workspace: intent.workspace },
        intent.detail.paths,
        {
          taskId: intent.task_id,
          localOnly: false,
          onlyUnmoved: true,
          landed: true,
          headSha: intent.detail.parent === project.head_sha ? intent.git_sha : undefined,
        },
        (tx, version) => markPushed(tx, project.id, intent.id, version),
        async (tx) => (await claim(tx, project.id, intent.id)) === 'mine',
      );
      if (done) applied.push({ intent, version: done.version });
    }
    return applied;
  }

  return {
    claim,
    markPushed,

    /** Records the commit about to be pushed as a 'pushing' history row; returns its id. */
    record: (
      projectId: string,
      row: Omit<IntentRow, 'id' | 'detail'> & { task_title: string; message: string; author: string },
      detail: IntentRow['detail'],
    ): Promise<number> =>
      insertIntent(sql, {
        projectId,
        taskId: row.task_id,
        taskTitle: row.task_title,
        message: row.message,
        author: row.author,
        workspace: row.workspace,
        files: row.files,
        sha: row.git_sha,
        branch: row.branch,
        detail,
      }),

    /** Points the intent at the commit rebuilt on the moved branch, after a rejected push. */
    replace: (projectId: string, id: number, sha: string, detail: IntentRow['detail']) =>
      repointIntent(sql, projectId, id, sha, detail),

    drop,

    /** The 'pushing' rows of a project (of one workspace, when given), oldest first. */
    pending: (projectName: string, workspace?: string) => selectIntents(sql, projectName, workspace ?? null),

    reconcile,

    /** Settles the rows older than `olderThanMs` in every project, each by its committer, as
     *  reconcile does. A project that cannot be settled now (its remote unreachable, it is
     *  archived) keeps its rows for a later round. */
    async settleAbandoned(olderThanMs: number, signal?: AbortSignal): Promise<RecoveryReport> {
      const rows = await selectAbandonedIntents(sql, olderThanMs, ROUND_ROWS);
      const report: RecoveryReport = { settled: 0, applied: [], failed: [], nextInMs: undefined };
      const byProject = new Map<string, typeof rows>();
      for (const row of rows) byProject.set(row.project, [...(byProject.get(row.project) ?? []), row]);
      for (const [name, intents] of byProject) {
        if (signal?.aborted) break;
        try {
          const project = await getProject(sql, name);
          // An archived project's rows wait for its restore and next commit or sync.
          if (project.status !== 'active' || !project.remote) continue;
          // Each as its committer, whose drafts it applies.
          for (const intent of intents) {
            const applied = await reconcile(project, [intent], { principal: intent.author }, signal);
            report.settled++;
            for (const a of applied)
              report.applied.push({ project: name, commit: a.intent.id, sha: a.intent.git_sha });
          }
        } catch (err) {
          report.failed.push({ project: name, error: err instanceof Error ? err.message : String(err) });
        }
      }
      report.nextInMs = await msUntilNextIntentDue(sql, olderThanMs);
      return report;
    },
  };
}

export type PushIntents = ReturnType<typeof createPushIntents>;

export interface IntentRecovery {
  /** No more rounds; resolves once a round in progress has stopped. */
  stop(): Promise<void>;
}

/**
 * Settles abandoned push intents in the background: a round at start-up, then one whenever the
 * youngest row left comes of age, and every `minAgeMs` at the latest (a process that died while
 * this one runs). `minAgeMs` must be longer than a push keeps its row 'pushing'.
 */
export function startIntentRecovery(
  settle: (olderThanMs: number, signal: AbortSignal) => Promise<RecoveryReport>,
  options: { minAgeMs: number; logger: Logger },
): IntentRecovery {
  const { minAgeMs, logger } = options;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function round(): Promise<number> {
    const report = await settle(minAgeMs, stopping.signal);
    if (report.settled) {
      logger.info({ settled: report.settled, applied: report.applied }, 'abandoned push intents settled');
    }
    for (const { project, error } of report.failed) {
      logger.warn({ project, error }, 'push intents left for a later round');
    }
    // Not sooner than a second: a row coming of age now is taken by the next round.
    return report.nextInMs === undefined ? minAgeMs : Math.min(minAgeMs, Math.max(1000, report.nextInMs));
  }

  const schedule = (delayMs: number) => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      running = round()
        .catch((err: unknown) => {
          if (!stopping.signal.aborted) logger.error({ err }, 'settling push intents failed');
          return minAgeMs;
        })
        .then((next) => {
          running = undefined;
          schedule(next);
        });
    }, delayMs);
    timer.unref();
  };
  schedule(0);

  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
