/**
 * No function's bundle reaches the gRPC Pub/Sub client (@google-cloud/pubsub, google-gax): events and dead letters go
 * over Pub/Sub's REST API, and loading the client cost ~300 ms of every publishing function's cold start (issue 13,
 * README's figures). The client stays for the CLI's infra commands, npm start's emulator wiring and the tests.
 */
import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const functions = readdirSync(join(ROOT, 'functions')).filter(
  (name) => name !== 'local' && existsSync(join(ROOT, 'functions', name, 'index.ts')),
);

describe('function bundles', () => {
  it('finds the functions', () => expect(functions.length).toBeGreaterThanOrEqual(5));
  it.each(functions)('%s imports neither @google-cloud/pubsub nor google-gax, even lazily', async (name) => {
    // as build.mjs bundles a function: npm packages in, these few left outside (where an import would show)
    const result = await build({
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      splitting: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      outdir: join(ROOT, '.tmp', 'bundle-check'),
      external: ['@google-cloud/functions-framework', '@google-cloud/pubsub', 'google-gax', 'pg-native'],
      entryPoints: { index: join(ROOT, 'functions', name, 'index.ts') },
    });
    const imported = Object.values(result.metafile.outputs).flatMap((o) =>
      o.imports.filter((i) => i.external).map((i) => i.path),
    );
    expect(imported.filter((p) => /^(@google-cloud\/pubsub|google-gax)(\/|$)/.test(p))).toEqual([]);
  });
});
