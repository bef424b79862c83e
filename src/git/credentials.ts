// Which credential git sends where: each token only to its own scheme, host and port, through
// git's per-URL config (`http.<url>.extraHeader`); a remote on any other host gets none.
//
// Decisions:
// - GITHUB_TOKEN goes to the GitHub web host of GITHUB_API_URL: an `api.` host loses the prefix
//   (api.github.com → github.com, api.acme.ghe.com → acme.ghe.com), any other keeps its origin
//   (Enterprise Server https://ghe.example/api/v3 → https://ghe.example/); scheme and port kept.
// - GIT_CREDENTIALS adds `host=token` entries: a bare host[:port] means https, a
//   scheme://host[:port] key is taken as given (http only where a token may travel in clear).
// - A credential belongs to an origin, never a path: git matches the scheme, host and port of
//   an http.<url> key exactly, default ports filled in (git-config(1), "http.<url>.*"), as
//   URL.origin does, so https://github.com:443/x gets github.com's token and
//   github.com.example.net none.
// - Host names are plain (letters, digits, '-', '.'): git reads `*` in one as a wildcard, which
//   would send the token to every subdomain.
// - A GIT_CREDENTIALS entry for the GitHub host replaces GITHUB_TOKEN there (for git only;
//   Octokit keeps GITHUB_TOKEN); two entries for one origin are refused as a likely mistake.
// - Sent as `Authorization: Basic base64(x-access-token:<token>)`, GitHub's form for a token.

export interface GitCredential {
  /** The origin the token belongs to, with a trailing slash, e.g. https://github.com/ */
  url: string;
  token: string;
}

/** `https://host[:port]/` of a GIT_CREDENTIALS key, or undefined when it is not one. */
export function credentialOrigin(key: string): string | undefined {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(key) ? key : `https://${key}`);
  } catch {
    return undefined;
  }
  const plainHost = /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname);
  const bare = !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash;
  return ['http:', 'https:'].includes(url.protocol) && plainHost && bare ? `${url.origin}/` : undefined;
}

/** GIT_CREDENTIALS as credentials; throws naming the entry (by number: it may hold a token) and the fix. */
export function parseCredentials(text: string): GitCredential[] {
  const example = 'write host=token entries, e.g. git.example.com=TOKEN,http://10.0.0.5:8080=TOKEN';
  const seen = new Map<string, number>();
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const n = i + 1;
      const eq = entry.indexOf('=');
      const url = eq > 0 ? credentialOrigin(entry.slice(0, eq).trim()) : undefined;
      const token = entry.slice(eq + 1).trim();
      if (!url || !token) {
        throw new Error(`entry ${n} is not host[:port]=token or http(s)://host[:port]=token: ${example}`);
      }
      if (/[\s\p{Cc}]/u.test(token))
        throw new Error(`the token of entry ${n} holds a space or control character`);
      const earlier = seen.get(url);
      if (earlier) throw new Error(`entries ${earlier} and ${n} are both for ${url}: keep one`);
      seen.set(url, n);
      return { url, token };
    });
}

/** The web (git) origin of GitHub whose REST API is at `apiUrl`, with a trailing slash. */
export function githubWebUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  const host = url.hostname.startsWith('api.') ? url.hostname.slice('api.'.length) : url.hostname;
  return `${url.protocol}//${host}${url.port ? `:${url.port}` : ''}/`;
}

/** The credentials git runs with: GITHUB_TOKEN on the GitHub web host, then `extra` (each
 *  normalised to its origin; a later one for the same origin wins). */
export function scopedCredentials(
  github: { token: string | undefined; apiUrl: string },
  extra: readonly GitCredential[],
): GitCredential[] {
  const byUrl = new Map<string, string>();
  if (github.token) byUrl.set(githubWebUrl(github.apiUrl), github.token);
  for (const { url, token } of extra) {
    const origin = credentialOrigin(url);
    if (!origin) throw new Error(`git credential for '${url}' is not for an http(s)://host[:port]`);
    byUrl.set(origin, token);
  }
  return [...byUrl].map(([url, token]) => ({ url, token }));
}

/** git config entries (for GIT_CONFIG_KEY_n/VALUE_n) that send each token only to its origin. */
export function credentialConfig(credentials: readonly GitCredential[]): [string, string][] {
  return credentials.map(({ url, token }) => [`http.${url}.extraHeader`, `Authorization: ${basic(token)}`]);
}

/** Every form a token could take in git's output: as given, and inside the header. */
export function secretsOf(credentials: readonly GitCredential[]): string[] {
  return credentials.flatMap(({ token }) => [token, basic(token).slice('Basic '.length)]);
}

const basic = (token: string) => `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
