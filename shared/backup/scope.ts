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

/**
 * On Supabase, `auth.users` and `auth.identities` are the app's users (the legacy backups carried them as
 * `auth_users`): the default scope takes them, and leaves the rest of `auth` (sessions, refresh tokens, audit log,
 * schema migrations: Supabase's own bookkeeping) out.
 */
export const SUPABASE_USER_TABLES = ['auth.users', 'auth.identities'] as const;

export interface Scope {
  /** Explicit schemas; when set, exactly these (even Supabase-managed ones such as `auth`), plus the closure. */
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
  const key = `${schema}.${table}`;
  if (scope.excludeTables.includes(key)) return false;
  if (!scope.schemas?.length && (SUPABASE_USER_TABLES as readonly string[]).includes(key)) return true;
  return schemaInScope(schema, scope);
}

/** A foreign key between two tables that hold rows (partitions expanded to their leaves), as `schema.table`. */
export interface ScopeForeignKey {
  name: string;
  from: string;
  to: string;
  columns: string[];
}

/** A table outside the asked scope that the backup carries because a table in scope references it. */
export interface ScopeInclusion {
  table: string;
  referencedBy: string;
  constraint: string;
}

/**
 * The closure of a scope: every table a table in scope references, transitively, so that a restore of the backup
 * into a fresh copy of the schema can satisfy every foreign key. A referenced table the scope explicitly excludes,
 * or that cannot be backed up (it belongs to an extension), is an error naming the key.
 */
export function closeScope(
  inScope: ReadonlySet<string>,
  backupable: ReadonlySet<string>,
  foreignKeys: readonly ScopeForeignKey[],
  scope: Scope,
  fields: ScopeFields = DEFAULT_SCOPE_FIELDS,
): { tables: Set<string>; included: ScopeInclusion[]; errors: string[] } {
  const tables = new Set(inScope);
  const included: ScopeInclusion[] = [];
  const errors = new Set<string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const fk of foreignKeys) {
      if (!tables.has(fk.from) || tables.has(fk.to)) continue;
      const key = `foreign key ${fk.name} of ${fk.from} (${fk.columns.join(', ')})`;
      const excluded = scope.excludeTables.indexOf(fk.to);
      if (excluded >= 0) {
        errors.add(
          `${fields.excludeTables}[${excluded}]: ${fk.to} is referenced by ${key}; a restore of the backup could not satisfy that key: back ${fk.to} up too, or exclude ${fk.from} as well`,
        );
      } else if (!backupable.has(fk.to)) {
        errors.add(`${fk.to} is referenced by ${key} but cannot be backed up (it belongs to an extension)`);
      } else {
        tables.add(fk.to);
        included.push({ table: fk.to, referencedBy: fk.from, constraint: fk.name });
        grew = true;
      }
    }
  }
  return { tables, included, errors: [...errors] };
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
    if (!existing.schemas.has(schema))
      errors.push(`${fields.schemas}[${i}]: schema ${JSON.stringify(schema)} does not exist in the database`);
  });
  scope.excludeTables.forEach((table, i) => {
    if (!existing.tables.has(table))
      warnings.push(
        `${fields.excludeTables}[${i}]: table ${table} does not exist in the database; it excludes nothing`,
      );
  });
  return { errors, warnings };
}
