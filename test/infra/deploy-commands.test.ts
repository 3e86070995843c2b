// `mt-ops infra deploy-commands` as golden output (test/fixtures/infra/deploy-commands.golden.sh, from a frozen copy
// of infra/ in test/fixtures/infra/topology/, so that adding a function to infra/ does not break it; after a
// deliberate change to the generator, regenerate with UPDATE_GOLDEN=1 and read the diff), its order and
// idempotence (for the real infra/ too), and cloudbuild.yaml.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { build } from 'esbuild';
import { loadTopology, type TopologyPaths } from '../../shared/infra/topology';
import { BUILD_OWNED, buildOwnedClash, bundledConfigName, deployCommands } from '../../shared/infra/deploy';
import { runCli } from '../support/cli';
import { tempDir } from '../support/temp';
import { loadConfig } from '../../shared/config/load';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../fixtures/infra/deploy-commands.golden.sh', import.meta.url));
const target = { project: 'mt-prod-123', region: 'us-east1' };
const FROZEN = fileURLToPath(new URL('../fixtures/infra/topology', import.meta.url));
const frozen: TopologyPaths = Object.fromEntries(
  ['functions', 'topics', 'schedules', 'project'].map((n) => [n, `${FROZEN}/${n}.yaml`]),
);

describe('infra deploy-commands', () => {
  const script = deployCommands(loadTopology(), target);
  const golden = deployCommands(loadTopology(frozen), target);
  const lines = script.split('\n').filter((l) => l.startsWith('gcloud') || l.includes('|| gcloud'));

  it('prints the golden commands (the real CLI)', async () => {
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(GOLDEN)) writeFileSync(GOLDEN, golden);
    expect(golden).toBe(readFileSync(GOLDEN, 'utf8'));
    const cli = await runCli([
      'infra',
      'deploy-commands',
      '--project',
      target.project,
      '--region',
      target.region,
      '--infra',
      FROZEN,
    ]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe(golden);
  });

  it('is a valid bash script', () => {
    execFileSync('bash', ['-n'], { input: script });
  });

  it('is in dependency order: accounts, bucket, topics, secrets, then the functions that use them', () => {
    const first = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const last = (re: RegExp) => lines.length - 1 - [...lines].reverse().findIndex((l) => re.test(l));
    expect(last(/service-accounts create/)).toBeLessThan(first(/buckets add-iam-policy-binding/));
    expect(last(/buckets create/)).toBeLessThan(first(/buckets add-iam-policy-binding/));
    expect(last(/topics create/)).toBeLessThan(first(/topics add-iam-policy-binding/));
    expect(last(/secrets add-iam-policy-binding/)).toBeLessThan(first(/functions deploy/));
    expect(last(/roles create/)).toBeLessThan(first(/mtOpsObjectDeleter$/));
  });

  it('is idempotent: every create is guarded by a describe; the rest are deploys, updates and bindings', () => {
    for (const line of lines) {
      if (/ create /.test(line)) expect(line, line).toMatch(/ describe .* >\/dev\/null 2>&1 \|\| gcloud .* create /);
      else
        expect(line, line).toMatch(
          /^gcloud (services enable|functions deploy|functions add-invoker-policy-binding|storage buckets update|\S+ (\S+ )?add-iam-policy-binding|projects add-iam-policy-binding|run jobs)/,
        );
    }
  });

  it('no function allows unauthenticated calls; each runs as its own account with its time limit', () => {
    const deploys = lines.filter((l) => l.startsWith('gcloud functions deploy'));
    expect(deploys).toHaveLength(loadTopology().deployed.length);
    for (const d of deploys) {
      expect(d).toContain('--no-allow-unauthenticated');
      expect(d).toContain('--runtime=nodejs20');
      expect(d).toMatch(/--service-account=mt-ops-[a-z]+@mt-prod-123\.iam\.gserviceaccount\.com/);
      expect(d).toMatch(/MT_OPS_TIME_LIMIT_SECONDS=(\d+)/);
      expect(d.match(/--timeout=(\d+)s/)![1]).toBe(d.match(/MT_OPS_TIME_LIMIT_SECONDS=(\d+)/)![1]);
    }
    expect(script).not.toMatch(/allUsers|allAuthenticatedUsers|--allow-unauthenticated/);
    // backup is never granted a role that deletes on the whole bucket
    const backupBucket = lines.filter(
      (l) => l.includes('buckets add-iam-policy-binding') && l.includes('mt-ops-backup@') && !l.includes('--condition'),
    );
    expect(backupBucket.map((l) => l.match(/--role=(\S+)/)![1])).toEqual([
      'roles/storage.objectViewer',
      'roles/storage.objectCreator',
    ]);
  });

  it('fanout and probe may list and touch their own state prefixes and nothing else of the bucket', () => {
    // A list request's resource is the bucket: only the objectListPrefix attribute (the request's prefix) grants it.
    const conditions = (account: string) =>
      lines
        .filter((l) => l.includes('buckets add-iam-policy-binding') && l.includes(`${account}@`))
        .map((l) => {
          const m = /--condition=\^;\^expression=(.*);title=/.exec(l);
          return m ? m[1]! : `unconditional ${l.match(/--role=(\S+)/)![1]}`;
        });
    const fanout = loadTopology().functions.find((f) => f.name === 'fanout')!;
    expect(conditions('mt-ops-fanout')).toEqual(
      fanout.bucketPaths.map(
        (path) =>
          `resource.name.startsWith("projects/_/buckets/mt-prod-123-mt-ops-backups/objects/prod/${path}") || ` +
          `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("prod/${path}")`,
      ),
    );
    const probe = conditions('mt-ops-probe');
    expect(probe).toContain(
      'resource.name.startsWith("projects/_/buckets/mt-prod-123-mt-ops-backups/objects/prod/.state/probes/") || ' +
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("prod/.state/probes/")',
    );
    // every prefix binding's list half names the same prefix as its object half (a trailing slash: no sibling prefix)
    for (const c of [...probe, ...conditions('mt-ops-fanout')].filter((c) => c.includes('objectListPrefix'))) {
      const [, objects] = /objects\/([^"]+)"/.exec(c)!;
      const [, listed] = /startsWith\("([^"]+)"\)$/.exec(c)!;
      expect(listed).toBe(objects);
      expect(listed).toMatch(/\/$/);
    }
  });

  it('emits the Cloud Run job for a function whose topology asks for one', () => {
    const t = loadTopology();
    const backup = t.functions.find((f) => f.name === 'backup')!;
    backup.cloudRunJob = { ...backup.cloudRunJob!, enabled: true };
    const out = deployCommands(t, target);
    expect(out).toMatch(
      /gcloud run jobs deploy mt-ops-backup-job --project=mt-prod-123 --region=us-east1 --source=\. --command=node --args=dist\/cli\/mt-ops\.js,backup,--no-progress .*--task-timeout=86400s .*MT_OPS_TIME_LIMIT_SECONDS=86400/,
    );
    expect(out).toMatch(/gcloud run jobs add-iam-policy-binding mt-ops-backup-job .* --role=roles\/run\.invoker/);
    expect(script).not.toContain('run jobs deploy');
  });

  it("every deployment gets the heap's ceiling for its memory; an operator's NODE_OPTIONS are kept, one argument", () => {
    const t = loadTopology();
    const backup = t.functions.find((f) => f.name === 'backup')!;
    backup.cloudRunJob = { ...backup.cloudRunJob!, enabled: true, memory: '4Gi' };
    const probe = t.functions.find((f) => f.name === 'probe')!;
    probe.env = { ...probe.env, NODE_OPTIONS: '--enable-source-maps --trace-warnings' };
    const fanout = t.functions.find((f) => f.name === 'fanout')!;
    fanout.env = { ...fanout.env, NODE_OPTIONS: '--max-old-space-size=200' };
    fanout.memory = '1Gi';
    const deploys = deployCommands(t, target)
      .split('\n')
      .filter((l) => /^gcloud (functions|run jobs) deploy /.test(l));
    // each line's arguments as bash splits them
    const argsOf = (line: string) =>
      execFileSync('bash', ['-c', `gcloud() { printf '%s\\0' "$@"; }; ${line}`], { encoding: 'utf8' })
        .split('\0')
        .filter(Boolean);
    const nodeOptionsOf = (line: string) => {
      const flag = argsOf(line).find((a) => a.startsWith('--set-env-vars='))!;
      const body = flag.slice('--set-env-vars='.length);
      const pairs = body.startsWith('^|^') ? body.slice(3).split('|') : body.split(',');
      return pairs.find((p) => p.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length);
    };
    expect(deploys.length).toBeGreaterThan(3);
    for (const d of deploys) {
      const name = d.match(/ deploy (\S+)/)![1]!;
      const expected = name.startsWith('mt-ops-probe-')
        ? '--max-old-space-size=384 --enable-source-maps --trace-warnings'
        : /^mt-ops-(fanout|digest|sweep)-/.test(name)
          ? '--max-old-space-size=200'
          : name === 'mt-ops-backup-job'
            ? '--max-old-space-size=3072'
            : `--max-old-space-size=${{ '--memory=256Mi': 192, '--memory=512Mi': 384, '--memory=1Gi': 768, '--memory=2Gi': 1536 }[d.match(/--memory=\S+/)![0]]}`;
      expect(nodeOptionsOf(d), name).toBe(expected);
    }
    expect(deploys.some((d) => d.startsWith('gcloud run jobs deploy mt-ops-backup-job'))).toBe(true);
  });

  it('the status function alone becomes public, and only when the operator file says status.public', () => {
    expect(script).not.toContain('allUsers');
    const open = deployCommands(loadTopology(), { ...target, publicStatus: true });
    const publicLines = open.split('\n').filter((l) => l.includes('allUsers'));
    expect(publicLines).toEqual([
      'gcloud functions add-invoker-policy-binding mt-ops-status-http --project=mt-prod-123 --region=us-east1 --member=allUsers',
    ]);
  });

  it('bad flags are exit 2 with one line', async () => {
    const cli = await runCli(['infra', 'deploy-commands', '--project', 'Bad_Project', '--region', 'us-east1']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/--project.*must be a project id/);
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('infra deploy-commands and the operator file', () => {
  const args = ['infra', 'deploy-commands', '--project', target.project, '--region', target.region, '--infra', FROZEN];
  const functions = [...new Set(loadTopology(frozen).deployed.map((d) => d.function))];

  it('deploys the operator file the CLI resolves (./ops.config.json): copied into each source folder, OPS_CONFIG set', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'ops.config.json'), '{"retention":{"minKeep":5}}');
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`# Operator file deployed: ${join(cwd, 'ops.config.json')} `);
    const lines = cli.stdout.split('\n');
    for (const fn of functions) {
      const copy = lines.indexOf(`cp ${join(cwd, 'ops.config.json')} dist/${fn}/ops.config.json`);
      const deploy = lines.findIndex(
        (l) => l.startsWith('gcloud functions deploy') && l.includes(`--source=dist/${fn} `),
      );
      expect(copy, fn).toBeGreaterThan(-1);
      expect(copy, fn).toBeLessThan(deploy);
    }
    for (const d of lines.filter((l) => l.startsWith('gcloud functions deploy')))
      expect(d).toMatch(/--set-env-vars=\S*OPS_CONFIG=ops\.config\.json/);

    // the copies, made as the script makes them, are what a bundle reads (OPS_CONFIG relative to the bundle)
    const root = tempDir();
    for (const fn of functions) mkdirSync(join(root, 'dist', fn), { recursive: true });
    execFileSync('bash', ['-euc', lines.filter((l) => /^(rm|cp) /.test(l)).join('\n')], { cwd: root });
    for (const fn of functions) {
      const bundle = pathToFileURL(join(root, 'dist', fn, 'index.js'));
      const config = loadConfig({ OPS_CONFIG: 'ops.config.json' }, { besideModule: bundle });
      expect(config.filePath).toBe(join(root, 'dist', fn, 'ops.config.json'));
      expect(config.file.retention.minKeep).toBe(5);
    }
  });

  it('OPS_CONFIG names the file; the Cloud Run job gets it beside the CLI bundle', async () => {
    const dir = tempDir();
    const file = join(dir, 'operator.yaml');
    writeFileSync(file, 'retention:\n  minKeep: 5\n');
    const t = loadTopology(frozen);
    const backup = t.functions.find((f) => f.name === 'backup')!;
    backup.cloudRunJob = { ...backup.cloudRunJob!, enabled: true };
    const out = deployCommands(t, { ...target, opsConfig: file });
    expect(out).toContain(`cp ${file} dist/cli/ops.config.yaml`);
    expect(out).toMatch(/gcloud run jobs deploy mt-ops-backup-job .*OPS_CONFIG=dist\/cli\/ops\.config\.yaml/);
    const cli = await runCli(args, { env: { OPS_CONFIG: file } });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`cp ${file} dist/probe/ops.config.yaml`);
  });

  it('without an operator file the header says the defaults are deployed, and no stale copy is left', () => {
    const golden = deployCommands(loadTopology(frozen), target);
    expect(golden).toMatch(/^# No operator file: the defaults are deployed/m);
    expect(golden).not.toContain('OPS_CONFIG');
    expect(golden).toContain('rm -f dist/probe/ops.config dist/probe/ops.config.json');
  });

  it('a bad operator file: one line with the field path, exit 2, no commands', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'ops.config.json'), '{"retention":{"minKeep":"five"}}');
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/retention\.minKeep/);
  });

  it('refuses a probe naming a ${VAR} the probe function is not given (it would refuse to start)', async () => {
    const cwd = tempDir();
    const file = {
      probes: [
        { name: 'db', kind: 'postgres', url: '${DATABASE_URL}' },
        { name: 'api', url: 'https://x.example/health', headers: { Authorization: 'Bearer ${MT_NOT_DEPLOYED}' } },
      ],
    };
    writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify(file));
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined, MT_NOT_DEPLOYED: 'set-here-only' } });
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toContain(
      'probes.targets[1].headers.Authorization: names ${MT_NOT_DEPLOYED}, which the probe function is not given',
    );
    expect(cli.stderr).not.toContain('DATABASE_URL');
  });

  it("copies each probe's CA file beside every copy of the operator file, at the same relative path", async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'certs', 'inner'), { recursive: true });
    writeFileSync(join(cwd, 'ca.pem'), 'PEM-TOP\n');
    writeFileSync(join(cwd, 'certs', 'inner', 'root.pem'), 'PEM-INNER\n');
    const probe = (name: string, caFile: string) => ({ name, url: `https://${name}.example/health`, tls: { caFile } });
    // the same file named twice (one path not normalised) is copied once
    const probes = [probe('a', 'certs/inner/root.pem'), probe('b', './ca.pem'), probe('c', 'certs/../ca.pem')];
    writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify({ probes }));
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const lines = cli.stdout.split('\n');
    for (const fn of functions) {
      const at = (line: string) => lines.indexOf(line);
      const copied = at(`cp ${join(cwd, 'ops.config.json')} dist/${fn}/ops.config.json`);
      const deploy = lines.findIndex(
        (l) => l.startsWith('gcloud functions deploy') && l.includes(`--source=dist/${fn} `),
      );
      // after the operator file's copy, before the folder is deployed, sorted; the sub-folder made first
      expect(lines.slice(copied + 1, copied + 4), fn).toEqual([
        `cp ${join(cwd, 'ca.pem')} dist/${fn}/ca.pem`,
        `mkdir -p dist/${fn}/certs/inner`,
        `cp ${join(cwd, 'certs', 'inner', 'root.pem')} dist/${fn}/certs/inner/root.pem`,
      ]);
      expect(copied + 3, fn).toBeLessThan(deploy);
    }
    expect(lines.filter((l) => l.startsWith('cp ') && l.endsWith('/ca.pem'))).toHaveLength(functions.length);
    expect(cli.stdout).not.toContain('PEM-');

    // run as the script runs them (twice: safe to run again), the copies are what each bundle loads and resolves
    const root = tempDir();
    for (const fn of functions) mkdirSync(join(root, 'dist', fn), { recursive: true });
    const placing = lines.filter((l) => /^(rm|cp|mkdir) /.test(l)).join('\n');
    execFileSync('bash', ['-euc', `${placing}\n${placing}`], { cwd: root });
    for (const fn of functions) {
      const bundle = pathToFileURL(join(root, 'dist', fn, 'index.js'));
      const config = loadConfig({ OPS_CONFIG: 'ops.config.json' }, { besideModule: bundle });
      expect(config.filePath).toBe(join(root, 'dist', fn, 'ops.config.json'));
      const [a, b, c] = config.file.probes!.targets!.map((t) => t.tls!.caFile!);
      expect([a, b, c]).toEqual([
        join(root, 'dist', fn, 'certs', 'inner', 'root.pem'),
        join(root, 'dist', fn, 'ca.pem'),
        join(root, 'dist', fn, 'ca.pem'),
      ]);
      expect(readFileSync(a!, 'utf8')).toBe('PEM-INNER\n');
      expect(readFileSync(b!, 'utf8')).toBe('PEM-TOP\n');
    }
  });

  it("the Cloud Run job's CLI folder gets the CA files too; a path not normalised is refused by the generator", () => {
    const dir = tempDir();
    const file = join(dir, 'operator.yaml');
    const t = loadTopology(frozen);
    const backup = t.functions.find((f) => f.name === 'backup')!;
    backup.cloudRunJob = { ...backup.cloudRunJob!, enabled: true };
    const out = deployCommands(t, { ...target, opsConfig: file, caFiles: ['tls/ca.pem', 'tls/ca.pem'] });
    expect(out).toContain(
      [`cp ${file} dist/cli/ops.config.yaml`, 'mkdir -p dist/cli/tls', `cp ${dir}/tls/ca.pem dist/cli/tls/ca.pem`].join(
        '\n',
      ),
    );
    expect(out.split('\n').filter((l) => l === 'mkdir -p dist/cli/tls')).toHaveLength(1);
    // a name needing quotes is quoted
    expect(deployCommands(t, { ...target, opsConfig: file, caFiles: ["my ca's.pem"] })).toContain(
      `cp '${dir}/my ca'\\''s.pem' 'dist/probe/my ca'\\''s.pem'`,
    );
    // without an operator file there is nothing to copy beside
    expect(deployCommands(t, { ...target, caFiles: ['ca.pem'] })).not.toContain('ca.pem');
    for (const bad of ['/etc/ca.pem', '../ca.pem', './ca.pem'])
      expect(() => deployCommands(t, { ...target, opsConfig: file, caFiles: [bad] }), bad).toThrow(/caFile/);
  });

  it('refuses a CA file it cannot copy beside the operator file (absolute, or outside its folder): exit 2, field path', async () => {
    const parent = tempDir();
    const cwd = join(parent, 'ops');
    mkdirSync(join(cwd, 'certs'), { recursive: true });
    for (const f of [join(parent, 'outside.pem'), join(cwd, 'ca.pem'), join(cwd, 'certs', 'ca.pem')])
      writeFileSync(f, 'PEM-BODY\n');
    const refused = async (caFile: string) => {
      const probes = [
        { name: 'fine', url: 'https://a.example/', tls: { caFile: 'certs/ca.pem' } },
        { name: 'bad', url: 'https://b.example/', tls: { caFile } },
      ];
      writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify({ probes }));
      const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
      expect(cli.code, caFile).toBe(2);
      expect(cli.stdout, caFile).toBe('');
      expect(cli.stderr.trim().split('\n'), caFile).toHaveLength(1);
      expect(cli.stderr, caFile).toContain(
        `${join(cwd, 'ops.config.json')}: probes.targets[1].tls.caFile: give it relative to the operator file's folder, inside it (it is copied beside the operator file's copy)`,
      );
      expect(cli.stderr, caFile).not.toContain('probes.targets[0]');
      expect(cli.stderr, caFile).not.toContain('PEM-');
    };
    // each exists (loadConfig accepts it): only where it would be copied is wrong
    await refused(join(cwd, 'ca.pem'));
    await refused('../outside.pem');
    await refused('certs/../../outside.pem');
  });

  it('refuses a CA file that is missing (only commands that probe refuse it at load): exit 2, field path', async () => {
    const cwd = tempDir();
    const probes = [{ name: 'gone', url: 'https://a.example/', tls: { caFile: 'gone.pem' } }];
    writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify({ probes }));
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    expect(cli.code, cli.stderr).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toContain(`./ops.config.json: probes[0].tls.caFile: no such file: ${join(cwd, 'gone.pem')}`);
  });

  it('refuses a CA file whose copy would overwrite, or go under, a name the build puts in a deployed folder', () => {
    const file = join(tempDir(), 'ops.config.json');
    const t = loadTopology(frozen);
    const backup = t.functions.find((f) => f.name === 'backup')!;
    backup.cloudRunJob = { ...backup.cloudRunJob!, enabled: true };
    const deploy = (ca: string) => deployCommands(t, { ...target, opsConfig: file, caFiles: ['certs/ca.pem', ca] });
    // each class of name: the bundle and its map, package.json, the operator file's copies (this one's and the other
    // extensions'), esbuild's chunks and lazily imported modules, the CLI bundle of dist/cli/, the infra/ folder
    const clashes: [string, string][] = [
      ['index.js', 'would overwrite the file index.js '],
      ['index.js.map', 'would overwrite the file index.js.map '],
      ['package.json', 'would overwrite the file package.json '],
      [bundledConfigName(file), 'would overwrite the file ops.config.json '],
      ['ops.config.yml', 'would overwrite the file ops.config.yml '],
      ['ops.config', 'would overwrite the file ops.config '],
      ['chunk-CBQH4TIH.js', 'would overwrite the file chunk-CBQH4TIH.js '],
      ['gcs-store-Z3SBDVTL.js.map', 'would overwrite the file gcs-store-Z3SBDVTL.js.map '],
      ['mt-ops.js', 'would overwrite the file mt-ops.js '],
      ['mt-ops.js.map', 'would overwrite the file mt-ops.js.map '],
      ['infra', 'would overwrite the folder infra/ '],
      ['infra/functions.yaml', 'would be copied into the folder infra/ '],
      ['infra/ca.pem', 'would be copied into the folder infra/ '],
      ['index.js/ca.pem', 'would be copied under the file index.js '],
      ['package.json/certs/ca.pem', 'would be copied under the file package.json '],
    ];
    for (const [ca, clash] of clashes) {
      expect(() => deploy(ca), ca).toThrow(`caFile ${ca} ${clash}in each deployed source folder (`);
      expect(buildOwnedClash(ca), ca).toMatch(/\): give the CA file another path$/);
    }
    // ordinary paths, and names near the build's (another case: Linux is exact; deeper; another extension)
    for (const ca of [
      'ca.pem',
      'certs/ca.pem',
      'Index.js',
      'certs/index.js',
      'index.pem',
      'infra.pem',
      'chunk-ca.js',
    ]) {
      expect(buildOwnedClash(ca), ca).toBeUndefined();
      expect(deploy(ca), ca).toContain(`cp ${join(dirname(file), ca)} dist/probe/${ca}\n`);
    }
  });

  it('refuses such a CA file at the CLI: exit 2, one line naming the caFile and what it would overwrite', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'certs'), { recursive: true });
    mkdirSync(join(cwd, 'index.js'), { recursive: true });
    mkdirSync(join(cwd, 'infra'), { recursive: true });
    for (const f of ['ca.pem', 'certs/ca.pem', 'index.js/ca.pem', 'infra/functions.yaml', 'package.json'])
      writeFileSync(join(cwd, f), 'PEM-BODY\n');
    const fine = [
      { name: 'top', url: 'https://a.example/', tls: { caFile: 'ca.pem' } },
      { name: 'sub', url: 'https://b.example/', tls: { caFile: 'certs/ca.pem' } },
    ];
    const run = async (caFile?: string) => {
      const probes = caFile ? [...fine, { name: 'bad', url: 'https://c.example/', tls: { caFile } }] : fine;
      writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify({ probes }));
      return runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    };
    // ca.pem and certs/ca.pem alone are deployed
    const ok = await run();
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`cp ${join(cwd, 'ca.pem')} dist/probe/ca.pem\n`);
    expect(ok.stdout).toContain(`cp ${join(cwd, 'certs', 'ca.pem')} dist/probe/certs/ca.pem\n`);
    for (const [caFile, clash] of [
      ['package.json', 'package.json would overwrite the file package.json'],
      ['./index.js/ca.pem', 'index.js/ca.pem would be copied under the file index.js'],
      ['infra/functions.yaml', 'infra/functions.yaml would be copied into the folder infra/'],
      ['ops.config.json', 'ops.config.json would overwrite the file ops.config.json'],
    ]) {
      const cli = await run(caFile);
      expect(cli.code, caFile).toBe(2);
      expect(cli.stdout, caFile).toBe('');
      expect(cli.stderr.trim().split('\n'), caFile).toHaveLength(1);
      expect(cli.stderr, caFile).toContain(
        `${join(cwd, 'ops.config.json')}: probes.targets[2].tls.caFile: ${clash} in each deployed source folder (`,
      );
      expect(cli.stderr, caFile).not.toMatch(/probes\.targets\[[01]\]/);
      expect(cli.stderr, caFile).not.toContain('PEM-');
    }
  });

  it("the build's names the CA files are kept from are the ones build.mjs writes and esbuild gives", async () => {
    const owned = (name: string) =>
      BUILD_OWNED.some((o) => (typeof o.name === 'string' ? o.name === name : o.name.test(name)));
    const listed = BUILD_OWNED.flatMap((o) => (typeof o.name === 'string' ? [o.name] : [])).sort();
    const source = readFileSync(join(ROOT, 'build.mjs'), 'utf8');
    // what build.mjs writes by name into a deployed folder (outdir is dist/<function>/; dist/cli/ is named in full)
    const written = [
      ...source.matchAll(/join\(outdir, '([^']+)'/g),
      ...source.matchAll(/join\(root, 'dist', '[^']+', '([^']+)'/g),
    ].map((m) => m[1]!);
    expect(written).toEqual(expect.arrayContaining(['package.json', 'infra', 'mt-ops.js']));
    // the bundles: each entry point's .js, and its .map (sourcemap); chunks named as esbuild names them (nothing
    // renames them), which the in-memory build below shows
    const entries = [...source.matchAll(/entryPoints: \{ '?([\w-]+)'?:/g)].map((m) => m[1]!);
    expect(entries).toEqual(['index', 'mt-ops']);
    expect(source).toMatch(/sourcemap: true/);
    expect(source).not.toMatch(/chunkNames|entryNames|assetNames|outExtension|loader/);
    const bundles = entries.flatMap((e) => [`${e}.js`, `${e}.js.map`]);
    // the deploy's own: every name bundledConfigName gives the operator file's copy
    const copies = ['x', 'x.json', 'x.JSON', 'x.yaml', 'x.yml', 'x.YAML'].map(bundledConfigName);
    // the list is those and nothing else
    expect(listed).toEqual([...new Set([...written, ...bundles, ...copies])].sort());
    // a function built as build.mjs builds it (in memory): every file it writes is owned
    const result = await build({
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      sourcemap: true,
      splitting: true,
      write: false,
      logLevel: 'silent',
      outdir: join(ROOT, '.tmp', 'owned-check'),
      external: ['@google-cloud/functions-framework', '@google-cloud/pubsub', 'google-gax', 'pg-native'],
      entryPoints: { index: join(ROOT, 'functions', 'probe', 'index.ts') },
    });
    const names = result.outputFiles.map((f) => basename(f.path));
    expect(names.filter((n) => n !== 'index.js' && n !== 'index.js.map').length).toBeGreaterThan(2);
    for (const name of names) expect(owned(name), name).toBe(true);
  });

  it('refuses an operator file holding a secret written out (it is copied into every function)', async () => {
    const cwd = tempDir();
    const file = {
      probes: [
        { name: 'ok', url: 'https://x.example/health?token=${TOKEN}', headers: { Authorization: 'Bearer ${TOKEN}' } },
        { name: 'bad', url: 'https://x.example/health', headers: { Authorization: 'Bearer abcdefgh12345678' } },
      ],
    };
    writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify(file));
    const cli = await runCli(args, { cwd, env: { OPS_CONFIG: undefined } });
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/probes\.targets\[1\]\.headers\.Authorization \(a secret written out/);
    expect(cli.stderr).not.toContain('abcdefgh12345678');
  });
});

describe('cloudbuild.yaml', () => {
  const build = parse(readFileSync(fileURLToPath(new URL('../../cloudbuild.yaml', import.meta.url)), 'utf8')) as {
    steps: Array<{ id: string; args: string[] }>;
  };

  it('runs npm ci, typecheck, tests, bundles, the deploy commands, infra apply, then notifies, in that order', () => {
    expect(build.steps.map((s) => s.id)).toEqual([
      'postgres',
      'npm-ci',
      'typecheck',
      'tests',
      'bundles',
      'deploy-commands',
      'deploy',
      'infra-apply',
      'notify',
    ]);
    const notify = build.steps.at(-1)!.args.join(' ');
    expect(notify).toMatch(/--status failed --step/);
    expect(notify).toMatch(/--status succeeded/);
    // every working step records its failure instead of ending the build, so notify always runs
    for (const step of build.steps.slice(1, -1))
      expect(step.args.join(' '), step.id).toMatch(
        new RegExp(`\\[ -f \\.failed \\] \\|\\| .* \\|\\| echo ${step.id} > \\.failed`),
      );
  });
});
