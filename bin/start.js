#!/usr/bin/env node
// `npm start`: every function in one process on embedded defaults (see functions/local).
import { register } from 'tsx/esm/api';

register();
const { startLocal } = await import('../functions/local/start.ts');
await startLocal();
