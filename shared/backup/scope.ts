/** Which schemas and tables a backup covers. Pure: used by discovery and by tests. */

/** Schemas never backed up by default: PostgreSQL's own and the ones Supabase manages. */
export const EXCLUDED_SCHEMAS = [
  'pg_catalog',
  'information_schema',
  'auth',
  'storage',
  'realtime',
  '_realtime',
  'supabase_functions',
  'supabase_migrations',
  'extensions',
  'graphql',
  'graphql_public',
  'pgbouncer',
  'pgsodium',
  'pgsodium_masks',
  'vault',
  'net',
  'cron',
  '_analytics',
] as const;

export interface Scope {
  /** Explicit schemas; when set, exactly these (even Supabase-managed ones such as `auth`). */
  schemas?: string[];
  /** `schema.table` names left out. */
  excludeTables: string[];
}

export function schemaInScope(schema: string, scope: Scope): boolean {
  if (scope.schemas && scope.schemas.length > 0) return scope.schemas.includes(schema);
  if (schema.startsWith('pg_toast') || schema.startsWith('pg_temp')) return false;
  return !(EXCLUDED_SCHEMAS as readonly string[]).includes(schema);
}

export function tableInScope(schema: string, table: string, scope: Scope): boolean {
  return schemaInScope(schema, scope) && !scope.excludeTables.includes(`${schema}.${table}`);
}
