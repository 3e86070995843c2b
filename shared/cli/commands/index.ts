/** Registers every `mt-ops` subcommand. */
import type { Command } from 'commander';
import { registerConfigCommand } from './config';
import { registerBackupCommand } from './backup';
import { registerListCommand } from './list';
import { registerVerifyCommand } from './verify';
import { registerRestoreCommand } from './restore';
import { registerExportCommand } from './export';
import { registerCleanupCommand } from './cleanup';
import { registerProbeCommands } from './probe';
import { registerAlertsCommands } from './alerts';
import { registerInfraCommands } from './infra';
import { registerServeCommand } from './serve';

/** Every subcommand; each lives in its own file. */
export function registerCommands(program: Command): void {
  registerBackupCommand(program);
  registerListCommand(program);
  registerVerifyCommand(program);
  registerRestoreCommand(program);
  registerExportCommand(program);
  registerCleanupCommand(program);
  registerProbeCommands(program);
  registerAlertsCommands(program);
  registerInfraCommands(program);
  registerConfigCommand(program);
  registerServeCommand(program);
}
