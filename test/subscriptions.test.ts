// Live file resources: resources/subscribe on stowage:// URIs, notifications/resources/updated
// when the subscriber's view of a file changes (its own drafts or the committed tree),
// updates of a project's listing as files come or go, list_changed as projects come or go, at most
// one notification per URI per 250 ms.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COALESCE_MS } from '../src/resources/change-watch.js';
import { createHarness, type Harness } from './support/harness.js';

let h: Harness;
let bob: Client;
beforeAll(async () => {
  h = await createHarness({ principal: 'alice' });
  bob = await h.connect('bob');
  await h.ok('create_project', { name: 'live' });
});
afterAll(() => h.close());

/** Every resource notification `client` receives, in order, as `updated <uri>` or `list`. */
function record(client: Client) {
  const heard: { what: string; at: number }[] = [];
  const waiters: { match: string; resolve(): void }[] = [];
  const hear = (what: string) => {
    heard.push({ what, at: performance.now() });
    for (const w of waiters.filter((w) => w.match === what)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => hear(`updated ${n.params.uri}`));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => hear('list'));
  return {
    heard,
    /** Resolves when `what` is heard (again, counting from now); fails after 2 s, the promise. */
    next(what: string) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no '${what}' within 2 s; heard ${JSON.stringify(heard)}`)),
          2000,
        );
        waiters.push({ match: what, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    clear: () => heard.splice(0),
  };
}

const uri = (path: string, project = 'live') => `stowage://${project}/${path}`;
const write = (path: string, content: string, client = h.client) =>
  h.ok('write_file', { project: 'live', path, content }, client);

/** Waits until every change so far has been delivered (changes arrive in commit order: once a
 *  fresh write to a marker file is heard, so is everything before it), then forgets them. */
async function settle(alice: ReturnType<typeof record>) {
  await h.client.subscribeResource({ uri: uri('settle.txt') });
  const heard = alice.next(`updated ${uri('settle.txt')}`);
  await write('settle.txt', String(Math.random()));
  await heard;
  await h.client.unsubscribeResource({ uri: uri('settle.txt') });
  alice.clear();
}

describe('resources/subscribe', () => {
  it('declares subscribe and listChanged', () => {
    expect(h.client.getServerCapabilities()?.resources).toMatchObject({ subscribe: true, listChanged: true });
  });

  it("tells the subscriber of its own workspace's writes within 2 s, and not of another workspace's", async () => {
    await write('src/a.ts', 'one');
    await write('marker.txt', 'm');
    const alice = record(h.client);
    await h.client.subscribeResource({ uri: uri('src/a.ts') });
    await h.client.subscribeResource({ uri: uri('marker.txt') });
    await settle(alice);

    await write('src/a.ts', 'bob’s own draft', bob); // bob's workspace: alice's view is unchanged
    const marker = alice.next(`updated ${uri('marker.txt')}`);
    await write('marker.txt', 'm2'); // events arrive in order: anything about a.ts would come first
    await marker;
    expect(alice.heard.map((n) => n.what)).not.toContain(`updated ${uri('src/a.ts')}`);

    const updated = alice.next(`updated ${uri('src/a.ts')}`);
    await write('src/a.ts', 'two');
    await updated;
  });

  it('tells every workspace of a change to the committed tree', async () => {
    await write('shared.md', 'v1', bob);
    await h.ok(
      'commit_task',
      { project: 'live', task: { id: 't1', title: 'Share' }, paths: ['shared.md'] },
      bob,
    );
    const alice = record(h.client);
    await h.client.subscribeResource({ uri: uri('shared.md') });
    const updated = alice.next(`updated ${uri('shared.md')}`);
    await write('shared.md', 'v2', bob);
    await h.ok(
      'commit_task',
      { project: 'live', task: { id: 't2', title: 'Change' }, paths: ['shared.md'] },
      bob,
    );
    await updated;
  });

  it('tells the subscriber of a restore of its file, alone or among many, and history says how', async () => {
    const paths = Array.from({ length: 150 }, (_, i) => `many/f${i}.txt`);
    const writeAll = (content: string) =>
      h.ok('write_files', { project: 'live', files: paths.map((path) => ({ path, content })) });
    await writeAll('v1');
    await h.ok('checkpoint', { project: 'live', name: 'many-v1' });
    await writeAll('v2');
    const alice = record(h.client);
    await h.client.subscribeResource({ uri: uri('many/f7.txt') });
    await settle(alice);
    // The burst's window closes first: its trailing notification must not pass for the restore's.
    await new Promise((r) => setTimeout(r, COALESCE_MS + 100));
    alice.clear();

    let updated = alice.next(`updated ${uri('many/f7.txt')}`);
    const one = await h.ok('restore', { project: 'live', to: 'many-v1', paths: ['many/f7.txt'] });
    expect(one.restored).toHaveLength(1);
    await updated;
    await h.ok('write_file', { project: 'live', path: 'many/f7.txt', content: 'v2' });
    await settle(alice);
    await new Promise((r) => setTimeout(r, COALESCE_MS + 100));
    alice.clear();

    // 150 paths: logged as one change of the project, which every subscriber of it hears. (The
    // checkpoint ends the autosave burst, so the restore's versions are not coalesced into it.)
    await h.ok('checkpoint', { project: 'live' });
    updated = alice.next(`updated ${uri('many/f7.txt')}`);
    const all = await h.ok('restore', { project: 'live', to: 'many-v1', paths });
    expect(all.restored.length + (all.more ?? 0)).toBe(150);
    await updated;
    expect((await h.ok('read_file', { project: 'live', path: 'many/f7.txt' })).content).toBe('v1');
    const versions = (await h.ok('file_history', { project: 'live', path: 'many/f99.txt' })).versions as {
      how: string;
    }[];
    expect(versions[0]!.how).toBe('file.restore');
  });

  it('coalesces a burst into at most one notification per URI per 250 ms, the last change included', async () => {
    await write('burst.txt', 'start');
    const alice = record(h.client);
    await h.client.subscribeResource({ uri: uri('burst.txt') });
    const started = performance.now();
    for (let i = 0; i < 20; i++) await write('burst.txt', `save ${i}`);
    const elapsed = performance.now() - started;
    // The trailing notification of the last window comes after the burst.
    await new Promise((r) => setTimeout(r, 600));
    const times = alice.heard.filter((n) => n.what === `updated ${uri('burst.txt')}`).map((n) => n.at);
    expect(times.length).toBeGreaterThanOrEqual(2); // the first at once, the last after its window
    expect(times.length).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    expect(times.at(-1)!).toBeGreaterThan(started + elapsed); // it reflects the final write
  });

  it('updates a subscribed project listing when a file is added or deleted, not when one is only rewritten', async () => {
    await write('list/existing.txt', 'x');
    const alice = record(h.client);
    const listing = 'stowage://live';
    await h.client.subscribeResource({ uri: listing });
    await h.client.subscribeResource({ uri: uri('list/existing.txt') });
    await settle(alice);
    const rewritten = alice.next(`updated ${uri('list/existing.txt')}`);
    await write('list/existing.txt', 'y');
    await rewritten;
    expect(alice.heard.map((n) => n.what)).not.toContain(`updated ${listing}`);

    const added = alice.next(`updated ${listing}`);
    await write('list/new.txt', 'new');
    await added;
    const read = await h.client.readResource({ uri: listing });
    expect((read.contents[0] as { text: string }).text).toContain('list/new.txt\t3\n');
    await new Promise((r) => setTimeout(r, 300)); // past the coalescing window
    const deleted = alice.next(`updated ${listing}`);
    await h.ok('delete_file', { project: 'live', path: 'list/new.txt' });
    await deleted;
    // Files coming and going never change the resource list, which holds one entry per project.
    expect(alice.heard.map((n) => n.what)).not.toContain('list');
  });

  it('sends list_changed when a project is created, archived or deleted', async () => {
    const alice = record(h.client);
    await settle(alice);
    const created = alice.next('list');
    await h.ok('create_project', { name: 'listed-later' });
    await created;
    expect((await h.client.listResources()).resources.map((r) => r.uri)).toContain('stowage://listed-later');
    await new Promise((r) => setTimeout(r, 300)); // past the coalescing window
    const archived = alice.next('list');
    await h.ok('archive_project', { project: 'listed-later' });
    await archived;
    const read = await h.client.readResource({ uri: 'stowage://listed-later' });
    expect((read.contents[0] as { text: string }).text).toMatch(/archived.*restore_project/);
    await new Promise((r) => setTimeout(r, 300));
    const deleted = alice.next('list');
    await h.ok('delete_project', { project: 'listed-later' });
    await deleted;
    expect((await h.client.listResources()).resources.map((r) => r.uri)).not.toContain(
      'stowage://listed-later',
    );
  });

  it('stops after unsubscribe', async () => {
    await write('quiet.txt', '1');
    await write('marker2.txt', '1');
    const alice = record(h.client);
    await h.client.subscribeResource({ uri: uri('quiet.txt') });
    await h.client.subscribeResource({ uri: uri('marker2.txt') });
    await h.client.unsubscribeResource({ uri: uri('quiet.txt') });
    await settle(alice);
    await write('quiet.txt', '2');
    const marker = alice.next(`updated ${uri('marker2.txt')}`);
    await write('marker2.txt', '2');
    await marker;
    expect(alice.heard.map((n) => n.what)).not.toContain(`updated ${uri('quiet.txt')}`);
  });

  it('refuses URIs that are not files, hostile paths and unknown projects, naming the fix', async () => {
    await expect(h.client.subscribeResource({ uri: 'https://example.com/x' })).rejects.toThrow(
      /subscribe to a file, stowage:\/\/\{project\}\/\{path\}, or a project.s listing, stowage:\/\/\{project\}/,
    );
    await expect(
      h.client.subscribeResource({ uri: 'stowage://live/a/%2E%2E/%2E%2E/etc/passwd' }),
    ).rejects.toThrow(/cannot subscribe/);
    await expect(h.client.subscribeResource({ uri: uri('x.txt', 'no-such-project') })).rejects.toThrow(
      /no-such-project/,
    );
  });
});
