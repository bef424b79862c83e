// secret_findings: what secret-scan.ts found in a project's content, by content hash; where that
// content sits (a workspace's draft, the committed tree) is read from drafts and files.
import type { Queryable } from '../sql.js';

export interface StoredFinding {
  line: number;
  rule: string;
}

export interface PlacedFinding extends StoredFinding {
  path: string;
  /** null: the committed tree. */
  workspace: string | null;
}

export async function recordSecretFindings(
  db: Queryable,
  projectId: string,
  found: readonly { hash: string; findings: readonly StoredFinding[] }[],
): Promise<void> {
  if (!found.length) return;
  await db.query(
    `INSERT INTO secret_findings (project_id, content_hash, findings)
     SELECT $1, h, f FROM unnest($2::text[], $3::jsonb[]) AS t(h, f)
     ON CONFLICT (project_id, content_hash) DO NOTHING`,
    [projectId, found.map((f) => f.hash), found.map((f) => JSON.stringify(f.findings))],
  );
}

/** The findings of these contents, by hash (hashes without findings are absent). */
export async function secretFindingsOf(
  db: Queryable,
  projectId: string,
  hashes: readonly string[],
): Promise<Map<string, StoredFinding[]>> {
  if (!hashes.length) return new Map();
  const rows = await db.query<{ content_hash: string; findings: StoredFinding[] }>(
    `SELECT content_hash, findings FROM secret_findings WHERE project_id = $1 AND content_hash = ANY($2::text[])`,
    [projectId, [...new Set(hashes)]],
  );
  return new Map(rows.map((r) => [r.content_hash, r.findings]));
}

/** Findings in the project as it stands: every workspace's drafts and the committed tree. */
export async function openSecretFindings(db: Queryable, projectId: string): Promise<PlacedFinding[]> {
  const rows = await db.query<{ path: string; workspace: string | null; findings: StoredFinding[] }>(
    `SELECT d.path, d.workspace, s.findings
       FROM drafts d JOIN secret_findings s ON s.project_id = d.project_id AND s.content_hash = d.content_hash
      WHERE d.project_id = $1 AND d.op = 'upsert'
     UNION ALL
     SELECT f.path, NULL, s.findings
       FROM files f JOIN secret_findings s ON s.project_id = f.project_id AND s.content_hash = f.blob_hash
      WHERE f.project_id = $1
     ORDER BY 2 NULLS FIRST, 1`,
    [projectId],
  );
  return rows.flatMap((r) => r.findings.map((f) => ({ path: r.path, workspace: r.workspace, ...f })));
}
