// A backup's manifest: what a backup target keeps of one project at one moment, enough to restore
// it without the database that wrote it. Its settings (description, tags, metadata, template,
// quota, remote and head) and its committed tree as paths → {hash, size, mode, local}; the
// content itself lies beside it in the target, by SHA-256.
//
// Decisions:
// - A manifest file is `{"sha256":"<hex>","manifest":<body>}` plus a newline, `sha256` being the
//   SHA-256 of the body's bytes exactly as written. A checksum of re-serialised JSON would not
//   survive a parse (integer-like keys of user metadata move to the front); these bytes do, and
//   the file stays JSON that any tool reads.
// - Its key in the target is `<project>/<stamp>-<random>-<files>f-<bytes>b.json`: listing the
//   keys says when each backup was taken and how big it is, without reading any of them. A
//   backup's id is `<project>/<stamp>-<random>`; the stamp (UTC, to the millisecond) sorts as time.
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { isCanonicalPath, isValidProjectName } from '../paths.js';
import { EXECUTABLE, REGULAR, sha256Of } from './tarball.js';

export const MANIFEST_FORMAT = 'stowage-backup/1';

const hash = z.string().regex(/^[0-9a-f]{64}$/);
const fileEntry = z.strictObject({
  path: z.string(),
  hash,
  size: z.number().int().min(0),
  /** Git's two file modes: 0o100644, or 0o100755 for executables. */
  mode: z
    .number()
    .refine((mode) => [REGULAR, EXECUTABLE].includes(mode), { error: 'a git file mode (100644 or 100755)' }),
  /** Committed without a push on a project with a remote. */
  local: z.boolean(),
});

const body = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  id: z.string(),
  project: z.string().refine(isValidProjectName),
  taken_at: z.iso.datetime(),
  settings: z.strictObject({
    description: z.string().nullable(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    template: z.boolean(),
    quota_bytes: z.number().nullable(),
    remote: z.strictObject({ url: z.string(), branch: z.string() }).nullable(),
    /** The remote commit the tree matched (null: none known). */
    head_sha: z.string().nullable(),
  }),
  /** The project it was taken of: its id and version (equal version, same tree) and status. */
  source: z.strictObject({
    project_id: z.string(),
    version: z.number().int(),
    status: z.enum(['active', 'archived']),
  }),
  files: z.array(fileEntry),
  totals: z.strictObject({ files: z.number().int().min(0), bytes: z.number().int().min(0) }),
});

export type BackupManifest = z.infer<typeof body>;
export type BackupFile = z.infer<typeof fileEntry>;

const HEAD = /^\{"sha256":"([0-9a-f]{64})","manifest":/;
const TAIL = '}\n';

/** The manifest as its file's bytes, checksum included. */
export function encodeManifest(manifest: BackupManifest): Buffer {
  const text = JSON.stringify(manifest);
  return Buffer.from(`{"sha256":"${sha256Of(Buffer.from(text))}","manifest":${text}${TAIL}`);
}

/** The manifest in `bytes` once its checksum, shape, paths and totals check out, and it is the
 *  backup `id`; otherwise `invalid_input` saying it is damaged. */
export function decodeManifest(bytes: Buffer, id: string): BackupManifest {
  const damaged = (why: string) =>
    invalidInput(`the manifest of backup ${id} is damaged (${why}): restore another backup of it`);
  const text = bytes.toString('utf8');
  const head = HEAD.exec(text);
  if (!head || !text.endsWith(TAIL)) throw damaged('not a manifest file');
  const inner = text.slice(head[0].length, text.length - TAIL.length);
  if (sha256Of(Buffer.from(inner)) !== head[1]) throw damaged('its SHA-256 does not match');
  let parsed: unknown;
  try {
    parsed = JSON.parse(inner);
  } catch {
    throw damaged('not JSON');
  }
  const checked = body.safeParse(parsed);
  if (!checked.success) throw damaged(`unexpected ${checked.error.issues[0]?.path.join('.') || 'shape'}`);
  const manifest = checked.data;
  if (manifest.id !== id) throw damaged(`it names ${manifest.id}`);
  const seen = new Set<string>();
  let bytesTotal = 0;
  for (const file of manifest.files) {
    if (!isCanonicalPath(file.path) || seen.has(file.path))
      throw damaged(`path ${JSON.stringify(file.path)}`);
    seen.add(file.path);
    bytesTotal += file.size;
  }
  if (manifest.totals.files !== manifest.files.length || manifest.totals.bytes !== bytesTotal) {
    throw damaged('its totals do not add up');
  }
  return manifest;
}

/** What a manifest's key says: the backup's id, project, time and size. */
export interface BackupKey {
  key: string;
  id: string;
  project: string;
  time: Date;
  files: number;
  bytes: number;
}

const KEY = /^([a-z0-9][a-z0-9._-]{0,62})\/((\d{8}T\d{9}Z)-([0-9a-f]{6}))-(\d+)f-(\d+)b\.json$/;
const ID = /^([a-z0-9][a-z0-9._-]{0,62})\/(\d{8}T\d{9}Z-[0-9a-f]{6})$/;

/** `2026-05-01T02:00:00.123Z` → `20260501T020000123Z`. */
export const backupStamp = (time: Date) => time.toISOString().replace(/[-:.]/g, '');

/** The key a manifest is stored under. */
export const manifestKey = (m: Pick<BackupManifest, 'id' | 'totals'>) =>
  `${m.id}-${m.totals.files}f-${m.totals.bytes}b.json`;

/** A key of the target's manifests, read; undefined for anything else there. */
export function parseManifestKey(key: string): BackupKey | undefined {
  const m = KEY.exec(key);
  if (!m) return undefined;
  const s = m[3]!;
  const time = new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`,
  );
  if (Number.isNaN(time.getTime())) return undefined;
  return { key, id: `${m[1]}/${m[2]}`, project: m[1]!, time, files: Number(m[5]), bytes: Number(m[6]) };
}

/** What `backup` names: one backup (`<project>/<stamp>-<random>`), or a project's newest (its
 *  name alone); `invalid_input` for anything else. */
export function parseBackupRef(ref: string): { project: string; id: string | undefined } {
  const m = ID.exec(ref);
  if (m) return { project: m[1]!, id: ref };
  if (isValidProjectName(ref)) return { project: ref, id: undefined };
  throw invalidInput(
    `backup '${ref}' is neither a backup id (<project>/<stamp>-<random>, as backup {list: true} shows) nor a project name (its newest backup)`,
  );
}
