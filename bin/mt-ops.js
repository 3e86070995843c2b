#!/usr/bin/env node
// The mt-ops CLI, run from its TypeScript source through tsx's loader: works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main, exitWhenDone } = await import('../shared/cli/main.ts');
exitWhenDone(await main(process.argv));
