// files: the committed tree, a project's files as of its last commit, import, sync or restore.
import type { Queryable } from '../sql.js';

/** How many committed files a project has, and their bytes. */
export async function committedTotals(db: Queryable, projectId: string) {
  const [row] = await db.query<{ files: number; bytes: number }>(
    `SELECT count(*)::int AS files, coalesce(sum(size), 0)::bigint AS bytes FROM files WHERE project_id = $1`,
    [projectId],
  );
  return row!;
}

/** What a committed file counts as in its project's facts (migration 0017 adds them up). */
export interface FileFacts {
  /** A Linguist name (formats/languages.ts); null: none that counts. */
  language: string | null;
  /** A manifest's frameworks (formats/frameworks.ts); null: not a manifest. */
  frameworks: readonly string[] | null;
}

/** A committed file as a commit leaves it: its blob (size and git SHA come from the blobs row). */
export interface CommittedUpsert extends FileFacts {
  path: string;
  hash: string;
  mode: number;
}

// Framework names hold no commas (formats/frameworks.ts): a row's list travels as one text,
// which string_to_array splits again.
export const languageColumn = (files: readonly FileFacts[]) => files.map((f) => f.language);
export const frameworksColumn = (files: readonly FileFacts[]) =>
  files.map((f) => f.frameworks?.join(',') ?? null);

/** Writes a commit's files at `version`; returns the paths written. A blob missing from the blobs
 *  table (collected meanwhile) leaves its path out: the join guards the foreign key. */
export const upsertCommittedFiles = (
  tx: Queryable,
  projectId: string,
  version: number,
  files: readonly CommittedUpsert[],
  /** Committed without a push on a project with a remote: sync keeps these files. */
  local: boolean,
) =>
  tx.query<{ path: string }>(
    `INSERT INTO files (project_id, path, blob_hash, size, git_sha, mode, version, local, language, frameworks)
             SELECT $1, t.path, t.hash, b.size, b.git_sha, t.mode, $2, $6, t.language, string_to_array(t.frameworks, ',')
             FROM unnest($3::text[], $4::text[], $5::int[], $7::text[], $8::text[]) AS t(path, hash, mode, language, frameworks)
             JOIN blobs b ON b.hash = t.hash
             ON CONFLICT (project_id, path) DO UPDATE SET blob_hash = excluded.blob_hash, size = excluded.size,
               git_sha = excluded.git_sha, mode = excluded.mode, version = excluded.version,
               local = excluded.local, language = excluded.language, frameworks = excluded.frameworks, updated_at = now()
             RETURNING path`,
    [
      projectId,
      version,
      files.map((f) => f.path),
      files.map((f) => f.hash),
      files.map((f) => f.mode),
      local,
      languageColumn(files),
      frameworksColumn(files),
    ],
  );

/** Writes files a remote's tree brought at `version`: they match the remote (local = false). */
export async function upsertRemoteFiles(
  tx: Queryable,
  projectId: string,
  version: number,
  files: readonly (FileFacts & { path: string; hash: string; size: number; gitSha: string; mode: number })[],
): Promise<void> {
  await tx.query(
    `INSERT INTO files (project_id, path, blob_hash, size, git_sha, mode, version, local, language, frameworks)
         SELECT $1, t.path, t.hash, t.size, t.git_sha, t.mode, $2, false, t.language, string_to_array(t.frameworks, ',')
         FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::int[], $8::text[], $9::text[])
           AS t(path, hash, size, git_sha, mode, language, frameworks)
         ON CONFLICT (project_id, path) DO UPDATE SET blob_hash = excluded.blob_hash, size = excluded.size,
           git_sha = excluded.git_sha, mode = excluded.mode, version = excluded.version, local = false,
           language = excluded.language, frameworks = excluded.frameworks, updated_at = now()`,
    [
      projectId,
      version,
      files.map((f) => f.path),
      files.map((f) => f.hash),
      files.map((f) => f.size),
      files.map((f) => f.gitSha),
      files.map((f) => f.mode),
      languageColumn(files),
      frameworksColumn(files),
    ],
  );
}

/** Inserts files into an empty committed tree at `version`, sizes and git SHAs from their blobs;
 *  returns how many were inserted (a file whose blob row is missing is not). */
export async function insertFiles(
  tx: Queryable,
  projectId: string,
  version: number,
  files: readonly (CommittedUpsert & { local: boolean })[],
): Promise<number> {
  const inserted = await tx.query(
    `INSERT INTO files (project_id, path, blob_hash, size, git_sha, mode, version, local, language, frameworks)
       SELECT $1, t.path, t.hash, b.size, b.git_sha, t.mode, $2, t.local, t.language, string_to_array(t.frameworks, ',')
       FROM unnest($3::text[], $4::text[], $5::int[], $6::bool[], $7::text[], $8::text[])
         AS t(path, hash, mode, local, language, frameworks)
       JOIN blobs b ON b.hash = t.hash
       RETURNING 1`,
    [
      projectId,
      version,
      files.map((f) => f.path),
      files.map((f) => f.hash),
      files.map((f) => f.mode),
      files.map((f) => f.local),
      languageColumn(files),
      frameworksColumn(files),
    ],
  );
  return inserted.length;
}

export async function deleteFiles(tx: Queryable, projectId: string, paths: readonly string[]): Promise<void> {
  await tx.query(`DELETE FROM files WHERE project_id = $1 AND path = ANY($2::text[])`, [projectId, paths]);
}

/** The committed blob of each of `paths` that is in the tree. */
export const selectFileBlobs = (tx: Queryable, projectId: string, paths: readonly string[]) =>
  tx.query<{ path: string; blob_hash: string }>(
    `SELECT path, blob_hash FROM files WHERE project_id = $1 AND path = ANY($2::text[])`,
    [projectId, paths],
  );

/** Every committed file as a sync compares it with the remote's tree. */
export const selectFilesForSync = (db: Queryable, projectId: string) =>
  db.query<{ path: string; git_sha: string; local: boolean; size: number }>(
    `SELECT path, git_sha, local, size FROM files WHERE project_id = $1`,
    [projectId],
  );

export interface FileRow {
  path: string;
  blob_hash: string;
  size: number;
  mode: number;
  local: boolean;
  updated_at: Date;
}

/** Up to `limit` committed files after `after`, in path order. */
export const selectFilePage = (tx: Queryable, projectId: string, after: string, limit: number) =>
  tx.query<FileRow>(
    `SELECT path, blob_hash, size, mode, local, updated_at FROM files
       WHERE project_id = $1 AND path > $2 ORDER BY path LIMIT $3`,
    [projectId, after, limit],
  );

/** Marks every committed file as not known to be on the remote (a remote attached to a project
 *  that had none): sync keeps them, as it keeps a commit that was not pushed. */
export async function markFilesLocal(tx: Queryable, projectId: string): Promise<void> {
  await tx.query(`UPDATE files SET local = true WHERE project_id = $1 AND NOT local`, [projectId]);
}

/** Empties the committed tree (archiving). */
export async function deleteAllFiles(tx: Queryable, projectId: string): Promise<void> {
  await tx.query(`DELETE FROM files WHERE project_id = $1`, [projectId]);
}
