import { main } from './main';

// Entry of the bundled CLI (dist/cli/mt-ops.js); bin/mt-ops.js runs the same main from source.
await main(process.argv);
