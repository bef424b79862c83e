// Hostile and benign inputs for the one path-validation module: every rejection class with the
// problem named in the message, and the canonical form of everything accepted.
import { describe, expect, it } from 'vitest';
import {
  assertProjectName,
  assertWorkspaceName,
  compileGlob,
  globBase,
  isCanonicalPath,
  isValidProjectName,
  isValidWorkspaceName,
  normalizePath,
  normalizePrefix,
} from '../src/paths.js';
import { rejection } from './support/errors.js';

// [input, reason, text the message must contain]
const rejectedPaths: [string, string, RegExp][] = [
  ['', 'empty', /empty/],
  ['.', 'root', /project root/],
  ['./', 'root', /project root/],
  ['././', 'root', /project root/],
  ['/etc/passwd', 'absolute', /absolute.*leading '\/'/],
  ['/', 'absolute', /absolute/],
  ['//server/share', 'absolute', /absolute/],
  ['..', 'dotdot', /contains '\.\.'/],
  ['../x', 'dotdot', /contains '\.\.'/],
  ['a/../b', 'dotdot', /contains '\.\.'.*without '\.\.'/],
  ['a/..', 'dotdot', /contains '\.\.'/],
  ['./../a', 'dotdot', /contains '\.\.'/],
  ['a//b', 'empty_segment', /empty segment/],
  ['a/', 'trailing_slash', /ends with '\/'/],
  ['src/dir/', 'trailing_slash', /ends with '\/'/],
  ['a/.', 'trailing_slash', /ends with '\/'/],
  ['a//', 'empty_segment', /empty segment/],
  ['a\\b', 'backslash', /backslash/],
  ['..\\..\\windows', 'backslash', /backslash/],
  ['\\\\server\\share', 'backslash', /backslash/],
  ['C:', 'drive_letter', /drive letter/],
  ['C:x', 'drive_letter', /drive letter/],
  ['c:/x', 'drive_letter', /drive letter/],
  ['a:b', 'drive_letter', /drive letter/],
  ['z:\\x', 'backslash', /backslash/],
  ['a\u0000b', 'control_character', /control character U\+0000/],
  ['a\nb', 'control_character', /U\+000A/],
  ['a\rb', 'control_character', /U\+000D/],
  ['a\tb', 'control_character', /U\+0009/],
  ['a\u001fb', 'control_character', /U\+001F/],
  ['a\u007fb', 'control_character', /U\+007F/],
  ['a\u0085b', 'control_character', /U\+0085/],
  ['a\u009fb', 'control_character', /U\+009F/],
  ['a\u202etxt.exe', 'deceptive_character', /U\+202E/],
  ['a\u2066b', 'deceptive_character', /U\+2066/],
  ['a\u200fb', 'deceptive_character', /U\+200F/],
  ['a\u2028b', 'deceptive_character', /U\+2028/],
  ['a\ud800b', 'malformed_unicode', /lone surrogate/],
  ['a\udc00', 'malformed_unicode', /lone surrogate/],
  ['\udc00\ud800', 'malformed_unicode', /lone surrogate/],
  ['.git', 'dot_git', /'\.git' directory/],
  ['.git/config', 'dot_git', /'\.git' directory/],
  ['.GIT/HEAD', 'dot_git', /'\.git' directory/],
  ['a/.Git/config', 'dot_git', /"\.Git"/],
  ['sub/.git', 'dot_git', /'\.git' directory/],
  ['.git.', 'dot_git', /'\.git' directory/],
  ['.git ', 'dot_git', /'\.git' directory/],
  ['.git . .', 'dot_git', /'\.git' directory/],
  ['.git::$INDEX_ALLOCATION/hooks/x', 'dot_git', /'\.git' directory/],
  ['git~1/config', 'dot_git', /'\.git' directory/],
  ['GIT~1', 'dot_git', /'\.git' directory/],
  ['.git\u200c/config', 'dot_git', /'\.git' directory/],
  ['.g\u200dit/config', 'dot_git', /'\.git' directory/],
  ['\ufeff.git/config', 'dot_git', /'\.git' directory/],
  ['.gi\u206at', 'dot_git', /'\.git' directory/],
  // Windows trims trailing dots and spaces: these name '..' or the directory itself there.
  [' ..', 'dots_and_spaces', /segment " \.\.", made only of dots and spaces.*rename that segment/],
  ['. .', 'dots_and_spaces', /segment "\. \."/],
  ['.. ', 'dots_and_spaces', /segment "\.\. "/],
  ['a/ ../b', 'dots_and_spaces', /reads as '\.\.'/],
  ['a/. ./b', 'dots_and_spaces', /dots and spaces/],
  ['a/.. /b', 'dots_and_spaces', /dots and spaces/],
  ['./ ../etc/passwd', 'dots_and_spaces', /dots and spaces/],
  ['...', 'dots_and_spaces', /dots and spaces/],
  ['x/....', 'dots_and_spaces', /dots and spaces/],
  ['. ', 'dots_and_spaces', /dots and spaces/],
  [' ', 'dots_and_spaces', /dots and spaces/],
  ['a/   /b', 'dots_and_spaces', /dots and spaces/],
  ['x'.repeat(256), 'segment_too_long', /longer than 255 bytes/],
  ['d/' + 'é'.repeat(128), 'segment_too_long', /longer than 255 bytes/],
  [('abcdefgh/'.repeat(456) + 'z').slice(0), 'too_long', /longer than 4096 bytes/],
  ['a'.repeat(1_000_000), 'too_long', /longer than 4096 bytes/],
];

describe('normalizePath rejects', () => {
  it.each(rejectedPaths)('%j (%s)', (input, reason, text) => {
    const err = rejection(() => normalizePath(input));
    expect(err.code).toBe('invalid_input');
    expect(err.details).toMatchObject({ reason });
    expect(err.message).toMatch(text);
    // Every message says what to do after naming the problem.
    expect(err.message).toMatch(/: [a-z]/);
  });

  it('quotes hostile input escaped and bounded', () => {
    const nul = rejection(() => normalizePath('a\u0000b')).message;
    expect(nul).not.toContain('\u0000');
    expect(nul).toContain('"a\\u0000b"');
    expect(rejection(() => normalizePath('a\u202eb')).message).not.toContain('\u202e');
    expect(rejection(() => normalizePath('x'.repeat(100_000))).message.length).toBeLessThan(300);
  });

  it('rejects values that are not strings', () => {
    expect(rejection(() => normalizePath(undefined as unknown as string)).code).toBe('invalid_input');
    expect(rejection(() => normalizePath(42 as unknown as string)).code).toBe('invalid_input');
  });

  it('applies configured limits', () => {
    expect(rejection(() => normalizePath('abcdef', { maxSegmentBytes: 5 })).details).toMatchObject({
      reason: 'segment_too_long',
    });
    expect(rejection(() => normalizePath('ab/cd/ef', { maxPathBytes: 7 })).details).toMatchObject({
      reason: 'too_long',
    });
    expect(normalizePath('ab/cd/ef', { maxPathBytes: 8, maxSegmentBytes: 2 })).toBe('ab/cd/ef');
  });
});

// [input, canonical form]
const acceptedPaths: [string, string][] = [
  ['a', 'a'],
  ['src/index.ts', 'src/index.ts'],
  ['./a', 'a'],
  ['././a/b', 'a/b'],
  ['a/./b', 'a/b'],
  ['a/./././b/./c', 'a/b/c'],
  ['%2e%2e', '%2e%2e'],
  ['%2e%2e/%2fetc', '%2e%2e/%2fetc'],
  ['..a/b..', '..a/b..'],
  ['a. ./. b', 'a. ./. b'],
  ['.gitignore', '.gitignore'],
  ['.github/workflows/ci.yml', '.github/workflows/ci.yml'],
  ['.gitmodules', '.gitmodules'],
  ['a.git', 'a.git'],
  ['.gitx/config', '.gitx/config'],
  ['git~2', 'git~2'],
  ['my notes/todo list.md', 'my notes/todo list.md'],
  [' leading and trailing ', ' leading and trailing '],
  ['ab:c', 'ab:c'],
  ['a/b:c', 'a/b:c'],
  ['1:x', '1:x'],
  ['~/x', '~/x'],
  ['$HOME/x', '$HOME/x'],
  ['日本語/ファイル.txt', '日本語/ファイル.txt'],
  ['emoji/👩‍💻.md', 'emoji/👩‍💻.md'],
  ['fa/می‌خواهم', 'fa/می‌خواهم'],
  ['e\u0301.txt', '\u00e9.txt'],
  ['\u00e9.txt', '\u00e9.txt'],
  ['\u1100\u1161\u11a8', '\uac01'],
  ['x'.repeat(255), 'x'.repeat(255)],
  ['d/' + 'é'.repeat(127), 'd/' + 'é'.repeat(127)],
];

describe('normalizePath accepts', () => {
  it.each(acceptedPaths)('%j as %j', (input, canonical) => {
    expect(normalizePath(input)).toBe(canonical);
    // Canonical forms are fixed points.
    expect(normalizePath(canonical)).toBe(canonical);
    expect(isCanonicalPath(canonical)).toBe(true);
  });

  it('measures byte limits on the NFC form', () => {
    // Typed decomposed, each segment is 381 bytes and the path 6111; in NFC they are 254 and 4079.
    const nearLimit = Array.from({ length: 16 }, () => 'e\u0301'.repeat(127)).join('/');
    expect(Buffer.byteLength(normalizePath(nearLimit))).toBe(16 * 254 + 15);
  });

  it('reports paths that are not canonical', () => {
    expect(isCanonicalPath('./a')).toBe(false);
    expect(isCanonicalPath('e\u0301')).toBe(false);
    expect(isCanonicalPath('../a')).toBe(false);
  });
});

describe('normalizePrefix', () => {
  it.each([
    ['', ''],
    ['.', ''],
    ['./', ''],
    ['src', 'src/'],
    ['src/', 'src/'],
    ['./src/', 'src/'],
    ['src/./lib', 'src/lib/'],
    ['e\u0301', '\u00e9/'],
  ])('%j → %j', (input, canonical) => {
    expect(normalizePrefix(input)).toBe(canonical);
  });

  it.each([
    ['/', 'absolute'],
    ['/src', 'absolute'],
    ['src//', 'empty_segment'],
    ['a//b/', 'empty_segment'],
    ['../', 'dotdot'],
    ['src/..', 'dotdot'],
    ['.git/', 'dot_git'],
    ['C:/', 'drive_letter'],
    ['a\\b', 'backslash'],
    ['a\u0000', 'control_character'],
    [' ../', 'dots_and_spaces'],
    ['src/. ./', 'dots_and_spaces'],
  ])('rejects %j (%s)', (input, reason) => {
    const err = rejection(() => normalizePrefix(input));
    expect(err.code).toBe('invalid_input');
    expect(err.details).toMatchObject({ reason });
    expect(err.message).toMatch(/^prefix /);
  });
});

describe('project names', () => {
  it.each(['a', '0', 'my-project', 'my_project.v2', 'a'.repeat(63), 'x..y'])('accepts %j', (name) => {
    expect(isValidProjectName(name)).toBe(true);
    expect(assertProjectName(name)).toBe(name);
  });

  it.each(['', 'My-Project', '-a', '.a', '_a', 'a b', 'a/b', 'a'.repeat(64), 'é', 'a\u0000', 'ab\n'])(
    'rejects %j',
    (name) => {
      expect(isValidProjectName(name)).toBe(false);
      const err = rejection(() => assertProjectName(name));
      expect(err.code).toBe('invalid_input');
      expect(err.message).toMatch(/project name .* is invalid.*lowercase letters, digits/);
    },
  );

  it('suggests the lowercase spelling when that would be valid', () => {
    expect(rejection(() => assertProjectName('Stowage')).message).toContain("did you mean 'stowage'?");
  });
});

describe('workspace names', () => {
  it.each(['alice', 'agent-2', 'john.doe', 'ci@runner', 'svc_bot', 'A', '_x', '0', 'x'.repeat(64)])(
    'accepts %j',
    (name) => {
      expect(isValidWorkspaceName(name)).toBe(true);
      expect(assertWorkspaceName(name)).toBe(name);
    },
  );

  it.each(['', '.hidden', '..', 'a b', 'a/b', 'a\\b', 'x'.repeat(65), 'é', 'a\nb', 'a:b'])(
    'rejects %j',
    (name) => {
      expect(isValidWorkspaceName(name)).toBe(false);
      const err = rejection(() => assertWorkspaceName(name));
      expect(err.code).toBe('invalid_input');
      expect(err.message).toMatch(/workspace name .* is invalid.*not starting with '\.'/);
    },
  );
});

describe('globs', () => {
  it.each([
    ['src/**/*.ts', 'src/'],
    ['src/a/**', 'src/a/'],
    ['src/a.ts', 'src/'],
    ['a.ts', ''],
    ['**', ''],
    ['**/*.md', ''],
    ['*.md', ''],
    ['./src/*.ts', 'src/'],
    ['src/./lib/*.ts', 'src/lib/'],
    ['{src,lib}/**', ''],
    ['src/{a,b}/*.ts', 'src/'],
    ['s*c/x', ''],
    ['!src/**', ''],
    ['src/a\\*b/*.ts', 'src/'],
    ['@(src)/x', ''],
  ])('globBase(%j) is %j', (glob, base) => {
    expect(globBase(glob)).toBe(base);
  });

  it('matches dot files and nested paths', () => {
    const ts = compileGlob('src/**/*.ts');
    expect(ts('src/a.ts')).toBe(true);
    expect(ts('src/deep/er/b.ts')).toBe(true);
    expect(ts('src/.hidden/c.ts')).toBe(true);
    expect(ts('lib/a.ts')).toBe(false);
    expect(ts('src/a.tsx')).toBe(false);
    expect(compileGlob('**')('.env')).toBe(true);
    expect(compileGlob('*.md')('docs/a.md')).toBe(false);
    expect(compileGlob('./src/*.ts')('src/a.ts')).toBe(true);
    expect(compileGlob('src/./*.ts')('src/a.ts')).toBe(true);
    expect(compileGlob('!src/**')('lib/a.ts')).toBe(true);
    expect(compileGlob('!src/**')('src/a.ts')).toBe(false);
    expect(compileGlob('src/a\\*b/*.ts')('src/a*b/x.ts')).toBe(true);
    expect(compileGlob('src/a\\*b/*.ts')('src/axb/x.ts')).toBe(false);
  });

  it('gives a base that every match starts with', () => {
    const paths = ['src/a.ts', 'src/x/b.ts', 'lib/c.ts', '.github/ci.yml', 'srcx/d.ts'];
    for (const glob of ['src/**', 'src/*.ts', 'src/x/b.ts', '**/*.ts', '!src/**', '{src,lib}/*.ts']) {
      const base = globBase(glob);
      const matches = paths.filter(compileGlob(glob));
      expect(matches.every((p) => p.startsWith(base))).toBe(true);
    }
  });

  it.each([
    ['', 'empty'],
    ['.', 'empty'],
    ['/src/**', 'absolute'],
    ['!/src/**', 'absolute'],
    ['../**', 'dotdot'],
    ['src/../**', 'dotdot'],
    ['src/{..,lib}/x', 'dotdot'],
    ['src//*.ts', 'empty_segment'],
    ['a\u0000*', 'control_character'],
    ['*\ud800', 'malformed_unicode'],
    ['*'.repeat(5000), 'too_long'],
  ])('rejects %j (%s)', (glob, reason) => {
    for (const fn of [() => compileGlob(glob), () => globBase(glob)]) {
      const err = rejection(fn);
      expect(err.code).toBe('invalid_input');
      expect(err.details).toMatchObject({ reason });
      expect(err.message).toMatch(/^glob /);
    }
  });

  it('allows a literal ".." inside a name', () => {
    expect(compileGlob('a..b/*')('a..b/c')).toBe(true);
    expect(globBase('a..b/*')).toBe('a..b/');
  });
});
