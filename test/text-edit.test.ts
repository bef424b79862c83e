// edit_file's matching engine: exact and whitespace-tolerant matches, ambiguity and miss errors
// that tell the caller what to do, line-ending and final-newline preservation, and the diff.
import { describe, expect, it } from 'vitest';
import { applyEdits } from '../src/store/text-edit.js';
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

  it('lists at most ten lines of many matches', () => {
    const text = 'x\n'.repeat(25);
    const err = rejection(() => applyEdits(text, [edit('x', 'y')], 'f'));
    expect(err.message).toContain('lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 15 more');
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
