// A whole Stowage over real components (a fresh Postgres database, a real blob store) with an
// MCP client connected through the SDK's in-memory transport pair.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pino, type Logger } from 'pino';
import { expect } from 'vitest';
import { loadConfig, TOOLSETS, type Config, type Toolset } from '../../src/config.js';
import { createGitAdapters } from '../../src/git/index.js';
import { createServer } from '../../src/server.js';
import { createFsArtifactStore, type ArtifactStore } from '../../src/store/blobs/artifact-store.js';
import { createBlobCache } from '../../src/store/blobs/blob-cache.js';
import type { BlobStore } from '../../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../../src/store/blobs/blob-store-fs.js';
import { createStowage, type Stowage, type StowageDeps } from '../../src/store/stowage.js';
import { createChangeFeed } from '../../src/store/db/change-feed.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface HarnessOptions {
  principal?: string;
  limits?: Partial<Stowage['limits']>;
  blobs?: BlobStore;
  artifacts?: ArtifactStore;
  toolsets?: Toolset[];
  readOnly?: boolean;
  cacheMaxBytes?: number;
  /** Git settings over the test defaults (http/file remotes and 127.0.0.1 allowed, no token). */
  git?: Partial<Config['git']>;
  lifecycle?: Partial<Config['lifecycle']>;
  /** Backups: the target and the schedule (default: none). */
  backup?: StowageDeps['backup'];
  /** Where the server and the store log; default: nowhere. */
  logger?: Logger;
  /** HISTORY_COALESCE_SECONDS for the database connections; default the server's (60). */
  historyCoalesceSeconds?: number;
}

export interface Harness {
  /** The data directory: blobs/ and tmp/ (ephemeral git clones). */
  home: string;
  db: TestDatabase;
  stowage: Stowage;
  /** What `stowage` was built from: another instance on the same storage is createStowage(deps). */
  deps: StowageDeps;
  blobs: BlobStore;
  client: Client;
  /** A second client on the same storage as another principal. */
  connect(principal: string, options?: Pick<HarnessOptions, 'toolsets' | 'readOnly'>): Promise<Client>;
  call(name: string, args: Record<string, unknown>, client?: Client): Promise<CallToolResult>;
  /** Calls a tool that must succeed; returns its structuredContent. */
  ok<T = Record<string, any>>(name: string, args: Record<string, unknown>, client?: Client): Promise<T>;
  /** Calls a tool that must fail; returns its error text. */
  fail(name: string, args: Record<string, unknown>, client?: Client): Promise<string>;
  close(): Promise<void>;
}

export const silentLogger = pino({ level: 'silent' });

/** Projects `names`, each with a committed README: the teams of the token-isolation tests. */
export async function createTeamProjects(h: Harness, names: readonly string[]) {
  for (const name of names) {
    await h.ok('create_project', { name });
    await h.ok('write_file', { project: name, path: 'README.md', content: `# ${name}` });
    await h.ok('commit_task', { project: name, task: { id: 1, title: 'init' } });
  }
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const db = await createTestDatabase({ historyCoalesceSeconds: options.historyCoalesceSeconds });
  const dir = await mkdtemp(join(tmpdir(), 'stowage-home-'));
  const blobs = options.blobs ?? createFsBlobStore(join(dir, 'blobs'));
  const config = loadConfig({
    GIT_ALLOWED_PROTOCOLS: 'http,https,file',
    // The tests' own git servers listen on loopback, which git may not reach unless allowed.
    GIT_ALLOWED_HOSTS: '127.0.0.1',
    GIT_TIMEOUT_MS: '30000',
  });
  const logger = options.logger ?? silentLogger;
  const deps: StowageDeps = {
    sql: db.sql,
    blobs,
    artifacts: options.artifacts ?? createFsArtifactStore(join(dir, 'artifacts')),
    cache: createBlobCache(blobs, options.cacheMaxBytes ?? config.cacheMaxBytes),
    limits: { ...config.limits, ...options.limits },
    git: createGitAdapters({ ...config.git, ...options.git }, dir),
    lifecycle: { ...config.lifecycle, ...options.lifecycle },
    backup: options.backup,
    logger,
  };
  const stowage = createStowage(deps);
  const clients: Client[] = [];
  const changes = createChangeFeed(db.sql, silentLogger);

  async function connect(principal: string, opts: Pick<HarnessOptions, 'toolsets' | 'readOnly'> = {}) {
    const server = createServer({
      stowage,
      principal,
      toolsets: opts.toolsets ?? [...TOOLSETS],
      readOnly: opts.readOnly ?? false,
      logger,
      changes,
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'stowage-test', version: '1.0.0' });
    await client.connect(clientSide);
    clients.push(client);
    return client;
  }

  const client = await connect(options.principal ?? 'alice', options);
  const call = async (name: string, args: Record<string, unknown>, c = client) =>
    (await c.callTool({ name, arguments: args })) as CallToolResult;

  return {
    home: dir,
    db,
    stowage,
    deps,
    blobs,
    client,
    connect,
    call,
    async ok(name, args, c) {
      const result = await call(name, args, c);
      if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
      expect(result.structuredContent).toBeDefined();
      return result.structuredContent as never;
    },
    async fail(name, args, c) {
      const result = await call(name, args, c);
      expect(result.isError, `${name} should fail`).toBe(true);
      return (result.content[0] as { text: string }).text;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await changes.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Row counts of the tables a rejected call must leave untouched. */
export async function snapshot(db: TestDatabase) {
  const [row] = await db.sql.query<Record<string, number>>(
    `SELECT (SELECT count(*) FROM drafts)::int AS drafts, (SELECT count(*) FROM files)::int AS files,
            (SELECT count(*) FROM events)::int AS events, (SELECT coalesce(sum(version), 0) FROM projects)::int AS versions`,
  );
  return row!;
}
