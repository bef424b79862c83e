// What one caller hears of the change feed, whichever revision it speaks: a subscribed file's
// changes as the caller's default workspace sees them (its own drafts, or the committed tree), a
// subscribed listing's files coming and going, and the list of projects it may read changing (a
// project created, deleted, archived or restored). Each key (a URI, or the list) is told at most
// once per COALESCE_MS: the first change at once, one more at the end of the window if anything
// changed meanwhile. 2025-11-25 sessions (subscriptions.ts) and 2026-07-28 subscriptions/listen
// streams (modern/listen.ts) differ only in how they subscribe and how they send.
import type { Access } from '../access.js';
import type { Logger } from '../logger.js';
import { fileUri, listingUri } from '../resource-uris.js';
import type { Change, ChangeFeed } from '../store/db/change-feed.js';
import type { Storage } from '../store/stowage.js';
import { JOB_PREFIX } from '../store/visibility.js';

export const COALESCE_MS = 250;

/** The key `notify` is given when the list of projects changed. */
export const LIST_CHANGED = '';

/** Changes to drafts, seen only by their own workspace. */
const DRAFT_KINDS = new Set(['file.write', 'file.delete', 'file.move', 'changes.discard', 'file.restore']);
/** Kinds that change the committed tree, and so every workspace's view. */
const TREE_KINDS = new Set(['commit', 'sync', 'import', 'project.archive', 'project.restore']);
/** Kinds that add a project to the listing, take one away, or change what its entry reads. */
const LISTING_KINDS = new Set(['project.create', 'project.delete', 'project.archive', 'project.restore']);

/** A subscribed URI's parts: a file's, or (path null) a project's listing. */
export interface Subscribed {
  project: string;
  path: string | null;
}

export interface WatchOptions {
  storage: Storage;
  feed: ChangeFeed;
  /** The caller: whose view of the changes it hears. */
  access: Access;
  logger: Logger;
  /** The subscribed URIs (a session's grows and shrinks as it subscribes and unsubscribes). */
  subscribed: ReadonlyMap<string, Subscribed>;
  /** Whether the caller hears the list of projects change. */
  listChanged: boolean;
  /** Sends one notification: `key` is a subscribed URI, or LIST_CHANGED. */
  notify(key: string): void;
}

/** Starts watching; returns the function that stops it. */
export function watchChanges(options: WatchOptions): () => void {
  const { storage, feed, access, subscribed } = options;
  const workspace = access.principal;
  const windows = new Map<string, { timer: NodeJS.Timeout; again: boolean }>();
  const send = (key: string) => {
    const open = windows.get(key);
    if (open) {
      open.again = true;
      return;
    }
    options.notify(key);
    const timer = setTimeout(() => {
      windows.delete(key);
      if (window.again) send(key);
    }, COALESCE_MS);
    timer.unref();
    const window = { timer, again: false };
    windows.set(key, window);
  };

  /** Whether this caller's view saw `change`: its own drafts, or the committed tree. */
  const seen = (change: Change) =>
    access.allows(change.project) &&
    (DRAFT_KINDS.has(change.kind) ? change.workspace === workspace : TREE_KINDS.has(change.kind));

  /** Whether one of these projects is in this caller's listing: another's job is not. */
  const anyListed = async (changes: readonly Change[]) => {
    for (const { project } of changes) {
      if (access.unrestricted || access.global || !project.startsWith(JOB_PREFIX)) return true;
      const stowage = await storage();
      const mine = await stowage.ownership.assertProject(access, project).then(
        () => true,
        () => false,
      );
      if (mine) return true;
    }
    return false;
  };

  const stop = feed.listen({
    changes(changes) {
      for (const change of changes) {
        if (!seen(change)) continue;
        if (change.path === null) {
          for (const [uri, s] of subscribed) if (s.project === change.project) send(uri);
        } else {
          const uri = fileUri(change.project, change.path);
          if (subscribed.has(uri)) send(uri);
          // A project's listing changes as files come and go, not when one is rewritten.
          const listing = listingUri(change.project);
          if (subscribed.has(listing) && (change.kind !== 'file.write' || change.added)) send(listing);
        }
      }
      if (!options.listChanged) return;
      // The list holds one resource per project: it changes only as projects come and go.
      const listing = changes.filter((c) => LISTING_KINDS.has(c.kind) && access.allows(c.project));
      if (listing.length) {
        void anyListed(listing).then(
          (yes) => yes && send(LIST_CHANGED),
          (err: unknown) => options.logger.debug({ err }, 'could not tell whether the listing changed'),
        );
      }
    },
    resync() {
      for (const uri of subscribed.keys()) send(uri);
      if (options.listChanged) send(LIST_CHANGED);
    },
  });
  return () => {
    stop();
    for (const window of windows.values()) clearTimeout(window.timer);
    windows.clear();
  };
}
