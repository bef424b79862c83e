// Project facts: what a project's committed tree holds (bytes, files, languages, frameworks).
// Every write of the tree records on each row what its file counts as (loadDescriber and
// describeStored, here: its language by its path, a manifest's frameworks by its content;
// the query functions that write rows require it) and migration 0017's triggers add the rows up:
// a fact is counted when its file changes, and only read per request.
//
// Decisions:
// - Facts describe the committed tree: what get_project describes, what a clone of the remote
//   holds, and what changes only on a commit, import, sync or restore. Drafts are work in
//   progress (and counting them would cost every autosave).
// - An archived project keeps the facts of the tree in its archive, so list_projects still
//   finds it by language or size.
// - A project from before migration 0017 has its bytes and files counted by the migration, and
//   its languages and frameworks once from here: when get_project reads it, or before
//   list_projects filters by language or framework. An archived one is counted by its restore.
// - A manifest over MANIFEST_MAX_BYTES names no framework: nobody writes one that large by hand.
// - list_projects {language} takes a Linguist name or alias in any case ('typescript', 'golang');
//   one Linguist does not know, or of a type that is not counted (JSON, Markdown), is refused
//   with the fix, as is a framework the table does not know: either would only ever match none.
import { invalidInput, isStowageError } from '../errors.js';
import { FRAMEWORKS, frameworksOf, manifestOf } from '../formats/frameworks.js';
import { loadLanguages } from '../formats/languages.js';
import { mapBounded } from '../formats/map-bounded.js';
import {
  countTree,
  selectFactsPending,
  selectFilesToCount,
  selectProjectFacts,
  type FileFacts,
  type ProjectFactsRow,
  type ProjectFilter,
} from './db/queries/index.js';
import type { Sql } from './db/sql.js';
import { getProject, type Project } from './projects.js';

export type { FileFacts };
export type ProjectFacts = Omit<ProjectFactsRow, 'pending'> & { pending?: true };

const MANIFEST_MAX_BYTES = 1024 * 1024;
/** Languages get_project shows, largest first. */
export const LANGUAGES_SHOWN = 10;
const PENDING_BATCH = 100;
const READS_IN_FLIGHT = 8;

/** What a file counts as, given its content (read only for a manifest). */
export type Describe = (path: string, content?: Buffer) => FileFacts;

/** A describer, once the language table is loaded (formats/languages.ts). */
export async function loadDescriber(): Promise<Describe> {
  const languages = await loadLanguages();
  return (path, content) => {
    const manifest = manifestOf(path);
    const frameworks = !manifest
      ? null
      : content && content.byteLength <= MANIFEST_MAX_BYTES
        ? frameworksOf(manifest, content.toString('utf8'))
        : [];
    return { language: languages.of(path), frameworks };
  };
}

/** `files` with what each counts as; a manifest's content is read by `readBlob`. */
export async function describeStored<T extends { path: string; hash: string }>(
  files: readonly T[],
  readBlob: (hash: string) => Promise<Buffer>,
): Promise<(T & FileFacts)[]> {
  const describe = await loadDescriber();
  return mapBounded(files, READS_IN_FLIGHT, async (file) => ({
    ...file,
    ...describe(file.path, manifestOf(file.path) ? await readBlob(file.hash) : undefined),
  }));
}

export function createFactsService({
  sql,
  readBlob,
}: {
  sql: Sql;
  readBlob: (hash: string) => Promise<Buffer>;
}) {
  /** Counts a project whose rows predate migration 0017 (and is not archived). */
  async function count(name: string): Promise<void> {
    const project = await getProject(sql, name);
    const files = await describeStored(await selectFilesToCount(sql, project.id), readBlob);
    await sql.transaction(async (tx) => {
      const locked = await getProject(tx, name, { forUpdate: true });
      // A commit meanwhile described the rows it wrote; those rows are left as they are.
      if (locked.id === project.id) await countTree(tx, project.id, files);
    });
  }

  /** Counts every project that predates facts, each once (one deleted meanwhile is skipped). */
  async function countPending(): Promise<void> {
    const seen = new Set<string>();
    for (;;) {
      const pending = (await selectFactsPending(sql, PENDING_BATCH)).filter((p) => !seen.has(p.name));
      if (!pending.length) return;
      for (const { name } of pending) {
        seen.add(name);
        await count(name).catch((err: unknown) => {
          if (!isStowageError(err, 'not_found')) throw err;
        });
      }
    }
  }

  return {
    describe: <T extends { path: string; hash: string }>(files: readonly T[]) =>
      describeStored(files, readBlob),

    /** The project's facts, counted first if it predates them. */
    async of(project: Project): Promise<ProjectFacts> {
      let row = await selectProjectFacts(sql, project.id, LANGUAGES_SHOWN);
      if (row.pending && project.status !== 'archived') {
        await count(project.name);
        row = await selectProjectFacts(sql, project.id, LANGUAGES_SHOWN);
      }
      const { pending, ...facts } = row;
      return pending ? { ...facts, pending } : facts;
    },

    /** list_projects's filter on facts as stored: a language by its Linguist name, a framework
     *  as the table names it; `invalid_input` naming the fix for what would match nothing. Counts
     *  the projects that predate facts first when it filters by language or framework. */
    async filter(input: {
      language?: string | undefined;
      framework?: string | undefined;
      min_bytes?: number | undefined;
      max_bytes?: number | undefined;
    }): Promise<Pick<ProjectFilter, 'language' | 'framework' | 'minBytes' | 'maxBytes'>> {
      const { min_bytes: minBytes, max_bytes: maxBytes } = input;
      if (minBytes !== undefined && maxBytes !== undefined && minBytes > maxBytes) {
        throw invalidInput(
          `min_bytes (${minBytes}) is over max_bytes (${maxBytes}): no project can be both; pass a min_bytes at most max_bytes`,
        );
      }
      let language: string | undefined;
      if (input.language !== undefined) {
        const found = (await loadLanguages()).find(input.language);
        if (!found) {
          throw invalidInput(
            `language '${input.language}' is not one GitHub Linguist knows: pass a Linguist name or alias, e.g. TypeScript, Python, Go, 'c++'`,
          );
        }
        if (!found.counted) {
          throw invalidInput(
            `${found.name} is a data or prose language, which project facts do not count: pass a programming or markup language, e.g. TypeScript or HTML`,
          );
        }
        language = found.name;
      }
      let framework: string | undefined;
      if (input.framework !== undefined) {
        framework = input.framework.trim().toLowerCase();
        if (!FRAMEWORKS.includes(framework)) {
          throw invalidInput(
            `framework '${input.framework}' is not one Stowage detects: pass one of ${FRAMEWORKS.join(', ')}`,
          );
        }
      }
      if (language !== undefined || framework !== undefined) await countPending();
      return { language, framework, minBytes, maxBytes };
    },
  };
}

export type FactsService = ReturnType<typeof createFactsService>;
