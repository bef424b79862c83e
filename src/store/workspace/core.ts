// What every workspace operation shares: the workspace name, the project lock, blob writes, and
// reading a view entry's content. Versions and events are recorded by ../changes.ts.
import { notFound } from '../../errors.js';
import { createBlobWriter } from '../blobs/writer.js';
import type { BlobCache } from '../blobs/blob-cache.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Row, Sql, Statement, Transaction } from '../db/sql.js';
import { assertWorkspaceName } from '../../paths.js';
import { assertWritable, lockedProject, lockProjectStatement, type Project } from '../projects.js';
import type { ViewEntry } from './view.js';

export interface Actor {
  principal: string;
  /** Defaults to the principal. */
  workspace?: string | undefined;
}

export function createWorkspaceCore({ sql, blobs, cache }: { sql: Sql; blobs: BlobStore; cache: BlobCache }) {
  const storeBlobs = createBlobWriter({ sql, blobs, cache });
  const workspaceOf = (actor: Actor) => {
    const workspace = actor.workspace ?? actor.principal;
    assertWorkspaceName(workspace);
    return workspace;
  };

  /** Runs `fn` with the project row locked, refusing writes to inactive projects. `also`
   *  statements run once the lock is held, in the same round trip as the lock and BEGIN; `fn`
   *  gets their rows. */
  async function withWritableProject<T>(
    name: string,
    fn: (tx: Transaction, project: Project, also: Row[][]) => Promise<T>,
    also: readonly Statement[] = [],
  ) {
    return sql.transaction(
      async (tx, [locked, ...rest]) => {
        const project = lockedProject(locked, name);
        assertWritable(project);
        return fn(tx, project, rest);
      },
      [lockProjectStatement(name), ...also],
    );
  }

  /** Content of a view entry: inline draft bytes, or the blob through the cache. */
  async function contentOf(entry: ViewEntry): Promise<Buffer> {
    if (entry.inline) return entry.inline;
    if (!entry.blobHash) throw notFound(`'${entry.path}' has no content (it is deleted in this workspace)`);
    return cache.get(entry.blobHash);
  }

  /** A stored blob's content, through the cache. */
  const readBlob = (hash: string): Promise<Buffer> => cache.get(hash);

  return { storeBlobs, workspaceOf, withWritableProject, contentOf, readBlob };
}

export type WorkspaceCore = ReturnType<typeof createWorkspaceCore>;
