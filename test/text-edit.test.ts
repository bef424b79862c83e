// edit_file's matching engine: exact and whitespace-tolerant matches, ambiguity and miss errors
// that tell the caller what to do, line-ending and final-newline preservation, the diff, and
// inputs that make naive matching and diffing quadratic.
import { applyPatch, parsePatch } from 'diff';
import { describe, expect, it } from 'vitest';
import { applyEdits, checkEdits } from '../src/formats/text-edit.js';
import { MAX_DIFF_EDIT_LENGTH, unifiedDiff } from '../src/formats/unified-diff.js';
import { rejection } from './support/errors.js';

const edit = (oldText: string, newText: string) => ({ oldText, newText });

describe('exact matches', () => {
  it('replaces the single occurrence', () => {
    const result = applyEdits('const a = 1;\nconst b = 2;\n', [edit('b = 2', 'b = 3')], 'src/x.ts');
    expect(result.content).toBe('const a = 1;\nconst b = 3;\n');
    expect(result.matches).toEqual([{ kind: 'exact', line: 2 }]);
  });

  it('rejects old_text that occurs more than once, listing every line', () => {
    const text = 'foo();\nbar();\nfoo();\nbaz();\n';
    const err = rejection(() => applyEdits(text, [edit('foo();', 'qux();')], 'a.js'));
    expect(err.code).toBe('invalid_input');
    expect(err.message).toContain('edit 1 of 1');
    expect(err.message).toContain('matches 2 places in a.js (lines 1, 3)');
    expect(err.message).toContain('include more surrounding lines');
    expect(err.details).toMatchObject({ edit: 1, lines: [1, 3] });
  });

  it('counts overlapping occurrences as ambiguous', () => {
    const err = rejection(() => applyEdits('aaa\n', [edit('aa', 'b')], 'f'));
    expect(err.message).toContain('matches 2 places');
  });

  it('lists at most ten lines of many matches, and stops counting there', () => {
    const text = 'x\n'.repeat(25);
    const err = rejection(() => applyEdits(text, [edit('x', 'y')], 'f'));
    expect(err.message).toContain(
      'matches more than 10 places in f (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and more)',
    );
    expect(err.details).toMatchObject({ lines: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  });

  it('handles unicode content', () => {
    const text = 'título: café ☕\n名前: 太郎\nemoji: 👩‍💻\n';
    const result = applyEdits(text, [edit('太郎', '花子'), edit('👩‍💻', '🧑‍🚀')], 'u.yml');
    expect(result.content).toBe('título: café ☕\n名前: 花子\nemoji: 🧑‍🚀\n');
    expect(result.diff).toContain('-名前: 太郎');
    expect(result.diff).toContain('+名前: 花子');
  });
});

describe('whitespace-tolerant matches', () => {
  const file = ['function f() {', '    if (a) {', '        return 1;', '    }', '}', ''].join('\n');

  it('matches when the indentation differs and re-indents new_text to the file', () => {
    const result = applyEdits(
      file,
      [edit('if (a) {\n    return 1;\n}', 'if (a && b) {\n    log();\n    return 2;\n}')],
      'f.ts',
    );
    expect(result.content).toBe(
      ['function f() {', '    if (a && b) {', '        log();', '        return 2;', '    }', '}', ''].join(
        '\n',
      ),
    );
    expect(result.matches).toEqual([{ kind: 'whitespace', line: 2 }]);
  });

  it('ignores trailing spaces and collapses inner runs of whitespace', () => {
    const text = 'let  x =   1;   \nlet y = 2;\n';
    const result = applyEdits(text, [edit('let x = 1;', 'let x = 10;')], 'f.ts');
    expect(result.content).toBe('let x = 10;\nlet y = 2;\n');
  });

  it('maps the caller’s spaces onto the file’s tabs', () => {
    const tabs = 'class A {\n\tm() {\n\t\treturn 1;\n\t}\n}\n';
    const result = applyEdits(
      tabs,
      [
        edit(
          '    m() {\n        return 1;\n    }',
          '    m() {\n        const v = 1;\n        return v;\n    }',
        ),
      ],
      'a.ts',
    );
    expect(result.content).toBe('class A {\n\tm() {\n\t\tconst v = 1;\n\t\treturn v;\n\t}\n}\n');
  });

  it('keeps new_text’s indentation relative to its first line', () => {
    const text = 'def f():\n    x = 1\n    return x\n';
    const result = applyEdits(text, [edit(' x = 1 ', 'if ready:\n    x = 1\nelse:\n    x = 2')], 'f.py');
    expect(result.content).toBe(
      'def f():\n    if ready:\n        x = 1\n    else:\n        x = 2\n    return x\n',
    );
  });

  it('scales relative indentation from the caller’s step to the file’s', () => {
    const result = applyEdits(
      file,
      [edit('if (a) {\n  return 1;\n}', 'if (a) {\n  if (b) {\n    return 1;\n  }\n}')],
      'f.ts',
    );
    expect(result.content).toBe(
      [
        'function f() {',
        '    if (a) {',
        '        if (b) {',
        '            return 1;',
        '        }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('dedents lines that are less indented than new_text’s first line', () => {
    const text = 'def f():\n    if a:\n        x = 1\n    return x\n';
    const result = applyEdits(text, [edit('x  =  1', '    x = 2\nlog(x)')], 'f.py');
    expect(result.content).toBe('def f():\n    if a:\n        x = 2\n    log(x)\n    return x\n');
  });

  it('keeps the caller’s indentation characters when the file has none to follow', () => {
    const result = applyEdits('a\nb\nc\n', [edit('b ', 'b {\n\tinner\n}')], 'f');
    expect(result.content).toBe('a\nb {\n\tinner\n}\nc\n');
  });

  it('treats blank lines around old_text as optional', () => {
    const text = 'a\nb\nc\n';
    const result = applyEdits(text, [edit('\n\n  b  \n\n', '\nB\n')], 'f');
    expect(result.content).toBe('a\nB\nc\n');
  });

  it('deletes whole lines when new_text is empty', () => {
    const text = 'keep1\n  drop me  \nkeep2\n';
    expect(applyEdits(text, [edit('drop me\n', '')], 'f').content).toBe('keep1\nkeep2\n');
    expect(applyEdits('a\n  b', [edit(' b ', '')], 'f').content).toBe('a');
  });

  it('rejects a block that matches several places when whitespace is ignored', () => {
    const text = 'if (a) {\n  x();\n}\nif (a) {\n\tx();\n}\n';
    const err = rejection(() => applyEdits(text, [edit('if (a) {\n    x();\n}', 'y();')], 'f.js'));
    expect(err.code).toBe('invalid_input');
    expect(err.message).toContain('matches 2 places in f.js when whitespace is ignored (lines 1, 4)');
  });
});

describe('line endings and the final newline', () => {
  it('keeps a CRLF file CRLF when old and new text use LF', () => {
    const text = 'one\r\ntwo\r\nthree\r\n';
    const result = applyEdits(text, [edit('two\nthree', 'TWO\nmiddle\nTHREE')], 'w.txt');
    expect(result.content).toBe('one\r\nTWO\r\nmiddle\r\nTHREE\r\n');
    expect(result.matches[0]!.kind).toBe('exact');
  });

  it('keeps a CRLF file CRLF through a tolerant match', () => {
    const text = 'one\r\n  two  \r\nthree\r\n';
    const result = applyEdits(text, [edit('two\nthree', 'a\nb')], 'w.txt');
    expect(result.content).toBe('one\r\n  a\r\n  b\r\n');
  });

  it('converts CRLF in new_text to an LF file’s LF', () => {
    expect(applyEdits('a\nb\n', [edit('a\r\n', 'x\r\ny\r\n')], 'f').content).toBe('x\ny\nb\n');
  });

  it('keeps the final newline when the edit would drop it', () => {
    expect(applyEdits('a\nb\n', [edit('b\n', 'c')], 'f').content).toBe('a\nc\n');
  });

  it('does not add a final newline the file did not have', () => {
    expect(applyEdits('x = 1', [edit('x = 1', 'x = 2\n')], 'f').content).toBe('x = 2');
    expect(applyEdits('a\r\nb', [edit('b', 'c\n')], 'f').content).toBe('a\r\nc');
  });
});

describe('edit sequences', () => {
  it('applies edits in order, each to the previous result', () => {
    const result = applyEdits(
      'alpha\nbeta\ngamma\n',
      [edit('alpha', 'ALPHA'), edit('ALPHA\nbeta', 'ALPHA\nBETA'), edit('gamma', 'GAMMA')],
      'f',
    );
    expect(result.content).toBe('ALPHA\nBETA\nGAMMA\n');
    expect(result.matches.map((m) => m.line)).toEqual([1, 1, 3]);
  });

  it('fails as a whole and says when an earlier edit consumed the text', () => {
    const err = rejection(() =>
      applyEdits('alpha\nbeta\n', [edit('alpha', 'ALPHA'), edit('alpha', 'A')], 'f'),
    );
    expect(err.message).toMatch(/^edit 2 of 2: old_text was not found in f/);
    expect(err.message).toContain('an earlier edit in this call changed that text');
    expect(err.details).toMatchObject({ edit: 2 });
  });
});

describe('missing matches', () => {
  const file = [
    'import x from "x";',
    '',
    'export function total(items) {',
    '  return items.length;',
    '}',
    '',
  ].join('\n');

  it('points at the line where a partial match stops', () => {
    const err = rejection(() =>
      applyEdits(file, [edit('export function total(items) {\n  return items.size;\n}', 'x')], 'src/t.js'),
    );
    expect(err.code).toBe('invalid_input');
    expect(err.message).toContain('edit 1 of 1: old_text was not found in src/t.js');
    expect(err.message).toContain(
      'line 3 matches old_text\'s first line, but then old_text has "  return items.size;" where the file has "  return items.length;" (line 4)',
    );
    expect(err.message).toContain('Use read_file');
  });

  it('names the most similar line when no line matches', () => {
    const err = rejection(() => applyEdits(file, [edit('export function totals(item) {', 'x')], 'src/t.js'));
    expect(err.message).toContain('Closest: line 3 is "export function total(items) {"');
  });

  it('says when nothing resembles old_text', () => {
    const err = rejection(() => applyEdits(file, [edit('zzzz qqqq', 'x')], 'src/t.js'));
    expect(err.message).toContain('No line resembles old_text\'s first line "zzzz qqqq"');
  });

  it('says when the file is empty', () => {
    expect(rejection(() => applyEdits('', [edit('a', 'b')], 'f')).message).toContain('The file is empty.');
  });
});

describe('invalid edits', () => {
  it('rejects an empty old_text and points at write_file', () => {
    const err = rejection(() => applyEdits('a', [edit('', 'b')], 'f'));
    expect(err.code).toBe('invalid_input');
    expect(err.message).toContain('old_text is empty');
    expect(err.message).toContain('write_file');
  });

  it('rejects an edit that changes nothing, including only line endings', () => {
    expect(rejection(() => applyEdits('a\n', [edit('a', 'a')], 'f')).message).toContain('identical');
    expect(rejection(() => applyEdits('a\nb\n', [edit('a\nb', 'a\r\nb')], 'f')).message).toContain(
      'identical',
    );
  });

  it('rejects an empty list of edits', () => {
    expect(rejection(() => applyEdits('a', [], 'f')).code).toBe('invalid_input');
  });

  it('rejects whitespace-only old_text that does not occur', () => {
    const err = rejection(() => applyEdits('a\nb\n', [edit('   ', 'x')], 'f'));
    expect(err.message).toContain('old_text is only whitespace');
  });
});

describe('diff', () => {
  it('is a unified diff with a/ and b/ headers and three lines of context', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const { diff } = applyEdits(lines.join('\n') + '\n', [edit('line 10', 'LINE TEN')], 'docs/n.md');
    expect(diff.split('\n')).toEqual([
      '--- a/docs/n.md',
      '+++ b/docs/n.md',
      '@@ -7,7 +7,7 @@',
      ' line 7',
      ' line 8',
      ' line 9',
      '-line 10',
      '+LINE TEN',
      ' line 11',
      ' line 12',
      ' line 13',
      '',
    ]);
  });

  it('is empty when the edits cancel out', () => {
    const result = applyEdits('a\n', [edit('a', 'b'), edit('b', 'a')], 'f');
    expect(result).toMatchObject({ content: 'a\n', diff: '' });
  });
});

describe('the old_text limit', () => {
  it('refuses an old_text over MAX_OLD_TEXT_CHARS, naming the limit and the fix', () => {
    const err = rejection(() => checkEdits([edit('a', 'b'), edit('x'.repeat(1001), 'y')], 1000));
    expect(err.code).toBe('too_large');
    expect(err.message).toMatch(
      /^edit 2 of 2: old_text is 1001 chars, over the limit of 1000 \(MAX_OLD_TEXT_CHARS\)/,
    );
    expect(err.message).toContain(
      'split it into several smaller edits, or replace the whole file with write_file',
    );
    expect(err.details).toMatchObject({ edit: 2, limit: 1000 });
    expect(() => checkEdits([edit('x'.repeat(1000), 'y')], 1000)).not.toThrow();
  });
});

describe('large and adversarial inputs', () => {
  const numbered = (n: number, line: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n';

  it('applies a 20 KB old_text once in a 200 KB file', () => {
    const file = numbered(5000, (i) => `const v${i} = compute(${i}, options); // ${i % 7}`);
    expect(file.length).toBeGreaterThan(200_000);
    const from = file.indexOf('const v2000 ');
    const oldText = file.slice(from, file.indexOf('\n', from + 20_000));
    const newText = oldText.replaceAll('compute(', 'run(');
    const result = applyEdits(file, [edit(oldText, newText)], 'big.ts');
    expect(result.content).toBe(file.slice(0, from) + newText + file.slice(from + oldText.length));
    expect(result.matches).toEqual([{ kind: 'exact', line: 2001 }]);
    expect(applyPatch(file, result.diff)).toBe(result.content);
  });

  it('applies a 10,000-line edit, whitespace-tolerantly, in a 100,000-line file', () => {
    const file = numbered(100_000, (i) => `    item(${i}) = value;`);
    const oldText = numbered(10_000, (i) => `item(${i + 40_000})  =  value;`);
    const newText = numbered(10_000, (i) => `item(${i + 40_000}) = VALUE;`);
    const result = applyEdits(file, [edit(oldText, newText)], 'items.txt');
    const lines = file.split('\n');
    for (let i = 40_000; i < 50_000; i++) lines[i] = `    item(${i}) = VALUE;`;
    expect(result.content).toBe(lines.join('\n'));
    expect(result.matches).toEqual([{ kind: 'whitespace', line: 40_001 }]);
    expect(applyPatch(file, result.diff)).toBe(result.content);
  });

  it('stops at eleven of 180,001 overlapping exact matches and says "more than 10"', () => {
    const err = rejection(() => applyEdits('a'.repeat(200_000), [edit('a'.repeat(20_000), 'b')], 'f'));
    expect(err.message).toContain(
      'matches more than 10 places in f (lines 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 and more)',
    );
  });

  it('finds no match for a near-miss that agrees with the file everywhere but one char', () => {
    // String.indexOf compares most of this needle at every one of 190,000 places.
    const needle = `${'a'.repeat(9999)}b${'a'.repeat(9999)}`;
    const err = rejection(() => applyEdits('a'.repeat(200_000), [edit(needle, 'c')], 'f'));
    expect(err.message).toContain('old_text was not found in f');
    expect(
      applyEdits(`${'a'.repeat(100_000)}b${'a'.repeat(100_000)}`, [edit(needle, 'c')], 'f').content,
    ).toBe(`${'a'.repeat(90_001)}c${'a'.repeat(90_001)}`);
  });

  it('matches, counts and hints over 100,000 identical lines', () => {
    const file = 'x\n'.repeat(100_000);
    const many = rejection(() => applyEdits(file, [edit(' x\n'.repeat(10_000), 'z')], 'f'));
    expect(many.message).toContain('matches more than 10 places in f when whitespace is ignored');
    const miss = rejection(() => applyEdits(file, [edit(`${' x\n'.repeat(9_999)}y\n`, 'z')], 'f'));
    expect(miss.message).toContain(
      'Closest: line 1 matches old_text\'s first 9999 lines, but then old_text has "y"',
    );
    const unique = applyEdits(`${file}y\n`, [edit(`${'  x\n'.repeat(9_999)}y`, 'z')], 'f');
    expect(unique.matches).toEqual([{ kind: 'whitespace', line: 90_002 }]);
    expect(unique.content).toBe(`${'x\n'.repeat(90_001)}z\n`);
  });

  it('names the closest line for a 20 KB first line among 100,000 lines', () => {
    const file = numbered(100_000, (i) => `line ${i}`);
    const err = rejection(() => applyEdits(file, [edit(`line 5${'q'.repeat(20_000)}`, 'x')], 'f'));
    expect(err.message).toContain("No line resembles old_text's first line");
  });
});

describe('unified diffs of large changes', () => {
  const lines = (n: number, line: (i: number) => string) => Array.from({ length: n }, (_, i) => line(i));

  it('diffs a 10,000-line deletion from the middle of 100,000 lines as one hunk with 3 lines of context', () => {
    const all = lines(100_000, (i) => `line ${i}`);
    const before = all.join('\n') + '\n';
    const after = [...all.slice(0, 50_000), ...all.slice(60_000)].join('\n') + '\n';
    const diff = unifiedDiff('a/f', 'b/f', before, after);
    const [hunk, ...rest] = parsePatch(diff)[0]!.hunks;
    expect(rest).toEqual([]);
    expect(hunk).toMatchObject({ oldStart: 49_998, oldLines: 10_006, newStart: 49_998, newLines: 6 });
    expect(applyPatch(before, diff)).toBe(after);
  });

  it('shows a change over the edit-length bound as one hunk that replaces the block', () => {
    const count = MAX_DIFF_EDIT_LENGTH; // rewritten lines: twice the bound, added plus removed
    const head = lines(10, (i) => `head ${i}`);
    const tail = lines(10, (i) => `tail ${i}`);
    const before = [...head, ...lines(count, (i) => `old ${i}`), ...tail].join('\n');
    const after = [...head, ...lines(count, (i) => `new ${i}`), ...tail].join('\n');
    const diff = unifiedDiff('a/f', 'b/f', before, after);
    const hunks = parsePatch(diff)[0]!.hunks;
    expect(hunks).toHaveLength(1);
    expect(hunks[0]).toMatchObject({ oldStart: 8, oldLines: count + 6, newStart: 8, newLines: count + 6 });
    expect(hunks[0]!.lines.slice(0, 4)).toEqual([' head 7', ' head 8', ' head 9', '-old 0']);
    expect(hunks[0]!.lines.slice(-4)).toEqual(['+new 499', ' tail 0', ' tail 1', ' tail 2']);
    expect(applyPatch(before, diff)).toBe(after);
  });

  it('keeps three lines of context on both sides where lines repeat around the change', () => {
    // The common suffix starts at the second 'b'; a diff of what lies between the common prefix
    // and suffix that let its last removal slide onto that 'b' would leave two lines after it.
    const before = 'c\nx\nb\nb\nlong\nx\na\nx\nc\n';
    const after = '\n\nax\nb\nlong\nx\na\nx\nc\n';
    const diff = unifiedDiff('a/f', 'b/f', before, after);
    const [hunk, ...rest] = parsePatch(diff)[0]!.hunks;
    expect(rest).toEqual([]);
    // The change starts at line 1, so only the context after it is owed: three lines.
    const [lastChange, ...context] = hunk!.lines.slice(-4).map((line) => line[0]);
    expect([lastChange === ' ', context]).toEqual([false, [' ', ' ', ' ']]);
    expect(applyPatch(before, diff)).toBe(after);
  });

  it('marks a last line without a newline on either side', () => {
    const diff = unifiedDiff('a/f', 'b/f', 'a\nb\nc', 'a\nb\nc\n');
    expect(diff.split('\n').slice(2)).toEqual([
      '@@ -1,3 +1,3 @@',
      ' a',
      ' b',
      '-c',
      '\\ No newline at end of file',
      '+c',
      '',
    ]);
  });
});
