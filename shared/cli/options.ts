import { InvalidArgumentError, type Command } from 'commander';
import { EnvSchema } from '../config/schema';

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
    .option('--bucket <url>', 'bucket URL: gs://bucket[/prefix] or file://path (default: BACKUP_BUCKET)', checkedBy(EnvSchema.shape.BACKUP_BUCKET))
    .option('--env <name>', 'environment name (default: OPS_ENV)', checkedBy(EnvSchema.shape.OPS_ENV));
}
