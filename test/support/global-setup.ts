/** Vitest global setup: one PostgreSQL server for the whole run. */
import type { TestProject } from 'vitest/node';
import { startPostgresServer } from './postgres-server';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgBinDir: string;
  }
}

/** Finds (or starts) one PostgreSQL server for the whole run; each test file makes its own database on it. */
export default async function setup(project: TestProject) {
  const server = await startPostgresServer();
  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgBinDir', server.binDir ?? '');
  return async () => {
    await server.stop();
  };
}
