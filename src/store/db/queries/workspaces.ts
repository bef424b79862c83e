// workspaces: who owns each workspace of a project. Rows are claimed by the drafts table's
// statement trigger (migration 0009) as drafts are written; nothing here writes them.
import type { Queryable } from '../sql.js';

/** The owner of `workspace` in the live project `project` (null: nobody yet) and, when `writes`,
 *  whether it is named after a known principal (a token's, or another workspace's owner). */
export async function selectWorkspaceOwnership(
  db: Queryable,
  project: string,
  workspace: string,
  writes: boolean,
): Promise<{ owner: string | null; principal: boolean } | undefined> {
  const [row] = await db.query<{ owner: string | null; principal: boolean }>(
    `SELECT (SELECT w.owner FROM workspaces w JOIN projects p ON p.id = w.project_id
                 WHERE p.name = $1 AND p.deleted_at IS NULL AND w.name = $2) AS owner,
                $3::boolean AND (EXISTS (SELECT 1 FROM api_tokens WHERE principal = $2)
                  OR EXISTS (SELECT 1 FROM workspaces WHERE owner = $2)) AS principal`,
    [project, workspace, writes],
  );
  return row;
}
