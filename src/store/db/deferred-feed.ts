// A change feed whose connection comes later: `serve --stdio` declares live resources and answers
// its client before storage is open, then hands the real feed over. Listeners registered before
// it arrives start hearing once it does; `ready` waits for it.
import type { ChangeFeed } from './change-feed.js';

export function deferChangeFeed(opening: Promise<ChangeFeed>): ChangeFeed {
  // A feed that never opens (storage failed) has no changes to tell: nothing is listened to.
  const feed = opening.catch(() => undefined);
  return {
    listen(listener) {
      let stop: (() => void) | undefined;
      let stopped = false;
      void feed.then((f) => {
        if (f && !stopped) stop = f.listen(listener);
      });
      return () => {
        stopped = true;
        stop?.();
      };
    },
    ready: () => opening.then((f) => f.ready()),
    close: () => feed.then((f) => f?.close()),
  };
}
