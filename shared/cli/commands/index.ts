import type { Command } from 'commander';
import { registerConfigCommand } from './config';

/** Every subcommand; each lives in its own file. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
}
