// diff: what changed between two points in time, per path (added, modified, deleted, renamed —
// a deletion and an addition of the same content), with unified diffs of text within the
// response budget; binary files are reported, not diffed. A diff left out for the budget or the
// CPU time limit is named, so the caller can ask for it alone (paths).
import { asText } from '../../formats/content.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { CpuWork } from '../../workers/cpu-work.js';
import { selectPathsBetween, selectViewAt, type VersionContent } from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { normalizePath } from '../../paths.js';
import type { Actor, WorkspaceCore } from '../workspace/core.js';
import { resolvePoint, type MayRead } from './points.js';
import { getProject } from '../projects.js';
import { assertReadable } from '../workspace/service.js';

export interface DiffDeps {
  sql: Sql;
  core: Pick<WorkspaceCore, 'workspaceOf' | 'readBlob'>;
  cpu: Pick<CpuWork, 'unifiedDiff' | 'budget'>;
}

export interface FileDiff {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  /** A rename's old path. */
  from_path?: string | undefined;
  binary?: boolean | undefined;
  diff?: string | undefined;
}

export interface DiffResult {
  files: FileDiff[];
  /** Paths whose diff was left out (budget, CPU time): diff them alone with `paths`. */
  omitted: string[];
  budget: { max_chars: number; used_chars: number };
  note?: string | undefined;
}

export interface DiffInput {
  from: string;
  /** Default: the workspace's view now. */
  to?: string | undefined;
  paths?: readonly string[] | undefined;
  context?: number | undefined;
  maxChars: number;
  mayRead: MayRead;
}

interface Changed {
  file: FileDiff;
  old: VersionContent | undefined;
  now: VersionContent | undefined;
}

/** How many files' contents are fetched at once. */
const FETCH_CONCURRENCY = 8;

export function createDiff({ sql, core, cpu }: DiffDeps) {
  return async function diff(projectName: string, actor: Actor, input: DiffInput): Promise<DiffResult> {
    const project = assertReadable(await getProject(sql, projectName));
    const workspace = core.workspaceOf(actor);
    const resolve = (at: string) => resolvePoint(sql, project, at, workspace, input.mayRead);
    const from = await resolve(input.from);
    const to = input.to === undefined ? { version: project.version, workspace } : await resolve(input.to);
    const asked = input.paths?.map((p) => normalizePath(p)) ?? null;
    // Only the paths that may differ are read at both points, not the whole view twice.
    const between = await selectPathsBetween(sql, project.id, from, to);
    const paths = between === null || asked === null ? (between ?? asked) : intersect(asked, between);
    const present = async (point: typeof from) =>
      new Map(
        (await selectViewAt(sql, project.id, point, paths))
          .filter((r) => r.op === 'upsert')
          .map((r) => [r.path, r] as const),
      );
    const [before, after] = await Promise.all([present(from), present(to)]);

    let changed: Changed[] = [];
    for (const [path, now] of after) {
      const old = before.get(path);
      if (!old) changed.push({ file: { path, status: 'added' }, old, now });
      else if (old.content_hash !== now.content_hash)
        changed.push({ file: { path, status: 'modified' }, old, now });
    }
    for (const [path, old] of before) {
      if (!after.has(path)) changed.push({ file: { path, status: 'deleted' }, old, now: undefined });
    }
    changed = pairRenames(changed);
    changed.sort((a, b) => (a.file.path < b.file.path ? -1 : a.file.path > b.file.path ? 1 : 0));

    const time = cpu.budget();
    const text = async (row: VersionContent | undefined) =>
      row === undefined ? '' : asText(row.content ?? (await core.readBlob(row.blob_hash!)));
    const patches = await mapBounded(changed, FETCH_CONCURRENCY, async ({ file, old, now }) => {
      if (file.status === 'renamed' && old?.content_hash === now?.content_hash) return '';
      const [a, b] = await Promise.all([text(old), text(now)]);
      if (a === undefined || b === undefined) return null; // binary
      const names = {
        oldName: old ? `a/${file.from_path ?? file.path}` : '/dev/null',
        newName: now ? `b/${file.path}` : '/dev/null',
      };
      return cpu.unifiedDiff(names, a, b, time, input.context);
    });
    let used = 0;
    const omitted: string[] = [];
    const binary: string[] = [];
    changed.forEach(({ file }, i) => {
      const patch = patches[i];
      if (patch === null) {
        file.binary = true;
        binary.push(file.path);
      } else if (patch === undefined || used + patch.length > input.maxChars) omitted.push(file.path);
      else if (patch) {
        used += patch.length;
        file.diff = patch;
      }
    });
    const notes = [
      omitted.length &&
        `${omitted.length} diff(s) left out for the ${input.maxChars}-char budget or the CPU time limit: diff them by paths in another call`,
      binary.length && `binary, not diffed: ${binary.join(', ')}`,
    ].filter(Boolean);
    return {
      files: changed.map((c) => c.file),
      omitted,
      budget: { max_chars: input.maxChars, used_chars: used },
      note: notes.join('; ') || undefined,
    };
  };
}

const intersect = (a: readonly string[], b: readonly string[]) => {
  const inB = new Set(b);
  return a.filter((x) => inB.has(x));
};

/** A deleted path and an added one with the same content are one rename (each paired once). */
function pairRenames(changed: Changed[]): Changed[] {
  const added = new Map<string, Changed>();
  for (const c of changed) {
    if (c.file.status === 'added' && c.now?.content_hash) added.set(c.now.content_hash, c);
  }
  return changed.filter((c) => {
    const target =
      c.file.status === 'deleted' && c.old?.content_hash ? added.get(c.old.content_hash) : undefined;
    if (!target) return true;
    added.delete(c.old!.content_hash!);
    target.file.status = 'renamed';
    target.file.from_path = c.file.path;
    target.old = c.old;
    return false;
  });
}
