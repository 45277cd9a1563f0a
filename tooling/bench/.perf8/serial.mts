import { benchGuest } from '/work/main/tooling/bench/src/guest.ts';
import { runHvkitVmexit, perRoundTrip } from '/work/main/tooling/bench/src/vmexit.ts';
const g = await benchGuest(undefined, 'vmxbench');
const r = await runHvkitVmexit(g.path, 120000);
console.log(r.serial, r.error, perRoundTrip(r));
