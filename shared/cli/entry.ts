// Entry of the bundled CLI (dist/cli/mt-ops.js, what `npx mt-ops` runs); bin/mt-ops.js runs the same main from source.
import { VERSION } from '../version';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // The one answer that needs none of the commands: printed before the rest of the CLI is even loaded.
  process.stdout.write(`${VERSION}\n`);
} else {
  const { main, exitWhenDone } = await import('./main');
  exitWhenDone(await main(process.argv));
}
