// Points in time, written one way wherever a tool takes one (`at`, `from`, `to`): a version id
// from file_history (v123), 'committed', 'workspace:<name>', 'Task #<id>', an ISO timestamp, a
// checkpoint name, or a commit SHA (7–40 hex digits). Each resolves to a project version and the
// workspace whose view it is (null: the committed tree alone).
import { invalidInput, notFound } from '../../errors.js';
import {
  selectCheckpoint,
  selectCommitVersion,
  selectVersion,
  selectVersionAtTime,
} from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { assertWorkspaceName } from '../../paths.js';
import type { Project } from '../projects.js';

export interface Point {
  /** The project version the view is taken at. */
  version: number;
  /** Whose view: a workspace's (its drafts over the committed tree), or null: committed only. */
  workspace: string | null;
}

const VERSION_ID = /^v(\d{1,18})$/;
const TASK = /^task\s*#\s*(.+)$/i;
const SHA = /^[0-9a-f]{7,40}$/i;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export const POINT_HELP =
  "a version id from file_history (v123), a commit SHA, 'Task #<id>', a checkpoint name, 'committed', 'workspace:<name>' or an ISO timestamp";

/** Whether `name` could be read as another kind of point: such names are not given to checkpoints. */
export const looksLikeOtherPoint = (name: string) =>
  name === 'committed' ||
  name.startsWith('workspace:') ||
  VERSION_ID.test(name) ||
  TASK.test(name) ||
  SHA.test(name) ||
  ISO_TIME.test(name);

/** Refuses (throws) when the caller may not read another workspace. */
export type MayRead = (workspace: string) => Promise<void>;

/** Resolves `raw` in `project`, seen from `workspace` (the caller's) where the point names none;
 *  a point in another workspace is let through `mayRead` first. */
export async function resolvePoint(
  db: Queryable,
  project: Project,
  raw: string,
  workspace: string,
  mayRead: MayRead,
): Promise<Point> {
  const point = await pointOf(db, project, raw, workspace);
  if (point.workspace !== null && point.workspace !== workspace) await mayRead(point.workspace);
  return point;
}

async function pointOf(db: Queryable, project: Project, raw: string, workspace: string): Promise<Point> {
  const point = raw.trim();
  const missing = (what: string) => notFound(`${what} in project '${project.name}': use ${POINT_HELP}`);
  if (point === 'committed') return { version: project.version, workspace: null };
  if (point.startsWith('workspace:')) {
    return { version: project.version, workspace: assertWorkspaceName(point.slice('workspace:'.length)) };
  }
  const id = VERSION_ID.exec(point)?.[1];
  if (id) {
    const row = await selectVersion(db, project.id, id);
    if (!row) throw missing(`no version ${point}`);
    return { version: row.version, workspace: row.workspace };
  }
  const task = TASK.exec(point)?.[1];
  if (task) {
    const [commit] = await selectCommitVersion(db, project.id, { task: task.trim() });
    if (!commit) throw missing(`no commit of Task #${task.trim()}`);
    return { version: commit.version, workspace: null };
  }
  if (ISO_TIME.test(point)) {
    const at = new Date(point);
    if (Number.isNaN(at.getTime())) throw invalidInput(`'${point}' is not a valid time: use ${POINT_HELP}`);
    const version = await selectVersionAtTime(db, project.id, at);
    if (version === null) throw missing(`nothing was recorded at or before ${at.toISOString()}`);
    return { version, workspace };
  }
  const checkpoint = await selectCheckpoint(db, project.id, point);
  if (checkpoint) return { version: checkpoint.version, workspace: checkpoint.workspace };
  if (SHA.test(point)) {
    const commits = await selectCommitVersion(db, project.id, { sha: point });
    if (commits.length > 1 && commits[0]!.git_sha !== commits[1]!.git_sha) {
      throw invalidInput(`commit SHA prefix '${point}' is ambiguous: give more of it`);
    }
    if (commits[0]) return { version: commits[0].version, workspace: null };
  }
  throw missing(`no point '${point}'`);
}
