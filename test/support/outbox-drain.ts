// A separate process that drains the outbox of `env` in the bucket once (flushOutbox, the function runtime's drain),
// publishing to an in-process bus, and prints each event it published as one JSON line (see test/bus/outbox.test.ts).
import { openStore } from '../../shared/storage/open';
import { flushOutbox } from '../../shared/bus/outbox';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { createLogger } from '../../shared/log/logger';

const [url, env] = process.argv.slice(2);
const bus = new MemoryBus();
// both processes start their drains at the same moment (the probe run and the alert sweep of one minute)
const at = Number(process.env.MT_DRAIN_AT ?? 0);
if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
await flushOutbox(openStore(url!), env!, (e) => bus.publish(e), createLogger({ level: 'silent' }));
for (const m of bus.published) process.stdout.write(`${JSON.stringify(m.event)}\n`);
