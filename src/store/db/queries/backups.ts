// What backups read of the projects table: the live projects (not jobs) a backup of every
// project goes through, page by page in name order.
import type { Queryable } from '../sql.js';

/** Up to `limit` names of live projects (not jobs) after `after`, in name order. */
export const selectProjectNamesToBackUp = (db: Queryable, after: string, limit: number) =>
  db.query<{ name: string }>(
    `SELECT name FROM projects WHERE deleted_at IS NULL AND kind = 'project' AND name > $1
       ORDER BY name LIMIT $2`,
    [after, limit],
  );
