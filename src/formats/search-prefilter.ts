// The SQL side of a literal search_files (pure): a LIKE pattern that every text the JS line
// matcher (content-search.ts) would find the literal in also matches, so Postgres's trigram index
// (migration 0020) can narrow the files to read, and the line matcher, run over those only, stays
// the judge of what matches.
//
// Decisions:
// - The pattern may match more than the matcher would (a line break, a wildcard), never less.
// - Postgres compares with the "C" collation (search_texts.body, and drafts' content cast to it):
//   LIKE is exact, ILIKE folds A-Z alone, whatever the database's locale. Only ASCII characters
//   are kept; pg_trgm then extracts its trigrams from ASCII alone, so no locale's idea of a
//   letter or of lower case (Turkish I, ICU's final sigma) decides what the index finds.
// - Case-sensitive: each other character (non-ASCII, a lone surrogate, NUL, which a Postgres text
//   cannot hold) becomes `_`, one character, as in the text.
// - Case-insensitive: the matcher lower-cases line and literal with JS toLowerCase, which maps two
//   non-ASCII characters to ASCII letters: U+212A (Kelvin sign) to k, U+0130 (İ) to i + U+0307,
//   the only ones in Unicode. So i and k become `_`, and every run of other characters `%` (one
//   lower-cased character may come from a character that lower-cases to two).

export interface LikeFilter {
  /** A LIKE pattern, escaped with the default `\`. */
  pattern: string;
  /** LIKE when true, ILIKE (in the "C" collation) when false. */
  caseSensitive: boolean;
}

/** ASCII but NUL (which a Postgres text cannot hold): kept as it is, or folded by ILIKE. */
const kept = (char: string) => char.length === 1 && char > '\0' && char < '\x80';

/** The LIKE filter for a literal `pattern`, as compileQuery matches it. */
export function likeFilter(pattern: string, caseSensitive: boolean): LikeFilter {
  const parts = ['%'];
  for (const char of caseSensitive ? pattern : pattern.toLowerCase()) {
    const part = likePart(char, caseSensitive);
    if (part !== '%' || parts.at(-1) !== '%') parts.push(part);
  }
  if (parts.at(-1) !== '%') parts.push('%');
  return { pattern: parts.join(''), caseSensitive };
}

function likePart(char: string, caseSensitive: boolean): string {
  if (!kept(char)) return caseSensitive ? '_' : '%';
  if (!caseSensitive && (char === 'i' || char === 'k')) return '_';
  return char === '%' || char === '_' || char === '\\' ? `\\${char}` : char;
}
