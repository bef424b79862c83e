// The language of a file by its path, from GitHub Linguist's table (the linguist-languages
// package: Linguist's languages.yml as modules). A project's languages are counted from this as
// files enter its committed tree (store/project-facts.ts), never per request.
//
// Decisions:
// - Only languages of type programming or markup count, as in GitHub's language bar: data (JSON,
//   YAML, TOML) and prose (Markdown, Text) do not, though their bytes are in the project's total.
// - By path only, as Linguist's first strategies are: its exact file name (Dockerfile, Makefile),
//   else its longest extension in any case (`.blade.php` before `.php`). No shebangs, no
//   content: an extensionless script counts as no language.
// - An extension several languages claim, which Linguist tells apart by content, goes to its
//   common reading (COMMON), else to the language whose primary extension it is, else to the
//   first claimant by name. A file counts as that language or none: `.md` is Markdown (prose),
//   never GCC Machine Description.
// - Vendored and generated files count like the rest: Linguist's vendor.yml is not in the package.
// - The table is read on first use, once per process (its 833 modules take ~180 ms to load):
//   stdio's handshake and tools/list never wait for it.

interface Language {
  name: string;
  type: string;
  extensions?: readonly string[];
  filenames?: readonly string[];
  aliases?: readonly string[];
}

export interface LanguageTable {
  /** The language the file at `path` counts as, or null (none, or one of a type not counted). */
  of(path: string): string | null;
  /** The language named `name` (any case, or one of its Linguist aliases) and whether it counts. */
  find(name: string): { name: string; counted: boolean } | undefined;
}

const COUNTED_TYPES = new Set(['programming', 'markup']);

// Extensions several languages claim, read as most projects mean them.
export const COMMON: Readonly<Record<string, string>> = {
  '.h': 'C',
  '.rs': 'Rust',
  '.md': 'Markdown',
  '.pl': 'Perl',
  '.t': 'Perl',
  '.m': 'Objective-C',
  '.html': 'HTML',
  '.sql': 'SQL',
  '.r': 'R',
  '.v': 'Verilog',
  '.ml': 'OCaml',
  '.fs': 'F#',
  '.as': 'ActionScript',
  '.asm': 'Assembly',
  '.lean': 'Lean 4',
  '.txt': 'Text',
  '.json': 'JSON',
  '.yaml': 'YAML',
};

let loading: Promise<LanguageTable> | undefined;

/** The table, loaded on first use. */
export function loadLanguages(): Promise<LanguageTable> {
  loading ??= import('linguist-languages').then(
    (module) => buildLanguageTable(Object.values(module) as Language[]),
    (err: unknown) => {
      loading = undefined; // the next call tries again
      throw err;
    },
  );
  return loading;
}

export function buildLanguageTable(languages: readonly Language[]): LanguageTable {
  const claims = (keys: (l: Language) => readonly string[] | undefined, lower: boolean) => {
    const claimed = new Map<string, Language[]>();
    for (const language of languages) {
      for (const key of keys(language) ?? []) {
        const k = lower ? key.toLowerCase() : key;
        claimed.set(k, [...(claimed.get(k) ?? []), language]);
      }
    }
    return claimed;
  };
  const choose = (key: string, candidates: readonly Language[]) =>
    candidates.find((l) => l.name === COMMON[key]) ??
    candidates.find((l) => l.extensions?.[0]?.toLowerCase() === key) ??
    [...candidates].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0]!;
  const chosen = (claimed: Map<string, Language[]>) =>
    new Map([...claimed].map(([key, candidates]) => [key, choose(key, candidates)]));

  const byExtension = chosen(claims((l) => l.extensions, true));
  const byFilename = chosen(claims((l) => l.filenames, false));
  const byName = new Map<string, Language>();
  for (const language of languages) {
    for (const alias of language.aliases ?? []) byName.set(alias.toLowerCase(), language);
  }
  for (const language of languages) byName.set(language.name.toLowerCase(), language);
  const counted = (language: Language | undefined) =>
    language && COUNTED_TYPES.has(language.type) ? language.name : null;

  return {
    of(path) {
      const base = path.slice(path.lastIndexOf('/') + 1);
      const named = byFilename.get(base);
      if (named) return counted(named);
      // Longest extension first; a leading dot starts a name (.bashrc), not an extension.
      for (let dot = base.indexOf('.', 1); dot > 0; dot = base.indexOf('.', dot + 1)) {
        const language = byExtension.get(base.slice(dot).toLowerCase());
        if (language) return counted(language);
      }
      return null;
    },
    find(name) {
      const language = byName.get(name.trim().toLowerCase());
      return language && { name: language.name, counted: COUNTED_TYPES.has(language.type) };
    },
  };
}
