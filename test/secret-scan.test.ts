// Secret scanning's text side (formats/secret-scan.ts, keyword-set.ts): the one-pass keyword
// finder against plain look-ups, and scans of code that wakes gitleaks' rules with and without a
// secret in it. The writes that warn are tested through a client in secrets.test.ts.
import { describe, expect, it } from 'vitest';
import { keywordSet } from '../src/formats/keyword-set.js';
import { scanSecrets } from '../src/formats/secret-scan.js';

describe('keywordSet', () => {
  it('finds exactly the keywords a text holds, overlapping, nested and after false starts', () => {
    const keywords = ['he', 'she', 'his', 'hers', 'ushers', 's.', 'xoxb', 'xoxe-', 'ключ', 'e'];
    const set = keywordSet(keywords);
    const held = (text: string) => keywords.filter((_, i) => set.find(text)[i]);
    expect(held('ushers')).toEqual(['he', 'she', 'hers', 'ushers', 'e']);
    expect(held('xoxoxb and xoxe_')).toEqual(['xoxb', 'e']);
    expect(held('this.x')).toEqual(['his', 's.']);
    expect(held('секретный ключ')).toEqual(['ключ']);
    expect(held('')).toEqual([]);
    // Against `includes` over texts drawn from the keywords' own characters, where a partial
    // match that fails is the common case.
    const alphabet = [...new Set(keywords.join('') + 'az. ')];
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let n = 0; n < 500; n++) {
      const text = Array.from({ length: Math.floor(random() * 40) }, () => {
        return alphabet[Math.floor(random() * alphabet.length)];
      }).join('');
      expect(held(text), text).toEqual(keywords.filter((k) => text.includes(k)));
    }
  });
});

describe('scanSecrets', () => {
  // Code that holds keywords of several rules (key, token, s.) and matches none of them.
  const code = [
    'export function tokenOf(key: string) {',
    '  const parts = this.split(key);',
    '  return { token: parts[0], keys: parts.length };',
    '}',
  ].join('\n');

  it('passes code whose keywords wake rules that do not match', () => {
    expect(scanSecrets('src/token.ts', code)).toEqual([]);
  });

  it('finds a secret among such code, on its line, keyword in any case', () => {
    const secret = 'ghp_Zq8Xw3Lm9Rt2Vb7Nc4Kd1Hf6Jg5Ps0Ya3Ue8';
    const text = `${code}\nconst GITHUB = '${secret}';\n${code}\nAWS_ACCESS_KEY_ID=AKIAQZ7XK3M2LPR4TW6Y\n`;
    expect(scanSecrets('src/token.ts', text)).toEqual([
      { line: 5, rule: 'github-pat' },
      { line: 10, rule: 'aws-access-token' },
    ]);
  });
});
