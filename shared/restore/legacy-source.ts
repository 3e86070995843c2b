/**
 * A legacy JSON file (database_backup_*.json[.gz]) as a restore source: scanned whole before any change (its tables,
 * row counts and keys), its `auth_users` pseudo-table mapped onto auth.users with --include-auth, and staged inside
 * the restore transaction, then loaded table by table in foreign-key order (legacy-reader.ts does the parsing).
 */
import { count } from '../format';
import type { Readable } from 'node:stream';
import type { RestoreSource } from './source';
import {
  AUTH_USERS,
  legacyLoader,
  legacySourceTables,
  scanLegacy,
  stageLegacy,
  type LegacyInput,
} from './legacy-reader';

export interface LegacySourceOptions {
  /** A local file, or with `open`, the key of an object in the bucket (read as a stream). */
  path: string;
  open?: () => Promise<Readable>;
  /** Restore auth_users into the auth.users columns that exist (skipped otherwise, and the plan says so). */
  includeAuth?: boolean;
}

export function legacySource(options: LegacySourceOptions): RestoreSource {
  const input: LegacyInput = options.open ? { name: options.path, open: options.open } : options.path;
  const includeAuth = Boolean(options.includeAuth);
  return {
    async inspect(target) {
      const scan = await scanLegacy(input);
      const notes: string[] = [];
      const problems: string[] = [];
      const auth = scan.tables.find((t) => t.name === AUTH_USERS);
      const authColumns =
        target.tables
          .get('auth.users')
          ?.columns.filter((c) => !c.generated)
          .map((c) => c.name) ?? [];
      if (auth && !includeAuth)
        notes.push(
          `auth_users: ${count(auth.rows, 'row')} skipped (pass --include-auth to restore them into auth.users)`,
        );
      if (auth && includeAuth) {
        const dropped = auth.keys.filter((k) => !authColumns.includes(k));
        if (!target.tables.has('auth.users'))
          problems.push('auth_users: --include-auth, but the target has no auth.users table');
        else if (dropped.length > 0)
          notes.push(`auth_users: keys with no auth.users column, not restored: ${dropped.join(', ')}`);
      }
      notes.push('legacy format: it records no sequence values, so sequences are set from max(id) of their columns');
      const createdAt = scan.info.created_at;
      return {
        description: { kind: 'legacy', path: options.path, ...(typeof createdAt === 'string' ? { createdAt } : {}) },
        tables: legacySourceTables(scan, { includeAuth, authColumns }),
        sequenceValues: 'max-id',
        sequences: [],
        problems,
        notes,
      };
    },
    storedBytes: () => 0,
    loader() {
      const staged = new Map<string, string>();
      return {
        // the file's table order is not foreign-key order: every restored table is staged first, in one pass
        prepare: async (client, tables) => {
          for (const [k, v] of await stageLegacy(client, input, new Set(tables.map((t) => t.key)))) staged.set(k, v);
        },
        load: legacyLoader(staged),
      };
    },
  };
}
