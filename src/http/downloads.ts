// Signed, expiring download links for artifacts: GET /downloads/<token>, where the token is a
// base64url payload {project_id, artifact_id, exp} and its HMAC-SHA256. With an artifact store
// that presigns (S3), links point at the store instead and never pass through this server.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isStowageError, StowageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { artifactMimeType } from '../resource-uris.js';
import type { Artifact, ArtifactService } from '../store/artifacts.js';

export interface DownloadClaims {
  project_id: string;
  artifact_id: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export type TokenCheck =
  { ok: true; claims: DownloadClaims } | { ok: false; status: 403 | 410; message: string };

export interface Downloads {
  /** A download URL for `artifact`, valid for the configured TTL (never past the artifact's expiry). */
  link(artifact: Artifact): Promise<{ url: string; expires_at: string }>;
  /** Serves GET /downloads/<token>; answers every failure itself. */
  handler(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The HTTP server's own origin, the URL base when no public URL is configured. */
  listening(origin: string): void;
}

export interface DownloadOptions {
  secret: string;
  ttlMinutes: number;
  /** Base URL of links (behind a proxy); default: the origin passed to `listening`. */
  publicUrl?: string | undefined;
  artifacts: ArtifactService;
  logger?: Logger | undefined;
}

const SECRET_FILE = 'download-secret';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// SigV4 presigned URLs are valid for at most 7 days.
const PRESIGN_MAX_SECONDS = 7 * 24 * 3600;

/** The HMAC key: the configured one, else one generated once into `<home>/download-secret`
 *  (mode 0600) and reused by later runs. */
export async function loadDownloadSecret(home: string, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const path = join(home, SECRET_FILE);
  await mkdir(home, { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await chmod(path, 0o600);
  const secret = (await readFile(path, 'utf8')).trim();
  if (secret.length < 32) {
    throw new StowageError(
      'internal',
      `${path} holds no usable key: delete it (a new one is generated) or set DOWNLOAD_SECRET`,
    );
  }
  return secret;
}

const mac = (key: string, payload: string) => createHmac('sha256', key).update(payload).digest('base64url');

export function signDownloadToken(key: string, claims: DownloadClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${mac(key, payload)}`;
}

/** Checks the signature (in constant time) before reading anything from the payload. */
export function verifyDownloadToken(key: string, token: string, now = Date.now()): TokenCheck {
  const invalid = {
    ok: false,
    status: 403,
    message: 'this download link is invalid (altered or not issued here): call zip_job for a new one',
  } as const;
  const dot = token.indexOf('.');
  if (dot <= 0) return invalid;
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(mac(key, payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
  let claims: DownloadClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as DownloadClaims;
  } catch {
    return invalid;
  }
  if (
    typeof claims?.exp !== 'number' ||
    !UUID.test(String(claims.project_id)) ||
    !UUID.test(String(claims.artifact_id))
  ) {
    return invalid;
  }
  if (now >= claims.exp * 1000) {
    return {
      ok: false,
      status: 410,
      message: `this download link expired at ${new Date(claims.exp * 1000).toISOString()}: call zip_job again for a fresh link`,
    };
  }
  return { ok: true, claims };
}

/** `Content-Disposition` for `name`: an ASCII fallback and the exact UTF-8 name (RFC 6266). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === name
    ? `attachment; filename="${ascii}"`
    : `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function createDownloads(options: DownloadOptions): Downloads {
  const { secret, artifacts } = options;
  let origin = options.publicUrl?.replace(/\/+$/, '');

  const text = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`${message}\n`);
  };

  return {
    async link(artifact) {
      const now = Date.now();
      let expires = now + options.ttlMinutes * 60_000;
      if (artifact.expires_at) expires = Math.min(expires, Date.parse(artifact.expires_at));
      const exp = Math.floor(expires / 1000);
      const expires_at = new Date(exp * 1000).toISOString();
      if (artifacts.store.presign) {
        const seconds = Math.min(PRESIGN_MAX_SECONDS, Math.max(1, exp - Math.floor(now / 1000)));
        const url = await artifacts.store.presign(artifact.id, {
          expiresInSeconds: seconds,
          filename: artifact.name,
        });
        return { url, expires_at };
      }
      if (!origin) {
        throw new StowageError('unavailable', 'download links need a base URL: set STOWAGE_PUBLIC_URL');
      }
      const token = signDownloadToken(secret, {
        project_id: artifact.project_id,
        artifact_id: artifact.id,
        exp,
      });
      return { url: `${origin}/downloads/${token}`, expires_at };
    },

    async handler(req, res) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const check = verifyDownloadToken(secret, path.slice(path.lastIndexOf('/') + 1));
      if (!check.ok) return text(res, check.status, check.message);
      const { project_id, artifact_id } = check.claims;
      try {
        const artifact = await artifacts.get(project_id, artifact_id);
        if (artifact.expires_at && Date.parse(artifact.expires_at) <= Date.now()) {
          return text(res, 410, `${artifact.name} expired at ${artifact.expires_at} and is being deleted`);
        }
        const stream = await artifacts.store.read(artifact.id);
        res.writeHead(200, {
          'Content-Type': artifactMimeType(artifact.name),
          'Content-Length': String(artifact.size),
          'Content-Disposition': contentDisposition(artifact.name),
          'Cache-Control': 'private, no-store',
          'X-Content-Type-Options': 'nosniff',
        });
        await pipeline(stream, res);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (isStowageError(err, 'not_found')) {
          return text(res, 404, 'this download is gone (the job expired or was deleted)');
        }
        options.logger?.error({ err }, 'download failed');
        text(res, isStowageError(err, 'unavailable') ? 503 : 500, 'download failed: retry shortly');
      }
    },

    listening(serverOrigin) {
      origin ??= serverOrigin.replace(/\/+$/, '');
    },
  };
}
