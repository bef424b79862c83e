// What a file counts as in its project's facts: its language by its path (GitHub Linguist's
// table, formats/languages.ts) and the frameworks a manifest names (formats/frameworks.ts).
// Pure: the real linguist-languages table, no database.
import { describe, expect, it } from 'vitest';
import { FRAMEWORKS, frameworksOf, manifestOf } from '../src/formats/frameworks.js';
import { COMMON, loadLanguages } from '../src/formats/languages.js';

const frameworks = (path: string, text: string) => {
  const manifest = manifestOf(path);
  expect(manifest, `${path} is a manifest`).toBeDefined();
  return frameworksOf(manifest!, text);
};

describe('languages by path', () => {
  it('by exact file name, else by the longest extension in any case', async () => {
    const languages = await loadLanguages();
    const of = (path: string) => languages.of(path);
    expect(of('src/app.ts')).toBe('TypeScript');
    expect(of('web/App.tsx')).toBe('TSX');
    expect(of('lib/index.JS')).toBe('JavaScript');
    expect(of('main.go')).toBe('Go');
    expect(of('Dockerfile')).toBe('Dockerfile');
    expect(of('deploy/Makefile')).toBe('Makefile');
    expect(of('Gemfile')).toBe('Ruby');
    expect(of('.bashrc')).toBe('Shell');
    expect(of('resources/views/home.blade.php')).toBe('Blade');
    expect(of('style.css')).toBe('CSS');
    expect(of('App.vue')).toBe('Vue');
  });

  it('reads an extension several languages claim as most projects mean it', async () => {
    const languages = await loadLanguages();
    expect(languages.of('src/lib.rs')).toBe('Rust'); // not RenderScript, nor XML
    expect(languages.of('include/util.h')).toBe('C');
    expect(languages.of('script.pl')).toBe('Perl');
    expect(languages.of('View.m')).toBe('Objective-C');
    expect(languages.of('index.html')).toBe('HTML');
    // Every common reading is a language of the table that claims that extension.
    for (const [extension, name] of Object.entries(COMMON)) {
      expect(languages.find(name)?.name, extension).toBe(name);
    }
  });

  it('counts only programming and markup languages; no extension, no language', async () => {
    const languages = await loadLanguages();
    expect(languages.of('README.md')).toBeNull(); // Markdown is prose, not GCC Machine Description
    expect(languages.of('package.json')).toBeNull(); // JSON is data
    expect(languages.of('config.yaml')).toBeNull();
    expect(languages.of('go.mod')).toBeNull(); // Go Module is data
    expect(languages.of('bin/run')).toBeNull();
    expect(languages.of('LICENSE')).toBeNull();
    expect(languages.of('archive.tar.gz')).toBeNull();
  });

  it('finds a language by name or alias in any case, saying whether it counts', async () => {
    const languages = await loadLanguages();
    expect(languages.find('typescript')).toEqual({ name: 'TypeScript', counted: true });
    expect(languages.find(' Golang ')).toEqual({ name: 'Go', counted: true });
    expect(languages.find('cpp')).toEqual({ name: 'C++', counted: true });
    expect(languages.find('json')).toEqual({ name: 'JSON', counted: false });
    expect(languages.find('markdown')).toEqual({ name: 'Markdown', counted: false });
    expect(languages.find('klingon')).toBeUndefined();
  });
});

describe('frameworks from manifests', () => {
  it('package.json: every kind of dependency', () => {
    const text = JSON.stringify({
      dependencies: { react: '^19', next: '15', lodash: '4' },
      devDependencies: { '@nestjs/core': '10' },
      peerDependencies: { vue: '3' },
    });
    expect(frameworks('web/package.json', text)).toEqual(['nestjs', 'next.js', 'react', 'vue']);
    expect(frameworks('package.json', '{"name": "x"}')).toEqual([]);
  });

  it('Python: requirements files, pyproject.toml (PEP 621 and Poetry) and Pipfile', () => {
    const requirements =
      '# web\nDjango[argon2]>=4.2  # LTS\n-r base.txt\n--index-url https://x\nrequests==2\n';
    expect(frameworks('requirements.txt', requirements)).toEqual(['django']);
    expect(frameworks('requirements-dev.txt', 'Flask\n')).toEqual(['flask']);
    expect(frameworks('api/requirements/base.txt', 'fastapi==0.110\n')).toEqual(['fastapi']);
    const pep621 = '[project]\nname = "api"\ndependencies = ["FastAPI>=0.100", "uvicorn"]\n';
    expect(frameworks('pyproject.toml', pep621)).toEqual(['fastapi']);
    const poetry =
      '[tool.poetry.dependencies]\npython = "^3.12"\nflask = "^3"\n[tool.poetry.group.dev.dependencies]\nstreamlit = "*"\n';
    expect(frameworks('pyproject.toml', poetry)).toEqual(['flask', 'streamlit']);
    expect(frameworks('Pipfile', '[packages]\ndjango = "*"\n')).toEqual(['django']);
  });

  it('go.mod: required modules, alone or in a block, without their major version', () => {
    const text = [
      'module example.com/api',
      '',
      'go 1.22',
      '',
      'require github.com/gin-gonic/gin v1.10.0',
      'require (',
      '\tgithub.com/labstack/echo/v4 v4.12.0 // indirect',
      '\tgolang.org/x/net v0.25.0',
      ')',
    ].join('\n');
    expect(frameworks('go.mod', text)).toEqual(['echo', 'gin']);
  });

  it('Cargo.toml, pom.xml (comments aside) and Gradle builds', () => {
    const cargo =
      '[package]\nname = "svc"\n[dependencies]\naxum = { version = "0.7" }\nserde = "1"\n[target.\'cfg(unix)\'.dependencies]\nactix-web = "4"\n';
    expect(frameworks('Cargo.toml', cargo)).toEqual(['actix-web', 'axum']);
    const pom = `<project>
      <parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId></parent>
      <!-- <dependency><groupId>io.quarkus</groupId></dependency> -->
      <dependencies><dependency><groupId>io.micronaut.data</groupId></dependency></dependencies>
    </project>`;
    expect(frameworks('service/pom.xml', pom)).toEqual(['micronaut', 'spring-boot']);
    const gradle =
      'plugins {\n  id("org.springframework.boot") version "3.3.0"\n}\ndependencies {\n  implementation("io.ktor:ktor-server-core:2.3.0")\n}\n';
    expect(frameworks('build.gradle.kts', gradle)).toEqual(['ktor', 'spring-boot']);
  });

  it('Gemfile, composer.json and mix.exs', () => {
    expect(
      frameworks('Gemfile', "source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\ngem \"pg\"\n"),
    ).toEqual(['rails']);
    const composer = JSON.stringify({ require: { 'laravel/framework': '^11' }, 'require-dev': {} });
    expect(frameworks('composer.json', composer)).toEqual(['laravel']);
    expect(frameworks('mix.exs', 'defp deps do\n  [{:phoenix, "~> 1.7"}, {:ecto, "~> 3.0"}]\nend\n')).toEqual(
      ['phoenix'],
    );
  });

  it('a manifest that does not parse, or names odd dependencies, names no framework', () => {
    expect(frameworks('package.json', '{"dependencies": {"react": ')).toEqual([]);
    expect(frameworks('Cargo.toml', '[dependencies\naxum = 1')).toEqual([]);
    expect(frameworks('package.json', '{"dependencies": {"constructor": "1", "__proto__": "2"}}')).toEqual(
      [],
    );
  });

  it('knows manifests by their exact names, and names frameworks in lowercase without commas', () => {
    expect(manifestOf('src/package.json.bak')).toBeUndefined();
    expect(manifestOf('docs/requirements.md')).toBeUndefined();
    expect(manifestOf('cargo.toml')).toBeUndefined();
    for (const name of FRAMEWORKS) expect(name).toMatch(/^[a-z0-9.-]+$/);
  });
});
