import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { benchGuest } from '/work/main/tooling/bench/src/guest.ts';
const g = await benchGuest(undefined, 'vmxbench');
const image = new Uint8Array(fs.readFileSync(g.path));
const { createPc } = await import('@hvkit/machine');
const session = new Session(); session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
const doProf = process.argv[2] === 'prof';
const reps = Number(process.argv[3] ?? 1);
for (let rep = 0; rep < reps; rep++) {
let line = ''; let t0 = 0, c0 = 0, i0 = 0; let starting = false, stopping = false;
let f0 = 0;
const pc = createPc({ memoryMiB: 64, virtualization: 'vmx', devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }],
  onSerial: (b) => { if (b !== 10) { line += String.fromCharCode(b); return; }
    if (line.includes("mark vmexit-start")) { console.log("START"); if (process.env.VPID) { const v = (pc.cpu as any).ext.current; v.set(0x4002, v.get(0x4002) | (1 << 31)); v.set(0x401e, v.get(0x401e) | (1 << 5)); v.set(0x0000, 1); v.generation++; } starting = true; t0 = performance.now(); const u = process.cpuUsage(); c0 = u.user + u.system; i0 = pc.cpu.icount; for (const k in T) (T as any)[k] = 0; f0 = pc.cpu.tlbFills; }
    if (line.includes('mark vmexit-end')) { const t = performance.now() - t0; const u = process.cpuUsage(); console.log(`wall ${(t*1000/1e5).toFixed(2)} us cpu ${((u.user+u.system-c0)/1e5).toFixed(2)} us insns ${(pc.cpu.icount-i0)/1e5} fills ${(pc.cpu.tlbFills-f0)/1e5}`); stopping = true; { const v = (pc.cpu as any).ext.current; console.log("gen", v?.generation, v?.checkedGeneration); } if (process.env.TIMING) console.log(`exec ${(T.exec*1000/1e5).toFixed(2)}us/rt (${T.nexec}) intercept ${(T.inter*1000/1e5).toFixed(2)}us/rt (${T.ninter}) ` + Object.entries(T).filter(([k]) => k[0]==='w').map(([k,v]) => k+' '+((v as number)*10).toFixed(2)).join(' ')); }
    if (/^(FAIL|SKIP)/.test(line)) console.log(line);
    line = ''; } });
if (process.env.NOFLUSH) (pc.cpu as any).flushTlbBank = () => {};
const T = { exec: 0, inter: 0, nexec: 0, ninter: 0 };
if (process.env.TIMING) { const ext = (pc.cpu as any).ext; const ex = ext.execute.bind(ext); const it = ext.intercept.bind(ext);
  ext.execute = (c: any, w: any, d: any) => { const t = performance.now(); try { return ex(c, w, d); } finally { const dt = performance.now() - t; T.exec += dt; T.nexec++; (T as any)['w'+w] = ((T as any)['w'+w] ?? 0) + dt; } };
  ext.intercept = (c: any, w: any, a: any, b: any) => { const t = performance.now(); try { return it(c, w, a, b); } finally { T.inter += performance.now() - t; T.ninter++; } }; }
pc.bootMultiboot(image);
let stop;
do {
  stop = pc.run(100_000);
  if (starting && doProf) { starting = false; await session.post('Profiler.start'); }
  if (stopping && doProf) { stopping = false; const { profile } = await session.post('Profiler.stop'); fs.mkdirSync('/tmp/perf8/prof2', { recursive: true }); fs.writeFileSync(`/tmp/perf8/prof2/p${rep}.cpuprofile`, JSON.stringify(profile)); }
} while (stop.reason === 'budget');
}
