/** Names of database objects: quoting for SQL text, and the `schema.table` form used in configuration and flags. */
import { z } from 'zod';

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"` with embedded quotes doubled. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** A table named `schema.table`. */
export const TableName = z.string().regex(/^[^.]+\.[^.]+$/, 'must be schema.table');
