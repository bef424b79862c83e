// The README is kept true: its quick start is two commands, its tool table names every tool the
// server lists, and its configuration table every environment variable the server reads.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../src/config.js';
import { createHarness, type Harness } from './support/harness.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = (title: string) => {
  const start = readme.indexOf(`\n## ${title}\n`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
};
/** The first cell of each row of the section's tables. */
const firstCells = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|')[1]!);

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

describe('README', () => {
  it('starts with exactly two commands after cloning', () => {
    const block = /```\n([^`]*)```/.exec(section('Quick start'))![1]!;
    expect(block.trim().split('\n')).toHaveLength(2);
    expect(block).toContain('npm test');
  });

  it('has a row, under one header, for every tool', async () => {
    const { tools } = await h.client.listTools();
    const tools_ = section('Tools');
    const table = tools_.slice(tools_.indexOf('| tool'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    const named = rows.map((row) => /^\| `([a-z_]+) /.exec(row)?.[1]);
    expect(named.sort()).toEqual(tools.map((t) => t.name).sort());
  });

  it('names every environment variable in the configuration table', () => {
    const cells = firstCells(section('Configuration')).join(' ');
    expect(ENV_VARIABLES.filter((name) => !cells.includes(`\`${name}\``))).toEqual([]);
  });
});
