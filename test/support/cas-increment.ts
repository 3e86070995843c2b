// A separate process that increments a counter document N times with compare-and-swap (see stores.test.ts). With a
// schedule (`t0 roundMs offsetMs`), its k-th increment starts at t0 + k * roundMs + offsetMs (epoch ms), or at once
// when that time has passed: processes given the same t0 write in rounds (file-json.test.ts).
import { openStore } from '../../shared/storage/open';

const [url, times, t0, roundMs, offsetMs] = process.argv.slice(2);
const store = openStore(url!);
for (let i = 0; i < Number(times); i++) {
  if (t0 !== undefined) {
    const at = Number(t0) + i * Number(roundMs) + Number(offsetMs);
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
  }
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
