// The configuration schema: defaults, and bad values stopped with a message naming the variable.
import { describe, expect, it } from 'vitest';
import { authMode, ConfigError, loadConfig } from '../src/config.js';

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
      responseChars: 80_000,
    });
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
  ])('rejects %o naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
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
