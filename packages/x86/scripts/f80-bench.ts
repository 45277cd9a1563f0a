/**
 * Micro-benchmark of the 80-bit softfloat (src/fpu/f80.ts) and of an x87 loop in the emulator.
 *
 *   npx tsx scripts/f80-bench.ts [millions of x87 loop instructions, default 20] [loop]
 *
 * (`loop`: the emulator loop only, e.g. for a CPU profile.)
 *
 * Part 1 calls add/mul/div/sqrt directly on random normal operands (round to nearest, PC = 64,
 * the Linux default FCW 0x037F) and prints millions of operations per second. Part 2 runs a
 * 32-bit protected-mode loop of FADD/FMUL/FSQRT/FDIV (plus DEC/JNZ) in the Cpu and prints MIPS.
 */
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { Cpu, Seg, SegAttr } from '../src/index.js';
import * as f80 from '../src/fpu/f80.js';

const N = 4096;
const se = new Int32Array(N);
const hi = new Int32Array(N);
const lo = new Int32Array(N);
let seed = 0x1234567;
function r32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed | 0;
}
for (let i = 0; i < N; i++) {
  se[i] = ((r32() & 1) << 15) | (0x3fff - 20 + ((r32() >>> 0) % 41));
  hi[i] = r32() | 0x80000000;
  lo[i] = r32();
}

const ITERS = 2_000_000;
let sink = 0;
/** Each operation has its own loop (monomorphic call sites); returns M ops/s. */
function timeAdd(sub: number): number {
  const t0 = performance.now();
  for (let k = 0; k < ITERS; k++) {
    const i = k & (N - 1);
    const j = (k + 1) & (N - 1);
    f80.add(se[i]!, hi[i]!, lo[i]!, se[j]!, hi[j]!, lo[j]!, sub);
    sink ^= f80.r80.lo;
  }
  return ITERS / ((performance.now() - t0) * 1000);
}
function timeMul(): number {
  const t0 = performance.now();
  for (let k = 0; k < ITERS; k++) {
    const i = k & (N - 1);
    const j = (k + 1) & (N - 1);
    f80.mul(se[i]!, hi[i]!, lo[i]!, se[j]!, hi[j]!, lo[j]!);
    sink ^= f80.r80.lo;
  }
  return ITERS / ((performance.now() - t0) * 1000);
}
function timeDiv(): number {
  const t0 = performance.now();
  for (let k = 0; k < ITERS; k++) {
    const i = k & (N - 1);
    const j = (k + 1) & (N - 1);
    f80.div(se[i]!, hi[i]!, lo[i]!, se[j]!, hi[j]!, lo[j]!);
    sink ^= f80.r80.lo;
  }
  return ITERS / ((performance.now() - t0) * 1000);
}
function timeSqrt(): number {
  const t0 = performance.now();
  for (let k = 0; k < ITERS; k++) {
    const i = k & (N - 1);
    f80.sqrt(se[i]! & 0x7fff, hi[i]!, lo[i]!);
    sink ^= f80.r80.lo;
  }
  return ITERS / ((performance.now() - t0) * 1000);
}

f80.setControl(0x037f);
// The machine may be shared: best of five rounds.
const best = { add: 0, sub: 0, mul: 0, div: 0, sqrt: 0 };
for (let round = 0; round < (process.argv[3] === 'loop' ? 0 : 5); round++) {
  best.add = Math.max(best.add, timeAdd(0));
  best.sub = Math.max(best.sub, timeAdd(1));
  best.mul = Math.max(best.mul, timeMul());
  best.div = Math.max(best.div, timeDiv());
  best.sqrt = Math.max(best.sqrt, timeSqrt());
}
if (process.argv[3] !== 'loop') for (const [k, v] of Object.entries(best)) console.log(`${k.padEnd(5)} ${v.toFixed(2)} M ops/s`);

// ---- the x87 loop in the emulator ----
const memory = new PhysicalMemory({ ramSize: 1 << 24 });
memory.mapRam(0, 1 << 24);
// 1.7 as a double at 0x2000
const c = new DataView(new ArrayBuffer(8));
c.setFloat64(0, 1.7, true);
memory.write(0x2000 as Hpa, new Uint8Array(c.buffer));
const loops = Math.floor((Number(process.argv[2] ?? 20) * 1e6) / 6);
const code = [
  0xdb, 0xe3, // fninit
  0xdd, 0x05, 0x00, 0x20, 0x00, 0x00, // fld qword [0x2000]   (c)
  0xd9, 0xe8, // fld1                 (x)
  0xb9, loops & 0xff, (loops >>> 8) & 0xff, (loops >>> 16) & 0xff, (loops >>> 24) & 0xff, // mov ecx, loops
  // loop:
  0xd8, 0xc1, // fadd st0, st1
  0xd8, 0xc9, // fmul st0, st1
  0xd9, 0xfa, // fsqrt
  0xd8, 0xf1, // fdiv st0, st1
  0x49, // dec ecx
  0x75, 0xf5, // jnz loop
  0xf4, // hlt
];
memory.write(0x1000 as Hpa, Uint8Array.from(code));
const cpu = new Cpu({ memory, io: new PioBus() });
const flat = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
cpu.cr0 |= 1;
for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, 0x10, 0, 0xffffffff, flat);
cpu.setSegmentRaw(Seg.CS, 0x08, 0, 0xffffffff, flat | SegAttr.Code);
cpu.ripLo = 0x1000;
cpu.updateMode();
let bestMips = 0;
for (let round = 0; round < 3; round++) {
  cpu.ripLo = 0x1000;
  cpu.icount = 0;
  cpu.halted = false;
  const t0 = performance.now();
  cpu.run(loops * 6 + 10);
  bestMips = Math.max(bestMips, cpu.icount / ((performance.now() - t0) * 1000));
}
const top = cpu.fpTop;
console.log(`x87 loop: ${cpu.icount} instructions, ${bestMips.toFixed(2)} MIPS (best of 3); ST0 = ${cpu.fpSe[top]!.toString(16)} ${(cpu.fpHi[top]! >>> 0).toString(16)} ${(cpu.fpLo[top]! >>> 0).toString(16)} (sink ${sink})`);
