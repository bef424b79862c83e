// Which file names are binary formats, by extension: such a file written as text is corrupt
// (a base64 string stored as literal text, or bytes mangled into UTF-8), so text writes to it
// are refused and name `encoding: 'base64'`.
//
// Decisions:
// - The extension's media type comes from mime-types (the jshttp table Express uses, over
//   mime-db), which settles extensions several types claim (.exe, .mp4, .wav).
// - From the table: image/, audio/, video/ and font/ types are binary formats (RFC 2046, RFC
//   8081), except those with a +xml or +json suffix, which are text (SVG); any +zip suffix type
//   is a zip container (EPUB, USDZ).
// - Named here, because the table cannot tell: it files archives, PDFs, executables and office
//   documents under application/ beside JSON, shell and SQL, and its `compressible` flag is no
//   guide (false for LaTeX and JNLP, which are text; true for tar and wasm, which are not).
// - Extensions the table maps to a binary type but that a code project uses for text are text:
//   .ts/.mts (TypeScript, not MPEG transport streams), .dts (device tree source), .bat and .com
//   (batch files and domain-named configs such as nginx's 'example.com', not DOS programs),
//   .dot (Graphviz, not Word templates), playlists and metafiles (.m3u, .asx), C-source images
//   (.xbm, .xpm) and .dxf (usually ASCII). A miss costs little: content that is not text is
//   refused anyway (content.ts); a false alarm would refuse ordinary source files.
// - A few binary extensions the table lacks, or files under application/octet-stream, which it
//   also gives to text such as '.dist' ('phpunit.xml.dist'), are listed by extension.
import { createRequire } from 'node:module';
import type MimeTypes from 'mime-types';

// The table is loaded at the first lookup, not when the module is: a server answers its client's
// first requests without it.
const require = createRequire(import.meta.url);
let table: Record<string, string> | undefined;
const typesByExtension = () => (table ??= (require('mime-types') as typeof MimeTypes).types);

const BINARY_APPLICATION_TYPES = new Set([
  'application/pdf',
  // archives and packages
  'application/zip',
  'application/gzip',
  'application/x-tar',
  'application/x-7z-compressed',
  'application/vnd.rar',
  'application/x-bzip',
  'application/x-bzip2',
  'application/x-xz',
  'application/java-archive',
  'application/vnd.android.package-archive',
  'application/x-debian-package',
  'application/x-redhat-package-manager',
  'application/x-apple-diskimage',
  'application/x-iso9660-image',
  'application/vnd.ms-cab-compressed',
  // executables and bytecode
  'application/x-msdos-program',
  'application/x-msdownload',
  'application/java-vm',
  'application/wasm',
  // a font and office documents filed under application/
  'application/vnd.ms-fontobject',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'model/gltf-binary',
]);
const BINARY_APPLICATION_FAMILIES =
  /^application\/vnd\.(openxmlformats-officedocument|oasis\.opendocument)\./;
const BINARY_TOP_LEVELS = /^(image|audio|video|font)\//;
const TEXT_SUFFIX = /\+(xml|json)$/;

const TEXT_EXTENSIONS = new Set([
  'ts',
  'mts',
  'dts',
  'bat',
  'com',
  'dot',
  'm3u',
  'm4u',
  'mxu',
  'ram',
  'asx',
  'wax',
  'wvx',
  'wmx',
  'xbm',
  'xpm',
  'dxf',
]);
const BINARY_EXTENSIONS: Record<string, string> = {
  tgz: 'application/gzip',
  zst: 'application/zstd',
  bin: 'application/octet-stream',
  so: 'application/octet-stream',
  dylib: 'application/octet-stream',
  pyc: 'application/x-python-code',
  whl: 'application/zip',
  sqlite: 'application/vnd.sqlite3',
  sqlite3: 'application/vnd.sqlite3',
};

/** The media type of `path` when its extension names a binary format, else undefined. */
export function binaryTypeOf(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined; // no extension ('Makefile', a dot file such as '.png')
  const ext = name.slice(dot + 1).toLowerCase();
  if (TEXT_EXTENSIONS.has(ext)) return undefined;
  if (Object.hasOwn(BINARY_EXTENSIONS, ext)) return BINARY_EXTENSIONS[ext];
  const types = typesByExtension();
  const type = Object.hasOwn(types, ext) ? types[ext] : undefined;
  if (!type) return undefined;
  if (BINARY_TOP_LEVELS.test(type)) return TEXT_SUFFIX.test(type) ? undefined : type;
  if (type.endsWith('+zip') || BINARY_APPLICATION_TYPES.has(type) || BINARY_APPLICATION_FAMILIES.test(type)) {
    return type;
  }
  return undefined;
}
