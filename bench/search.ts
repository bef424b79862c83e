// Bench (issue 21): search_files over 1,000 committed files of ~9 KiB in one project, through
// `stowage serve --http` spawned on the bench's Postgres. A literal found in 10 of the files:
// warm (median of 9; target ≤ 20 ms) and the first search after a restart of the server (median
// of 3; target ≤ 2× warm; also after one other call, which pays what any first call does),
// beside `grep -rF` (and -rFi, as search_files is case-insensitive by
// default) over the same files on disk; a regex beside `grep -rE`. Also the commit that stored
// the files, which records each one's text in the search index.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pg from 'pg';
import { connectHttp } from '../test/support/http.js';
import { spawnHttpServer } from '../test/support/spawn.js';
import { median, ms, run, searchIndexed, time } from './timing.js';
import { ranDirectly, runAlone } from './alone.js';

const FILES = 1000;
const ROUNDS = 9;
const RESTARTS = 3;
const PROJECT = 'search-bench';
/** Once in each of 10 files (i % 100 === 42). */
const LITERAL = 'parseTenantConfig';
const REGEX = String.raw`parse\w+Config\(raw`;

/** ~9 KiB of source-like text with identifiers of its own, so files share few trigrams. */
function source(i: number): string {
  const lines = [
    `// module ${i}: request handlers`,
    `import { helper${i % 50} } from '../shared/h${i % 50}.js';`,
  ];
  for (let j = 0, size = 0; size < 9 * 1024; j++) {
    const line = `export function handle${i}x${j}(input: Request${j % 7}) { return helper${i % 50}(input, ${(i * 31 + j) % 9973}); }`;
    lines.push(line);
    size += line.length + 1;
    if (j === 40 && i % 100 === 42) lines.push(`  const quota = ${LITERAL}(raw, ${i});`);
  }
  return `${lines.join('\n')}\n`;
}

const caller = (client: Client) => async (name: string, args: Record<string, unknown>) => {
  const r = await client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`);
  return r.structuredContent as { matches?: unknown[] };
};

export async function benchSearch(databaseUrl: string, home: string): Promise<string[]> {
  const env = { DATABASE_URL: databaseUrl, STOWAGE_HOME: join(home, 'search') };
  const onDisk = join(home, 'search-files');
  const files = Array.from({ length: FILES }, (_, i) => ({
    path: `src/m${i % 20}/handlers${i}.ts`,
    content: source(i),
  }));
  for (const f of files) {
    await mkdir(dirname(join(onDisk, f.path)), { recursive: true });
    await writeFile(join(onDisk, f.path), f.content);
  }
  let served = await spawnHttpServer(env);
  let { client } = await connectHttp(served.url);
  let call = caller(client);
  const search = (args: Record<string, unknown>) => call('search_files', { project: PROJECT, ...args });
  try {
    await call('create_project', { name: PROJECT });
    for (let b = 0; b < FILES; b += 200) {
      await call('write_files', { project: PROJECT, files: files.slice(b, b + 200) });
    }
    const commit = await time(() =>
      call('commit_task', { project: PROJECT, task: { id: 'search', title: 'Search bench files' } }),
    );
    // Settled, as the other sections are: the texts recorded (in the background, after the
    // commit answered), and no checkpoint or vacuum inside a measurement.
    const admin = new pg.Client(databaseUrl);
    await admin.connect();
    const indexed = await searchIndexed(
      { query: async <R>(text: string, params: unknown[]) => (await admin.query(text, params)).rows as R[] },
      PROJECT,
    );
    await admin.query('CHECKPOINT');
    await admin.query('VACUUM ANALYZE');
    await admin.end();

    const literal = { pattern: LITERAL };
    const regex = { pattern: REGEX, regex: true };
    const found = (await search(literal)).matches!.length;
    if (found !== FILES / 100) throw new Error(`the literal was found ${found} times, not ${FILES / 100}`);
    const warm = async (args: Record<string, unknown>) => {
      await search(args);
      const times: number[] = [];
      for (let r = 0; r < ROUNDS; r++) times.push(await time(() => search(args)));
      return times;
    };
    const literalWarm = await warm(literal);
    const exactWarm = await warm({ ...literal, case_sensitive: true });
    const regexWarm = await warm(regex);
    // Each restart is followed by one search, the literal and the regex taking turns; a third
    // kind of restart first calls list_projects, to tell what any first call costs from what the
    // first search does.
    const firsts = {
      literal: [] as number[],
      regex: [] as number[],
      other: [] as number[],
      after: [] as number[],
    };
    for (let r = 0; r < RESTARTS * 3; r++) {
      await client.close();
      await served.stop();
      served = await spawnHttpServer(env);
      ({ client } = await connectHttp(served.url));
      call = caller(client);
      if (r % 3 === 0) firsts.literal.push(await time(() => search(literal)));
      else if (r % 3 === 1) firsts.regex.push(await time(() => search(regex)));
      else {
        firsts.other.push(await time(() => call('list_projects', {})));
        firsts.after.push(await time(() => search(literal)));
      }
    }
    const grep = async (...args: string[]) => {
      const times: number[] = [];
      for (let r = 0; r < ROUNDS; r++) times.push(await time(() => run('grep', [...args, onDisk])));
      return times;
    };
    const grepF = await grep('-rF', LITERAL);
    const grepFi = await grep('-rFi', LITERAL);
    const grepE = await grep('-rE', REGEX);
    const vs = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`;
    return [
      `search_files literal over 1,000 files of ~9 KiB (found in 10), warm: ${ms(median(literalWarm))} (median of ${ROUNDS}; target ≤ 20 ms) vs grep -rFi ${ms(median(grepFi))} → ${vs(literalWarm, grepFi)}; case_sensitive ${ms(median(exactWarm))} vs grep -rF ${ms(median(grepF))} → ${vs(exactWarm, grepF)}`,
      `  first search after a restart of stowage serve --http: ${ms(median(firsts.literal))} → ${vs(firsts.literal, literalWarm)} warm (median of ${RESTARTS}; target ≤ 2×); after the process's first call (list_projects, ${ms(median(firsts.other))}) ${ms(median(firsts.after))} → ${vs(firsts.after, literalWarm)}`,
      `search_files regex ${REGEX}, warm: ${ms(median(regexWarm))} vs grep -rE ${ms(median(grepE))} → ${vs(regexWarm, grepE)}; first after a restart ${ms(median(firsts.regex))}`,
      `  commit_task of the 1,000 files: ${ms(commit)}; their texts recorded in the search index in the background within ${ms(indexed)} after it answered`,
    ];
  } finally {
    await client.close();
    await served.stop();
  }
}

if (ranDirectly(import.meta.url)) await runAlone('search', benchSearch);
