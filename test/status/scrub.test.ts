/** The status page's scrubber: no secret, URL, IP address, database host or internal host name gets through (table-tested). */
import { describe, it, expect } from 'vitest';
import { hostOf, scrubber } from '../../shared/status/scrub';
import { registerSecret } from '../../shared/log/redact';
import { DEFAULT_INTERNAL_HOSTS } from '../../shared/status/config';

const scrub = scrubber({ internalHosts: DEFAULT_INTERNAL_HOSTS, hiddenHosts: ['db.example.com', 'fd00::5'] });

describe('status scrubber', () => {
  it.each<[string, string, string]>([
    ['a database URL', 'connect failed: postgres://admin:hunter2@db.example.com:5432/app', 'connect failed: <url>'],
    ['a webhook URL', 'POST https://hooks.slack.com/services/T0/B0/abcdef failed', 'POST <url> failed'],
    ['an IPv4 address with a port', 'connect ECONNREFUSED 10.1.2.3:5432', 'connect ECONNREFUSED <ip>:5432'],
    [
      'an IPv6 address',
      'connect ECONNREFUSED ::1:5432 and fe80::1ff:fe23:4567:890a',
      'connect ECONNREFUSED <ip> and <ip>',
    ],
    ['an internal host name', 'getaddrinfo ENOTFOUND primary.db.prod.internal', 'getaddrinfo ENOTFOUND <host>'],
    ['localhost', 'connect ECONNREFUSED localhost:8000', 'connect ECONNREFUSED <host>:8000'],
    ['a cluster host', 'timeout talking to api.default.svc.cluster.local', 'timeout talking to <host>'],
    [
      'the database host on its own',
      'no pg_hba.conf entry for host "db.example.com"',
      'no pg_hba.conf entry for host "<host>"',
    ],
    [
      'a host name that only ends like an internal one is kept',
      'api.internal.example.com answered 503',
      'api.internal.example.com answered 503',
    ],
    ['a public host name is kept', 'missingtable.com answered 503', 'missingtable.com answered 503'],
    ['a password in key=value text', 'password=sw0rdfish rejected', 'password=*** rejected'],
    [
      'times and versions are not addresses',
      'at 2026-11-30T03:00:00Z, PostgreSQL 15.4',
      'at 2026-11-30T03:00:00Z, PostgreSQL 15.4',
    ],
    ['one line', 'line one\nline two\ttab', 'line one line two tab'],
  ])('%s', (_name, input, expected) => {
    expect(scrub(input)).toBe(expected);
  });

  it('registered secrets are masked wherever they appear', () => {
    registerSecret('s3cr3t-routing-key');
    expect(scrub('PagerDuty refused key s3cr3t-routing-key')).toBe('PagerDuty refused key ***');
  });

  it('long text is cut to 300 characters', () => {
    expect(scrub('x'.repeat(5000))).toHaveLength(300);
  });

  it('runs in linear time on hostile input', () => {
    const started = performance.now();
    scrub(`${'a.'.repeat(50_000)}x ${'1.'.repeat(50_000)} ${'f:'.repeat(50_000)}`);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it.each<[string | undefined, string[]]>([
    ['postgres://u:p@db.example.com:5432/app', ['db.example.com']],
    ['postgresql://u@[fd00::5]:5432/app', ['fd00::5']],
    ['postgres:///app?host=/var/run/postgresql', []],
    ['postgres://u@/app?host=a.internal,b.internal', ['a.internal', 'b.internal']],
    [undefined, []],
    ['not a url', []],
  ])('hostOf(%s)', (url, hosts) => {
    expect(hostOf(url)).toEqual(hosts);
  });
});
