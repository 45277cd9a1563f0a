/**
 * "Bad input never crashes the host": random bytes executed in every mode must produce only
 * architectural exceptions, never a JavaScript exception escaping `Cpu.run`.
 *
 * Each mode runs episodes. An episode fills RAM with random bytes (from the episode's own seed,
 * so any episode can be replayed alone; in most episodes the bytes are instruction-shaped, see
 * {@link fillStructured}), builds the mode's system structures (GDT, IDT whose
 * every gate points into random code, TSS, page tables), loads random registers and starts at
 * a random address. Random code runs at CPL 0 (or 3 in some episodes) and may do anything:
 * load garbage into CR0/CR3/CR4/EFER, the GDT or the IDT, switch modes, fault in a loop. When
 * the CPU halts or shuts down (triple fault) the harness rebuilds the system structures and
 * registers ("soft reset") and goes on, keeping RAM as the random code left it.
 *
 * External interrupts (random vectors, from a random INTR source) and NMIs arrive now and then.
 *
 * Counted: instructions retired and events delivered (exceptions, software and external
 * interrupts, NMIs, via `Cpu.onEvent`). A JavaScript exception out of `run`, or one `run` call that takes longer
 * than {@link SLOW_RUN_MS}, is a failure and is reported with the episode seed, the bytes at
 * CS:RIP and the register state.
 *
 * Used by test/fuzz.test.ts (fixed seed) and runnable on its own:
 *
 *     npx tsx scripts/fuzz-campaign.ts [--seed N] [--count N] [--modes real,pm32,...] [--replay MODE:VENDOR:SEED]
 */
import { pathToFileURL } from 'node:url';
import { PhysicalMemory, PioBus, type Hpa } from '@hvkit/platform';
import { Cpu, StopReason } from '../src/cpu.js';
import { Decoder } from '../src/decoder.js';
import { randomStream, Rng, STREAM_BYTES } from './decoder-campaign.js';
import { AMD_ZEN, INTEL_CORE, type CpuModel } from '../src/model.js';
import { CodeMode, Cr0, Cr4, Efer, Flag, Seg, SegAttr } from '../src/state.js';

export const FUZZ_MODES = ['real', 'pm16', 'pm32', 'pm32-paged', 'v86', 'compat', 'long64'] as const;
export type FuzzMode = (typeof FUZZ_MODES)[number];
export type Vendor = 'intel' | 'amd';

/** A `run` call longer than this (wall clock) counts as a hang. */
export const SLOW_RUN_MS = 2000;

const RAM_SIZE = 4 << 20;
const GDT = 0x1000;
const IDT = 0x2000;
const TSS = 0x3000;
const PML4 = 0x8000;
const PDPT = 0x9000;
const PD = 0xa000;
const PD32 = 0xb000;
const PAE_PDPT = 0xc000;
const PML5 = 0xd000;
/** Random code and the handlers' targets live above this. */
const RANDOM_START = 0x10000;
/** 16-bit protected mode: code and data segments based here (offsets 0-FFFF are random bytes). */
const PM16_CS_BASE = 0x10000;
const PM16_DS_BASE = 0x20000;

const SEL_CODE32 = 0x08;
const SEL_DATA32 = 0x10;
const SEL_CODE16 = 0x18;
const SEL_DATA16 = 0x20;
const SEL_CODE64 = 0x28;
const SEL_TSS = 0x30; // 16 bytes (64-bit TSS descriptor)
const SEL_CODE32_U = 0x43;
const SEL_DATA32_U = 0x4b;
const SEL_CODE64_U = 0x53;
const SEL_CALLGATE32 = 0x5b; // 32-bit call gate, DPL 3 (RPL 3 in the selector)
const SEL_CALLGATE64 = 0x60; // 64-bit call gate (16 bytes), DPL 3
const SEL_TASKGATE = 0x73; // task gate to SEL_TSS2, DPL 3
const SEL_TSS2 = 0x78; // available 32-bit TSS whose contents are random
const SEL_LDT = 0x80; // LDT of random descriptors
const SEL_TSS16 = 0x88; // available 16-bit TSS, random contents
const TSS2 = 0x3100;
const TSS16 = 0x3200;
const LDT = 0x4000;

/** Instructions per `run` call. */
const CHUNK = 128;

/** xorshift128+ reduced to 32 bits: fast enough to fill RAM per episode. */
export class FuzzRng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    let s = seed | 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.a = next() | 1;
    this.b = next();
    this.c = next();
    this.d = next();
  }
  /** xoshiro128** step. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r >>> 0;
  }
  below(n: number): number {
    return this.u32() % n;
  }
  chance(percent: number): boolean {
    return this.below(100) < percent;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Mixes a campaign seed, a mode and an episode number into an episode seed. */
export function episodeSeed(seed: number, mode: FuzzMode, episode: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ (FUZZ_MODES.indexOf(mode) * 0x9e3779b9);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ Math.imul(episode + 1, 0xc2b2ae35);
  return (h ^ (h >>> 13)) | 0;
}

export interface FuzzFailure {
  mode: FuzzMode;
  vendor: Vendor;
  episodeSeed: number;
  kind: 'exception' | 'hang' | 'invariant';
  message: string;
  /** CPU state when it happened. */
  state: string;
  /** Bytes at CS:RIP (hex), when readable. */
  bytes: string;
}

export interface ModeStats {
  mode: FuzzMode;
  episodes: number;
  retired: number;
  events: number;
  halts: number;
  shutdowns: number;
  ms: number;
}

export interface FuzzResult {
  modes: ModeStats[];
  retired: number;
  events: number;
  failures: FuzzFailure[];
  ms: number;
}

export interface FuzzOptions {
  /** Campaign seed. */
  seed: number;
  /** Instructions retired plus events delivered to reach, split evenly across the modes. */
  count: number;
  modes?: readonly FuzzMode[];
  /** Instructions per episode (default 40,000). */
  episodeBudget?: number;
  /** Stop after this many failures (default 20). */
  maxFailures?: number;
  /** Called after each episode (progress). */
  onEpisode?: (mode: FuzzMode, stats: ModeStats) => void;
}

/** One CPU with its own RAM, and the hook that counts delivered events. */
export class Rig {
  readonly memory: PhysicalMemory;
  cpu!: Cpu;
  events = 0;
  /** Events by vector. */
  readonly vectors = new Float64Array(256);
  /** Events delivered during the current `run` call (a run that only delivers events is stopped). */
  runEvents = 0;
  constructor(readonly vendor: Vendor) {
    // One chunk holds the whole RAM, so the rig can fill it directly.
    this.memory = new PhysicalMemory({ ramSize: RAM_SIZE, chunkSize: RAM_SIZE });
    this.memory.mapRam(0, RAM_SIZE);
    this.rebuild();
  }
  /** The episode's mode and random source (for the event hook). */
  mode: FuzzMode = 'real';
  rng = new FuzzRng(0);

  /** A fresh CPU (after a JavaScript exception the old one's state is suspect). */
  rebuild(): void {
    const model: CpuModel = this.vendor === 'amd' ? AMD_ZEN : INTEL_CORE;
    // A random INTR source: external interrupts with random vectors arrive now and then.
    const interrupts = {
      hasInterrupt: (): boolean => this.rng.below(256) === 0,
      acknowledge: (): number => this.rng.below(256),
    };
    this.cpu = new Cpu({ memory: this.memory, io: new PioBus(), model, interrupts });
    this.cpu.onEvent = (_kind: number, vector: number): boolean => this.onEvent(vector);
  }

  /**
   * Every event: counted, then (so that random code does not settle into a loop of the same
   * handler faulting the same way) the gate's target in the harness's IDT/IVT moves to another
   * random address before the CPU reads it. One event in ten is swallowed instead and execution
   * goes on at a random address ("reset"), as a handler that skips would.
   */
  private onEvent(vector: number): boolean {
    const cpu = this.cpu;
    this.events++;
    this.vectors[vector & 0xff]!++;
    if (++this.runEvents > CHUNK) cpu.stop();
    const rng = this.rng;
    if (rng.below(10) === 0) {
      jumpSomewhere(cpu, rng);
      return true;
    }
    retarget(cpu, this.mode, vector & 0xff, rng);
    return false;
  }
}

/** Moves RIP to a random address valid for the current code segment (a "reset" handler). */
function jumpSomewhere(cpu: Cpu, rng: FuzzRng): void {
  let ip: number;
  if (cpu.mode === CodeMode.Bits64) {
    ip = randomTarget(rng);
    cpu.ripHi = 0;
  } else {
    const limit = cpu.segLimit[Seg.CS]! >>> 0;
    const base = cpu.segBase[Seg.CS]! >>> 0;
    const room = Math.min(limit, RAM_SIZE - 16 - (base < RAM_SIZE ? base : 0));
    ip = room > 0 ? rng.below(room + 1) : 0;
    cpu.ripHi = 0;
  }
  cpu.ripLo = ip | 0;
  cpu.nipLo = cpu.ripLo;
  cpu.nipHi = cpu.ripHi;
  cpu.exitBlock = true;
}

/** Points the gate (or IVT entry) for `vector` at a new random address, if the table is still ours. */
function retarget(cpu: Cpu, mode: FuzzMode, vector: number, rng: FuzzRng): void {
  const mem = cpu.memory;
  if ((cpu.cr0 & Cr0.PE) === 0) {
    if (cpu.idtrBaseLo !== 0) return;
    mem.write32((vector * 4) as Hpa, (rng.below(0x10000) | ((0x1000 + rng.below(0xe000)) << 16)) >>> 0);
    return;
  }
  if (cpu.idtrBaseLo !== IDT || cpu.idtrBaseHi !== 0) return;
  if ((cpu.efer & Efer.LMA) !== 0) {
    const t = randomTarget(rng);
    mem.write16((IDT + vector * 16) as Hpa, t & 0xffff);
    mem.write16((IDT + vector * 16 + 6) as Hpa, t >>> 16);
  } else {
    const t = mode === 'pm16' ? rng.below(0x10000) : randomTarget(rng);
    mem.write16((IDT + vector * 8) as Hpa, t & 0xffff);
    if (mode !== 'pm16') mem.write16((IDT + vector * 8 + 6) as Hpa, t >>> 16);
  }
}

/** Fills RAM with random bytes. */
function fillRandom(ram: Uint8Array, rng: FuzzRng): void {
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng.u32() | 0;
}

const TILE = 64 << 10;
const tile = new Uint8Array(TILE + 32);
const stream = new Uint8Array(STREAM_BYTES);
const tileDecoder = new Decoder();
const tileRec = new Int32Array(8);

/**
 * Fills the random region with instruction-shaped bytes: back-to-back streams from the decoder
 * campaign's generator (prefixes, REX, 0F/0F38/0F3A escapes, VEX, random ModRM/SIB and tail),
 * each cut to the length the decoder gives it, in a 64 KiB tile repeated over RAM. Pure random
 * bytes reach two-byte opcodes once in 256 instructions; this reaches them all the time.
 */
function fillStructured(ram: Uint8Array, rng: FuzzRng, mode: CodeMode): void {
  const gen = new Rng(rng.u32());
  tileDecoder.mode = mode;
  tileDecoder.src = stream;
  let p = 0;
  while (p < TILE) {
    randomStream(gen, stream, 0);
    tileDecoder.pos = 0;
    tileDecoder.avail = STREAM_BYTES;
    const len = tileDecoder.decode(tileRec, 0);
    tile.set(stream.subarray(0, len), p);
    p += len;
  }
  for (let a = RANDOM_START; a < ram.length; a += TILE) ram.set(tile.subarray(0, Math.min(TILE, ram.length - a)), a);
}

function w32(ram: Uint8Array, addr: number, v: number): void {
  ram[addr] = v & 0xff;
  ram[addr + 1] = (v >>> 8) & 0xff;
  ram[addr + 2] = (v >>> 16) & 0xff;
  ram[addr + 3] = (v >>> 24) & 0xff;
}
function w16(ram: Uint8Array, addr: number, v: number): void {
  ram[addr] = v & 0xff;
  ram[addr + 1] = (v >>> 8) & 0xff;
}

/** A random address inside the random region, below `limit`. */
function randomTarget(rng: FuzzRng, limit = RAM_SIZE): number {
  return RANDOM_START + rng.below(limit - RANDOM_START - 16);
}

/**
 * The GDT: flat code/data segments for every mode and ring, the TSS, plus call gates, a task
 * gate, a second (available) TSS and a 16-bit TSS with random contents, and an LDT of random
 * descriptors. GDTR's limit is 0xFFFF: selectors past these entries index random bytes, so
 * every far transfer and segment load with a random selector parses a random descriptor.
 */
function writeGdt(ram: Uint8Array, rng: FuzzRng): void {
  const d = (sel: number, lo: number, hi: number): void => {
    w32(ram, GDT + (sel & ~7), lo);
    w32(ram, GDT + (sel & ~7) + 4, hi);
  };
  for (let i = 0; i < 18 * 8; i++) ram[GDT + i] = 0;
  d(SEL_CODE32, 0x0000ffff, 0x00cf9b00);
  d(SEL_DATA32, 0x0000ffff, 0x00cf9300);
  d(SEL_CODE16, 0x0000ffff | (PM16_CS_BASE & 0xffff) << 16, 0x00009b00 | ((PM16_CS_BASE >>> 16) & 0xff));
  d(SEL_DATA16, 0x0000ffff | (PM16_DS_BASE & 0xffff) << 16, 0x00009300 | ((PM16_DS_BASE >>> 16) & 0xff));
  d(SEL_CODE64, 0x0000ffff, 0x00af9b00);
  // Busy 32/64-bit TSS at TSS, limit 0x67 (no I/O bitmap: I/O above IOPL faults).
  d(SEL_TSS, 0x0067 | (TSS & 0xffff) << 16, ((TSS >>> 16) & 0xff) | 0x8b00);
  d(SEL_CODE32_U, 0x0000ffff, 0x00cffb00);
  d(SEL_DATA32_U, 0x0000ffff, 0x00cff300);
  d(SEL_CODE64_U, 0x0000ffff, 0x00affb00);
  const t32 = randomTarget(rng);
  d(SEL_CALLGATE32, (t32 & 0xffff) | (SEL_CODE32 << 16), (t32 & 0xffff0000) | 0xec00 | rng.below(4)); // P, DPL 3, type C, param count
  const t64 = randomTarget(rng);
  d(SEL_CALLGATE64, (t64 & 0xffff) | (SEL_CODE64 << 16), (t64 & 0xffff0000) | 0xec00);
  d(SEL_CALLGATE64 + 8, 0, 0);
  d(SEL_TASKGATE, SEL_TSS2 << 16, 0xe500);
  d(SEL_TSS2, 0x0067 | (TSS2 & 0xffff) << 16, ((TSS2 >>> 16) & 0xff) | 0x8900);
  d(SEL_LDT, 0x0fff | (LDT & 0xffff) << 16, ((LDT >>> 16) & 0xff) | 0x8200);
  d(SEL_TSS16, 0x002b | (TSS16 & 0xffff) << 16, ((TSS16 >>> 16) & 0xff) | 0x8100);
}

/** IDT gates pointing into random code; `kind` picks the gate format and target segment. */
function writeIdt(ram: Uint8Array, rng: FuzzRng, kind: 'pm16' | 'pm32' | 'long'): void {
  for (let v = 0; v < 256; v++) {
    const size = kind === 'long' ? 16 : 8;
    const odd = rng.below(100);
    if (odd < 4) {
      // A random gate: any type, present or not, any selector.
      for (let k = 0; k < size; k += 4) w32(ram, IDT + v * size + k, rng.u32());
      continue;
    }
    if (odd < 7 && kind !== 'long') {
      // A task gate to the second TSS (random register contents).
      w32(ram, IDT + v * 8, SEL_TSS2 << 16);
      w32(ram, IDT + v * 8 + 4, 0xe500);
      continue;
    }
    const trap = rng.chance(20);
    if (kind === 'long') {
      const t = randomTarget(rng);
      const a = IDT + v * 16;
      w32(ram, a, (t & 0xffff) | (SEL_CODE64 << 16));
      const ist = rng.chance(20) ? 1 + rng.below(2) : 0;
      w32(ram, a + 4, (t & 0xffff0000) | 0x8000 | 0x6000 | (trap ? 0x0f00 : 0x0e00) | ist);
      w32(ram, a + 8, 0);
      w32(ram, a + 12, 0);
    } else {
      const a = IDT + v * 8;
      const t = kind === 'pm16' ? rng.below(0x10000) : randomTarget(rng);
      const sel = kind === 'pm16' ? SEL_CODE16 : SEL_CODE32;
      const type = kind === 'pm16' ? (trap ? 0x0700 : 0x0600) : trap ? 0x0f00 : 0x0e00;
      w32(ram, a, (t & 0xffff) | (sel << 16));
      w32(ram, a + 4, (t & 0xffff0000) | 0x8000 | 0x6000 | type);
    }
  }
}

/** 64-bit TSS: RSP0 and IST1-2 near the top of RAM. */
function writeTss(ram: Uint8Array, rng: FuzzRng): void {
  for (let i = 0; i < 0x68; i++) ram[TSS + i] = 0;
  const stack = (): number => (RAM_SIZE - 0x1000 - rng.below(0x40000)) & ~15;
  w32(ram, TSS + 4, stack()); // RSP0 (high half 0)
  w32(ram, TSS + 0x24, stack()); // IST1
  w32(ram, TSS + 0x2c, stack()); // IST2
  w16(ram, TSS + 0x66, 0x68); // I/O map base beyond the limit
}

function writeTss32(ram: Uint8Array, rng: FuzzRng): void {
  for (let i = 0; i < 0x68; i++) ram[TSS + i] = 0;
  w32(ram, TSS + 4, (RAM_SIZE - 0x1000 - rng.below(0x40000)) & ~3);
  w32(ram, TSS + 8, SEL_DATA32);
  w16(ram, TSS + 0x66, 0x68);
}

/** 4-level page tables: identity 2 MiB pages for the first 4 MiB, repeated every 1 GiB of the low 4 GiB and in the upper half. */
function writePaging64(ram: Uint8Array, rng: FuzzRng): void {
  for (let i = 0; i < 0x3000; i++) ram[PML4 + i] = 0;
  const U = rng.chance(70) ? 4 : 0;
  w32(ram, PML4, PDPT | 3 | U);
  w32(ram, PML4 + 256 * 8, PDPT | 3 | U);
  w32(ram, PML4 + 511 * 8, PDPT | 3 | U);
  for (let i = 0; i < 4; i++) w32(ram, PDPT + i * 8, PD | 3 | U);
  w32(ram, PDPT + 511 * 8, PD | 3 | U);
  w32(ram, PD, 0x000000 | 0x83 | U);
  w32(ram, PD + 8, 0x200000 | 0x83 | U);
}

/** PAE paging: four PDPTEs to the 2 MiB-page directory of the 64-bit tables. */
function writePagingPae(ram: Uint8Array, rng: FuzzRng): void {
  writePaging64(ram, rng);
  for (let i = 0; i < 4; i++) {
    w32(ram, PAE_PDPT + i * 8, PD | 1);
    w32(ram, PAE_PDPT + i * 8 + 4, 0);
  }
}

/** 32-bit paging with one 4 MiB page (CR4.PSE) identity-mapping RAM. */
function writePaging32(ram: Uint8Array, rng: FuzzRng): void {
  for (let i = 0; i < 0x1000; i++) ram[PD32 + i] = 0;
  w32(ram, PD32, 0x83 | (rng.chance(70) ? 4 : 0));
}

function randomRegs(cpu: Cpu, rng: FuzzRng, wide: boolean): void {
  for (let r = 0; r < 16; r++) {
    const k = rng.below(4);
    cpu.gpr[r] = k === 0 ? rng.u32() | 0 : k === 1 ? rng.below(16) : rng.below(RAM_SIZE);
    cpu.gprHi[r] = wide && rng.chance(10) ? rng.u32() | 0 : 0;
  }
}

const CODE_ATTR = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed;
const DATA_ATTR = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed;
const FLAT = SegAttr.DB | SegAttr.G;

/**
 * Puts the CPU in `mode` with fresh system structures, random registers and a random RIP.
 * RAM outside the structures is left as it is.
 */
export function softReset(cpu: Cpu, mode: FuzzMode, rng: FuzzRng): void {
  const ram = cpu.memory.ramChunk(0);
  cpu.reset();
  randomRegs(cpu, rng, mode === 'long64' || mode === 'compat');
  const user = (mode === 'pm32' || mode === 'pm32-paged' || mode === 'compat' || mode === 'long64') && rng.chance(30);
  const dpl3 = 3 << SegAttr.DplShift;
  let eflags = Flag.Fixed1 | (rng.chance(50) ? Flag.IF : 0) | (rng.chance(10) ? Flag.DF : 0);
  if (rng.chance(30)) eflags |= Flag.IOPL;

  if (mode === 'real') {
    // IVT at 0: random segment:offset within the first MiB.
    for (let v = 0; v < 256; v++) w32(ram, v * 4, (rng.below(0x10000) | (0x1000 + rng.below(0xe000)) << 16) >>> 0);
    const cs = 0x1000 + rng.below(0xe000);
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) {
      const sel = rng.below(0x10000);
      cpu.setSegmentRaw(s, sel, sel << 4, 0xffff, DATA_ATTR);
    }
    cpu.setSegmentRaw(Seg.CS, cs, cs << 4, 0xffff, CODE_ATTR);
    cpu.ripLo = rng.below(0x10000);
    cpu.setEflags(eflags);
    cpu.updateMode();
    cpu.flushCodeCache();
    return;
  }

  writeGdt(ram, rng);
  cpu.gdtrBaseLo = GDT;
  cpu.gdtrLimit = 0xffff;
  // Second TSS, 16-bit TSS and LDT: random bytes (already there), but a plausible EIP/ESP now and then.
  if (rng.chance(50)) {
    w32(ram, TSS2 + 0x20, randomTarget(rng)); // EIP
    w32(ram, TSS2 + 0x24, 0x2); // EFLAGS
    w32(ram, TSS2 + 0x38, (RAM_SIZE - 0x2000) & ~3); // ESP
    for (const o of [0x48, 0x50, 0x54, 0x58, 0x5c]) w32(ram, TSS2 + o, SEL_DATA32); // ES SS DS FS GS
    w32(ram, TSS2 + 0x4c, SEL_CODE32); // CS
    w32(ram, TSS2 + 0x60, rng.chance(50) ? SEL_LDT : 0); // LDT
    w32(ram, TSS2 + 0x1c, mode === 'pm32-paged' ? PD32 : 0); // CR3
  }
  cpu.idtrBaseLo = IDT;
  const long = mode === 'compat' || mode === 'long64';
  cpu.idtrLimit = long ? 256 * 16 - 1 : 256 * 8 - 1;
  cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.NE | (rng.chance(50) ? Cr0.WP : 0);
  if (long) {
    writeTss(ram, rng);
    writePaging64(ram, rng);
    writeIdt(ram, rng, 'long');
    cpu.cr4 = Cr4.PAE | (rng.chance(50) ? Cr4.PGE : 0) | (rng.chance(30) ? Cr4.FSGSBASE : 0) | (rng.chance(20) ? Cr4.SMEP | Cr4.SMAP : 0);
    cpu.cr3Lo = PML4;
    if (cpu.model.linearAddrBits === 57 && rng.chance(20)) {
      // 5-level paging: one PML5 entry in front of the same tables.
      for (let i = 0; i < 0x1000; i++) ram[PML5 + i] = 0;
      w32(ram, PML5, PML4 | 7);
      w32(ram, PML5 + 511 * 8, PML4 | 7);
      cpu.cr4 |= Cr4.LA57;
      cpu.cr3Lo = PML5;
    }
    cpu.efer = Efer.LME | Efer.LMA | Efer.SCE | (rng.chance(50) ? Efer.NXE : 0);
    cpu.cr0 |= Cr0.PG;
    cpu.setSegmentRaw(Seg.TR, SEL_TSS, TSS, 0x67, SegAttr.P | 0xb);
  } else {
    if (mode === 'pm16') writeIdt(ram, rng, 'pm16');
    else writeIdt(ram, rng, 'pm32');
    writeTss32(ram, rng);
    cpu.setSegmentRaw(Seg.TR, SEL_TSS, TSS, 0x67, SegAttr.P | 0xb);
    if (rng.chance(50)) cpu.setSegmentRaw(Seg.LDTR, SEL_LDT, LDT, 0xfff, SegAttr.P | 2);
    if (mode === 'pm32-paged') {
      if (rng.chance(50)) {
        writePaging32(ram, rng);
        cpu.cr4 = Cr4.PSE;
        cpu.cr3Lo = PD32;
      } else {
        writePagingPae(ram, rng);
        cpu.cr4 = Cr4.PAE | (rng.chance(30) ? Cr4.SMEP | Cr4.SMAP : 0);
        cpu.cr3Lo = PAE_PDPT;
        if (rng.chance(50)) cpu.efer |= Efer.NXE;
      }
      cpu.cr0 |= Cr0.PG;
    }
    if (mode === 'v86' && rng.chance(50)) cpu.cr4 |= Cr4.VME;
  }

  if (mode === 'pm16') {
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, SEL_DATA16, PM16_DS_BASE, 0xffff, DATA_ATTR);
    cpu.setSegmentRaw(Seg.CS, SEL_CODE16, PM16_CS_BASE, 0xffff, CODE_ATTR);
    cpu.ripLo = rng.below(0x10000);
    cpu.gpr[4] = rng.below(0x10000);
  } else if (mode === 'v86') {
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) {
      const sel = rng.below(0x10000);
      cpu.setSegmentRaw(s, sel, sel << 4, 0xffff, DATA_ATTR | dpl3);
    }
    const cs = 0x1000 + rng.below(0xe000);
    cpu.setSegmentRaw(Seg.CS, cs, cs << 4, 0xffff, CODE_ATTR | dpl3);
    cpu.ripLo = rng.below(0x10000);
    cpu.gpr[4] = rng.below(0x10000);
    eflags |= Flag.VM;
  } else {
    const codeSel = mode === 'long64' ? (user ? SEL_CODE64_U : SEL_CODE64) : user ? SEL_CODE32_U : SEL_CODE32;
    const dataSel = user ? SEL_DATA32_U : SEL_DATA32;
    const codeAttr = CODE_ATTR | (mode === 'long64' ? SegAttr.L | SegAttr.G : FLAT) | (user ? dpl3 : 0);
    const dataAttr = DATA_ATTR | FLAT | (user ? dpl3 : 0);
    for (const s of [Seg.ES, Seg.SS, Seg.DS, Seg.FS, Seg.GS]) cpu.setSegmentRaw(s, dataSel, 0, 0xffffffff, dataAttr);
    cpu.setSegmentRaw(Seg.CS, codeSel, 0, 0xffffffff, codeAttr);
    cpu.ripLo = randomTarget(rng);
    cpu.gpr[4] = (RAM_SIZE - 0x100 - rng.below(0x80000)) & ~7;
    cpu.gprHi[4] = 0;
  }
  // Now and then: single-stepping, alignment checking, hardware breakpoints (SDM Vol. 3 §17.2).
  if (rng.chance(5)) eflags |= Flag.TF;
  if (rng.chance(10)) {
    cpu.cr0 |= Cr0.AM;
    eflags |= Flag.AC;
  }
  if (rng.chance(10)) {
    for (let i = 0; i < 4; i++) cpu.drLo[i] = randomTarget(rng);
    cpu.drLo[7] = (0x400 | (rng.u32() & 0xffff00ff)) & ~0x2000; // random enables, R/W and LEN (GD off)
  }
  cpu.setEflags(eflags);
  cpu.updateMode();
  cpu.flushTlb(true);
  cpu.flushCodeCache();
}

function hex8(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

const isI32 = (v: number): boolean => (v | 0) === v;

/**
 * Architectural invariants that must hold at every instruction boundary, whatever the code did
 * (SDM Vol. 3 §2.5, §3.4.5, §10.8.5; Vol. 1 §3.3.7.1): returns what is broken, or null.
 */
export function checkInvariants(cpu: Cpu): string | null {
  for (const [name, v] of [
    ['ripLo', cpu.ripLo],
    ['ripHi', cpu.ripHi],
    ['fRes', cpu.fRes],
    ['fResHi', cpu.fResHi],
    ['fAux', cpu.fAux],
    ['flags', cpu.flags],
    ['cr0', cpu.cr0],
    ['cr2Lo', cpu.cr2Lo],
    ['cr3Lo', cpu.cr3Lo],
    ['cr3Hi', cpu.cr3Hi],
    ['cr4', cpu.cr4],
    ['efer', cpu.efer],
    ['gdtrBaseLo', cpu.gdtrBaseLo],
    ['idtrBaseLo', cpu.idtrBaseLo],
  ] as const) {
    if (typeof v !== 'number' || !isI32(v)) return `${name} is not an int32: ${String(v)}`;
  }
  if (cpu.gdtrLimit < 0 || cpu.gdtrLimit > 0xffff || cpu.idtrLimit < 0 || cpu.idtrLimit > 0xffff) return `descriptor-table limit out of range: ${cpu.gdtrLimit}/${cpu.idtrLimit}`;
  const ef = cpu.getEflags();
  if ((ef & 2) === 0 || (ef & 0xffc08028) !== 0) return `EFLAGS reserved bits wrong: ${hex8(ef)}`;
  const lma = (cpu.efer & Efer.LMA) !== 0;
  if ((cpu.cr0 & Cr0.PG) !== 0 && (cpu.cr0 & Cr0.PE) === 0) return 'CR0.PG without CR0.PE';
  if ((cpu.cr0 & (Cr0.NW | Cr0.CD)) === Cr0.NW) return 'CR0.NW without CR0.CD';
  if (lma !== ((cpu.efer & Efer.LME) !== 0 && (cpu.cr0 & Cr0.PG) !== 0)) return `EFER.LMA (${lma}) != LME && PG`;
  if (lma && (cpu.cr4 & Cr4.PAE) === 0) return 'long mode without CR4.PAE';
  if (lma && (ef & Flag.VM) !== 0) return 'EFLAGS.VM in IA-32e mode';
  if ((cpu.cr0 & Cr0.PE) === 0 && (ef & Flag.VM) !== 0) return 'EFLAGS.VM in real mode';
  const csAttr = cpu.segAttr[Seg.CS]!;
  const mode = lma && (csAttr & SegAttr.L) !== 0 ? CodeMode.Bits64 : (cpu.cr0 & Cr0.PE) !== 0 && (ef & Flag.VM) === 0 && (csAttr & SegAttr.DB) !== 0 ? CodeMode.Bits32 : CodeMode.Bits16;
  if (cpu.mode !== mode) return `cpu.mode ${cpu.mode} but CS/CR0/EFER say ${mode}`;
  const cpl = (cpu.cr0 & Cr0.PE) === 0 ? 0 : (ef & Flag.VM) !== 0 ? 3 : (cpu.segAttr[Seg.SS]! >> SegAttr.DplShift) & 3;
  if (cpu.cpl !== cpl) return `cpu.cpl ${cpu.cpl} but should be ${cpl}`;
  if (mode !== CodeMode.Bits64 && cpu.ripHi !== 0) return `RIP high half ${hex8(cpu.ripHi)} outside 64-bit mode`;
  if (mode === CodeMode.Bits64) {
    // Branches to non-canonical addresses fault before RIP changes (SDM Vol. 1 §3.3.7.1).
    const top = cpu.ripHi >> 15;
    const bits = (cpu.cr4 & Cr4.LA57) !== 0 ? 57 : 48;
    const canonical = bits === 48 ? top === 0 || top === -1 : cpu.ripHi >> 24 === 0 || cpu.ripHi >> 24 === -1;
    if (!canonical) return `non-canonical RIP ${hex8(cpu.ripHi)}${hex8(cpu.ripLo)}`;
  }
  return null;
}

/** The CPU state, for failure reports. */
export function describeState(cpu: Cpu): string {
  const regs = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'].map((n, i) => `${n}=${hex8(cpu.gprHi[i]!)}${hex8(cpu.gpr[i]!)}`);
  const segs = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'].map((n, i) => `${n}=${cpu.segSel[i]!.toString(16)}(base ${hex8(cpu.segBase[i]!)} lim ${hex8(cpu.segLimit[i]!)} attr ${cpu.segAttr[i]!.toString(16)})`);
  return [
    `mode=${['16', '32', '64'][cpu.mode]} cpl=${cpu.cpl} rip=${hex8(cpu.ripHi)}${hex8(cpu.ripLo)} eflags=${hex8(cpu.getEflags())}`,
    `cr0=${hex8(cpu.cr0)} cr3=${hex8(cpu.cr3Lo)} cr4=${hex8(cpu.cr4)} efer=${hex8(cpu.efer)} gdtr=${hex8(cpu.gdtrBaseLo)}/${cpu.gdtrLimit.toString(16)} idtr=${hex8(cpu.idtrBaseLo)}/${cpu.idtrLimit.toString(16)}`,
    regs.join(' '),
    segs.join(' '),
  ].join('\n');
}

/** Bytes at CS:RIP, translated through the current paging mode when possible. */
export function bytesAtRip(cpu: Cpu): string {
  try {
    const lin = cpu.mode === CodeMode.Bits64 ? cpu.ripLo : (cpu.segBase[Seg.CS]! + cpu.ripLo) | 0;
    const hi = cpu.mode === CodeMode.Bits64 ? cpu.ripHi : 0;
    const out: string[] = [];
    for (let k = 0; k < 16; k++) {
      const phys = cpu.translate((lin + k) | 0, hi, 2, true);
      out.push(cpu.memory.read8(phys as Hpa).toString(16).padStart(2, '0'));
    }
    return out.join(' ');
  } catch {
    return '(not readable)';
  }
}

/** Runs one episode on `rig`, adding to `stats` and `failures`. */
export function runEpisode(rig: Rig, mode: FuzzMode, seed: number, budget: number, stats: ModeStats, failures: FuzzFailure[]): void {
  const rng = new FuzzRng(seed);
  rig.rng = rng;
  rig.mode = mode;
  // A fresh CPU: MSRs and caches from earlier episodes would make the episode unreplayable.
  rig.rebuild();
  fillRandom(rig.memory.ramChunk(0), rng);
  if (rng.chance(60)) fillStructured(rig.memory.ramChunk(0), rng, mode === 'long64' ? CodeMode.Bits64 : mode === 'pm32' || mode === 'pm32-paged' || mode === 'compat' ? CodeMode.Bits32 : CodeMode.Bits16);
  let cpu = rig.cpu;
  softReset(cpu, mode, rng);
  const start = cpu.icount;
  const ev0 = rig.events;
  let stalls = 0;
  let lastRipLo = -1;
  let lastRipHi = -1;
  while (cpu.icount - start < budget) {
    const before = cpu.icount;
    const evBefore = rig.events;
    rig.runEvents = 0;
    if (rng.below(64) === 0) cpu.nmiPending = true;
    const t0 = performance.now();
    let reason: StopReason;
    try {
      reason = cpu.run(Math.min(CHUNK, budget - (cpu.icount - start)));
    } catch (e) {
      failures.push({
        mode,
        vendor: rig.vendor,
        episodeSeed: seed,
        kind: 'exception',
        message: e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 8).join('\n')}` : String(e),
        state: describeState(cpu),
        bytes: bytesAtRip(cpu),
      });
      stats.retired += cpu.icount - start;
      stats.events += rig.events - ev0;
      rig.rebuild();
      return;
    }
    const dt = performance.now() - t0;
    // After a shutdown (triple fault) the state is frozen mid-delivery: nothing to check.
    const broken = reason === StopReason.Shutdown ? null : checkInvariants(cpu);
    if (broken !== null) {
      failures.push({ mode, vendor: rig.vendor, episodeSeed: seed, kind: 'invariant', message: broken, state: describeState(cpu), bytes: bytesAtRip(cpu) });
      softReset(cpu, mode, rng);
      continue;
    }
    if (dt > SLOW_RUN_MS) {
      failures.push({
        mode,
        vendor: rig.vendor,
        episodeSeed: seed,
        kind: 'hang',
        message: `run(${CHUNK}) took ${dt.toFixed(0)} ms (retired ${cpu.icount - before}, events ${rig.events - evBefore})`,
        state: describeState(cpu),
        bytes: bytesAtRip(cpu),
      });
    }
    if (reason === StopReason.Halt || reason === StopReason.Shutdown) {
      if (reason === StopReason.Halt) stats.halts++;
      else stats.shutdowns++;
      softReset(cpu, mode, rng);
    } else if (cpu.icount === before) {
      // Only events, no progress (an exception loop the CPU keeps delivering): start over.
      if (++stalls > 3 || rig.events === evBefore) {
        softReset(cpu, mode, rng);
        stalls = 0;
      }
    } else if ((rig.events === evBefore && reason === StopReason.Budget) || (cpu.ripLo === lastRipLo && cpu.ripHi === lastRipHi)) {
      // A whole chunk without a single event (random code caught in a loop), or two chunks
      // ending on the same instruction (a REP string instruction with a huge count: 1024
      // iterations per dispatch): move on. (Deterministic, so that episodes replay.)
      jumpSomewhere(cpu, rng);
    }
    lastRipLo = cpu.ripLo;
    lastRipHi = cpu.ripHi;
    cpu = rig.cpu;
  }
  stats.retired += cpu.icount - start;
  stats.events += rig.events - ev0;
}

/** Runs the campaign: `count` retired instructions plus events, split across the modes. */
export function runFuzz(options: FuzzOptions): FuzzResult {
  const t0 = performance.now();
  const modes = options.modes ?? FUZZ_MODES;
  const budget = options.episodeBudget ?? 40_000;
  const maxFailures = options.maxFailures ?? 20;
  const perMode = Math.ceil(options.count / modes.length);
  const rigs = [new Rig('intel'), new Rig('amd')];
  lastRigs = rigs;
  const result: FuzzResult = { modes: [], retired: 0, events: 0, failures: [], ms: 0 };
  for (const mode of modes) {
    const stats: ModeStats = { mode, episodes: 0, retired: 0, events: 0, halts: 0, shutdowns: 0, ms: 0 };
    const m0 = performance.now();
    while (stats.retired + stats.events < perMode && result.failures.length < maxFailures) {
      const rig = rigs[stats.episodes & 1]!;
      runEpisode(rig, mode, episodeSeed(options.seed, mode, stats.episodes), Math.min(budget, perMode - stats.retired - stats.events + 1), stats, result.failures);
      stats.episodes++;
      options.onEpisode?.(mode, stats);
    }
    stats.ms = performance.now() - m0;
    result.modes.push(stats);
    result.retired += stats.retired;
    result.events += stats.events;
  }
  result.ms = performance.now() - t0;
  return result;
}

/** Replays one episode (from a failure report): its failures, and the CPU state at the end. */
export function replayEpisode(mode: FuzzMode, vendor: Vendor, seed: number, budget = 40_000): { failures: FuzzFailure[]; state: string; stats: ModeStats } {
  const failures: FuzzFailure[] = [];
  const stats: ModeStats = { mode, episodes: 1, retired: 0, events: 0, halts: 0, shutdowns: 0, ms: 0 };
  const rig = new Rig(vendor);
  runEpisode(rig, mode, seed, budget, stats, failures);
  return { failures, state: describeState(rig.cpu), stats };
}

export function formatFailure(f: FuzzFailure): string {
  return `[${f.mode} ${f.vendor} episode ${f.episodeSeed}] ${f.kind}: ${f.message}\n  bytes at CS:RIP: ${f.bytes}\n  ${f.state.split('\n').join('\n  ')}\n  replay: npx tsx scripts/fuzz-campaign.ts --replay ${f.mode}:${f.vendor}:${f.episodeSeed}`;
}

let lastRigs: Rig[] = [];

// ---- command line -------------------------------------------------------------------------

function main(argv: string[]): number {
  let seed = Date.now() | 0;
  let count = 10_000_000;
  let modes: readonly FuzzMode[] = FUZZ_MODES;
  let replay: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') seed = Number(argv[++i]) | 0;
    else if (a === '--count') count = Number(argv[++i]);
    else if (a === '--modes') modes = argv[++i]!.split(',') as FuzzMode[];
    else if (a === '--replay') replay = argv[++i]!;
    else throw new Error(`unknown argument ${a}`);
  }
  if (replay !== null) {
    const [mode, vendor, s] = replay.split(':');
    const { failures } = replayEpisode(mode as FuzzMode, vendor as Vendor, Number(s));
    for (const f of failures) console.log(formatFailure(f));
    console.log(failures.length === 0 ? 'no failure' : `${failures.length} failure(s)`);
    return failures.length === 0 ? 0 : 1;
  }
  console.log(`fuzz campaign: seed ${seed}, ${count} instructions + events over ${modes.join(', ')}`);
  let lastLog = performance.now();
  const r = runFuzz({
    seed,
    count,
    modes,
    maxFailures: 100,
    onEpisode: (mode, s) => {
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        console.log(`  ${mode}: ${s.episodes} episodes, ${s.retired} retired, ${s.events} events`);
      }
    },
  });
  const rigVectors = new Map<number, number>();
  for (const rig of lastRigs) rig.vectors.forEach((n, v) => rigVectors.set(v, (rigVectors.get(v) ?? 0) + n));
  for (const m of r.modes) {
    const rate = ((m.retired + m.events) / m.ms) * 1000;
    console.log(`${m.mode.padEnd(11)} ${String(m.episodes).padStart(6)} episodes ${String(m.retired).padStart(10)} retired ${String(m.events).padStart(9)} events ${String(m.halts).padStart(6)} halts ${String(m.shutdowns).padStart(6)} shutdowns  ${(m.ms / 1000).toFixed(1)} s (${(rate / 1e6).toFixed(2)} M/s)`);
  }
  const vec = [...rigVectors.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  console.log(`events by vector: ${vec.map(([v, n]) => `${v}: ${n}`).join(', ')}`);
  for (const f of r.failures) console.log(formatFailure(f));
  console.log(`total: ${r.retired} retired + ${r.events} events in ${(r.ms / 1000).toFixed(1)} s; ${r.failures.length} failure(s)`);
  return r.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
