import fs from 'node:fs';
import { benchGuest } from '/work/main/tooling/bench/src/guest.ts';
const g = await benchGuest(undefined, 'vmxbench');
const image = new Uint8Array(fs.readFileSync(g.path));
const { createPc } = await import('@hvkit/machine');
let started = false; let line = '';
const pc = createPc({ memoryMiB: 64, virtualization: 'vmx', devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }],
  onSerial: (b) => { if (b !== 10) { line += String.fromCharCode(b); return; } if (line.includes('mark vmexit-start')) started = true; line = ''; } });
pc.bootMultiboot(image);
while (!started) pc.run(10000);
const cpu = pc.cpu as any;
const w = cpu.walker;
const rip = cpu.ripLo, riph = cpu.ripHi;
console.log('guestMode', cpu.guestMode, 'pagingMode', cpu.pagingMode, 'rip', (rip>>>0).toString(16));
for (let rep = 0; rep < 5; rep++) {
  let t = performance.now();
  for (let i = 0; i < 1e6; i++) w.walk(cpu.pagingMode, cpu.cr3Lo, cpu.cr3Hi, rip, riph, 4, cpu.walkCtl);
  const tw = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < 1e6; i++) cpu.translate(rip, riph, 2);
  const tt = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < 1e6; i++) cpu.flushTlb(true);
  const tf = performance.now() - t;
  console.log(`walk ${(tw).toFixed(0)} ns, translate ${tt.toFixed(0)} ns, flushTlb ${tf.toFixed(0)} ns`);
}
const mem = cpu.memory;
const a = (cpu.cr3Lo & ~0xfff) >>> 0;
for (let rep = 0; rep < 3; rep++) {
  let t = performance.now(); let s = 0;
  for (let i = 0; i < 8e6; i++) s += mem.read32(a + (i & 0x3ff) * 4);
  const t1 = performance.now() - t; t = performance.now();
  for (let i = 0; i < 8e6; i++) s += cpu.physRead32(a + (i & 0x3ff) * 4);
  const t2 = performance.now() - t;
  console.log(`read32 ${(t1/8).toFixed(1)} ns physRead32 ${(t2/8).toFixed(1)} ns`, s > 0);
}
