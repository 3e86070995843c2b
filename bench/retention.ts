/**
 * npm run bench:retention — policy evaluation over 100,000 backups, the listing streamed page by page from an
 * async source (as the store lists). Target: under 1 s.
 */
import { applyPolicy, type PolicyInput } from '../shared/retention/policy';

const COUNT = Number(process.env.BENCH_BACKUPS ?? 100_000);

/** A listing of `count` backups, hourly, newest last, delivered in pages of 1,000 like a bucket listing. */
async function* listing(count: number): AsyncIterable<PolicyInput[]> {
  const start = Date.parse('2015-01-01T00:00:00Z');
  for (let page = 0; page * 1000 < count; page++) {
    const items: PolicyInput[] = [];
    for (let i = page * 1000; i < Math.min(count, (page + 1) * 1000); i++) {
      const time = new Date(start + i * 3_600_000);
      items.push({ id: `b${i}`, time, verified: i % 7 === 0 });
    }
    yield items;
    await new Promise((r) => setImmediate(r));
  }
}

const t0 = performance.now();
const backups: PolicyInput[] = [];
for await (const page of listing(COUNT)) backups.push(...page);
const t1 = performance.now();
const decisions = applyPolicy(
  backups,
  { keepWithinDays: 30, keepMonthly: 12, keepDaily: 7, keepWeekly: 4, keepYearly: 5 },
  { minKeep: 3, now: new Date() },
);
const t2 = performance.now();
const kept = decisions.filter((d) => d.keep).length;
console.log(
  `retention policy over ${COUNT.toLocaleString('en-US')} backups: listing ${(t1 - t0).toFixed(0)} ms, policy ${(t2 - t1).toFixed(0)} ms (target < 1000 ms); kept ${kept}, removed ${COUNT - kept}; peak RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
);
if (t2 - t1 >= 1000) process.exitCode = 1;
