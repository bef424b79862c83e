// subscriptions/listen (2026-07-28): one long-lived request whose stream carries the change
// notifications its client opted into, each tagged with the request's id. Stowage honours
// resourceSubscriptions (files and project listings, as resources/subscribe does for 2025-11-25
// sessions) and resourcesListChanged; its tools and prompts never change, so toolsListChanged and
// promptsListChanged are left out of the acknowledgement. What a stream hears is what its bearer
// may read, through whichever instance made the change (change-watch.ts).
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  ErrorCode,
  McpError,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { AccessOf } from '../access.js';
import type { Logger } from '../logger.js';
import { LIST_CHANGED, watchChanges, type Subscribed } from '../resources/change-watch.js';
import { assertReadable } from '../resources/files.js';
import { assertSubscribable, parseFileUri, uriOf } from '../resources/subscriptions.js';
import type { ChangeFeed } from '../store/db/change-feed.js';
import type { Storage } from '../store/stowage.js';
import { SUBSCRIPTION_ID_KEY } from './wire.js';

export interface ListenDeps {
  storage: Storage;
  /** Changes from every instance. */
  feed: ChangeFeed;
  /** A request's rights: its bearer's, or the one user's on stdio and tokenless loopback. */
  accessOf: AccessOf;
  logger: Logger;
}

/** The filter a client sends, as far as Stowage reads it. */
interface Filter {
  toolsListChanged?: unknown;
  promptsListChanged?: unknown;
  resourcesListChanged?: unknown;
  resourceSubscriptions?: unknown;
}

const FILTER_HELP =
  "pass params.notifications, e.g. {resourceSubscriptions: ['stowage://{project}/{path}'], resourcesListChanged: true}";

/**
 * Opens one listen stream: checks the filter and every URI in it (an error names the first one
 * that cannot be heard, and nothing is opened), waits until changes are heard, acknowledges, then
 * emits until the returned function stops it. Throws McpErrors for the client to see.
 */
export async function openListen(
  request: JSONRPCRequest,
  auth: AuthInfo | undefined,
  deps: ListenDeps,
  emit: (notification: JSONRPCNotification) => void,
): Promise<() => void> {
  const filter = (request.params as { notifications?: unknown } | undefined)?.notifications as Filter;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new McpError(ErrorCode.InvalidParams, `subscriptions/listen without a filter: ${FILTER_HELP}`);
  }
  const uris = filter.resourceSubscriptions ?? [];
  if (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string')) {
    throw new McpError(
      ErrorCode.InvalidParams,
      `notifications.resourceSubscriptions must be a list of resource URIs: ${FILTER_HELP}`,
    );
  }
  const listChanged = filter.resourcesListChanged === true;
  const access = deps.accessOf(auth);
  const subscribed = new Map<string, Subscribed>();
  if (uris.length || listChanged) {
    await assertReadable(await deps.storage(), access, undefined, '');
  }
  for (const uri of uris as string[]) {
    const parts = parseFileUri(uri, 'listen to');
    await assertSubscribable(deps.storage, access, parts, uri, deps.logger);
    subscribed.set(uriOf(parts), parts);
  }
  await deps.feed.ready();

  const tagged = (method: string, params: Record<string, unknown> = {}): JSONRPCNotification => ({
    jsonrpc: '2.0',
    method,
    params: { ...params, _meta: { [SUBSCRIPTION_ID_KEY]: request.id } },
  });
  const honored = {
    ...(listChanged ? { resourcesListChanged: true } : {}),
    ...(subscribed.size ? { resourceSubscriptions: uris } : {}),
  };
  emit(tagged('notifications/subscriptions/acknowledged', { notifications: honored }));
  if (!subscribed.size && !listChanged) return () => undefined;
  return watchChanges({
    storage: deps.storage,
    feed: deps.feed,
    access,
    logger: deps.logger,
    subscribed,
    listChanged,
    notify: (key) =>
      emit(
        key === LIST_CHANGED
          ? tagged('notifications/resources/list_changed')
          : tagged('notifications/resources/updated', { uri: key }),
      ),
  });
}

/** The result that ends a stream the server closes (at shutdown): the client may listen again. */
export const listenClosed = (id: RequestId) => ({ _meta: { [SUBSCRIPTION_ID_KEY]: id } });
