// Live file resources for one session: resources/subscribe and unsubscribe on stowage:// file
// URIs, notifications/resources/updated when a subscribed file changes as the session's default
// workspace sees it (its own drafts, or the committed tree), and notifications/resources/list_changed
// when a project the session may read appears, goes, is archived or restored (the listing holds
// one resource per project, not its files). Each URI hears at most one
// notification per COALESCE_MS (the first at once, one more at the end of the window if anything
// changed meanwhile); the change feed brings changes from every instance.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Access, AccessOf } from '../access.js';
import type { Storage } from '../store/stowage.js';
import type { Logger } from '../logger.js';
import type { Change, ChangeFeed } from '../store/db/change-feed.js';
import { normalizePath } from '../paths.js';
import { JOB_PREFIX } from '../store/visibility.js';
import { fileUri, listingUri } from '../resource-uris.js';
import { assertReadable, decodePath } from './files.js';
import { resourceError } from './errors.js';

export const COALESCE_MS = 250;

/** Changes to drafts, seen only by their own workspace; every other kind changes the tree. */
const DRAFT_KINDS = new Set(['file.write', 'file.delete', 'file.move', 'changes.discard']);
/** Kinds that change the committed tree, and so every workspace's view. */
const TREE_KINDS = new Set(['commit', 'sync', 'import', 'project.archive', 'project.restore']);

/** Kinds that add a project to the listing, take one away, or change what its entry reads. */
const LISTING_KINDS = new Set(['project.create', 'project.delete', 'project.archive', 'project.restore']);

const LIST_CHANGED = '';

export function registerSubscriptions(
  server: McpServer,
  deps: {
    storage: Storage;
    feed: ChangeFeed;
    /** The session's caller: whose changes it hears. */
    access: Access;
    /** Each subscribe request's caller: whether it may read the URI. */
    accessOf: AccessOf;
    logger: Logger;
  },
): void {
  const { storage, feed, access, logger } = deps;
  const workspace = access.principal;
  /** Subscribed URIs: a file's, or (path null) a project's listing. */
  const subscribed = new Map<string, { project: string; path: string | null }>();
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });

  server.server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const { uri } = request.params;
    const { project, path } = parseFileUri(uri);
    try {
      const stowage = await storage();
      await assertReadable(stowage, deps.accessOf(extra.authInfo), project, uri);
      await stowage.projects.get(project); // a typo is an error now, not silence forever
      subscribed.set(uriOf(project, path), { project, path });
      await feed.ready();
    } catch (err) {
      throw resourceError(err, logger, new URL(uri));
    }
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    const { project, path } = parseFileUri(request.params.uri);
    subscribed.delete(uriOf(project, path));
    return {};
  });

  const windows = new Map<string, { timer: NodeJS.Timeout; again: boolean }>();
  const send = (key: string) => {
    const open = windows.get(key);
    if (open) {
      open.again = true;
      return;
    }
    const sent =
      key === LIST_CHANGED
        ? server.server.sendResourceListChanged()
        : server.server.sendResourceUpdated({ uri: key });
    sent.catch((err: unknown) => logger.debug({ err, key }, 'could not send a resource notification'));
    const timer = setTimeout(() => {
      windows.delete(key);
      if (window.again) send(key);
    }, COALESCE_MS);
    timer.unref();
    const window = { timer, again: false };
    windows.set(key, window);
  };

  /** Whether this session's view saw `change`: its own drafts, or the committed tree. */
  const seen = (change: Change) =>
    access.allows(change.project) &&
    (DRAFT_KINDS.has(change.kind) ? change.workspace === workspace : TREE_KINDS.has(change.kind));

  /** Whether one of these projects is in this session's listing: another's job is not. */
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
      // The listing is one resource per project: it changes only as projects come and go.
      const listing = changes.filter((c) => LISTING_KINDS.has(c.kind) && access.allows(c.project));
      if (listing.length) {
        void anyListed(listing).then((yes) => {
          if (yes) send(LIST_CHANGED);
        });
      }
    },
    resync() {
      for (const uri of subscribed.keys()) send(uri);
      send(LIST_CHANGED);
    },
  });
  const previous = server.server.onclose;
  server.server.onclose = () => {
    previous?.();
    stop();
    for (const window of windows.values()) clearTimeout(window.timer);
    windows.clear();
  };
}

const uriOf = (project: string, path: string | null) =>
  path === null ? listingUri(project) : fileUri(project, path);

/** `stowage://{project}/{path}` or `stowage://{project}` → its parts; anything else is refused naming the forms. */
function parseFileUri(uri: string): { project: string; path: string | null } {
  const listing = /^stowage:\/\/([^/]+)$/.exec(uri);
  if (listing) return { project: listing[1]!, path: null };
  const match = /^stowage:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) {
    throw new McpError(
      ErrorCode.InvalidParams,
      `cannot subscribe to '${uri}': subscribe to a file, stowage://{project}/{path}, or a project's listing, stowage://{project}`,
    );
  }
  try {
    return { project: match[1]!, path: normalizePath(decodePath(match[2]!)) };
  } catch (err) {
    if (err instanceof McpError) throw err;
    throw new McpError(ErrorCode.InvalidParams, `cannot subscribe to '${uri}': ${(err as Error).message}`);
  }
}
