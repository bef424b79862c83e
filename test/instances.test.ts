// Many instances on one Postgres and one S3: two `stowage serve --http` processes sharing the
// embedded default (one STOWAGE_HOME, so one Postgres) and one S3-compatible server, started at the
// same moment on a fresh home (their migrations take turns), driven by the SDK's HTTP client with
// API tokens. (The cleanup sweeper's one-at-a-time lock is tested in maintenance.test.ts.)
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { spawnHttpServer, spawnStowage } from './support/spawn.js';

type Server = Awaited<ReturnType<typeof spawnHttpServer>>;

let home: string;
let s3: TestS3Server;
let env: Record<string, string>;
let a: Server;
let b: Server;
const tokens: Record<'all' | 'teamA' | 'teamB', string> = { all: '', teamA: '', teamB: '' };

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'stowage-instances-'));
  await chmod(home, 0o755); // the embedded Postgres runs as the postgres user when we are root
  s3 = await startS3Server();
  env = {
    STOWAGE_HOME: join(home, 'data'),
    STOWAGE_AUTH: 'tokens',
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
  };
  [a, b] = await Promise.all([spawnHttpServer(env), spawnHttpServer(env)]);
  const create = async (principal: string, projects: string) => {
    const run = spawnStowage(
      ['token', 'create', '--principal', principal, '--scopes', 'read,write', '--projects', projects],
      env,
    );
    expect(await run.exited, run.stderr()).toBe(0);
    return run.stdout().trim();
  };
  tokens.all = await create('dev', '*');
  tokens.teamA = await create('dev', 'team-a*');
  tokens.teamB = await create('other', 'team-b*');
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await s3?.close();
  await rm(home, { recursive: true, force: true });
});

const connect = async (server: Server, token: string) => (await connectHttp(server.url, token)).client;

async function ok(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Record<string, any>;
}

/** Resolves when `client` hears that `uri` was updated; rejects after 2 s. */
function updated(client: Client, uri: string) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no update of ${uri} within 2 s`)), 2000);
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (n.params.uri !== uri) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('two instances on one Postgres and one S3', () => {
  it('both started on a fresh home, each migration applied once', async () => {
    const client = await connect(a, tokens.all);
    // Both answer, and the schema is complete: a write (which needs every table) works on each.
    await ok(client, 'create_project', { name: 'shared' });
    const other = await connect(b, tokens.all);
    expect((await ok(other, 'get_project', { project: 'shared' })).name).toBe('shared');
    await Promise.all([client.close(), other.close()]);
  });

  it('a write through A is readable through B at once, large (S3) content included', async () => {
    const viaA = await connect(a, tokens.all);
    const viaB = await connect(b, tokens.all);
    const big = 'x'.repeat(200 * 1024) + '\n'; // over the inline limit: stored in S3
    await ok(viaA, 'write_files', {
      project: 'shared',
      files: [
        { path: 'src/small.ts', content: 'export const a = 1;\n' },
        { path: 'assets/big.txt', content: big },
      ],
    });
    expect((await ok(viaB, 'read_file', { project: 'shared', path: 'src/small.ts' })).content).toBe(
      'export const a = 1;\n',
    );
    const read = await viaB.readResource({ uri: 'stowage://shared/assets/big.txt' });
    expect((read.contents[0] as { text: string }).text).toBe(big);
    expect(s3.requests().some((r) => r.startsWith('PUT /stowage-test/blobs/'))).toBe(true);
    await Promise.all([viaA.close(), viaB.close()]);
  });

  it('a subscriber on B hears of a write through A within 2 s', async () => {
    const viaA = await connect(a, tokens.all);
    const viaB = await connect(b, tokens.all);
    await ok(viaA, 'write_file', { project: 'shared', path: 'live.md', content: 'v1' });
    await viaB.subscribeResource({ uri: 'stowage://shared/live.md' });
    const heard = updated(viaB, 'stowage://shared/live.md');
    await ok(viaA, 'write_file', { project: 'shared', path: 'live.md', content: 'v2' });
    await heard;
    await Promise.all([viaA.close(), viaB.close()]);
  });

  it("keeps a token to its projects: no subscribing to, nor hearing of, another team's files", async () => {
    const admin = await connect(a, tokens.all);
    await ok(admin, 'create_project', { name: 'team-a-app' });
    await ok(admin, 'create_project', { name: 'team-b-app' });
    const teamB = await connect(a, tokens.teamB);
    await ok(teamB, 'write_file', { project: 'team-b-app', path: 'secret.txt', content: 'b only' });

    const teamA = await connect(b, tokens.teamA);
    await expect(teamA.subscribeResource({ uri: 'stowage://team-b-app/secret.txt' })).rejects.toThrow(
      /not found/,
    );
    await expect(teamA.readResource({ uri: 'stowage://team-b-app/secret.txt' })).rejects.toThrow(/not found/);
    const listed = await teamA.listResources();
    expect(listed.resources.map((r) => r.uri).filter((u) => u.includes('team-b'))).toEqual([]);

    // Changes arrive in commit order, so by the time team A hears of its own new project it would
    // have heard of team B's (a separate notification, or a second one at the end of the same
    // 250 ms window). One list_changed, and only one, means team B's never reached it. Files
    // coming and going do not change the listing (one resource per project).
    const counter = (client: Client) => {
      const heard = { lists: 0 };
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
        heard.lists++;
      });
      return heard;
    };
    /** Waits until nothing more is heard for 600 ms (what earlier changes sent has arrived, however
     *  late a busy machine delivers it), then counts from zero. */
    const settled = async (heard: { lists: number }) => {
      for (let before = -1; before !== heard.lists;) {
        before = heard.lists;
        await new Promise((r) => setTimeout(r, 600));
      }
      heard.lists = 0;
    };
    const heardByA = counter(teamA);
    await settled(heardByA);
    await ok(teamB, 'create_project', { name: 'team-b-new' });
    await ok(teamB, 'create_job', { name: 'team b job' });
    await ok(teamA, 'write_file', { project: 'team-a-app', path: 'a.txt', content: 'a' });
    await ok(teamA, 'create_project', { name: 'team-a-new' });
    await expect.poll(() => heardByA.lists, { timeout: 2000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 500)); // past any coalescing window
    expect(heardByA.lists).toBe(1);
    expect((await teamA.listResources()).resources.map((r) => r.uri)).toEqual([
      'stowage://team-a-app',
      'stowage://team-a-new',
    ]);

    // Every project, but only its own principal's jobs: another principal's new job is not news.
    const all = counter(admin);
    await settled(all);
    await ok(teamB, 'create_job', { name: 'another team b job' });
    await ok(admin, 'create_project', { name: 'marker-project' });
    await expect.poll(() => all.lists, { timeout: 2000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(all.lists).toBe(1);
    await Promise.all([admin.close(), teamA.close(), teamB.close()]);
  });
});
