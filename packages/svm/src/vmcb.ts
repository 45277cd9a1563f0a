/**
 * The VMCB (virtual machine control block, APM Vol. 2 §15.5 "VMRUN Instruction" and Appendix B
 * "Layout of VMCB"): a 4 KiB page in host-physical memory, a control area (offsets 000h-3FFh,
 * Table B-1) and a state save area (400h-FFFh, Table B-2). Offsets are named after the APM.
 *
 * {@link VmcbMemory} reads and writes the VMCB (and the host save area, which hvkit lays out as
 * a state save area) without allocating: when the page is RAM it goes through an Int32Array
 * view of the RAM chunk (made once per page and cached), else through `cpu.physRead32`. The
 * processor's own VMCB writes go straight to RAM: they bypass the core's code-invalidation
 * observer, as a VMCB holds no code (software that puts code in a VMCB page gets no
 * self-modifying-code detection for those writes).
 */
import type { Cpu } from '@hvkit/x86';

/** VMCB offsets (APM Vol. 2 Appendix B, Tables B-1 and B-2). 64-bit fields are (lo at off, hi at off + 4). */
export const VmcbOffset = {
  // ---- control area (Table B-1) ----
  /** 16 bits: intercept reads of CR0-CR15 (bit n = CRn). */
  InterceptCrRead: 0x000,
  /** 16 bits: intercept writes of CR0-CR15. */
  InterceptCrWrite: 0x002,
  /** 16 bits: intercept reads of DR0-DR15. */
  InterceptDrRead: 0x004,
  /** 16 bits: intercept writes of DR0-DR15. */
  InterceptDrWrite: 0x006,
  /** 32 bits: intercept exception vectors 0-31. */
  InterceptExceptions: 0x008,
  /** 32 bits: {@link InterceptMisc1} (INTR ... shutdown). */
  InterceptMisc1: 0x00c,
  /** 32 bits: {@link InterceptMisc2} (VMRUN ... EFER write trap, CR write traps). */
  InterceptMisc2: 0x010,
  /** 32 bits: {@link InterceptMisc3} (INVLPGB ...). */
  InterceptMisc3: 0x014,
  /** 16 bits: PAUSE_FILTER_THRESHOLD. */
  PauseFilterThreshold: 0x03c,
  /** 16 bits: PAUSE_FILTER_COUNT. */
  PauseFilterCount: 0x03e,
  /** 64 bits: IOPM_BASE_PA (bits 11:0 ignored). */
  IopmBasePa: 0x040,
  /** 64 bits: MSRPM_BASE_PA (bits 11:0 ignored). */
  MsrpmBasePa: 0x048,
  /** 64 bits: TSC_OFFSET. */
  TscOffset: 0x050,
  /** 32 bits: guest ASID. */
  GuestAsid: 0x058,
  /** 8 bits: TLB_CONTROL. */
  TlbControl: 0x05c,
  /** 64 bits: V_TPR, V_IRQ, V_GIF, V_NMI, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING ({@link VIntr}); V_INTR_VECTOR in bits 39:32. */
  VIntr: 0x060,
  /** The V_INTR_VECTOR byte (bits 39:32 of the word at 060h). */
  VIntrVector: 0x064,
  /** 64 bits: INTERRUPT_SHADOW (bit 0), GUEST_INTERRUPT_MASK (bit 1). */
  InterruptShadow: 0x068,
  /** 64 bits: EXITCODE. */
  ExitCode: 0x070,
  /** 64 bits: EXITINFO1. */
  ExitInfo1: 0x078,
  /** 64 bits: EXITINFO2. */
  ExitInfo2: 0x080,
  /** 64 bits: EXITINTINFO. */
  ExitIntInfo: 0x088,
  /** 64 bits: NP_ENABLE (bit 0), SEV, SEV-ES, GMET. */
  NpEnable: 0x090,
  /** 64 bits: AVIC_APIC_BAR (not implemented). */
  AvicApicBar: 0x098,
  /** 64 bits: guest physical address of the GHCB (SEV-ES; not implemented). */
  GhcbPa: 0x0a0,
  /** 64 bits: EVENTINJ. */
  EventInj: 0x0a8,
  /** 64 bits: N_CR3, the nested page table root. */
  NCr3: 0x0b0,
  /** 64 bits: LBR_VIRTUALIZATION_ENABLE (bit 0), virtualized VMSAVE/VMLOAD (bit 1). */
  LbrVirtualizationEnable: 0x0b8,
  /** 32 bits: VMCB clean bits ({@link VmcbClean}). */
  VmcbClean: 0x0c0,
  /** 64 bits: nRIP, the next sequential instruction pointer (NRIPS). */
  NRip: 0x0c8,
  /** 8 bits: number of guest instruction bytes fetched (decode assists). */
  GuestInsnBytesCount: 0x0d0,
  /** 15 bytes: the guest instruction bytes (decode assists). */
  GuestInsnBytes: 0x0d1,

  // ---- state save area (Table B-2) ----
  /** Segment registers: 16 bytes each: selector (16), attrib (16), limit (32), base (64). */
  Es: 0x400,
  Cs: 0x410,
  Ss: 0x420,
  Ds: 0x430,
  Fs: 0x440,
  Gs: 0x450,
  Gdtr: 0x460,
  Ldtr: 0x470,
  Idtr: 0x480,
  Tr: 0x490,
  /** 8 bits: CPL. */
  Cpl: 0x4cb,
  Efer: 0x4d0,
  Cr4: 0x548,
  Cr3: 0x550,
  Cr0: 0x558,
  Dr7: 0x560,
  Dr6: 0x568,
  Rflags: 0x570,
  Rip: 0x578,
  Rsp: 0x5d8,
  Rax: 0x5f8,
  Star: 0x600,
  Lstar: 0x608,
  Cstar: 0x610,
  Sfmask: 0x618,
  KernelGsBase: 0x620,
  SysenterCs: 0x628,
  SysenterEsp: 0x630,
  SysenterEip: 0x638,
  Cr2: 0x640,
  GPat: 0x668,
  DbgCtl: 0x670,
  BrFrom: 0x678,
  BrTo: 0x680,
  LastExcpFrom: 0x688,
  LastExcpTo: 0x690,
} as const;

/** Offsets within a segment register's 16 bytes (Table B-2). */
export const VmcbSeg = {
  Selector: 0,
  /** 16 bits, the compressed attribute format: bits 7:0 = descriptor bits 47:40 (type, S, DPL, P), bits 11:8 = bits 55:52 (AVL, L, D/B, G). */
  Attrib: 2,
  Limit: 4,
  Base: 8,
} as const;

/** The segment registers' VMCB offsets by the core's `Seg` index (ES, CS, SS, DS, FS, GS, LDTR, TR). */
export const VMCB_SEG_BY_CORE_SEG: readonly number[] = [
  VmcbOffset.Es,
  VmcbOffset.Cs,
  VmcbOffset.Ss,
  VmcbOffset.Ds,
  VmcbOffset.Fs,
  VmcbOffset.Gs,
  VmcbOffset.Ldtr,
  VmcbOffset.Tr,
];

/**
 * The core's attribute word (VMX access-rights layout, bits 15:12 = AVL, L, D/B, G) to the VMCB's
 * 12-bit attrib. The VMCB has no "unusable" bit: a segment the core holds as unusable (a null
 * selector loaded in protected mode) is saved not present (P = 0), which is how it reads back.
 */
export function attribFromCore(attr: number): number {
  const a = (attr & 0xff) | ((attr >>> 4) & 0xf00);
  return (attr & SEG_UNUSABLE) !== 0 ? a & ~0x80 : a;
}

/**
 * The VMCB's attrib to the core's attribute word. In protected mode (`protectedMode`: CR0.PE = 1
 * and not virtual-8086 mode) a not-present segment (P = 0) is unusable for the core, the state a
 * null selector leaves; real-mode and virtual-8086 segments are always usable.
 */
export function attribToCore(attrib: number, protectedMode: boolean): number {
  const a = (attrib & 0xff) | ((attrib & 0xf00) << 4);
  return protectedMode && (attrib & 0x80) === 0 ? a | SEG_UNUSABLE : a;
}

/** The core's SegAttr.Unusable (bit 16). */
const SEG_UNUSABLE = 1 << 16;

/** Word indexes (offset / 4) of the state-save fields {@link storeStateSave} writes. */
const S_GDTR = VmcbOffset.Gdtr >> 2;
const S_IDTR = VmcbOffset.Idtr >> 2;
const S_CPL = (VmcbOffset.Cpl & ~3) >> 2;

/**
 * Writes the core's state into a state save area's words (APM Vol. 2 Table B-2 layout): ES, CS,
 * SS, DS (selector, attrib, limit, base), GDTR, IDTR, CPL, EFER, CR0, CR2, CR3, CR4, DR6, DR7,
 * RFLAGS, RIP = (`ripLo`, `ripHi`), RSP, RAX. Both the guest save of #VMEXIT (§15.6) and VMRUN's
 * host save (hvkit lays the host save area out the same way) use it; each adds its own fields.
 */
export function storeStateSave(cpu: Cpu, w: Int32Array, ripLo: number, ripHi: number): void {
  const segSel = cpu.segSel;
  const segAttr = cpu.segAttr;
  const segLimit = cpu.segLimit;
  const segBase = cpu.segBase;
  const segBaseHi = cpu.segBaseHi;
  // ES, CS, SS, DS: the core's Seg 0-3, in VMCB_SEG_BY_CORE_SEG order.
  for (let s = 0; s < 4; s++) {
    const o = VMCB_SEG_BY_CORE_SEG[s]! >> 2;
    w[o] = (segSel[s]! & 0xffff) | (attribFromCore(segAttr[s]!) << 16);
    w[o + 1] = segLimit[s]!;
    w[o + 2] = segBase[s]!;
    w[o + 3] = segBaseHi[s]!;
  }
  w[S_GDTR + 1] = cpu.gdtrLimit & 0xffff;
  w[S_GDTR + 2] = cpu.gdtrBaseLo;
  w[S_GDTR + 3] = cpu.gdtrBaseHi;
  w[S_IDTR + 1] = cpu.idtrLimit & 0xffff;
  w[S_IDTR + 2] = cpu.idtrBaseLo;
  w[S_IDTR + 3] = cpu.idtrBaseHi;
  // CPL: the byte at 4CBh, the top byte of the word at 4C8h.
  w[S_CPL] = (w[S_CPL]! & 0x00ffffff) | (cpu.cpl << 24);
  w[VmcbOffset.Efer >> 2] = cpu.efer;
  w[(VmcbOffset.Efer >> 2) + 1] = 0;
  w[VmcbOffset.Cr0 >> 2] = cpu.cr0;
  w[(VmcbOffset.Cr0 >> 2) + 1] = 0;
  w[VmcbOffset.Cr2 >> 2] = cpu.cr2Lo;
  w[(VmcbOffset.Cr2 >> 2) + 1] = cpu.cr2Hi;
  w[VmcbOffset.Cr3 >> 2] = cpu.cr3Lo;
  w[(VmcbOffset.Cr3 >> 2) + 1] = cpu.cr3Hi;
  w[VmcbOffset.Cr4 >> 2] = cpu.cr4;
  w[(VmcbOffset.Cr4 >> 2) + 1] = 0;
  w[VmcbOffset.Dr6 >> 2] = cpu.drLo[6]!;
  w[(VmcbOffset.Dr6 >> 2) + 1] = cpu.drHi[6]!;
  w[VmcbOffset.Dr7 >> 2] = cpu.drLo[7]!;
  w[(VmcbOffset.Dr7 >> 2) + 1] = cpu.drHi[7]!;
  w[VmcbOffset.Rflags >> 2] = cpu.getEflags();
  w[(VmcbOffset.Rflags >> 2) + 1] = 0;
  w[VmcbOffset.Rip >> 2] = ripLo;
  w[(VmcbOffset.Rip >> 2) + 1] = ripHi;
  w[VmcbOffset.Rsp >> 2] = cpu.gpr[4]!;
  w[(VmcbOffset.Rsp >> 2) + 1] = cpu.gprHi[4]!;
  w[VmcbOffset.Rax >> 2] = cpu.gpr[0]!;
  w[(VmcbOffset.Rax >> 2) + 1] = cpu.gprHi[0]!;
}

const TWO_32 = 4294967296;

/** `words` of a page not opened (not RAM, outside open/close). */
const NO_WORDS = new Int32Array(1024);

/**
 * Reads and writes one 4 KiB page (a VMCB or the host save area) at a host-physical address:
 * `select(pa)` once, then `r32/w32/r16/w16/r8/w8` by offset. No allocation after the first
 * `select` of each page.
 *
 * Hot paths (the world switch) index the page directly: {@link open} returns it as 1024 words
 * ({@link words}; offset `off` is `words[off >> 2]`) and {@link close} ends the access. When the
 * page is RAM, `words` is the RAM itself and open/close cost nothing. When it is not (MMIO,
 * unmapped), `words` is a staging copy: `open` reads the whole page through `cpu.physRead32`,
 * `close` writes back through `cpu.physWrite32` the words that changed, and `r32/w32` use the
 * copy between the two (open/close nest).
 */
export class VmcbMemory {
  /** The selected page's host-physical address, or -1. */
  pa = -1;
  /**
   * The selected page as 32-bit words: the RAM view when {@link direct}, else (between
   * {@link open} and {@link close}) the staging copy.
   */
  words: Int32Array = NO_WORDS;
  /** Whether the selected page is RAM and {@link words} is it (no open/close bookkeeping). */
  direct = false;
  private view: Int32Array | null = null;
  private readonly views = new Map<number, Int32Array | null>();
  private cpu!: Cpu;
  private readonly stage = new Int32Array(1024);
  private readonly staged = new Int32Array(1024);
  private depth = 0;

  bind(cpu: Cpu): void {
    this.cpu = cpu;
    this.invalidate();
  }

  /** Selects the page at `pa` (4 KiB aligned, below 2^52). */
  select(pa: number): void {
    if (pa === this.pa) return;
    if (this.depth !== 0) {
      // A staging copy still open: written back before another page is selected.
      this.depth = 1;
      this.close();
    }
    this.pa = pa;
    let v = this.views.get(pa);
    if (v === undefined) {
      v = this.makeView(pa);
      this.views.set(pa, v);
    }
    this.setView(v);
  }

  private setView(v: Int32Array | null): void {
    this.depth = 0;
    this.view = v;
    this.direct = v !== null;
    this.words = v ?? NO_WORDS;
  }

  /** Forgets the cached views (the memory map changed). */
  invalidate(): void {
    this.views.clear();
    this.pa = -1;
    this.setView(null);
  }

  /**
   * Selects the page at `pa` and returns its words for direct indexing until {@link close}
   * (a staging copy read now when the page is not RAM).
   */
  open(pa: number): Int32Array {
    this.select(pa);
    if (this.direct) return this.words;
    if (this.depth++ === 0) {
      const stage = this.stage;
      for (let i = 0; i < 1024; i++) stage[i] = this.cpu.physRead32(pa + i * 4);
      this.staged.set(stage);
      this.view = stage;
      this.words = stage;
    }
    return this.stage;
  }

  /** Ends an {@link open}: a staging copy's changed words are written back. */
  close(): void {
    if (this.direct || this.depth === 0 || --this.depth !== 0) return;
    const stage = this.stage;
    const staged = this.staged;
    for (let i = 0; i < 1024; i++) if (stage[i] !== staged[i]) this.cpu.physWrite32(this.pa + i * 4, stage[i]!);
    this.view = null;
    this.words = NO_WORDS;
  }

  private makeView(pa: number): Int32Array | null {
    const memory = this.cpu.memory;
    const off = memory.ramOffset(pa as never);
    if (off < 0) return null;
    const end = memory.ramOffset((pa + 4095) as never);
    if (end !== off + 4095) return null;
    const chunkSize = memory.chunkSize;
    const index = Math.floor(off / chunkSize);
    if (Math.floor((off + 4095) / chunkSize) !== index) return null;
    const chunk = memory.ramChunk(index);
    return new Int32Array(chunk.buffer, chunk.byteOffset + (off - index * chunkSize), 1024);
  }

  r32(off: number): number {
    const v = this.view;
    if (v !== null) return v[off >>> 2]!;
    return this.cpu.physRead32(this.pa + off);
  }

  w32(off: number, value: number): void {
    const v = this.view;
    if (v !== null) v[off >>> 2] = value;
    else this.cpu.physWrite32(this.pa + off, value);
  }

  /** Unsigned 16 bits at an even offset. */
  r16(off: number): number {
    return (this.r32(off & ~3) >>> ((off & 2) * 8)) & 0xffff;
  }

  w16(off: number, value: number): void {
    const a = off & ~3;
    const sh = (off & 2) * 8;
    this.w32(a, (this.r32(a) & ~(0xffff << sh)) | ((value & 0xffff) << sh));
  }

  r8(off: number): number {
    return (this.r32(off & ~3) >>> ((off & 3) * 8)) & 0xff;
  }

  w8(off: number, value: number): void {
    const a = off & ~3;
    const sh = (off & 3) * 8;
    this.w32(a, (this.r32(a) & ~(0xff << sh)) | ((value & 0xff) << sh));
  }

  /** A 64-bit field as a number (exact below 2^53; for physical addresses). */
  r64(off: number): number {
    return (this.r32(off + 4) >>> 0) * TWO_32 + (this.r32(off) >>> 0);
  }

  w64(off: number, lo: number, hi: number): void {
    this.w32(off, lo);
    this.w32(off + 4, hi);
  }
}
