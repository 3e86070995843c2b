/** Flag parsers shared by the CLI commands (bucket, env, database URL, numbers, lists). */
import { InvalidArgumentError, type Command } from 'commander';
import { EnvSchema, DatabaseUrl } from '../config/schema';
import { UsageError } from '../errors';
import { TableName } from '../pg/ident';

/** A flag checked as strictly as the environment variable it overrides (bad values: exit 2 with the reason). */
function checkedBy(schema: typeof EnvSchema.shape.OPS_ENV | typeof EnvSchema.shape.BACKUP_BUCKET) {
  return (value: string): string => {
    const result = schema.safeParse(value);
    if (!result.success) throw new InvalidArgumentError(result.error.issues.map((i) => i.message).join('; '));
    return value;
  };
}

/** `--bucket URL` and `--env NAME`, shared by every command that works on the bucket. */
export function withStoreOptions(command: Command): Command {
  return command
    .option(
      '--bucket <url>',
      'bucket URL: gs://bucket[/prefix] or file://path (default: BACKUP_BUCKET)',
      checkedBy(EnvSchema.shape.BACKUP_BUCKET),
    )
    .option('--env <name>', 'environment name (default: OPS_ENV)', checkedBy(EnvSchema.shape.OPS_ENV));
}

/** Option value parsers: bad values become commander errors (exit 2 with the reason). */
export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

export function nonNegativeNumber(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('must be a non-negative number');
  return Number(value);
}

export function commaList(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('must be a comma-separated list');
  return items;
}

/** A parser for a comma-separated list of `schema.table` names, each checked like the configuration's. */
export function tableList(flag: string): (value: string) => string[] {
  return (value) => {
    const items = commaList(value);
    for (const item of items) {
      if (!TableName.safeParse(item).success)
        throw new UsageError(`${flag}: ${JSON.stringify(item)} must be schema.table`);
    }
    return items;
  };
}

/**
 * A parser for a flag holding a database URL (`--database-url`, `--restore-into`): the same rule as DATABASE_URL.
 * A UsageError (not commander's InvalidArgumentError, whose message would quote the URL and its password).
 */
export function databaseUrlFlag(flag: string): (value: string) => string {
  return (value) => {
    const result = DatabaseUrl.safeParse(value);
    if (!result.success) throw new UsageError(`${flag}: ${result.error.issues.map((i) => i.message).join('; ')}`);
    return value;
  };
}
