// Artifacts of a project: written as a stream into the artifact store first, recorded second;
// read back as a stream; listed, expired and deleted with their bytes.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { notFound } from '../errors.js';
import { pauseAt } from '../test-pause.js';
import type { ArtifactStore } from './blobs/artifact-store.js';
import {
  deleteArtifact,
  insertArtifact,
  listArtifacts,
  selectArtifact,
  type Artifact,
  type ArtifactKind,
} from './db/queries/index.js';
import type { Queryable, Sql } from './db/sql.js';

export type { Artifact, ArtifactKind };

/** An artifact's bytes, stored and not yet recorded. */
export interface WrittenArtifact {
  id: string;
  size: number;
  sha256: string;
}

export interface ArtifactRecord {
  kind: ArtifactKind;
  name: string;
  files: number;
  expiresAt?: Date | undefined;
}

export function createArtifactService(sql: Sql, store: ArtifactStore) {
  /** Streams `source` into the store under a new id. Until `record` commits, the bytes are a
   *  stray that cleanup reclaims after its grace period should the process die. */
  async function write(source: Readable): Promise<WrittenArtifact> {
    const id = randomUUID();
    const written = { id, ...(await store.write(id, source)) };
    await pauseAt('artifact-written');
    return written;
  }

  /** The row of written bytes, in the caller's transaction (with the change it belongs to). */
  async function record(
    tx: Queryable,
    projectId: string,
    { id, size, sha256 }: WrittenArtifact,
    input: ArtifactRecord,
  ): Promise<Artifact> {
    return insertArtifact(tx, projectId, {
      id,
      kind: input.kind,
      name: input.name,
      size,
      sha256,
      files: input.files,
      expiresAt: input.expiresAt ?? null,
    });
  }

  return {
    store,
    write,
    record,

    /** Streams `source` into a new artifact and records it; `files` is counted by the caller. */
    async create(
      projectId: string,
      input: Omit<ArtifactRecord, 'files'> & { source: Readable; files: () => number },
      tx: Queryable = sql,
    ): Promise<Artifact> {
      const written = await write(input.source);
      try {
        return await record(tx, projectId, written, { ...input, files: input.files() });
      } catch (err) {
        await store.delete(written.id).catch(() => undefined);
        throw err;
      }
    },

    async get(projectId: string, id: string): Promise<Artifact> {
      const row = await selectArtifact(sql, projectId, id);
      if (!row)
        throw notFound(`artifact ${id} not found: it expired, was cleaned up, or its project was deleted`);
      return row;
    },

    async open(projectId: string, id: string): Promise<{ artifact: Artifact; stream: Readable }> {
      const artifact = await this.get(projectId, id);
      return { artifact, stream: await store.read(id) };
    },

    list: (projectId: string, kind?: ArtifactKind) => listArtifacts(sql, projectId, kind ?? null),

    /** Removes the row, then the bytes: a reader never finds a row without its bytes. */
    async delete(projectId: string, id: string): Promise<void> {
      await deleteArtifact(sql, projectId, id);
      await store.delete(id);
    },
  };
}

export type ArtifactService = ReturnType<typeof createArtifactService>;
