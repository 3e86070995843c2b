import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { tempDir } from '../support/temp';
import { entryPointMismatches, loadWiring } from '../../shared/infra/wiring';
import { INFRA, infraDir } from '../../shared/infra/schedules';
import { loadTopology } from '../../shared/infra/topology';
import { ENTRY_POINTS, registeredKinds, scheduleOverrides, wiring } from '../../functions/local/wiring';
import { UsageError } from '../../shared/errors';
import type { Runtime } from '../../shared/functions/runtime';

const dir = tempDir('mt-wiring-');
let n = 0;
function file(content: string): string {
  const path = join(dir, `file-${++n}.yaml`);
  writeFileSync(path, content);
  return path;
}
const noRuntime = (): Runtime => {
  throw new Error('not called while wiring');
};

describe('entry points: infra/ and the code agree', () => {
  it('every entry point declared in infra/ is registered, and every registered one is declared (same kind)', () => {
    expect(entryPointMismatches(loadWiring().entryPoints, registeredKinds())).toEqual([]);
  });

  it("each function's index.ts registers exactly the entry points infra/ gives that function", async () => {
    const { entryPoints } = loadWiring();
    const functions = [...new Set(entryPoints.map((ep) => ep.function))];
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      const declared = entryPoints
        .filter((ep) => ep.function === fn)
        .map((ep) => ep.name)
        .sort();
      const handlers = (await import(`../../functions/${fn}/handlers.ts`)) as { entryPoints: Record<string, unknown> };
      expect(Object.keys(handlers.entryPoints).sort(), fn).toEqual(declared);
      await import(`../../functions/${fn}/index.ts`);
      // the Functions Framework knows each one by name (getTestServer throws for an unregistered name)
      for (const name of declared) expect(() => getTestServer(name), name).not.toThrow();
    }
  });

  it('each function deploy-commands deploys names an entry point its bundle source exports, of the same kind', async () => {
    const { deployed } = loadTopology();
    expect(deployed.length).toBeGreaterThan(0);
    for (const d of deployed) {
      const handlers = (await import(`../../functions/${d.function}/handlers.ts`)) as {
        entryPoints: Record<string, { kind: string }>;
      };
      expect(
        handlers.entryPoints[d.entryPoint]?.kind,
        `${d.name} --entry-point=${d.entryPoint} (functions/${d.function})`,
      ).toBe(d.kind);
    }
    // and every exported entry point is deployed
    const exported = Object.keys(ENTRY_POINTS).sort();
    expect(deployed.map((d) => d.entryPoint).sort()).toEqual(exported);
  });

  it.each([
    [
      'declared, not registered',
      [
        { name: 'a', kind: 'event' as const },
        { name: 'b', kind: 'http' as const },
      ],
      { a: 'event' as const },
      ['entry point b is declared in infra/ but not registered by any function'],
    ],
    [
      'registered, not declared',
      [{ name: 'a', kind: 'event' as const }],
      { a: 'event' as const, c: 'http' as const },
      ['entry point c is registered but not declared in infra/functions.yaml'],
    ],
    [
      'another kind',
      [{ name: 'a', kind: 'event' as const }],
      { a: 'http' as const },
      ['entry point a is declared as event but registered as http'],
    ],
  ])('a mismatch is reported: %s', (_name, declared, registered, expected) => {
    expect(entryPointMismatches(declared, registered)).toEqual(expected);
  });

  it('the local runtime refuses to start when they disagree', () => {
    const infra = loadWiring();
    const { backupHttp: _, ...missingOne } = ENTRY_POINTS;
    expect(() => wiring(noRuntime, infra, missingOne)).toThrow(UsageError);
    expect(() => wiring(noRuntime, infra, missingOne)).toThrow(/backupHttp is declared in infra\/ but not registered/);
  });
});

describe('the local wiring comes from infra/', () => {
  it('serves each HTTP entry point under its function and each pushed topic with its entry point; every job reaches a handler', () => {
    const wired = wiring(noRuntime);
    const infra = loadWiring();
    expect(Object.keys(wired.http)).toEqual(
      infra.entryPoints.filter((ep) => ep.kind === 'http').map((ep) => ep.function),
    );
    expect(Object.keys(wired.topics).sort()).toEqual(infra.entryPoints.flatMap((ep) => ep.topics).sort());
    for (const job of wired.jobs) {
      expect(job.function, job.name).toBeDefined();
      expect(wired.topics[job.topic], job.name).toBeTypeOf('function');
    }
  });

  it('a subscription pushing to an undeclared entry point, or an event entry point nothing pushes to, is refused with its path', () => {
    const functions = file(
      'functions:\n  - name: backup\n    entryPoints:\n      backupEvent: event\n      lonelyEvent: event\n',
    );
    const topics = file(
      'topics:\n  - name: ev\n    events: true\n  - name: t\n    subscriptions:\n      - name: s\n        pushTo: backupEvent\n      - name: s2\n        pushTo: nowhere\n',
    );
    let err: unknown;
    try {
      loadWiring({ functions, topics, schedules: INFRA('schedules.yaml') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect(String((err as Error).message)).toMatch(
      /topics\[1\]\.subscriptions\[1\]\.pushTo: nowhere is not an entry point/,
    );
    expect(String((err as Error).message)).toMatch(/entryPoints\.lonelyEvent: no subscription .* pushes to it/);
  });
});

describe("npm start's schedule overrides", () => {
  const { jobs } = loadWiring();
  const cron = (c: string) => ({ cron: c });
  it('a function key reaches its one job; a job name reaches that job only (fanout has two jobs)', () => {
    const o = scheduleOverrides(jobs, { backup: cron('*/2 * * * * *'), 'mt-ops-alerts-sweep': cron('*/5 * * * * *') });
    expect(Object.fromEntries(o)).toEqual({
      'mt-ops-backup-nightly': cron('*/2 * * * * *'),
      'mt-ops-alerts-sweep': cron('*/5 * * * * *'),
    });
  });
  it.each([
    [
      'fanout',
      /fanout: triggers several jobs \(mt-ops-alerts-digest, mt-ops-alerts-sweep\); key the override by job name/,
    ],
    ['nope', /nope: no scheduled job triggers this function, and no job has this name/],
  ])('refuses %s', (key, message) => {
    expect(() => scheduleOverrides(jobs, { [key]: cron('0 9 * * *') })).toThrow(message);
  });
});

describe('where infra/ is read from', () => {
  it("a deployed function's bundle reads the copy beside it; the sources and a bundle inside the repository, the repository's", () => {
    const root = tempDir('mt-infra-dir-');
    // a function deployed alone (--source=dist/fanout): its folder is all there is, infra/ copied into it by build.mjs
    mkdirSync(join(root, 'workspace', 'infra'), { recursive: true });
    expect(fileURLToPath(infraDir(pathToFileURL(join(root, 'workspace', 'chunk-X.js'))))).toBe(
      join(root, 'workspace', 'infra') + '/',
    );
    // the sources (shared/infra/schedules.ts) and the CLI's bundle (dist/cli/): the repository's infra/
    expect(fileURLToPath(infraDir(pathToFileURL(join(root, 'repo', 'shared', 'infra', 'schedules.ts'))))).toBe(
      join(root, 'repo', 'infra') + '/',
    );
    expect(fileURLToPath(infraDir(pathToFileURL(join(root, 'repo', 'dist', 'cli', 'mt-ops.js'))))).toBe(
      join(root, 'repo', 'infra') + '/',
    );
  });
});
