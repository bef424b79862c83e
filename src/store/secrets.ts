// Secret push protection: writes are scanned for likely secrets (formats/secret-scan.ts, gitleaks'
// rules) and succeed with warnings; what was found is recorded by content hash
// (db/queries/secret-findings.ts), so get_project can list the open findings and a push, a job's
// zip or an export refuses content holding them unless the caller allows it. Nothing here keeps
// or repeats the text matched: a finding is a path, a line and a rule id.
import { isUtf8 } from 'node:buffer';
import { forbidden } from '../errors.js';
import { sha256 } from './blobs/blob-store.js';
import {
  openSecretFindings,
  recordSecretFindings,
  secretFindingsOf,
  type PlacedFinding,
} from './db/queries/index.js';
import type { Queryable, Sql } from './db/sql.js';
import type { Project } from './projects.js';
import { TimeLimitExceeded, type CpuWork } from '../workers/cpu-work.js';

export interface SecretWarning {
  path: string;
  line: number;
  rule: string;
}

export type { PlacedFinding };

/** How many findings a refusal names before "and N more". */
const NAMED = 10;

export function createSecretService(deps: {
  sql: Sql;
  cpu: Pick<CpuWork, 'scanSecrets' | 'budget'>;
  projects: { get(name: string): Promise<Project> };
}) {
  const { sql, cpu, projects } = deps;

  return {
    /** Scans contents just written to `projectName` and records what they hold; the warnings, in
     *  the order of the files. Binary content is not scanned. */
    async check(
      projectName: string,
      files: readonly { path: string; content: Buffer }[],
    ): Promise<SecretWarning[]> {
      const budget = cpu.budget();
      const warnings: SecretWarning[] = [];
      const found: { hash: string; findings: { line: number; rule: string }[] }[] = [];
      for (const { path, content } of files) {
        if (!isUtf8(content) || content.includes(0)) continue;
        // The write has landed: a scan that runs out of CPU time leaves that file unscanned
        // rather than fail a call whose change is already made.
        const findings = await cpu
          .scanSecrets(path, content.toString('utf8'), budget)
          .catch((err: unknown) => {
            if (err instanceof TimeLimitExceeded) return [];
            throw err;
          });
        if (!findings.length) continue;
        found.push({ hash: sha256(content), findings });
        warnings.push(...findings.map((f) => ({ path, ...f })));
      }
      if (found.length) await recordSecretFindings(sql, (await projects.get(projectName)).id, found);
      return warnings;
    },

    /** Findings in the project as it stands: in each workspace's drafts (null: committed). */
    open: (projectId: string): Promise<PlacedFinding[]> => openSecretFindings(sql, projectId),

    /** Refuses `action` (an export) when the committed tree holds a finding. */
    async refuseCommitted(projectName: string, action: string, allow: string): Promise<void> {
      const project = await projects.get(projectName);
      const hits = (await openSecretFindings(sql, project.id)).filter((f) => f.workspace === null);
      if (hits.length)
        throw secretsRefused(
          hits.map(({ workspace: _, ...h }) => h),
          action,
          allow,
        );
    },

    /** Refuses `action` when any of `entries` (content about to leave) holds a finding. */
    async refuse(
      db: Queryable,
      projectId: string,
      entries: readonly { path: string; hash: string | null }[],
      action: string,
      allow: string,
    ): Promise<void> {
      const present = entries.filter((e): e is { path: string; hash: string } => e.hash !== null);
      const byHash = await secretFindingsOf(
        db,
        projectId,
        present.map((e) => e.hash),
      );
      const hits = present.flatMap((e) => (byHash.get(e.hash) ?? []).map((f) => ({ path: e.path, ...f })));
      if (hits.length) throw secretsRefused(hits, action, allow);
    },
  };
}

export type SecretService = ReturnType<typeof createSecretService>;

function secretsRefused(hits: readonly SecretWarning[], action: string, allow: string) {
  const named = hits
    .slice(0, NAMED)
    .map((h) => `${h.path}:${h.line} (${h.rule})`)
    .join(', ');
  const more = hits.length > NAMED ? ` and ${hits.length - NAMED} more` : '';
  return forbidden(
    `${action} refused: likely secrets in ${named}${more}. Remove them (e.g. read them from the environment ` +
      `instead) and try again, or pass ${allow} if they are not secrets`,
    { findings: hits.slice(0, NAMED * 5) },
  );
}
