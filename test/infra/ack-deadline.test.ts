// A push subscription's ack deadline is the timeout of its push request (Pub/Sub's `ackDeadlineSeconds`: "for push
// delivery, this value is used to set the request timeout for the call to the push endpoint"): a function that runs
// longer than it has its message redelivered while the first delivery is still running. The topology refuses a
// subscription whose ack deadline is below the timeout of the function it pushes to, with its file and path.
import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { loadTopology, type TopologyPaths } from '../../shared/infra/topology';
import { UsageError } from '../../shared/errors';

const dir = tempDir('mt-ack-deadline-');
let n = 0;

const PROJECT = `env: test
bucket:
  name: "{project}-ack"
  location: US-EAST1
  uniformAccess: true
  publicAccessPrevention: enforced
`;
const SCHEDULES = `jobs:
  - { name: tick, cron: "* * * * *", timeZone: UTC, topic: tick-trigger }
`;

/** One function `worker` (one event entry point, workEvent) and the ack deadlines of the subscriptions pushing to it. */
function fixture(worker: { timeoutSeconds?: string; extra?: string }, acks: string[]): Required<TopologyPaths> {
  const functions = `functions:
  - name: worker
    entryPoints: { workEvent: event${worker.extra ? `, ${worker.extra}` : ''} }
${worker.timeoutSeconds ? `    timeoutSeconds: ${worker.timeoutSeconds}\n` : ''}`;
  const subs = acks.map(
    (ack, j) => `      - { name: work-${j}, pushTo: workEvent${ack ? `, ackDeadlineSeconds: ${ack}` : ''} }`,
  );
  const topics = `topics:
  - name: tick-trigger
    events: true
    subscriptions:
${subs.join('\n')}
`;
  const prefix = join(dir, `f${++n}-`);
  const files = { functions, topics, schedules: SCHEDULES, project: PROJECT };
  const paths = {} as Required<TopologyPaths>;
  for (const [name, text] of Object.entries(files)) {
    paths[name as keyof TopologyPaths] = `${prefix}${name}.yaml`;
    writeFileSync(`${prefix}${name}.yaml`, text);
  }
  return paths;
}

function problems(paths: TopologyPaths): string[] {
  try {
    loadTopology(paths);
  } catch (err) {
    if (err instanceof UsageError) return err.issues;
    throw err;
  }
  return [];
}

describe('a push subscription waits at least as long as the function it pushes to may run', () => {
  // [case, function timeoutSeconds ('' = unset: the event limit, 540 s), the subscriptions' ack deadlines ('' = the
  // default, 60 s), the problems expected]
  const table: Array<[string, string, string[], RegExp[]]> = [
    ['equal to the timeout', '300', ['300'], []],
    ['above the timeout', '120', ['600'], []],
    ['the most Pub/Sub allows, for a function with the longest event timeout', '', ['600'], []],
    [
      'below the timeout',
      '300',
      ['60'],
      [
        /topics\.yaml: topics\[0\]\.subscriptions\[0\]\.ackDeadlineSeconds: 60 is below the 300 s timeout of mt-ops-work-event \(worker\), which it pushes to: .*redeliver.*\(set at least 300, at most 600\)$/,
      ],
    ],
    ['one second short', '300', ['299'], [/subscriptions\[0\]\.ackDeadlineSeconds: 299 is below the 300 s timeout/]],
    [
      'the default ack deadline, for a function with no timeout (540 s)',
      '',
      [''],
      [/subscriptions\[0\]\.ackDeadlineSeconds: 60 is below the 540 s timeout of mt-ops-work-event/],
    ],
    [
      'a timeout above the event limit counts as the limit the function is deployed with',
      '600',
      ['540'],
      [/functions\[0\]\.timeoutSeconds: 600 is above 540 s/],
    ],
    [
      'only the subscription that is short, of two pushing to one function',
      '300',
      ['600', '120'],
      [/subscriptions\[1\]\.ackDeadlineSeconds: 120 is below the 300 s timeout/],
    ],
  ];
  it.each(table)('%s', (_, timeoutSeconds, acks, expected) => {
    const found = problems(fixture({ timeoutSeconds }, acks));
    expect(found).toEqual(expected.map((re) => expect.stringMatching(re)));
  });

  it('an HTTP entry point of the same function (3,600 s) does not count: nothing pushes to it', () => {
    expect(problems(fixture({ timeoutSeconds: '', extra: 'workHttp: http' }, ['540']))).toEqual([]);
  });

  it('infra/: every push subscription waits at least its function timeout (and loads)', () => {
    const t = loadTopology();
    const checked: string[] = [];
    for (const d of t.deployed) {
      for (const { topic, subscription } of d.subscriptions) {
        const sub = t.topics.find((x) => x.name === topic)!.subscriptions.find((s) => s.name === subscription)!;
        expect(sub.ackDeadlineSeconds, `${subscription} -> ${d.name} (${d.timeoutSeconds} s)`).toBeGreaterThanOrEqual(
          d.timeoutSeconds,
        );
        expect(sub.ackDeadlineSeconds, subscription).toBeLessThanOrEqual(600);
        checked.push(subscription);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['mt-ops-fanout', 'mt-ops-fanout-monitoring', 'mt-ops-digest', 'mt-ops-alerts-sweep']),
    );
  });
});
