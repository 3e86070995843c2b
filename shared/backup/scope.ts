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

/** Where a scope's lists came from, for error paths: `body.schemas`, `--schemas`, `backup.schemas` (the operator file). */
export interface ScopeFields {
  schemas: string;
  excludeTables: string;
}

export const DEFAULT_SCOPE_FIELDS: ScopeFields = { schemas: 'schemas', excludeTables: 'excludeTables' };

/**
 * The names a scope gives, checked against the database: a schema that does not exist is bad input (an error,
 * with its field path); an excluded table that does not exist is a warning (it excludes nothing).
 */
export function checkScopeNames(
  scope: Scope,
  existing: { schemas: ReadonlySet<string>; tables: ReadonlySet<string> },
  fields: ScopeFields = DEFAULT_SCOPE_FIELDS,
): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  (scope.schemas ?? []).forEach((schema, i) => {
    if (!existing.schemas.has(schema)) errors.push(`${fields.schemas}[${i}]: schema ${JSON.stringify(schema)} does not exist in the database`);
  });
  scope.excludeTables.forEach((table, i) => {
    if (!existing.tables.has(table)) warnings.push(`${fields.excludeTables}[${i}]: table ${table} does not exist in the database; it excludes nothing`);
  });
  return { errors, warnings };
}
