// The open MCP sessions of one HTTP server: the token each belongs to, the caps on how many may be
// open (in all, and per token), and the timers that close them. Every session holds a server and
// its transport (~87 KiB), so neither a flood of initializes nor clients that never say goodbye
// may grow them without bound: a session that carries no request after initialize is closed
// within `unusedMs`, one in use after `idleMs` without requests.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamableTransport } from './streamable-transport.js';

export interface SessionLimits {
  /** Sessions open at once, in all. */
  max: number;
  /** Sessions open at once per token; sessions without a token count against `max` only. */
  maxPerToken: number;
  /** A session in use is closed after this long without requests. */
  idleMs: number;
  /** A session that has carried no request since initialize is closed after this long. */
  unusedMs: number;
}

export interface Session {
  transport: StreamableTransport;
  tokenId: string | undefined;
  /** A request (or the GET stream) came after initialize: from then on the idle timeout applies. */
  used: boolean;
  /** Until used, it closes at this time (ms), however many notifications it carries meanwhile. */
  unusedUntil: number;
  /** POSTs being answered; the timer runs only while there are none. */
  busy: number;
  timer: NodeJS.Timeout | undefined;
}

/** A place for a new session, or why there is none (with the seconds to wait for one). */
export type Admission =
  | {
      ok: true;
      /** The session initialised: it holds the place until it closes. */
      open(id: string, transport: StreamableTransport): void;
      /** Gives the place back unless open() was called; safe to call always. */
      release(): void;
    }
  | { ok: false; status: 429 | 503; retryAfterSeconds: number; message: string };

export interface SessionTable {
  /** Claims a place for a new session of `tokenId` before its initialize is handled. */
  admit(tokenId: string | undefined): Admission;
  get(id: string): Session | undefined;
  /** Forgets a closed session and frees its place. */
  closed(id: string): void;
  /** Counts a request against the session's timer, which restarts when the request ends; `use`:
   *  the request makes the session a used one. */
  touch(session: Session, req: IncomingMessage, res: ServerResponse, use: boolean): void;
  size(): number;
  closeAll(): Promise<void>;
}

export function createSessionTable(limits: SessionLimits): SessionTable {
  const sessions = new Map<string, Session>();
  // Places are taken at admission, before initialize is handled, so that concurrent initializes
  // cannot all pass the check; `taken` and `perToken` count open sessions and admitted ones.
  const perToken = new Map<string, number>();
  let taken = 0;
  // Abandoned sessions free their places within the unused timeout: the soonest a retry can pass.
  const retryAfterSeconds = Math.max(1, Math.ceil(limits.unusedMs / 1000));

  const give = (tokenId: string | undefined) => {
    taken -= 1;
    if (tokenId === undefined) return;
    const left = (perToken.get(tokenId) ?? 1) - 1;
    if (left > 0) perToken.set(tokenId, left);
    else perToken.delete(tokenId);
  };

  const arm = (session: Session) => {
    clearTimeout(session.timer);
    session.timer = undefined;
    if (session.busy > 0) return;
    const ms = session.used ? limits.idleMs : Math.max(0, session.unusedUntil - Date.now());
    session.timer = setTimeout(() => void session.transport.close(), ms);
    session.timer.unref();
  };

  return {
    admit(tokenId) {
      if (tokenId !== undefined && (perToken.get(tokenId) ?? 0) >= limits.maxPerToken) {
        return {
          ok: false,
          status: 429,
          retryAfterSeconds,
          message: `this token already has ${limits.maxPerToken} sessions open, the most allowed per token: reuse one, or close those no longer needed (DELETE /mcp with their mcp-session-id); retry in ${retryAfterSeconds} s`,
        };
      }
      if (taken >= limits.max) {
        return {
          ok: false,
          status: 503,
          retryAfterSeconds,
          message: `the server has ${limits.max} sessions open, the most it allows: retry in ${retryAfterSeconds} s, and reuse sessions or close those no longer needed (DELETE /mcp with their mcp-session-id)`,
        };
      }
      taken += 1;
      if (tokenId !== undefined) perToken.set(tokenId, (perToken.get(tokenId) ?? 0) + 1);
      let settled = false;
      return {
        ok: true,
        open(id, transport) {
          settled = true;
          const session: Session = {
            transport,
            tokenId,
            used: false,
            unusedUntil: Date.now() + limits.unusedMs,
            busy: 0,
            timer: undefined,
          };
          sessions.set(id, session);
          arm(session);
        },
        release() {
          if (settled) return;
          settled = true;
          give(tokenId);
        },
      };
    },

    get: (id) => sessions.get(id),

    closed(id) {
      const session = sessions.get(id);
      if (!session) return;
      clearTimeout(session.timer);
      sessions.delete(id);
      give(session.tokenId);
    },

    touch(session, req, res, use) {
      session.used ||= use;
      if (req.method === 'GET') return arm(session);
      session.busy += 1;
      arm(session);
      res.on('close', () => {
        session.busy -= 1;
        if (sessions.get(session.transport.sessionId ?? '') === session) arm(session);
      });
    },

    size: () => sessions.size,

    async closeAll() {
      // Each close reports back through closed(), which frees the places.
      await Promise.allSettled([...sessions.values()].map((s) => s.transport.close()));
    },
  };
}
