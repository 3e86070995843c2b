// A separate process that increments a counter document N times with compare-and-swap (see stores.test.ts).
import { openStore } from '../../shared/storage/open';

const [url, times] = process.argv.slice(2);
const store = openStore(url!);
for (let i = 0; i < Number(times); i++) {
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
