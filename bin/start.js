#!/usr/bin/env node
// `npm start`: exactly `mt-ops serve` (functions/local), run from the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../shared/cli/main.ts');
await main([process.argv[0], 'mt-ops', 'serve', ...process.argv.slice(2)]);
