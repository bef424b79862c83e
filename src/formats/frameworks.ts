// The frameworks a project uses, from the dependencies its manifests declare: a small table of
// manifests (what file, how its dependencies are read) and of markers (which dependency means
// which framework). Read when a manifest enters the committed tree (store/project-facts.ts),
// never per request.
//
// Decisions:
// - A manifest anywhere in the tree counts (a monorepo's web/package.json), whatever it is
//   named by its case-sensitive file name, as its tools name it.
// - Every kind of dependency counts (development and peer ones too): a project whose tests run
//   on a framework is built around it.
// - A manifest that does not parse names no framework; it is still a manifest, so fixing it
//   later updates the project's frameworks.
// - Framework names are lowercase, without commas (stored joined, store/db/queries/files.ts).
import { parse as parseToml } from 'smol-toml';

export interface Manifest {
  /** Whether the file at `path`, named `base`, is this kind of manifest. */
  is(base: string, path: string): boolean;
  /** The names of the dependencies it declares. */
  dependencies(text: string): string[];
  /** Dependency name → framework. */
  markers: Readonly<Record<string, string>>;
  /** Maven coordinates: a marker is a group, matching its subgroups too (io.micronaut.data). */
  groups?: boolean;
}

const NPM: Record<string, string> = {
  react: 'react',
  next: 'next.js',
  vue: 'vue',
  nuxt: 'nuxt',
  svelte: 'svelte',
  '@sveltejs/kit': 'sveltekit',
  '@angular/core': 'angular',
  express: 'express',
  '@nestjs/core': 'nestjs',
  fastify: 'fastify',
  koa: 'koa',
  hono: 'hono',
  '@remix-run/react': 'remix',
  astro: 'astro',
  gatsby: 'gatsby',
  electron: 'electron',
  'react-native': 'react-native',
  'solid-js': 'solid',
  preact: 'preact',
  'ember-source': 'ember',
};
const PYTHON: Record<string, string> = {
  django: 'django',
  flask: 'flask',
  fastapi: 'fastapi',
  tornado: 'tornado',
  pyramid: 'pyramid',
  streamlit: 'streamlit',
};
const JVM: Record<string, string> = {
  'org.springframework.boot': 'spring-boot',
  'io.quarkus': 'quarkus',
  'io.micronaut': 'micronaut',
  'io.ktor': 'ktor',
};

const named =
  (...names: string[]) =>
  (base: string) =>
    names.includes(base);
const keysOf = (...tables: unknown[]) =>
  tables.flatMap((t) => (t && typeof t === 'object' ? Object.keys(t) : []));
const at = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    value,
  );
const valuesOf = (value: unknown): unknown[] =>
  value && typeof value === 'object' ? Object.values(value as Record<string, unknown>) : [];
const strings = (value: unknown) =>
  (Array.isArray(value) ? value : []).filter((v): v is string => typeof v === 'string');
const lines = (text: string) => text.split(/\r?\n/);

/** The project name a Python requirement names (`Django[argon2]>=4`), normalised as PEP 503 does. */
const requirementName = (requirement: string) =>
  /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/
    .exec(requirement)?.[1]
    ?.toLowerCase()
    .replace(/[-_.]+/g, '-');
const requirementNames = (requirements: readonly string[]) =>
  requirements.map(requirementName).filter((n): n is string => n !== undefined);

export const MANIFESTS: readonly Manifest[] = [
  {
    is: named('package.json'),
    dependencies: (text) => {
      const json: unknown = JSON.parse(text);
      return keysOf(at(json, 'dependencies'), at(json, 'devDependencies'), at(json, 'peerDependencies'));
    },
    markers: NPM,
  },
  {
    // requirements.txt, requirements-dev.txt, requirements/base.txt
    is: (base, path) => /^requirements.*\.txt$/.test(base) || /(^|\/)requirements\/[^/]+\.txt$/.test(path),
    dependencies: (text) =>
      requirementNames(lines(text).filter((l) => !/^\s*(#|-)/.test(l) && l.trim() !== '')),
    markers: PYTHON,
  },
  {
    is: named('pyproject.toml'),
    dependencies: (text) => {
      const toml = parseToml(text);
      const poetry = at(toml, 'tool', 'poetry');
      return [
        ...requirementNames(strings(at(toml, 'project', 'dependencies'))),
        ...requirementNames(valuesOf(at(toml, 'project', 'optional-dependencies')).flatMap(strings)),
        ...requirementNames(valuesOf(at(toml, 'dependency-groups')).flatMap(strings)),
        ...requirementNames(keysOf(at(poetry, 'dependencies'), at(poetry, 'dev-dependencies'))),
        ...requirementNames(valuesOf(at(poetry, 'group')).flatMap((g) => keysOf(at(g, 'dependencies')))),
      ];
    },
    markers: PYTHON,
  },
  {
    is: named('Pipfile'),
    dependencies: (text) => {
      const toml = parseToml(text);
      return requirementNames(keysOf(toml.packages, toml['dev-packages']));
    },
    markers: PYTHON,
  },
  {
    // `require path version`, alone or in a block; a major version's /vN suffix is not the module.
    is: named('go.mod'),
    dependencies: (text) =>
      lines(text).flatMap((line) => {
        const words = line
          .replace(/\/\/.*/, '')
          .trim()
          .split(/\s+/);
        if (words[0] === 'require') words.shift();
        return words.length >= 2 && /^v\d/.test(words[1]!) ? [words[0]!.replace(/\/v\d+$/, '')] : [];
      }),
    markers: {
      'github.com/gin-gonic/gin': 'gin',
      'github.com/labstack/echo': 'echo',
      'github.com/gofiber/fiber': 'fiber',
      'github.com/go-chi/chi': 'chi',
      'github.com/gorilla/mux': 'gorilla',
    },
  },
  {
    is: named('Cargo.toml'),
    dependencies: (text) => {
      const toml = parseToml(text);
      const tables = (t: unknown) => [
        at(t, 'dependencies'),
        at(t, 'dev-dependencies'),
        at(t, 'build-dependencies'),
      ];
      return keysOf(
        ...tables(toml),
        at(toml, 'workspace', 'dependencies'),
        ...valuesOf(at(toml, 'target')).flatMap(tables),
      );
    },
    markers: { 'actix-web': 'actix-web', axum: 'axum', rocket: 'rocket', warp: 'warp', tauri: 'tauri' },
  },
  {
    // Group ids (of the parent, dependencies and plugins), comments aside.
    is: named('pom.xml'),
    dependencies: (text) =>
      [...text.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<groupId>\s*([^<\s]+)\s*<\/groupId>/g)].map(
        (m) => m[1]!,
      ),
    markers: JVM,
    groups: true,
  },
  {
    // Quoted coordinates ('group:artifact:version') and plugin ids, in Groovy or Kotlin.
    is: named('build.gradle', 'build.gradle.kts'),
    dependencies: (text) => [...text.matchAll(/["']([\w.-]+)(?::[^"'\s]*)?["']/g)].map((m) => m[1]!),
    markers: JVM,
    groups: true,
  },
  {
    is: named('Gemfile'),
    dependencies: (text) => [...text.matchAll(/^\s*gem\s+["']([^"']+)["']/gm)].map((m) => m[1]!),
    markers: { rails: 'rails', sinatra: 'sinatra', hanami: 'hanami' },
  },
  {
    is: named('composer.json'),
    dependencies: (text) => {
      const json: unknown = JSON.parse(text);
      return keysOf(at(json, 'require'), at(json, 'require-dev'));
    },
    markers: {
      'laravel/framework': 'laravel',
      'symfony/framework-bundle': 'symfony',
      'slim/slim': 'slim',
      'cakephp/cakephp': 'cakephp',
    },
  },
  {
    is: named('mix.exs'),
    dependencies: (text) => [...text.matchAll(/\{\s*:(\w+)\s*,/g)].map((m) => m[1]!),
    markers: { phoenix: 'phoenix' },
  },
];

/** Every framework the table knows, sorted. */
export const FRAMEWORKS: readonly string[] = [
  ...new Set(MANIFESTS.flatMap((m) => Object.values(m.markers))),
].sort();

/** The kind of manifest the file at `path` is, if it is one. */
export function manifestOf(path: string): Manifest | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return MANIFESTS.find((m) => m.is(base, path));
}

/** The frameworks the manifest `text` declares, sorted; none when it does not parse. */
export function frameworksOf(manifest: Manifest, text: string): string[] {
  let dependencies: string[];
  try {
    dependencies = manifest.dependencies(text);
  } catch {
    return [];
  }
  const found = new Set<string>();
  for (const dependency of dependencies) {
    const framework =
      (Object.hasOwn(manifest.markers, dependency) ? manifest.markers[dependency] : undefined) ??
      (manifest.groups
        ? Object.entries(manifest.markers).find(([group]) => dependency.startsWith(`${group}.`))?.[1]
        : undefined);
    if (framework) found.add(framework);
  }
  return [...found].sort();
}
