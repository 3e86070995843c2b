/**
 * The session settings under which COPY text is written (backup) and read back (restore). ONE list for both: the
 * restore drill compares content hashes of tables rendered as text, and a value written under one DateStyle,
 * IntervalStyle, TimeZone, float or bytea format and read under another would differ (or not load at all).
 * These are the output settings pg_dump uses.
 */
import type pg from 'pg';

export const COPY_TEXT_SETTINGS: ReadonlyArray<readonly [name: string, value: string]> = [
  ['client_encoding', "'UTF8'"],
  ['DateStyle', "'ISO, MDY'"],
  ['IntervalStyle', "'postgres'"],
  ['extra_float_digits', '3'],
  ['bytea_output', "'hex'"],
  ['TimeZone', "'UTC'"],
];

/** The SET statements; `local` (SET LOCAL) keeps them to the current transaction. */
export function copyTextSettingsSql(scope: 'session' | 'local'): string[] {
  return COPY_TEXT_SETTINGS.map(([name, value]) => `SET ${scope === 'local' ? 'LOCAL ' : ''}${name} = ${value}`);
}

export async function applyCopyTextSettings(client: pg.ClientBase, scope: 'session' | 'local'): Promise<void> {
  for (const sql of copyTextSettingsSql(scope)) await client.query(sql);
}
