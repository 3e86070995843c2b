// Builds one ESM bundle per function under dist/<name>/ (with a package.json that Cloud Functions installs from),
// plus the CLI at dist/cli/mt-ops.js. Our code is bundled; npm packages stay external and are installed on deploy.
import { build } from 'esbuild';
import {
  readdirSync,
  existsSync,
  mkdirSync,
  writeFileSync,
  readFileSync,
  rmSync,
  chmodSync,
  copyFileSync,
} from 'node:fs';
import { join } from 'node:path';

const root = new URL('.', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(join(root, 'dist'), { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
};

// A function bundles its npm packages too (one file to parse on a cold start, not hundreds to resolve and read), all
// but the functions-framework (the process's own copy registers the entry points), the Pub/Sub client (google-gax
// reads its .proto files from disk at run time) and pg's optional native binding.
const bundled = {
  packages: undefined,
  external: ['@google-cloud/functions-framework', '@google-cloud/pubsub', 'google-gax', 'pg-native'],
  banner: {
    js: "import { createRequire as __mtCreateRequire } from 'node:module';\nconst require = __mtCreateRequire(import.meta.url);",
  },
};

const functions = readdirSync(join(root, 'functions')).filter(
  (name) => name !== 'local' && existsSync(join(root, 'functions', name, 'index.ts')),
);
for (const name of functions) {
  const outdir = join(root, 'dist', name);
  mkdirSync(outdir, { recursive: true });
  // splitting: lazily imported modules (the GCS and Pub/Sub clients) stay in chunks loaded on first use
  const result = await build({
    ...common,
    ...bundled,
    splitting: true,
    entryPoints: { index: join(root, 'functions', name, 'index.ts') },
    outdir,
  });
  const used = new Set(
    Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)),
  );
  const dependencies = Object.fromEntries(
    Object.entries(pkg.dependencies).filter(([dep]) => [...used].some((u) => u === dep || u.startsWith(`${dep}/`))),
  );
  dependencies['@google-cloud/functions-framework'] = pkg.dependencies['@google-cloud/functions-framework'];
  writeFileSync(
    join(outdir, 'package.json'),
    JSON.stringify(
      {
        name: `mt-ops-${name}`,
        private: true,
        type: 'module',
        main: 'index.js',
        engines: { node: '>=20' },
        dependencies,
      },
      null,
      2,
    ),
  );
  // infra/ beside the bundle: a deployed function has only its own folder (--source=dist/<name>), and reads the
  // topology there (the fan-out's dead-letter topic, for one); see INFRA in shared/infra/schedules.ts
  mkdirSync(join(outdir, 'infra'));
  for (const file of readdirSync(join(root, 'infra')).filter((f) => f.endsWith('.yaml')))
    copyFileSync(join(root, 'infra', file), join(outdir, 'infra', file));
  console.log(`built dist/${name}/index.js`);
}
// The CLI bundles its npm packages too (all but the Google clients, loaded only for gs:// and Pub/Sub, and pg's
// optional native binding): one file to parse instead of hundreds to resolve and read, which halves its start-up.
await build({
  ...common,
  packages: undefined,
  external: ['@google-cloud/*', 'google-gax', 'pg-native'],
  splitting: true,
  entryPoints: { 'mt-ops': join(root, 'shared', 'cli', 'entry.ts') },
  outdir: join(root, 'dist', 'cli'),
  // CommonJS packages inside an ESM bundle still call require() for Node's built-ins
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __mtCreateRequire } from 'node:module';\nconst require = __mtCreateRequire(import.meta.url);",
  },
});
// `bin` points here: npm links it at install time, before `prepare` builds it, so it cannot set the mode itself.
chmodSync(join(root, 'dist', 'cli', 'mt-ops.js'), 0o755);
console.log('built dist/cli/mt-ops.js');
