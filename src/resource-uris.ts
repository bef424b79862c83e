// What Stowage's MCP resources are called and how they are typed, in one place: the URIs of a
// file, a project's listing and an artifact (tools link to them, resources serve them,
// subscriptions notify them) and the MIME type each is served with (resources, /downloads).

/** A file as the caller's default workspace sees it; `+path` keeps its slashes. */
export const FILE_URI_TEMPLATE = 'stowage://{project}/{+path}';
/** A project's listing: its files, one per line. */
export const LISTING_URI_TEMPLATE = 'stowage://{project}';
export const ARTIFACT_URI_TEMPLATE = 'stowage-artifact://{project}/{id}';

export const fileUri = (project: string, path: string) =>
  `stowage://${project}/${path.split('/').map(encodeURIComponent).join('/')}`;
/** A project's listing resource: `stowage://{project}` (a file is `stowage://{project}/{path}`). */
export const listingUri = (project: string) => `stowage://${project}`;
export const artifactUri = (project: string, id: string) => `stowage-artifact://${project}/${id}`;

/** A listing is plain text: `path<TAB>bytes` lines under a header. */
export const LISTING_MIME_TYPE = 'text/plain';

const TEXT_TYPES: Record<string, string> = {
  md: 'text/markdown',
  json: 'application/json',
  html: 'text/html',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  ts: 'text/x-typescript',
  py: 'text/x-python',
  yaml: 'application/yaml',
  yml: 'application/yaml',
};

/** A file's type by its extension when it reads as text; else bytes. */
export const fileMimeType = (path: string, text: boolean) =>
  text
    ? (TEXT_TYPES[path.slice(path.lastIndexOf('.') + 1).toLowerCase()] ?? 'text/plain')
    : 'application/octet-stream';

export const artifactMimeType = (name: string) =>
  name.endsWith('.zip')
    ? 'application/zip'
    : name.endsWith('.gz')
      ? 'application/gzip'
      : 'application/octet-stream';
