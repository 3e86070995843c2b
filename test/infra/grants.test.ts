// The bucket bindings `infra deploy-commands` prints for the real infra/, read as the IAM policy engine would read
// them, against the objects each function's code writes: a folder the code writes that no binding grants fails every
// write there in the cloud (nothing here can reach live IAM; this is the one place the two meet before a deploy).
import { describe, it, expect } from 'vitest';
import { loadTopology } from '../../shared/infra/topology';
import { deployCommands } from '../../shared/infra/deploy';
import { probeKeys } from '../../shared/probes/state';
import { historyKey } from '../../shared/probes/history';
import { outboxKeys } from '../../shared/bus/outbox';
import { ENTRY_POINTS } from '../../functions/local/wiring';

const BUCKET = 'mt-prod-123-mt-ops-backups';
const script = deployCommands(loadTopology(), { project: 'mt-prod-123', region: 'us-east1' });

type Access = 'read' | 'list' | 'create' | 'overwrite' | 'delete';

/** What the account may do on `key` (an object name) or, for `list`, on a listing with that prefix. */
function allowed(account: string, key: string, access: Access): boolean {
  const bindings = script
    .split('\n')
    .filter((l) => l.startsWith('gcloud storage buckets add-iam-policy-binding') && l.includes(`:${account}@`));
  return bindings.some((line) => {
    const role = /--role=(\S+)/.exec(line)![1]!;
    const grants: Access[] =
      role === 'roles/storage.objectViewer'
        ? ['read', 'list']
        : role === 'roles/storage.objectCreator'
          ? ['create']
          : role.endsWith('/mtOpsObjectDeleter')
            ? ['delete']
            : role === 'roles/storage.objectUser'
              ? ['read', 'list', 'create', 'overwrite', 'delete']
              : [];
    if (!grants.includes(access)) return false;
    const condition = /--condition=\^;\^expression=(.*);title=/.exec(line)?.[1];
    if (!condition) return true;
    // the two forms deploy.ts writes: an object prefix with its list half, or an object name's suffix
    return condition.split(' || ').some((half) => {
      const starts = /^resource\.name\.startsWith\("([^"]+)"\)(?: && resource\.name\.endsWith\("([^"]+)"\))?$/.exec(
        half,
      );
      if (starts)
        return (
          access !== 'list' &&
          `projects/_/buckets/${BUCKET}/objects/${key}`.startsWith(starts[1]!) &&
          (starts[2] === undefined || key.endsWith(starts[2]))
        );
      const listed =
        /^api\.getAttribute\("storage\.googleapis\.com\/objectListPrefix", ""\)\.startsWith\("([^"]+)"\)$/.exec(half);
      if (listed) return access === 'list' && key.startsWith(listed[1]!);
      throw new Error(`a condition this test does not read: ${half}`);
    });
  });
}

const can = (account: string, key: string, ...accesses: Access[]) =>
  accesses.filter((a) => !allowed(account, key, a)).map((a) => `${account} may not ${a} ${key}`);

describe('each function may touch what its code writes (the printed bindings, for the real infra/)', () => {
  it('probe: its hot state, and the hourly history it writes when an hour closes', () => {
    const env = 'prod';
    expect([
      ...can('mt-ops-probe', probeKeys.state(env, 'api'), 'read', 'create', 'overwrite'),
      ...can('mt-ops-probe', historyKey(env, 'api'), 'read', 'create', 'overwrite'),
    ]).toEqual([]);
  });

  it('every function that drains the outbox: its entries, and the poison folder it moves a bad one to and prunes', () => {
    const env = 'prod';
    const draining = loadTopology().functions.filter((fn) =>
      Object.keys(fn.entryPoints).some((ep) => !ENTRY_POINTS[ep]!.readOnly),
    );
    expect(draining.map((fn) => fn.name).sort()).toEqual(['backup', 'fanout', 'probe', 'retention', 'verify']);
    const entry = `${outboxKeys.prefix(env)}2026-11-30T10:00:00.000Z-ab12.json`;
    const problems = draining.flatMap((fn) => {
      const account = fn.serviceAccount;
      return [
        ...can(account, outboxKeys.prefix(env), 'list'),
        ...can(account, entry, 'read', 'create', 'overwrite', 'delete'),
        ...can(account, outboxKeys.poisonPrefix(env), 'list'),
        ...can(account, outboxKeys.poison(env, entry), 'read', 'create', 'delete'),
      ];
    });
    expect(problems).toEqual([]);
  });
});
