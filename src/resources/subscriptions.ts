// Live file resources for one 2025-11-25 session: resources/subscribe and unsubscribe on
// stowage:// file URIs, notifications/resources/updated when a subscribed file changes as the
// session's default workspace sees it (its own drafts, or the committed tree), and
// notifications/resources/list_changed when a project the session may read appears, goes, is
// archived or restored (the listing holds one resource per project, not its files). What the
// session hears, and how often, is change-watch.ts's; 2026-07-28 clients subscribe with
// subscriptions/listen instead (modern/listen.ts).
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
import type { ChangeFeed } from '../store/db/change-feed.js';
import { normalizePath } from '../paths.js';
import { fileUri, listingUri } from '../resource-uris.js';
import { LIST_CHANGED, watchChanges, type Subscribed } from './change-watch.js';
import { assertReadable, decodePath } from './files.js';
import { resourceError } from './errors.js';

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
  const { storage, feed, logger } = deps;
  const subscribed = new Map<string, Subscribed>();
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });

  server.server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const { uri } = request.params;
    const parts = parseFileUri(uri, 'subscribe to');
    await assertSubscribable(storage, deps.accessOf(extra.authInfo), parts, uri, logger);
    subscribed.set(uriOf(parts), parts);
    await feed.ready().catch((err: unknown) => {
      throw resourceError(err, logger, new URL(uri));
    });
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscribed.delete(uriOf(parseFileUri(request.params.uri, 'unsubscribe from')));
    return {};
  });

  const stop = watchChanges({
    storage,
    feed,
    access: deps.access,
    logger,
    subscribed,
    listChanged: true,
    notify(key) {
      const sent =
        key === LIST_CHANGED
          ? server.server.sendResourceListChanged()
          : server.server.sendResourceUpdated({ uri: key });
      sent.catch((err: unknown) => logger.debug({ err, key }, 'could not send a resource notification'));
    },
  });
  const previous = server.server.onclose;
  server.server.onclose = () => {
    previous?.();
    stop();
  };
}

/** A URI's canonical form, as change-watch.ts names the resources that change. */
export const uriOf = ({ project, path }: Subscribed) =>
  path === null ? listingUri(project) : fileUri(project, path);

/** Refuses a subscription the caller may not have: no read scope, a project it may not see, or
 *  one that does not exist (a typo is an error now, not silence forever). */
export async function assertSubscribable(
  storage: Storage,
  access: Access,
  { project }: Subscribed,
  uri: string,
  logger: Logger,
): Promise<void> {
  try {
    const stowage = await storage();
    await assertReadable(stowage, access, project, uri);
    await stowage.projects.get(project);
  } catch (err) {
    throw resourceError(err, logger, new URL(uri));
  }
}

/** `stowage://{project}/{path}` or `stowage://{project}` → its parts; anything else is refused
 *  naming the forms (`doing`: what the caller asked, e.g. 'subscribe to'). */
export function parseFileUri(uri: string, doing: string): Subscribed {
  const listing = /^stowage:\/\/([^/]+)$/.exec(uri);
  if (listing) return { project: listing[1]!, path: null };
  const match = /^stowage:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) {
    throw new McpError(
      ErrorCode.InvalidParams,
      `cannot ${doing} '${uri}': subscribe to a file, stowage://{project}/{path}, or a project's listing, stowage://{project}`,
      { uri },
    );
  }
  try {
    return { project: match[1]!, path: normalizePath(decodePath(match[2]!)) };
  } catch (err) {
    if (err instanceof McpError) throw err;
    throw new McpError(ErrorCode.InvalidParams, `cannot ${doing} '${uri}': ${(err as Error).message}`, {
      uri,
    });
  }
}
