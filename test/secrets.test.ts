// Secret push protection through a real MCP client: writes holding likely secrets (gitleaks'
// rules) succeed with warnings naming path, line and rule; get_project lists them until fixed; a
// push, zip_job and `stowage export` refuse them unless allowed. No result ever echoes a secret.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../src/cli/backup.js';
import { createGitHarness, type GitHarness } from './support/git-harness.js';
import { createBareRepo, readTree } from './support/git-repos.js';
import type { Harness } from './support/harness.js';

const TOKEN = 'secrets-test-token';
// Fake, but shaped as the real thing: pattern-valid and random-looking enough for the rules'
// entropy checks.
const AWS_KEY = 'AKIAQZ7XK3M2LPR4TW6Y';
const GITHUB_TOKEN = 'ghp_Zq8Xw3Lm9Rt2Vb7Nc4Kd1Hf6Jg5Ps0Ya3Ue8';
const KEY_BODY = 'MIIEowIBAAKCAQEAx7Qk2b9Lp3Zs8N1vT4wYf6HcR0uJ5mKjE2aD9sVgXnPq0tBy';
const PRIVATE_KEY = `-----BEGIN RSA PRIVATE KEY-----\n${KEY_BODY}\n${KEY_BODY}\n-----END RSA PRIVATE KEY-----\n`;
const SECRETS = [AWS_KEY, GITHUB_TOKEN, KEY_BODY];

const ENV = `# settings\nAWS_ACCESS_KEY_ID=${AWS_KEY}\nDEBUG=true\n`;

let git: GitHarness;
let h: Harness;
const results: unknown[] = [];

/** Every result is kept, to check at the end that none holds a secret. */
async function call(name: string, args: Record<string, unknown>) {
  const result = await h.call(name, args);
  results.push(result);
  return result;
}
async function ok(name: string, args: Record<string, unknown>) {
  const result = await call(name, args);
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return result.structuredContent as Record<string, any>;
}
async function fail(name: string, args: Record<string, unknown>) {
  const result = await call(name, args);
  expect(result.isError).toBe(true);
  return (result.content[0] as { text: string }).text;
}

beforeAll(async () => {
  git = await createGitHarness('secrets', TOKEN);
  h = git.h;
  await ok('create_project', { name: 'plain' });
});
afterAll(() => git.close());

describe('writes holding likely secrets', () => {
  it('write_file warns with path, line and rule', async () => {
    const w = await ok('write_file', { project: 'plain', path: '.env', content: ENV });
    expect(w).toMatchObject({ path: '.env', changed: true });
    expect(w.warnings).toEqual([{ path: '.env', line: 2, rule: 'aws-access-token' }]);
  });

  it('write_files warns per file: a GitHub token and a private key block', async () => {
    const w = await ok('write_files', {
      project: 'plain',
      files: [
        { path: 'ci/deploy.sh', content: `#!/bin/sh\n\nexport GH=${GITHUB_TOKEN}\n` },
        { path: 'keys/id_rsa', content: `\n${PRIVATE_KEY}` },
        { path: 'src/clean.ts', content: 'export const token = process.env.TOKEN;\n' },
      ],
    });
    expect(w.warnings).toEqual([
      { path: 'ci/deploy.sh', line: 3, rule: 'github-pat' },
      { path: 'keys/id_rsa', line: 2, rule: 'private-key' },
    ]);
  });

  it('a large file is scanned too (on the CPU workers), naming the right line', async () => {
    const filler = 'export const ok = 1;\n'.repeat(2000);
    const w = await ok('write_file', {
      project: 'plain',
      path: 'src/big.ts',
      content: `${filler}const gh = '${GITHUB_TOKEN}';\n${filler}`,
    });
    expect(w.warnings).toEqual([{ path: 'src/big.ts', line: 2001, rule: 'github-pat' }]);
    await ok('delete_file', { project: 'plain', path: 'src/big.ts' });
  });

  it('a clean file has no warnings', async () => {
    const w = await ok('write_file', {
      project: 'plain',
      path: 'src/app.ts',
      content: 'export const key = process.env.AWS_ACCESS_KEY_ID;\n',
    });
    expect(w.warnings).toBeUndefined();
  });

  it('edit_file warns when an edit brings a secret in', async () => {
    // Its diff shows the caller's own new_text, as read_file would: kept out of the echo check
    // below, which the warning and the summary still face.
    const result = await h.call('edit_file', {
      project: 'plain',
      path: 'src/app.ts',
      edits: [{ old_text: 'process.env.AWS_ACCESS_KEY_ID', new_text: `'${AWS_KEY}'` }],
    });
    const { diff, ...e } = result.structuredContent as Record<string, any>;
    expect(diff).toContain(AWS_KEY);
    results.push(e, (result.content[0] as { text: string }).text.split('\n')[0]);
    expect(e).toMatchObject({
      written: true,
      warnings: [{ path: 'src/app.ts', line: 1, rule: 'aws-access-token' }],
    });
  });

  it('get_project lists open findings, and stops listing a file once it is fixed', async () => {
    const before = await ok('get_project', { project: 'plain' });
    expect(before.findings).toEqual(
      expect.arrayContaining([
        { path: '.env', line: 2, rule: 'aws-access-token', workspace: 'ada' },
        { path: 'ci/deploy.sh', line: 3, rule: 'github-pat', workspace: 'ada' },
        { path: 'keys/id_rsa', line: 2, rule: 'private-key', workspace: 'ada' },
        { path: 'src/app.ts', line: 1, rule: 'aws-access-token', workspace: 'ada' },
      ]),
    );
    expect(before.findings).toHaveLength(4);
    await ok('write_file', { project: 'plain', path: 'src/app.ts', content: 'export const key = 1;\n' });
    const after = await ok('get_project', { project: 'plain' });
    expect(after.findings.map((f: { path: string }) => f.path).sort()).toEqual([
      '.env',
      'ci/deploy.sh',
      'keys/id_rsa',
    ]);
  });
});

describe('commit_task with a push', () => {
  it('is refused naming the file, and succeeds with allow_secrets', async () => {
    const repo = await createBareRepo(git.root, 'acme/app', { 'README.md': '# app\n' });
    await ok('create_project', { name: 'app', remote: { url: repo.url(git.server), branch: 'main' } });
    await ok('write_file', { project: 'app', path: 'config/.env', content: ENV });
    const refused = await fail('commit_task', { project: 'app', task: { id: 1, title: 'Config' } });
    expect(refused).toMatch(
      /^forbidden: commit_task \(push\) refused: likely secrets in config\/\.env:2 \(aws-access-token\)/,
    );
    expect(refused).toMatch(/allow_secrets: true/);
    expect([...(await readTree(repo.dir, 'main')).keys()]).toEqual(['README.md']);

    const pushed = await ok('commit_task', {
      project: 'app',
      task: { id: 1, title: 'Config' },
      allow_secrets: true,
    });
    expect(pushed.status).toBe('pushed');
    expect([...(await readTree(repo.dir, 'main')).keys()].sort()).toEqual(['README.md', 'config/.env']);
    // Committed now, and still open: get_project says so.
    expect((await ok('get_project', { project: 'app' })).findings).toEqual([
      { path: 'config/.env', line: 2, rule: 'aws-access-token', workspace: null },
    ]);
  });

  it('a push of clean files is not refused', async () => {
    await ok('write_file', { project: 'app', path: 'config/.env', content: 'DEBUG=true\n' });
    expect((await ok('commit_task', { project: 'app', task: { id: 2, title: 'Fix' } })).status).toBe(
      'pushed',
    );
    expect((await ok('get_project', { project: 'app' })).findings).toBeUndefined();
  });
});

describe('zip_job', () => {
  it('is refused naming the file, and zips with allow_secrets', async () => {
    const { job } = await ok('create_job', { name: 'Leaky Site' });
    await ok('write_files', {
      project: job,
      files: [
        { path: 'index.html', content: '<p>hi</p>\n' },
        { path: 'deploy.sh', content: `GH=${GITHUB_TOKEN}\n` },
      ],
    });
    const refused = await fail('zip_job', { job });
    expect(refused).toMatch(/zip_job refused: likely secrets in deploy\.sh:1 \(github-pat\)/);
    const zipped = await ok('zip_job', { job, allow_secrets: true });
    expect(zipped).toMatchObject({ status: 'complete', zip: { files: 2 } });
  });
});

describe('stowage export', () => {
  it('is refused naming the file, and exports with allowSecrets (--allow-secrets)', async () => {
    await ok('create_project', { name: 'backup' });
    await ok('write_file', { project: 'backup', path: 'id_rsa', content: PRIVATE_KEY });
    await ok('commit_task', { project: 'backup', task: { id: 1, title: 'Key' } });
    const dir = await mkdtemp(join(tmpdir(), 'stowage-secrets-export-'));
    try {
      const file = join(dir, 'backup.tar.gz');
      const refused = await runExport(h.stowage, 'backup', file).catch((err: Error) => err);
      expect(refused).toMatchObject({ code: 'forbidden' });
      expect((refused as Error).message).toMatch(
        /export refused: likely secrets in id_rsa:1 \(private-key\).*--allow-secrets/,
      );
      for (const s of SECRETS) expect((refused as Error).message).not.toContain(s);
      expect(await runExport(h.stowage, 'backup', file, {}, { allowSecrets: true })).toMatchObject({
        files: 1,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('no result echoes a secret', () => {
  it('holds for every result above', () => {
    expect(results.length).toBeGreaterThan(10);
    const all = JSON.stringify(results);
    for (const s of SECRETS) expect(all).not.toContain(s);
  });
});
