// `mt-ops serve`: the local runtime (what `npm start` runs): every function of infra/ in one process; see functions/local/.
import type { Command } from 'commander';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'Run every function locally in one process (what `npm start` runs): HTTP functions under /<name> on HOST:PORT ' +
        '(127.0.0.1:8080) behind a bearer token (OPS_API_TOKEN, or one printed at start), GET /healthz open, the ' +
        'schedules of infra/ in-process; stops gracefully on SIGINT/SIGTERM',
    )
    .action(async () => {
      // Loaded only here: the functions and their framework are not what the other commands need.
      const { startLocal } = await import('../../../functions/local/start');
      await startLocal();
      // Runs until a signal stops it (the handler exits the process once the work is done).
      await new Promise<never>(() => {});
    });
}
