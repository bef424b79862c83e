// The configuration schema: defaults, and bad values stopped with a message naming the variable
// or the serve flag that stood in for it.
import { describe, expect, it } from 'vitest';
import { authMode, ConfigError, loadConfig, type Flags } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database, local blobs and the documented limits', () => {
    const config = loadConfig({ STOWAGE_PRINCIPAL: 'ada' }, '/srv');
    expect(config).toMatchObject({
      home: '/srv/.stowage',
      databaseUrl: undefined,
      s3: undefined,
      cacheMaxBytes: 64 * 1024 * 1024,
      principal: 'ada',
      toolsets: ['files', 'changes', 'jobs', 'admin'],
      readOnly: false,
      http: { host: '127.0.0.1', port: 8787 },
    });
    expect(config.limits).toEqual({
      fileBytes: 10 * 1024 * 1024,
      projectBytes: 100 * 1024 * 1024,
      batchFiles: 200,
      inlineBytes: 64 * 1024,
      responseChars: 40_000,
      oldTextChars: 500_000,
      cpuTimeMs: 5000,
    });
  });

  it('gives each chosen toolset the files toolset it acts on', () => {
    expect(loadConfig({ STOWAGE_TOOLSETS: 'jobs' }).toolsets).toEqual(['files', 'jobs']);
    expect(loadConfig({ STOWAGE_TOOLSETS: 'admin,changes' }).toolsets).toEqual(['files', 'changes', 'admin']);
    expect(loadConfig({ STOWAGE_TOOLSETS: 'files' }).toolsets).toEqual(['files']);
  });

  it('reads S3 settings and picks WHEN_REQUIRED checksums for custom endpoints', () => {
    const config = loadConfig({
      S3_BUCKET: 'b',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
    });
    expect(config.s3).toMatchObject({ bucket: 'b', forcePathStyle: true, checksum: 'WHEN_REQUIRED' });
    expect(loadConfig({ S3_BUCKET: 'b' }).s3?.checksum).toBe('WHEN_SUPPORTED');
  });

  it.each([
    [{ CACHE_MAX_BYTES: 'lots' }, /CACHE_MAX_BYTES/],
    [{ STOWAGE_PORT: '70000' }, /STOWAGE_PORT/],
    [{ STOWAGE_TOOLSETS: 'files,nope' }, /STOWAGE_TOOLSETS/],
    [{ STOWAGE_READ_ONLY: 'maybe' }, /STOWAGE_READ_ONLY/],
    [{ S3_ENDPOINT: 'not a url' }, /S3_ENDPOINT/],
    [{ S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'k' }, /S3_SECRET_ACCESS_KEY/],
    [{ MAX_SESSIONS: '0' }, /MAX_SESSIONS: must be a whole number of sessions, at least 1/],
    [{ MAX_SESSIONS_PER_TOKEN: 'many' }, /MAX_SESSIONS_PER_TOKEN: must be a whole number of sessions/],
    [{ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1.5' }, /RATE_LIMIT_PER_ADDRESS_PER_MINUTE: must be a whole/],
  ])('rejects %o naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });

  it('caps HTTP sessions and failed authentication per address, by default and as set', () => {
    expect(loadConfig({}).http).toMatchObject({
      maxSessions: 1000,
      maxSessionsPerToken: 50,
      addressRateLimit: { perMinute: 60, burst: 10 },
    });
    const set = loadConfig({
      MAX_SESSIONS: '20',
      MAX_SESSIONS_PER_TOKEN: '5',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
    }).http;
    expect(set).toMatchObject({
      maxSessions: 20,
      maxSessionsPerToken: 5,
      addressRateLimit: { perMinute: 0 },
    });
  });

  it('defaults STOWAGE_AUTH to tokens beyond loopback and none on it, unless set', () => {
    const http = (env: Record<string, string>) => loadConfig(env).http;
    expect(authMode(http({}))).toBe('none');
    expect(authMode(http({ STOWAGE_HOST: '0.0.0.0' }))).toBe('tokens');
    expect(authMode(http({ STOWAGE_AUTH: 'tokens' }))).toBe('tokens');
    expect(authMode(http({ STOWAGE_HOST: '0.0.0.0', STOWAGE_AUTH: 'none' }))).toBe('none');
    expect(() => loadConfig({ STOWAGE_AUTH: 'oauth' })).toThrow(/STOWAGE_AUTH/);
  });

  it('turns on OAuth with an issuer, the audience defaulting to the public /mcp URL', () => {
    const issuer = 'https://auth.example.com/';
    const config = loadConfig({
      STOWAGE_OAUTH_ISSUER: issuer,
      STOWAGE_PUBLIC_URL: 'https://st.example.com/',
    });
    expect(config.http.oauth).toEqual({
      issuer,
      jwksUrl: undefined,
      audience: 'https://st.example.com/mcp',
      scopeClaim: undefined,
      projectsClaim: 'stowage_projects',
    });
    expect(authMode(config.http)).toBe('oauth');
    expect(authMode(loadConfig({ STOWAGE_OAUTH_ISSUER: issuer, STOWAGE_AUTH: 'tokens' }).http)).toBe('oauth');
    expect(loadConfig({ STOWAGE_OAUTH_ISSUER: issuer }).http.oauth?.audience).toBeUndefined();
    const custom = loadConfig({
      STOWAGE_OAUTH_ISSUER: 'http://127.0.0.1:9000',
      STOWAGE_OAUTH_JWKS_URL: 'http://localhost:9000/keys',
      STOWAGE_OAUTH_AUDIENCE: 'https://st.example.com/stowage/mcp',
      STOWAGE_OAUTH_SCOPE_CLAIM: 'scp',
      STOWAGE_OAUTH_PROJECTS_CLAIM: 'https://st.example.com/projects',
    }).http.oauth;
    expect(custom).toMatchObject({ audience: 'https://st.example.com/stowage/mcp', scopeClaim: 'scp' });
  });

  it.each([
    [
      { STOWAGE_OAUTH_ISSUER: 'auth.example.com' },
      /STOWAGE_OAUTH_ISSUER: must be your authorization server's issuer URL/,
    ],
    [
      { STOWAGE_OAUTH_ISSUER: 'http://auth.example.com' },
      /STOWAGE_OAUTH_ISSUER 'http:\/\/auth.example.com' must be an https URL/,
    ],
    [{ STOWAGE_OAUTH_ISSUER: 'https://a.example/?tenant=1' }, /STOWAGE_OAUTH_ISSUER .* without query/],
    [
      { STOWAGE_OAUTH_ISSUER: 'https://a.example', STOWAGE_OAUTH_JWKS_URL: 'http://a.example/keys' },
      /STOWAGE_OAUTH_JWKS_URL .* must be an https URL/,
    ],
    [{ STOWAGE_OAUTH_ISSUER: 'https://a.example', STOWAGE_AUTH: 'none' }, /STOWAGE_AUTH is none: unset one/],
    [
      { STOWAGE_OAUTH_ISSUER: 'https://a.example', STOWAGE_OAUTH_AUDIENCE: 'https://s.example/mcp#x' },
      /fragment/,
    ],
    [{ STOWAGE_OAUTH_AUDIENCE: 'https://s.example/mcp' }, /STOWAGE_OAUTH_AUDIENCE need STOWAGE_OAUTH_ISSUER/],
  ])('rejects the OAuth settings %o naming the variable and the fix', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});

describe('serve flags, through the same schema', () => {
  const refused = (env: Record<string, string>, flags: Flags) => {
    try {
      loadConfig(env, '/srv', flags);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig accepted it');
  };

  it('lets each flag replace its variable, bad variable values included', () => {
    const env = { STOWAGE_HOST: '0.0.0.0', STOWAGE_PORT: 'none', STOWAGE_TOOLSETS: 'nope' };
    const config = loadConfig(env, '/srv', {
      host: '127.0.0.1',
      port: '9000',
      'read-only': true,
      toolsets: 'changes',
      stateless: true,
    });
    expect(config).toMatchObject({
      readOnly: true,
      toolsets: ['files', 'changes'],
      http: { host: '127.0.0.1', port: 9000, stateless: true },
    });
    expect(loadConfig({ STOWAGE_PORT: '9000' }, '/srv', {}).http.port).toBe(9000);
  });

  it('gives --toolsets what each toolset needs, as STOWAGE_TOOLSETS', () => {
    expect(loadConfig({}, '/srv', { toolsets: 'jobs' }).toolsets).toEqual(['files', 'jobs']);
    expect(loadConfig({ STOWAGE_TOOLSETS: 'admin' }, '/srv', { toolsets: 'files' }).toolsets).toEqual([
      'files',
    ]);
  });

  it.each([
    [{ port: '70000' }, "--port: '70000' is not a port number"],
    [{ port: 'http' }, "--port: 'http' is not a port number"],
    [{ toolsets: 'files,nope' }, '--toolsets: unknown nope; choose from files, changes, jobs, admin'],
  ])('rejects %o naming the flag, not its variable', (flags, message) => {
    const error = refused({ STOWAGE_PORT: '1', STOWAGE_TOOLSETS: 'files' }, flags);
    expect(error).toContain(message);
    expect(error).not.toMatch(/STOWAGE_(PORT|TOOLSETS)/);
  });

  it('names the variable when no flag stood in for it', () => {
    expect(refused({ STOWAGE_PORT: '70000' }, {})).toContain("STOWAGE_PORT: '70000' is not a port number");
  });

  it('refuses serving HTTP beyond loopback with STOWAGE_AUTH=none, naming the flag or variable', () => {
    const none = { STOWAGE_AUTH: 'none' };
    expect(refused(none, { http: true, host: '0.0.0.0' })).toContain(
      '--host 0.0.0.0 is not a loopback address and STOWAGE_AUTH is none: serving beyond loopback needs bearer tokens: set STOWAGE_AUTH=tokens (create tokens with stowage token create), or bind 127.0.0.1',
    );
    expect(refused({ ...none, STOWAGE_HOST: '0.0.0.0' }, { http: true })).toMatch(
      /STOWAGE_HOST 0\.0\.0\.0 is not a loopback address and STOWAGE_AUTH is none/,
    );
    // Not serving HTTP (migrate, tokens, stdio), or on loopback: nothing to refuse.
    expect(loadConfig(none, '/srv', { host: '0.0.0.0' }).http.host).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      expect(loadConfig(none, '/srv', { http: true, host }).http.host).toBe(host);
    }
  });

  it('refuses OAuth beyond loopback without an audience', () => {
    const oauth = { STOWAGE_OAUTH_ISSUER: 'https://auth.example.com' };
    expect(refused(oauth, { http: true, host: '0.0.0.0' })).toMatch(
      /--host 0\.0\.0\.0 is not a loopback address: OAuth access tokens must name this server's public URL as their audience: set STOWAGE_PUBLIC_URL/,
    );
    const published = { ...oauth, STOWAGE_PUBLIC_URL: 'https://st.example.com' };
    expect(loadConfig(published, '/srv', { http: true, host: '0.0.0.0' }).http.oauth?.audience).toBe(
      'https://st.example.com/mcp',
    );
  });
});

describe('git credentials and allowed hosts', () => {
  const SECRET = 'S3CRET-token';

  it('scopes each GIT_CREDENTIALS token to an origin: https unless a scheme is given, default ports dropped', () => {
    const { git } = loadConfig({
      GIT_CREDENTIALS: ` git.example.com=${SECRET}, http://127.0.0.1:8080=t2,gitlab.example.com:443=t3,[::1]:9000=t4 `,
    });
    expect(git.credentials).toEqual([
      { url: 'https://git.example.com/', token: SECRET },
      { url: 'http://127.0.0.1:8080/', token: 't2' },
      { url: 'https://gitlab.example.com/', token: 't3' },
      { url: 'https://[::1]:9000/', token: 't4' },
    ]);
    expect(loadConfig({}).git).toMatchObject({ credentials: [], allowedHosts: [] });
  });

  it.each([
    [SECRET, /entry 1 is not host\[:port\]=token/],
    [`git.example.com=`, /entry 1 is not host\[:port\]=token/],
    [`=${SECRET}`, /entry 1 is not host/],
    [`a.example=t,ftp://git.example.com=${SECRET}`, /entry 2 is not host/],
    [`https://git.example.com/org=${SECRET}`, /entry 1 is not host/],
    [`https://user@git.example.com=${SECRET}`, /entry 1 is not host/],
    [`*.example.com=${SECRET}`, /entry 1 is not host/],
    [`git.example.com=${SECRET} more`, /the token of entry 1 holds a space or control character/],
    [
      `git.example.com=${SECRET},https://git.example.com:443=x`,
      /entries 1 and 2 are both for https:\/\/git.example.com\/: keep one/,
    ],
  ])('stops at GIT_CREDENTIALS %j, naming the entry and the fix but never the token', (value, pattern) => {
    const load = () => loadConfig({ GIT_CREDENTIALS: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/GIT_CREDENTIALS: /);
    expect(load).toThrow(pattern);
    expect(load).not.toThrow(new RegExp(SECRET));
  });

  it('reads GIT_ALLOWED_HOSTS: host names, addresses and CIDR ranges, IPv4 and IPv6', () => {
    const value = ' git.internal, LOCALHOST ,10.0.0.5,10.1.0.0/16,[fd00::1],fd00::/8,127.0.0.0/8 ';
    expect(loadConfig({ GIT_ALLOWED_HOSTS: value }).git.allowedHosts).toEqual([
      'git.internal',
      'LOCALHOST',
      '10.0.0.5',
      '10.1.0.0/16',
      '[fd00::1]',
      'fd00::/8',
      '127.0.0.0/8',
    ]);
  });

  it.each([
    '10.0.0.0/33',
    'fd00::/129',
    '10.0.0.0/8/1',
    'git.internal:8080',
    'http://git.internal',
    'a b',
    '*.internal',
    '0x7f.1',
    'host/8',
  ])('stops at GIT_ALLOWED_HOSTS entry %j, naming it and the fix', (entry) => {
    const load = () => loadConfig({ GIT_ALLOWED_HOSTS: `git.internal,${entry}` });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      `GIT_ALLOWED_HOSTS: '${entry}' is not a host name, IP address or CIDR range: write e.g. git.internal,10.0.0.5,10.1.0.0/16`,
    );
  });
});
