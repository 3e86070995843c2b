import { describe, it, expect } from 'vitest';
import { OpsEvent, attributesOf } from '../../shared/bus/events';
import { formatIssues } from '../../shared/errors';

const firing = {
  type: 'alert',
  severity: 'critical',
  env: 'prod',
  time: '2026-11-29T03:00:00Z',
  status: 'firing',
  fingerprint: 'probe/prod/api-health-full',
  title: 'api-health-full is down',
  summary: '3 consecutive failures',
  evidence: ['[BODY].status == healthy: got "degraded"'],
  labels: { probe: 'api-health-full', team: 'web' },
  links: [{ title: 'probe target', url: 'https://api.example.com/health/full' }],
  startsAt: '2026-11-29T02:58:00Z',
  source: 'probe',
};

describe('the alert event (generic: the fan-out routes it without knowing the raiser)', () => {
  it('a firing alert validates; status and source become attributes for subscription filters', () => {
    const event = OpsEvent.parse(firing);
    expect(attributesOf(event)).toEqual({
      type: 'alert',
      severity: 'critical',
      env: 'prod',
      status: 'firing',
      source: 'probe',
    });
  });

  it('a resolved alert carries endsAt', () => {
    expect(OpsEvent.parse({ ...firing, status: 'resolved', endsAt: '2026-11-29T03:10:00Z' })).toMatchObject({
      status: 'resolved',
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['resolved without endsAt', { status: 'resolved' }, 'endsAt: a resolved alert needs endsAt'],
    ['no fingerprint', { fingerprint: undefined }, 'fingerprint: '],
    ['an unknown status', { status: 'acknowledged' }, 'status: '],
    ['a label that is not text', { labels: { n: 1 } }, 'labels.n: '],
    ['a link without url', { links: [{ title: 'x' }] }, 'links[0].url: '],
  ])('%s is refused with the field path', (_name, change, path) => {
    const result = OpsEvent.safeParse({ ...firing, ...change });
    expect(result.success).toBe(false);
    expect(formatIssues(result.error!).join('\n')).toContain(path);
  });
});
