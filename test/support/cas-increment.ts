// A separate process that increments a counter document N times with compare-and-swap (see stores.test.ts), with an
// optional pause of about `pauseMs` between its increments (spares old enough to be refilled: file-json.test.ts).
import { openStore } from '../../shared/storage/open';

const [url, times, pauseMs] = process.argv.slice(2);
const store = openStore(url!);
for (let i = 0; i < Number(times); i++) {
  if (pauseMs) await new Promise((r) => setTimeout(r, Number(pauseMs) * (0.8 + Math.random() * 0.4)));
  for (;;) {
    const doc = await store.readJson('counter.json');
    const n = (doc!.value as { n: number }).n;
    try {
      await store.writeJson('counter.json', { n: n + 1 }, { ifGeneration: doc!.generation });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'precondition_failed') throw err;
    }
  }
}
