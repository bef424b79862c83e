// Strict arguments: every tool refuses unknown keys (at every depth it declares an object) and
// answers any argument problem as an invalid_input tool result naming the argument and the fix,
// through a real MCP client; nothing runs and nothing changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, snapshot, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.ok('create_project', { name: 'args' });
  await h.ok('write_file', { project: 'args', path: 'a.txt', content: 'one\n' });
  await h.ok('commit_task', { project: 'args', task: { id: 1, title: 'init' } });
  await h.ok('write_file', { project: 'args', path: 'a.txt', content: 'two\n' });
});
afterAll(async () => {
  await h.close();
});

describe('unknown arguments', () => {
  it('are refused naming the nearest valid one, and nothing runs', async () => {
    const before = await snapshot(h.db);
    const job = await h.ok('create_job', { name: 'expired' });
    await h.ok('write_file', { project: job.job, path: 'x.txt', content: 'x' });
    await h.db.sql.query(`UPDATE projects SET expires_at = now() - interval '1 hour' WHERE name = $1`, [
      job.job,
    ]);

    expect(await h.fail('cleanup', { dryRun: true })).toBe(
      'invalid_input: unknown argument dryRun: did you mean dry_run?',
    );
    // The expired job's content is still there: no cleanup ran.
    expect(await h.ok('list_files', { project: job.job })).toMatchObject({
      entries: [expect.objectContaining({ path: 'x.txt' })],
    });
    expect(await h.fail('list_projects', { stauts: 'archived' })).toBe(
      'invalid_input: unknown argument stauts: did you mean status?',
    );
    expect(await h.fail('read_file', { project: 'args', path: 'a.txt', ref: 'HEAD~1' })).toMatch(
      /^invalid_input: unknown argument ref: the arguments are project, path, /,
    );
    expect(
      await h.fail('write_files', {
        project: 'args',
        files: [{ path: 'logo.png', content: 'iVBORw0KGgo=', encodng: 'base64' }],
      }),
    ).toBe('invalid_input: unknown argument files[0].encodng: did you mean encoding?');
    expect(
      await h.fail('commit_task', { project: 'args', task: { id: 2, title: 't', descripton: 'd' } }),
    ).toBe('invalid_input: unknown argument task.descripton: the arguments of task are id, title');
    expect(await h.fail('write_file', { project: 'args', path: 'b.txt', content: 'b', ifMatch: 'x' })).toBe(
      'invalid_input: unknown argument ifMatch: did you mean if_match?',
    );
    const after = await snapshot(h.db);
    // Only the job's own set-up changed anything.
    expect(after.files).toBe(before.files);
    expect((await h.ok('read_file', { project: 'args', path: 'a.txt' })).content).toBe('two\n');
    expect(await h.fail('read_file', { project: 'args', path: 'b.txt' })).toMatch(/^not_found/);
  });

  it('are refused for an unknown tool too', async () => {
    expect(await h.fail('read_files', { project: 'args' })).toMatch(
      /^invalid_input: unknown tool read_files: call one of .*batch_read/,
    );
  });
});

describe('invalid values', () => {
  it('come back as invalid_input results naming the argument', async () => {
    expect(await h.fail('list_projects', { limit: 500 })).toBe(
      'invalid_input: argument limit: Too big: expected number to be <=200: fix it and call again',
    );
    expect(await h.fail('read_file', { project: 'args', path: 7 })).toBe(
      'invalid_input: argument path: Invalid input: expected string, received number: fix it and call again',
    );
    expect(await h.fail('read_file', { project: 'args' })).toMatch(/^invalid_input: argument path: /);
    expect(await h.fail('cleanup', { dry_run: 'yes' })).toMatch(/^invalid_input: argument dry_run: /);
  });

  it('lists the closed schema to clients', async () => {
    const { tools } = await h.client.listTools();
    expect(tools.every((t) => t.inputSchema.additionalProperties === false)).toBe(true);
  });
});
