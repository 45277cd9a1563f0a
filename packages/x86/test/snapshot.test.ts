/**
 * CPU snapshots: a CPU saved at instruction N and restored into a fresh CPU (on a copy of RAM)
 * executes exactly as the original from N on; every field of `Cpu` is either saved, derived on
 * restore, or listed as deliberately not saved; bad snapshots are refused without changing the CPU.
 */
import { PhysicalMemory, PioBus, type DeviceSnapshot, type Hpa, type Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import {
  AMD_ZEN,
  CodeMode,
  Cpu,
  CpuSnapshotError,
  Cr0,
  Cr4,
  Flag,
  INTEL_CORE,
  restoreCpuState,
  saveCpuState,
  Seg,
  SegAttr,
  StopReason,
  type CpuModel,
  type CpuSnapshot,
} from '../src/index.js';

const RAM = 4 << 20;

/** A CPU on 4 MiB of RAM whose port output (0xE9 bytes, 0x500 dwords) is recorded. */
class Machine {
  readonly memory = new PhysicalMemory({ ramSize: RAM });
  readonly io = new PioBus();
  readonly cpu: Cpu;
  /** [port, size, value] of every OUT. */
  readonly out: [number, number, number][] = [];

  constructor(model: CpuModel = INTEL_CORE) {
    this.memory.mapRam(0, RAM);
    const recorder = { pioRead: (): number => 0, pioWrite: (port: Port, size: number, value: number): void => void this.out.push([port, size, value]) };
    this.io.register(0xe9, 1, recorder, 'debug-byte');
    this.io.register(0x500, 4, recorder, 'debug-dword');
    this.cpu = new Cpu({ memory: this.memory, io: this.io, model });
  }

  w32(a: number, v: number): void {
    this.memory.write32(a as Hpa, v >>> 0);
  }
  bytes(a: number, b: readonly number[]): void {
    this.memory.write(a as Hpa, Uint8Array.from(b));
  }
  ram(): Uint8Array {
    const copy = new Uint8Array(RAM);
    this.memory.read(0 as Hpa, copy);
    return copy;
  }
}

/**
 * Real mode -> LGDT, CR0.PE, far JMP to 32-bit code, segment loads (MOV SS shadow), CR3 and
 * CR0.PG (two-level paging, linear 0x800000 mapped to physical 0x100000), then loops that
 * multiply, write memory through the non-identity mapping, push/pop flags, OUT bytes, REP MOVSD,
 * LOOP, and a final OUT of a checksum and HLT.
 */
function pagingProgram(): Machine {
  const m = new Machine();
  // GDT: null, flat 32-bit code (0x08), flat data (0x10); pseudo-descriptor at 0x7100.
  m.w32(0x7008, 0x0000ffff);
  m.w32(0x700c, 0x00cf9a00);
  m.w32(0x7010, 0x0000ffff);
  m.w32(0x7014, 0x00cf9200);
  m.bytes(0x7100, [0x17, 0x00, 0x00, 0x70, 0x00, 0x00]);
  // Page directory at 0x20000: PDE 0 -> identity page table, PDE 2 -> 0x800000 maps to 0x100000.
  m.w32(0x20000, 0x21000 | 3);
  m.w32(0x20008, 0x22000 | 3);
  for (let i = 0; i < 1024; i++) m.w32(0x21000 + i * 4, (i << 12) | 3);
  for (let i = 0; i < 256; i++) m.w32(0x22000 + i * 4, (0x100000 + (i << 12)) | 3);
  // prettier-ignore
  m.bytes(0x7c00, [
    0xfa,                               // cli
    0x0f, 0x01, 0x16, 0x00, 0x71,       // lgdt [0x7100]
    0x0f, 0x20, 0xc0,                   // mov eax, cr0
    0x66, 0x83, 0xc8, 0x01,             // or eax, 1
    0x0f, 0x22, 0xc0,                   // mov cr0, eax
    0x66, 0xea, 0x20, 0x7c, 0x00, 0x00, 0x08, 0x00, // jmp dword 0x08:0x7c20
    0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
    // 0x7c20, 32-bit code
    0x66, 0xb8, 0x10, 0x00,             // mov ax, 0x10
    0x8e, 0xd8,                         // mov ds, ax
    0x8e, 0xc0,                         // mov es, ax
    0x8e, 0xd0,                         // mov ss, ax
    0x8e, 0xe0,                         // mov fs, ax
    0x8e, 0xe8,                         // mov gs, ax
    0xbc, 0x00, 0xf0, 0x09, 0x00,       // mov esp, 0x9f000
    0xb8, 0x00, 0x00, 0x02, 0x00,       // mov eax, 0x20000
    0x0f, 0x22, 0xd8,                   // mov cr3, eax
    0x0f, 0x20, 0xc0,                   // mov eax, cr0
    0x0d, 0x00, 0x00, 0x00, 0x80,       // or eax, 0x80000000
    0x0f, 0x22, 0xc0,                   // mov cr0, eax
    0x31, 0xc9,                         // xor ecx, ecx
    0x31, 0xdb,                         // xor ebx, ebx
    0xbf, 0x00, 0x00, 0x80, 0x00,       // mov edi, 0x800000
    // 0x7c4f: loop 1
    0x89, 0xc8,                         // mov eax, ecx
    0x0f, 0xaf, 0xc1,                   // imul eax, ecx
    0x01, 0xc3,                         // add ebx, eax
    0x89, 0x1c, 0x8f,                   // mov [edi + ecx * 4], ebx
    0x88, 0xd8,                         // mov al, bl
    0xe6, 0xe9,                         // out 0xe9, al
    0xd1, 0xc3,                         // rol ebx, 1
    0x53,                               // push ebx
    0x9c,                               // pushfd
    0x58,                               // pop eax
    0x5a,                               // pop edx
    0x31, 0xc2,                         // xor edx, eax
    0x41,                               // inc ecx
    0x81, 0xf9, 0x00, 0x01, 0x00, 0x00, // cmp ecx, 0x100
    0x72, 0xe1,                         // jb loop 1
    0xbe, 0x00, 0x00, 0x80, 0x00,       // mov esi, 0x800000
    0xbf, 0x00, 0x08, 0x80, 0x00,       // mov edi, 0x800800
    0xb9, 0x00, 0x01, 0x00, 0x00,       // mov ecx, 0x100
    0xfc,                               // cld
    0xf3, 0xa5,                         // rep movsd
    0x31, 0xc0,                         // xor eax, eax
    0xb9, 0x00, 0x02, 0x00, 0x00,       // mov ecx, 0x200
    0xbe, 0x00, 0x00, 0x80, 0x00,       // mov esi, 0x800000
    // 0x7c8c: loop 2
    0x03, 0x06,                         // add eax, [esi]
    0x83, 0xc6, 0x04,                   // add esi, 4
    0xe2, 0xf9,                         // loop loop 2
    0x66, 0xba, 0x00, 0x05,             // mov dx, 0x500
    0xef,                               // out dx, eax
    0xf4,                               // hlt
  ]);
  const c = m.cpu;
  c.setSegmentRaw(Seg.CS, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed);
  c.ripLo = 0x7c00;
  c.updateMode();
  return m;
}

/**
 * Flat 32-bit protected mode with PAE paging (2 MiB pages), then: WRMSR IA32_TIME_STAMP_COUNTER
 * and SYSENTER_ESP, a store that clears PDPTE 0 in memory (the PDPTE registers keep mapping the
 * code: SDM Vol. 3 §4.4.1), and a loop of RDTSC with the TSC's low byte sent to port 0xE9.
 */
function paeProgram(): Machine {
  const m = new Machine();
  const c = m.cpu;
  m.w32(0x30000, 0x31000 | 1); // PDPTE 0
  m.w32(0x31000, 0x000000 | 0x83); // 2 MiB pages, identity
  m.w32(0x31008, 0x200000 | 0x83);
  const flat = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
  c.cr0 |= Cr0.PE;
  c.setSegmentRaw(Seg.CS, 0x08, 0, 0xffffffff, flat | SegAttr.Code);
  for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) c.setSegmentRaw(s, 0x10, 0, 0xffffffff, flat);
  c.gpr[4] = 0x9000;
  c.cr3Lo = 0x30000;
  c.cr4 |= Cr4.PAE;
  expect(c.walker.loadPdptes(0x30000)).toBe(true);
  c.cr0 |= Cr0.PG;
  c.updateMode();
  c.flushTlb(true);
  // prettier-ignore
  m.bytes(0x10000, [
    0xb9, 0x10, 0x00, 0x00, 0x00,       // mov ecx, 0x10 (IA32_TIME_STAMP_COUNTER)
    0xb8, 0x00, 0x10, 0x00, 0x00,       // mov eax, 0x1000
    0xba, 0x01, 0x00, 0x00, 0x00,       // mov edx, 1
    0x0f, 0x30,                         // wrmsr
    0xb9, 0x75, 0x01, 0x00, 0x00,       // mov ecx, 0x175 (SYSENTER_ESP)
    0xb8, 0x78, 0x56, 0x34, 0x12,       // mov eax, 0x12345678
    0x31, 0xd2,                         // xor edx, edx
    0x0f, 0x30,                         // wrmsr
    0xc7, 0x05, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // mov dword [0x30000], 0
    0x31, 0xf6,                         // xor esi, esi
    // loop
    0x0f, 0x31,                         // rdtsc
    0x01, 0xf0,                         // add eax, esi
    0xe6, 0xe9,                         // out 0xe9, al
    0x46,                               // inc esi
    0x81, 0xfe, 0x00, 0x02, 0x00, 0x00, // cmp esi, 0x200
    0x75, 0xf0,                         // jne loop
    0xf4,                               // hlt
  ]);
  c.ripLo = 0x10000;
  return m;
}

/** Runs a fresh `build()` to the end and returns the outputs, final state and instruction count. */
function reference(build: () => Machine): { out: [number, number, number][]; state: CpuSnapshot; ram: Uint8Array } {
  const m = build();
  expect(m.cpu.run(1_000_000)).toBe(StopReason.Halt);
  return { out: m.out, state: saveCpuState(m.cpu), ram: m.ram() };
}

/**
 * Runs `build()` to instruction `n`, snapshots CPU and RAM, restores both into a fresh CPU on fresh
 * memory (through `transport`), and runs that to the end: outputs and final state must match.
 */
function resumeAt(build: () => Machine, n: number, transport: (s: CpuSnapshot) => CpuSnapshot = (s) => s): void {
  const ref = reference(build);
  const a = build();
  expect(a.cpu.run(n)).toBe(StopReason.Budget);
  expect(a.cpu.icount).toBe(n);
  const snap = transport(saveCpuState(a.cpu));
  const ram = a.ram();
  const before = a.out.length;

  const b = new Machine();
  b.memory.write(0 as Hpa, ram);
  restoreCpuState(b.cpu, snap);
  expect(b.cpu.run(1_000_000)).toBe(StopReason.Halt);
  expect(b.out).toEqual(ref.out.slice(before));
  expect(saveCpuState(b.cpu)).toEqual(ref.state);
  expect(firstDifference(b.ram(), ref.ram)).toBe(-1);
}

/** The first index where two byte arrays differ, or -1 (fast: `toEqual` on 4 MiB is slow). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('saveCpuState / restoreCpuState', () => {
  it('the paging program runs as expected', () => {
    const ref = reference(pagingProgram);
    expect(ref.out.length).toBe(257); // 256 bytes and the checksum
    expect(ref.out[256]![0]).toBe(0x500);
    expect(ref.state.state.mode).toBe(CodeMode.Bits32);
    expect(ref.state.state.control.cr0 & Cr0.PG).not.toBe(0);
    // The loop wrote through linear 0x800000 to physical 0x100000.
    expect(new DataView(ref.ram.buffer).getUint32(0x100000 + 4 * 5, true)).not.toBe(0);
  });

  it('a fresh CPU resumes the paging program exactly, from any instruction', () => {
    // Real mode, just after LGDT / CR0.PE / the far JMP, after MOV SS (interrupt shadow), after
    // CR0.PG, inside loop 1, inside the REP MOVSD / loop 2 phase.
    for (const n of [1, 2, 5, 6, 7, 10, 11, 15, 16, 17, 20, 21, 25, 100, 1234, 3000, 3870, 3900, 4100, 4500]) resumeAt(pagingProgram, n);
  });

  it('a fresh CPU resumes the PAE program with the PDPTE registers, MSRs and TSC of the original', () => {
    const ref = reference(paeProgram);
    expect(ref.out.length).toBe(0x200);
    expect(ref.state.state.msrs.sysenterEspLo).toBe(0x12345678);
    expect(new DataView(ref.ram.buffer).getUint32(0x30000, true)).toBe(0); // PDPTE 0 is gone from memory
    for (const n of [1, 4, 5, 9, 10, 11, 12, 13, 50, 777, 1500]) resumeAt(paeProgram, n);
  });

  it('survives structuredClone and JSON', () => {
    resumeAt(pagingProgram, 2000, (s) => structuredClone(s));
    resumeAt(pagingProgram, 2000, (s) => JSON.parse(JSON.stringify(s)) as CpuSnapshot);
    resumeAt(paeProgram, 700, (s) => JSON.parse(JSON.stringify(s)) as CpuSnapshot);
  });

  it('is DeviceSnapshot-shaped', () => {
    const snap: DeviceSnapshot = saveCpuState(new Machine().cpu);
    expect(snap.version).toBe(2);
  });

  it('restores into the CPU that kept running (caches flushed)', () => {
    const ref = reference(pagingProgram);
    const a = pagingProgram();
    a.cpu.run(30); // paging is on now
    const snap = saveCpuState(a.cpu);
    const ram = a.ram();
    const before = a.out.length;
    expect(a.cpu.run(1_000_000)).toBe(StopReason.Halt);
    a.memory.write(0 as Hpa, ram);
    a.out.length = 0;
    restoreCpuState(a.cpu, snap);
    expect(a.cpu.run(1_000_000)).toBe(StopReason.Halt);
    expect(a.out).toEqual(ref.out.slice(before));
    expect(saveCpuState(a.cpu)).toEqual(ref.state);
  });

  it('restore drops translations the CPU had cached', () => {
    // Linear 0x200000 -> physical 0 through paging, then a snapshot without paging.
    const m = paeProgram();
    const flatSnap = structuredClone(saveCpuState(m.cpu));
    const noPaging = { ...flatSnap, state: { ...flatSnap.state, control: { ...flatSnap.state.control, cr0: flatSnap.state.control.cr0 & ~Cr0.PG } } };
    m.w32(0x31008, 0x000000 | 0x83); // PDE 1: linear 2-4 MiB -> physical 0-2 MiB
    m.w32(0x0, 0x11111111);
    m.w32(0x200000, 0x22222222);
    m.bytes(0x10000, [0xa1, 0x00, 0x00, 0x20, 0x00, 0xf4]); // mov eax, [0x200000]; hlt
    m.cpu.run(10);
    expect(m.cpu.gpr[0]! >>> 0).toBe(0x11111111);
    restoreCpuState(m.cpu, noPaging);
    m.cpu.gpr[0] = 0;
    m.cpu.run(10);
    expect(m.cpu.gpr[0]! >>> 0).toBe(0x22222222);
  });

  it('shares no arrays with the CPU, in either direction', () => {
    const m = paeProgram();
    m.cpu.mtrrs.set(0x200, [0x1000, 0]);
    const snap = saveCpuState(m.cpu);
    const copy = structuredClone(snap);
    m.cpu.gpr[3] = 77;
    m.cpu.segSel[Seg.FS] = 0x99;
    m.cpu.walker.pdptes[0] = 0;
    m.cpu.mtrrs.get(0x200)![0] = 0x2000;
    m.cpu.drLo[0] = 5;
    m.cpu.perfMsrs[8] = 9;
    expect(snap).toEqual(copy);

    const b = new Machine();
    restoreCpuState(b.cpu, snap);
    (snap.state.gpr as number[])[0] = 1234;
    (snap.state.mtrrs as number[])[1] = 0x3000;
    (snap.state.pdptes as number[])[0] = 0;
    expect(saveCpuState(b.cpu)).toEqual(copy);
  });
});

describe('every Cpu field is accounted for', () => {
  /** Restored from the snapshot. */
  const SAVED = [
    'gpr', 'gprHi', 'ripLo', 'ripHi', 'fRes', 'fResHi', 'fAux', 'flags', 'segSel', 'segBase', 'segBaseHi', 'segLimit', 'segAttr',
    'gdtrBaseLo', 'gdtrBaseHi', 'gdtrLimit', 'idtrBaseLo', 'idtrBaseHi', 'idtrLimit', 'cr0', 'cr2Lo', 'cr2Hi', 'cr3Lo', 'cr3Hi', 'cr4',
    'cr8', 'efer', 'xcr0', 'drLo', 'drHi', 'starLo', 'starHi', 'lstarLo', 'lstarHi', 'cstarLo', 'cstarHi', 'sfmask', 'kernelGsBaseLo',
    'kernelGsBaseHi', 'sysenterCs', 'sysenterEspLo', 'sysenterEspHi', 'sysenterEipLo', 'sysenterEipHi', 'tscAux', 'specCtrl', 'tscOffset', 'patLo',
    'patHi', 'apicBaseLo', 'apicBaseHi', 'miscEnableLo', 'miscEnableHi', 'featureControlLo', 'apicId', 'perfMsrs', 'mtrrs', 'halted',
    'icount', 'interruptShadow', 'stiShadow', 'pendingDb', 'nmiBlocked', 'nmiPending', 'waitForSipi', 'shutdown', 'a20', 'guestMode',
    'fpLo', 'fpHi', 'fpSe', 'fpTop', 'fsw', 'fcw', 'fpEmpty', 'fipLo', 'fipHi', 'fcs', 'fdpLo', 'fdpHi', 'fds', 'fop', 'xmm', 'mxcsr', 'ferr',
  ];
  /** Recomputed on restore by the CPU's own methods (or reset to "none"). */
  const DERIVED = [
    'segRMax', 'segWMax', 'cpl', 'mode', 'dbExec', 'dbData', 'dbIo', 'dbDr7', 'tlbSet', 'pagingMode', 'walkCtl', 'tlbRights', 'nipLo', 'nipHi',
    'excVector', 'deliveringVector', 'branched',
  ];
  /** Caches (flushed), per-instruction scratch, host plumbing: see the list in src/snapshot.ts. */
  const NOT_SAVED = [
    'rec', 'recUsed', 'scratchRec', 'blocks', 'jcLo', 'jcHi', 'jcGen', 'jcBlock', 'codeGen', 'genClock', 'codePages', 'tlbTagR', 'tlbTagW', 'tlbTagX',
    'tlbHi', 'tlbView', 'tlbHost', 'tlbPhys', 'tlbGlobal', 'walkRegion', 'blockStart', 'exitBlock', 'events', 'eaLo', 'eaHi', 'hi',
    'lastLo', 'lastHi', 'msrLo', 'msrHi', 'desc', 'descUpperType', 'tssSs', 'tssEsp', 'frameScratch', 'excError', 'excHasError',
    'scratchBytes', 'crossFetch', 'stopAtPageEnd', 'memory', 'io', 'model', 'isAmd', 'clock', 'interrupts', 'apic', 'walker', 'decoder',
    'ext', 'breakpoints', 'onEvent', 'onApicBaseWrite', 'onFerr', 'm128', 'stopRequested', 'yieldRequested', 'pauseYields', 'tlbFills', 'blockLookups', 'idleTicks', 'deviceExits',
    // Shared by a machine's cores: a floor for TSC reads, safe to start from 0 after a restore.
    'tscShared',
    // How the host lets idle time pass: configuration, not guest state.
    'skipIdle',
    // Virtualization-extension hooks and TLB banks: the extension's state, not in this snapshot.
    'extBoundary', 'extDeadline', 'cr0GuestMask', 'cr0ReadShadow', 'cr4GuestMask', 'cr4ReadShadow', 'tscOffsetLo', 'tscOffsetHi',
    'initBlocked', 'initPending', 'vectoringInfo', 'vectoringError', 'vectoringInsnLen', 'gvaLo', 'gvaHi', 'gvaValid', 'slRights', 'accessSize', 'endOperation', 'curRec',
    'injecting', 'tlbBank', 'tlbBanks', 'tlbBankClock', 'intrIgnoresIf', 'intrBlocked', 'pdpteFromWalk',
    // GIF: only SVM clears it; the machine refuses to save a core with GIF = 0.
    'gif',
    // The STI/MOV-SS blocking of the instruction being executed: 0 at every boundary.
    'insnShadow',
    // MONITOR's armed state: only the MWAIT exit qualification reads it.
    'monitorArmed',
  ];

  it('lists each field of a Cpu as saved, derived or deliberately not saved', () => {
    const known = new Set([...SAVED, ...DERIVED, ...NOT_SAVED]);
    const unknown = Object.keys(new Machine().cpu).filter((k) => !known.has(k));
    expect(unknown, 'new Cpu fields: save them in src/snapshot.ts or list them as not saved').toEqual([]);
  });

  it('restores every saved field and recomputes the derived ones', () => {
    const a = new Machine();
    const c = a.cpu;
    for (let i = 0; i < 16; i++) {
      c.gpr[i] = Math.imul(i + 1, 0x1234567);
      c.gprHi[i] = Math.imul(i + 1, -0x7654321);
    }
    c.cr0 |= Cr0.PE | Cr0.AM;
    c.cr4 = Cr4.PAE | Cr4.DE;
    c.setSegmentRaw(Seg.CS, 0x1b, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.DB | SegAttr.G | (3 << SegAttr.DplShift));
    c.setSegmentRaw(Seg.SS, 0x23, 0x1000, 0xfffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | (3 << SegAttr.DplShift));
    c.setSegmentRaw(Seg.DS, 0x23, 0x2000, 0xfff, SegAttr.P | SegAttr.S | SegAttr.DC | (3 << SegAttr.DplShift)); // expand-down, read-only
    c.setSegmentRaw(Seg.FS, 0x33, 0x12345000, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | (3 << SegAttr.DplShift), 0x7f);
    c.setSegmentRaw(Seg.GS, 0, 0, 0, SegAttr.Unusable);
    c.setSegmentRaw(Seg.LDTR, 0x40, 0x5000, 0x7f, SegAttr.P | 2);
    c.setSegmentRaw(Seg.TR, 0x48, 0x6000, 0x67, SegAttr.P | 11);
    c.setEflags(Flag.Fixed1 | Flag.CF | Flag.ZF | Flag.OF | Flag.DF | Flag.IF | Flag.AC | (2 << 12));
    c.gdtrBaseLo = 0x11000;
    c.gdtrBaseHi = 3;
    c.gdtrLimit = 0x3ff;
    c.idtrBaseLo = 0x12000;
    c.idtrLimit = 0x7ff;
    c.cr2Lo = -0x1000;
    c.cr2Hi = 0x7fff;
    c.cr3Lo = 0x30000;
    c.cr8 = 5;
    c.efer = 0x800;
    c.xcr0 = 3;
    c.drLo[0] = 0x4000;
    c.drLo[1] = 0x4010;
    c.drLo[2] = 0x60;
    c.drHi[0] = 0;
    c.drLo[6] = 0xffff4ff1 | 0;
    c.drLo[7] = 0x400 | 0x3f | (1 << 16) | (2 << 24) | (3 << 20); // DR0 write, DR1 read/write, DR2 I/O
    c.updateDebug();
    c.walker.setPdpte(0, 0x31001, 0);
    c.walker.setPdpte(3, 0x34001, 1);
    c.starLo = 1;
    c.starHi = 0x00230008;
    c.lstarLo = -0x1000;
    c.lstarHi = -1;
    c.cstarLo = 0x3000;
    c.cstarHi = 4;
    c.sfmask = 0x47700;
    c.kernelGsBaseLo = 0x5000;
    c.kernelGsBaseHi = 6;
    c.sysenterCs = 0x10;
    c.sysenterEspLo = 0x7000;
    c.sysenterEspHi = 8;
    c.sysenterEipLo = 0x9000;
    c.sysenterEipHi = 10;
    c.tscAux = 11;
    c.tscOffset = 123_456_789_012;
    c.patLo = 0x01020304;
    c.patHi = 0x05060700;
    c.apicBaseLo = 0xfec00800;
    c.apicBaseHi = 1;
    c.miscEnableLo = 0x801;
    c.miscEnableHi = 2;
    c.featureControlLo = 5;
    c.apicId = 7;
    for (let i = 0; i < 16; i++) c.perfMsrs[i] = i * 3 + 1;
    c.mtrrs.set(0x2ff, [0xc06, 0]);
    c.mtrrs.set(0x200, [0x80000006, 0]);
    c.a20 = false;
    c.halted = true;
    c.shutdown = true;
    c.waitForSipi = true;
    c.interruptShadow = true;
    c.stiShadow = true;
    c.nmiBlocked = true;
    c.nmiPending = true;
    c.pendingDb = 0x4003;
    c.icount = 987_654_321;
    for (let i = 0; i < 8; i++) {
      c.fpLo[i] = Math.imul(i + 3, 0x3456789);
      c.fpHi[i] = Math.imul(i + 5, -0x1234567);
      c.fpSe[i] = 0x3fff + i * 0x1111;
    }
    c.fpTop = 5;
    c.fsw = 0x4521;
    c.fcw = 0x0f7e;
    c.fpEmpty = 0xa5;
    c.fipLo = 0x11111;
    c.fipHi = 0x22;
    c.fcs = 0x33;
    c.fdpLo = 0x44444;
    c.fdpHi = 0x55;
    c.fds = 0x66;
    c.fop = 0x7ab;
    for (let i = 0; i < 64; i++) c.xmm[i] = Math.imul(i + 1, 0x9e3779b9);
    c.mxcsr = 0xffc0;
    c.ferr = true;
    c.ripLo = 0x1234;
    c.ripHi = 0;
    c.updateMode();
    c.flushTlb(true);
    expect(c.cpl).toBe(3);

    const snap = saveCpuState(c);
    const b = new Machine();
    restoreCpuState(b.cpu, structuredClone(snap));
    const d = b.cpu;
    for (const k of SAVED) {
      const x = (c as unknown as Record<string, unknown>)[k];
      const y = (d as unknown as Record<string, unknown>)[k];
      expect(y, k).toEqual(x);
    }
    expect(d.getEflags()).toBe(c.getEflags());
    expect(Array.from(d.walker.pdptes)).toEqual(Array.from(c.walker.pdptes));
    for (const k of ['segRMax', 'segWMax', 'cpl', 'mode', 'dbExec', 'dbData', 'dbIo', 'tlbSet', 'pagingMode']) {
      expect((d as unknown as Record<string, unknown>)[k], k).toEqual((c as unknown as Record<string, unknown>)[k]);
    }
    expect(d.dbData).toBe(3);
    expect(d.dbIo).toBe(4);
    expect(d.tlbSet).not.toBe(0); // CPL 3 with CR0.AM and EFLAGS.AC: the alignment-checking set
  });
});

describe('bad snapshots', () => {
  function good(): { m: Machine; snap: CpuSnapshot } {
    const m = pagingProgram();
    m.cpu.run(40);
    return { m, snap: saveCpuState(m.cpu) };
  }

  /** Restoring `bad` throws `pattern` and leaves the target CPU as it was. */
  function refused(bad: unknown, pattern: RegExp, model?: CpuModel): void {
    const target = pagingProgram();
    if (model) {
      const other = new Machine(model);
      const before = saveCpuState(other.cpu);
      expect(() => restoreCpuState(other.cpu, bad as CpuSnapshot)).toThrow(pattern);
      expect(saveCpuState(other.cpu)).toEqual(before);
      return;
    }
    target.cpu.run(7);
    const before = saveCpuState(target.cpu);
    let error: unknown;
    try {
      restoreCpuState(target.cpu, bad as CpuSnapshot);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CpuSnapshotError);
    expect((error as Error).message).toMatch(pattern);
    expect(saveCpuState(target.cpu)).toEqual(before);
  }

  it('refuses another version', () => {
    const { snap } = good();
    refused({ ...snap, version: 1 }, /unsupported version 1/);
    refused({ ...snap, version: 3 }, /unsupported version 3/);
    refused({ version: 0, state: {} }, /unsupported version 0/);
  });

  it('refuses a malformed state, naming the field', () => {
    const { snap } = good();
    const s = snap.state;
    refused({ version: 2, state: null }, /"state" is not an object/);
    refused({ version: 2, state: { ...s, gpr: s.gpr.slice(1) } }, /"gpr"/);
    refused({ version: 2, state: { ...s, gprHi: [...s.gprHi.slice(1), 2 ** 32] } }, /"gprHi"/);
    refused({ version: 2, state: { ...s, ripLo: 1.5 } }, /"state\.ripLo"/);
    refused({ version: 2, state: { ...s, rflags: 0 } }, /rflags/);
    refused({ version: 2, state: { ...s, rflags: s.rflags | 0x8000 } }, /rflags/);
    refused({ version: 2, state: { ...s, segments: s.segments.slice(0, 7) } }, /"segments"/);
    refused({ version: 2, state: { ...s, segments: s.segments.map((g, i) => (i === 2 ? { ...g, selector: 0x10000 } : g)) } }, /segments\[2\]\.selector/);
    refused({ version: 2, state: { ...s, control: { ...s.control, cr4: '0' } } }, /control\.cr4/);
    refused({ version: 2, state: { ...s, msrs: { ...s.msrs, lstarHi: undefined } } }, /msrs\.lstarHi/);
    refused({ version: 2, state: { ...s, tscOffset: Infinity } }, /tscOffset/);
    refused({ version: 2, state: { ...s, mtrrs: [0x200, 1] } }, /mtrrs/);
    refused({ version: 2, state: { ...s, run: { ...s.run, halted: 1 } } }, /run\.halted/);
    refused({ version: 2, state: { ...s, run: { ...s.run, icount: -1 } } }, /run\.icount/);
    refused({ version: 2, state: { ...s, fpu: { ...s.fpu, xmm: s.fpu.xmm.slice(1) } } }, /"xmm"/);
    refused({ version: 2, state: { ...s, fpu: { ...s.fpu, fpTop: 8 } } }, /fpu\.fpTop/);
    refused({ version: 2, state: { ...s, fpu: { ...s.fpu, ferr: 0 } } }, /fpu\.ferr/);
    refused({ version: 2, state: { ...s, fpu: undefined } }, /"fpu" is not an object/);
  });

  it('refuses a state whose CPL or code mode disagrees with its registers', () => {
    const { snap } = good();
    expect(snap.state.mode).toBe(CodeMode.Bits32);
    refused({ version: 2, state: { ...snap.state, cpl: 3 } }, /inconsistent.*CPL 3/);
    refused({ version: 2, state: { ...snap.state, mode: CodeMode.Bits64 } }, /inconsistent/);
  });

  it('refuses a snapshot of another CPU model', () => {
    const { snap } = good();
    refused(snap, /model "hvkit-intel" \(intel\), cannot restore onto "hvkit-amd" \(amd\)/, AMD_ZEN);
  });

  it('will not save a CPU in guest mode', () => {
    const m = new Machine();
    m.cpu.guestMode = true;
    expect(() => saveCpuState(m.cpu)).toThrow(CpuSnapshotError);
  });
});
