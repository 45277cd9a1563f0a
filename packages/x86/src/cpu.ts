/**
 * The CPU: architectural state, the memory pipeline (segmentation, TLB, page walk), the
 * decoded-block cache and the run loop.
 *
 * How one instruction flows (see ARCHITECTURE.md):
 * 1. `run` looks up the block at the physical address of RIP (the fetch TLB translates the
 *    linear RIP; a miss walks the page tables). A missing block is decoded from the page's
 *    bytes into records in `rec` and cached by physical address and code mode.
 * 2. For each record, the loop computes the next RIP, calls `HANDLERS[rec[d]](cpu, d)` and
 *    retires the instruction by copying the next RIP to RIP.
 * 3. A handler that faults throws {@link CPU_FAULT}; the loop delivers the exception through
 *    the IDT with RIP still at the faulting instruction.
 * 4. Writes to a page that holds decoded code miss the write TLB on purpose; the slow path
 *    drops the page's blocks before writing, so self-modifying code re-decodes.
 */
import { PagingMode, PageAccess, PageWalker, pagingModeOf, walkControlOf, isCanonical, isAccessPermitted, WalkControl } from '@hvkit/mmu';
import type { CpuLocalApic, CpuPins, PhysicalMemory, PioBus, VirtualClock, Hpa, Port } from '@hvkit/platform';
import * as decoded from './decoded.js';
import { Decoder, NEED_MORE_BYTES } from './decoder.js';
import type { Intercept, VirtualizationExtension } from './extension.js';
import * as fault from './fault.js';
import * as flagsModule from './flags.js';
import { CpuidExt1Edx, INTEL_CORE, type CpuModel } from './model.js';
import * as optable from './optable.js';
import * as state from './state.js';
import { installAllOps } from './ops/index.js';
import * as interrupts from './interrupts.js';
import { DescriptorScratch } from './segments.js';
import { segmentFastLimits } from './ops/operands.js';
import { specialize } from './ops/fast.js';
import { CONDITIONAL_BRANCH } from './ops/control.js';

// Imported bindings used on hot paths, copied once into module constants: module runners that
// rewrite ES modules (Vitest's, tsx's) turn every read of an imported binding into a getter call.
const { R_INFO, R_OP, REC_WORDS } = decoded;
const { CPU_FAULT, CPU_SHUTDOWN, CPU_VMEXIT, CpuConfigurationError } = fault;
const { arithFlags, setArithFlags } = flagsModule;
const { HANDLERS } = optable;
const { CodeMode, Cr0, Cr4, Efer, Flag, Seg, SegAttr, Vector } = state;
type CodeMode = state.CodeMode;
const { deliverEvent, EventKind } = interrupts;

installAllOps();

/** The maskable-interrupt source the CPU polls (the local APIC, or a PIC on a simple board). */
export interface InterruptController {
  /** Whether a maskable interrupt is pending (INTR asserted). */
  hasInterrupt(): boolean;
  /** Acknowledges the highest-priority pending interrupt and returns its vector. */
  acknowledge(): number;
}

export interface CpuOptions {
  memory: PhysicalMemory;
  io: PioBus;
  /** The maskable-interrupt source on a board without a local APIC (a PIC). */
  interrupts?: InterruptController;
  /**
   * The core's local APIC (SDM Vol. 3 ch. 11): the interrupt source, IA32_APIC_BASE, the xAPIC
   * page, x2APIC MSRs, CR8 and IA32_TSC_DEADLINE go to it. Takes precedence over `interrupts`.
   */
  apic?: CpuLocalApic;
  model?: CpuModel;
  clock?: VirtualClock;
  /** Initial value of IA32_APIC_BASE's BSP bit and APIC ID. */
  apicId?: number;
}

/** Why {@link Cpu.run} returned. */
export const StopReason = {
  /** The instruction budget ran out. */
  Budget: 0,
  /** HLT with no interrupt able to wake the CPU (IF = 0 or nothing pending). */
  Halt: 1,
  /** Triple fault or another shutdown condition. */
  Shutdown: 2,
  /** A host breakpoint address was reached. */
  Breakpoint: 3,
  /** `cpu.stop()` was called (by a device, say). */
  Stopped: 4,
  /** PAUSE gave up the rest of the turn ({@link Cpu.pauseYields}). */
  Yield: 5,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

const TLB_SETS = 3; // supervisor, user, always-miss (alignment checking)
const TLB_SIZE = 1024;
const TLB_MASK = TLB_SIZE - 1;
const TLB_INVALID = 1;
/** The TLB's backing view for entries that are not RAM (never read: their tags do not match). */
const NO_PAGE = new DataView(new ArrayBuffer(8));
const TLB_USER = TLB_SIZE;
const TLB_NOFAST = 2 * TLB_SIZE;

const MAX_BLOCK_INSNS = 64;
const JC_SIZE = 4096;
const REC_POOL_INSNS = 1 << 16;

/** Most TLB banks kept at once ({@link Cpu.selectTlbBank}); the least recently used one is reused. */
const MAX_TLB_BANKS = 8;

/**
 * One bank of TLB arrays (every set), selected by a tag: 0 for the host (root operation), the
 * extension's choice (1 + VPID, a hash of EPTP/VPID, ...) for guests, like the VPID/EP4TA tags
 * of SDM §28.3.1 "Information That May Be Cached" / §28.4 "Caching Translation Information".
 */
class TlbBank {
  lastUse = 0;
  /** The walk-control rights the entries were filled under (Cpu.tlbRights). */
  rights = -1;
  readonly tagR = new Int32Array(TLB_SETS * TLB_SIZE).fill(TLB_INVALID);
  readonly tagW = new Int32Array(TLB_SETS * TLB_SIZE).fill(TLB_INVALID);
  readonly tagX = new Int32Array(TLB_SETS * TLB_SIZE).fill(TLB_INVALID);
  readonly hi = new Int32Array(TLB_SETS * TLB_SIZE);
  readonly view: DataView[] = new Array<DataView>(TLB_SETS * TLB_SIZE).fill(NO_PAGE);
  readonly host = new Int32Array(TLB_SETS * TLB_SIZE);
  readonly phys = new Float64Array(TLB_SETS * TLB_SIZE);
  readonly global = new Uint8Array(TLB_SETS * TLB_SIZE);
  /**
   * The slots filled since they were last dropped (`filled[0..count)`; `listed` marks them), so
   * a flush walks only what was filled: a world switch that flushes a bank of a few entries
   * costs a few stores, not 3 x 3 x 1024. Every slot with a valid tag is listed.
   */
  readonly filled = new Int32Array(TLB_SETS * TLB_SIZE);
  readonly listed = new Uint8Array(TLB_SETS * TLB_SIZE);
  count = 0;
  /**
   * The jump-cache generation of this bank's context ({@link Cpu.contextChanged} records it with
   * the state the decoded-block lookups depend on), -1 when void: anything that invalidates
   * linear-RIP lookups while the bank is current, or a clear of the bank, voids it. A world
   * switch back to the bank with the same state takes the generation up again, so the jump-cache
   * entries made in the bank's previous stay still hit (generations are never handed out twice).
   */
  jcGen = -1;
  jcMode = -1;
  jcCpl = -1;
  jcWalkCtl = -1;
  jcTlbSet = -1;
  jcPaging = -1;
  jcCsBase = 0;
  jcCsBaseHi = 0;
  jcCsLimit = 0;
  constructor(public tag: number) {}
  /** Records a slot about to be filled (the fill path only). */
  note(i: number): void {
    if (this.listed[i] === 0) {
      this.listed[i] = 1;
      this.filled[this.count++] = i;
    }
  }
  /** Drops every entry, or only the non-global ones (those stay listed). */
  clear(includeGlobal = true): void {
    const filled = this.filled;
    const n = this.count;
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const i = filled[k]!;
      if (!includeGlobal && this.global[i] !== 0 && (this.tagR[i] !== TLB_INVALID || this.tagW[i] !== TLB_INVALID || this.tagX[i] !== TLB_INVALID)) {
        filled[kept++] = i;
        continue;
      }
      this.tagR[i] = TLB_INVALID;
      this.tagW[i] = TLB_INVALID;
      this.tagX[i] = TLB_INVALID;
      this.listed[i] = 0;
    }
    this.count = kept;
    // Jump-cache hits skip the TLB: lookups made through dropped entries go with them.
    this.jcGen = -1;
  }
}

/** One decoded block: consecutive instructions within one page, ending at a branch. */
class Block {
  constructor(
    readonly key: number,
    readonly phys: number,
    readonly start: number,
    readonly count: number,
    readonly bytes: number,
  ) {}
}

const access = { read: 0, write: 1, fetch: 2 } as const;

export class Cpu {
  // ---- registers ------------------------------------------------------------------------
  /** Low 32 bits of RAX..R15. */
  readonly gpr = new Int32Array(16);
  /** High 32 bits of RAX..R15. */
  readonly gprHi = new Int32Array(16);
  ripLo = 0;
  ripHi = 0;
  /** RIP of the next instruction, set by the run loop before a handler runs; branches overwrite it. */
  nipLo = 0;
  nipHi = 0;
  /** Lazy arithmetic flags, see flags.ts. */
  fRes = 0;
  fResHi = 0;
  fAux = 0;
  /** EFLAGS without the six arithmetic flags (which live in the lazy fields). */
  flags = Flag.Fixed1;

  readonly segSel = new Uint16Array(8);
  readonly segBase = new Int32Array(8);
  readonly segBaseHi = new Int32Array(8);
  /** Byte-granular limit. */
  readonly segLimit = new Uint32Array(8);
  /** Attributes in VMX access-rights layout (see SegAttr). */
  readonly segAttr = new Int32Array(8);
  /** Highest offset a read / write may touch without the slow segment checks (-1: always check). */
  readonly segRMax = new Float64Array(8);
  readonly segWMax = new Float64Array(8);
  gdtrBaseLo = 0;
  gdtrBaseHi = 0;
  gdtrLimit = 0xffff;
  idtrBaseLo = 0;
  idtrBaseHi = 0;
  idtrLimit = 0xffff;

  cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
  cr2Lo = 0;
  cr2Hi = 0;
  cr3Lo = 0;
  cr3Hi = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  xcr0 = 1;
  // ---- x87 / MMX / SSE state (src/fpu/; SDM Vol. 1 ch. 8-12) ----------------------------------
  /**
   * x87 data registers R0-R7 by physical number (ST(i) is R((fpTop + i) & 7)): the 64-bit
   * significand as low and high 32-bit halves. MMX registers MM0-MM7 alias these significands.
   */
  readonly fpLo = new Int32Array(8);
  readonly fpHi = new Int32Array(8);
  /** Sign (bit 15) and biased 15-bit exponent (bits 14:0) of R0-R7; an MMX write sets 0xFFFF. */
  readonly fpSe = new Int32Array(8);
  /** FSW.TOP (bits 13:11 of the status word, kept apart). */
  fpTop = 0;
  /** The x87 status word with TOP (bits 13:11) always zero: see {@link fpTop}. */
  fsw = 0;
  /** The x87 control word. */
  fcw = 0x40;
  /** Tag "empty" bits: bit i set when R(i) is empty (the complement of FXSAVE's abridged tag). */
  fpEmpty = 0;
  /** x87 last instruction pointer, last data pointer, and the opcode's low 11 bits. */
  fipLo = 0;
  fipHi = 0;
  fcs = 0;
  fdpLo = 0;
  fdpHi = 0;
  fds = 0;
  fop = 0;
  /** XMM0-XMM15, four little-endian 32-bit lanes each: XMMn lane k is xmm[n * 4 + k]. */
  readonly xmm = new Int32Array(64);
  /** MXCSR (SDM Vol. 1 §10.2.3). */
  mxcsr = 0x1f80;
  /** Scratch for one 128-bit memory operand (see fpu/common.ts). */
  readonly m128 = new Int32Array(4);
  /**
   * FERR# output: called with true when an unmasked x87 exception is pending while CR0.NE = 0
   * (the PC routes it to IRQ13 through the 8259A; SDM Vol. 1 §8.7), false when it is cleared.
   */
  onFerr: ((asserted: boolean) => void) | null = null;
  /** Current level of the FERR# output. */
  ferr = false;

  /** DR0-DR7 low and high halves. */
  readonly drLo = new Int32Array(8);
  readonly drHi = new Int32Array(8);

  /** Current privilege level. */
  cpl = 0;
  /** Code mode (16/32/64-bit decoding). */
  mode: CodeMode = CodeMode.Bits16;

  // ---- MSR state -------------------------------------------------------------------------
  starLo = 0;
  starHi = 0;
  lstarLo = 0;
  lstarHi = 0;
  cstarLo = 0;
  cstarHi = 0;
  sfmask = 0;
  kernelGsBaseLo = 0;
  kernelGsBaseHi = 0;
  sysenterCs = 0;
  sysenterEspLo = 0;
  sysenterEspHi = 0;
  sysenterEipLo = 0;
  sysenterEipHi = 0;
  tscAux = 0;
  /** IA32_SPEC_CTRL (IBRS, STIBP, SSBD): kept for software to read back; the core does not speculate. */
  specCtrl = 0;
  /** TSC offset: TSC = instructions retired + offset (a double; exact to 2^53). */
  tscOffset = 0;
  /**
   * The instruction count of the latest TSC read on any core of this machine, shared by its
   * cores (null on a lone core). Cores run in turns, each with its own instruction count, so a
   * core could read a TSC below one another core read before it; real cores share one
   * synchronised counter (SDM Vol. 3 §18.17.1, invariant TSC), so a read never returns less than
   * the latest read anywhere. Linux's TSC warp check relies on that.
   */
  tscShared: Float64Array | null = null;
  patLo = 0x00070406;
  patHi = 0x00070406;
  apicBaseLo = 0xfee00900;
  apicBaseHi = 0;
  /** IA32_MISC_ENABLE: fast strings (bit 0) and MONITOR/MWAIT enabled (bit 18) as firmware leaves them. */
  miscEnableLo = 1 | (1 << 18);
  miscEnableHi = 0;
  featureControlLo = 0;
  /** Initial APIC ID (CPUID.01H:EBX[31:24], leaves 0BH/1FH). */
  apicId = 0;
  /** Called after WRMSR changes IA32_APIC_BASE (the interrupt controller follows the base and enable bit). */
  onApicBaseWrite: ((lo: number, hi: number) => void) | null = null;
  /** The local APIC, when the board has one (see {@link CpuOptions.apic}). */
  readonly apic: CpuLocalApic | null;
  /** Performance-monitoring MSRs: event selects 0-3 at [2i, 2i+1], counters 0-3 at [8+2i, 9+2i] (lo, hi). */
  readonly perfMsrs = new Int32Array(16);
  /** Variable and fixed MTRRs, by MSR number: [lo, hi]. */
  readonly mtrrs = new Map<number, [number, number]>();
  /** Result of an MSR read by an extension. */
  msrLo = 0;
  msrHi = 0;

  // ---- run state -------------------------------------------------------------------------
  /**
   * HLT executed, waiting for an event: the VMX activity state HLT (1); `waitForSipi` is the
   * wait-for-SIPI state (3); neither is active (0) (SDM §24.4.2 "activity state").
   */
  halted = false;
  /**
   * With a clock: a halted core skips guest time ahead to the next timer deadline inside
   * `run` (true, the default). False returns `StopReason.Halt` at once, so the caller decides
   * how idle time passes (an interactive front end paces it to the host clock).
   */
  skipIdle = true;
  /** Instructions retired since construction (updated when a block ends: see {@link retired}). */
  icount = 0;
  /** Statistics: TLB fills (translations that missed the TLB). */
  tlbFills = 0;
  /** Statistics: TSC ticks (instruction counts) that passed while this core was halted, skipped rather than executed. */
  idleTicks = 0;
  /** Statistics: accesses that left the core for a device model (port I/O, MMIO, the local APIC page). */
  deviceExits = 0;
  /** Record index of the first instruction of the block being executed. */
  blockStart = 0;
  /** Set to make the run loop leave the current block after this instruction. */
  exitBlock = false;
  /**
   * Set by a taken conditional branch: the block (which continues past conditional branches)
   * is left for the target, and the run loop goes on chaining blocks.
   */
  branched = false;
  /** Non-zero when something other than plain execution needs attention between instructions. */
  events = 0;
  /**
   * The instruction after an STI / MOV SS / POP SS cannot be interrupted (SDM Vol. 3 §6.8.3).
   * At an instruction boundary it means the NEXT instruction runs in the shadow, which is what
   * the VMX guest interruptibility state holds (SDM §24.4.2): "blocking by STI" (bit 0) =
   * `interruptShadow && stiShadow`, "blocking by MOV SS" (bit 1) = `interruptShadow &&
   * !stiShadow`. A VM entry loads them the same way; the run loop consumes both as the next
   * instruction starts.
   */
  interruptShadow = false;
  /** The shadow came from STI, which (unlike MOV SS / POP SS) does not hold back debug traps (SDM Vol. 3 §6.8.3). */
  stiShadow = false;
  /**
   * The blocking that applies to the instruction being executed (its {@link interruptShadow} /
   * {@link stiShadow} as it started, which the run loop has already consumed): 0 none, 1 blocking
   * by STI, 2 blocking by MOV SS. Set as a shadowed instruction starts and back to 0 once the run
   * loop has finished with it (so it is 0 at every instruction boundary). What an instruction or
   * a fault-like VM exit sees as "events blocked by MOV SS" / the interruptibility state before
   * the instruction (SDM Vol. 3C §30.3 VMLAUNCH/VMRESUME, §27.3.4 "Saving Non-Register State").
   */
  insnShadow = 0;
  /**
   * DR6 bits of a debug trap to deliver at the next instruction boundary (SDM Vol. 3 §17.3.1.2-17.3.1.5):
   * B0-B3 (data / I/O breakpoint hits), BS (single-step), BT (task switch). The same bit positions
   * as the VMCS pending debug exceptions field (SDM §24.4.2: B3-B0 bits 3:0, BS bit 14); an
   * extension sets bit 12 ("enabled breakpoint") itself when any of B0-B3 is set.
   */
  pendingDb = 0;
  /** Enabled breakpoints by kind (bit n = DRn), from DR7 (see {@link updateDebug}). */
  dbExec = 0;
  dbData = 0;
  dbIo = 0;
  /** The DR7 (low half, as stored in drLo) the masks above were computed from by {@link updateDebug}; 2^32 (no DR7 value): none. */
  private dbDr7 = NO_DR7;
  /**
   * NMIs are blocked from NMI delivery until the next IRET (SDM Vol. 3 §6.7.1): "blocking by NMI"
   * (interruptibility bit 3, SDM §24.4.2). Set when NMI delivery starts (deliverEvent), not when
   * the extension turns the NMI into a VM exit.
   */
  nmiBlocked = false;
  nmiPending = false;
  /**
   * Wait-for-SIPI (SDM Vol. 3 §10.4.2, §11.6.1): an application processor after INIT ignores
   * everything but INIT and a start-up IPI.
   */
  waitForSipi = false;
  stopRequested = false;
  /** Set by PAUSE when {@link pauseYields}: `run` returns `Yield` at the next boundary. */
  yieldRequested = false;
  /**
   * Whether PAUSE ends this core's turn: set by a board that interleaves several cores on one
   * thread, so a spin-wait lets the other cores run.
   */
  pauseYields = false;
  shutdown = false;

  // ---- pending exception -----------------------------------------------------------------
  excVector = -1;
  excError = 0;
  excHasError = false;
  /** Exception nesting for the double-fault rules: -1 none, else the vector being delivered. */
  deliveringVector = -1;

  // ---- plumbing --------------------------------------------------------------------------
  readonly memory: PhysicalMemory;
  readonly io: PioBus;
  readonly model: CpuModel;
  /** `model.vendor === 'amd'`, as a field for hot paths that follow vendor-specific flag rules. */
  readonly isAmd: boolean;
  readonly clock: VirtualClock | null;
  interrupts: InterruptController | null;
  readonly walker: PageWalker;
  readonly decoder = new Decoder();
  /** The decoded-instruction pool. */
  readonly rec = new Int32Array(REC_POOL_INSNS * REC_WORDS);
  private recUsed = 0;
  /** A record for instructions decoded outside the cache (page-crossing, MMIO). */
  private readonly scratchRec = REC_POOL_INSNS * REC_WORDS - REC_WORDS;
  private readonly blocks = new Map<number, Block>();
  /**
   * Jump cache: linear RIP -> block, valid while `codeGen` is unchanged. Anything that can
   * change what a linear RIP means (TLB flushes, CS loads, mode changes, code invalidation)
   * bumps `codeGen`, so a hit needs no translation and no map lookup.
   */
  private readonly jcLo = new Int32Array(JC_SIZE);
  private readonly jcHi = new Int32Array(JC_SIZE);
  private readonly jcGen = new Int32Array(JC_SIZE).fill(-1);
  private readonly jcBlock: (Block | null)[] = new Array<Block | null>(JC_SIZE).fill(null);
  codeGen = 0;
  /** The last jump-cache generation handed out ({@link freshGen}). */
  private genClock = 0;
  /** Decoded-block lookups that missed the jump cache (a statistic, like `tlbFills`). */
  blockLookups = 0;
  /** Blocks by physical page number. */
  private readonly codePages = new Map<number, Block[]>();

  /** Virtualization extension (VMX or SVM), if plugged in. */
  ext: VirtualizationExtension | null = null;
  /** True while running a guest under the extension (VMX non-root / SVM guest mode). */
  guestMode = false;

  // ---- virtualization hooks (set by the extension; the defaults have no effect) -------------
  /**
   * While true (and in guest mode) the core runs one instruction at a time and calls
   * `ext.boundary(cpu)` at every instruction boundary, also while halted or waiting for SIPI
   * (interrupt/NMI-window exiting, the monitor trap flag, pending virtual events).
   */
  extBoundary = false;
  /**
   * Instruction count (compared with {@link icount}) at which `ext.boundary` is called (guest
   * mode only): a run never goes past it, and a halted core skips idle time up to it
   * (the VMX-preemption timer, SDM §25.5.1).
   */
  extDeadline = Infinity;
  /**
   * CR0/CR4 guest/host masks and read shadows (SDM §24.6.6, §25.3 "Changes to instruction
   * behavior in VMX non-root operation"): in guest mode MOV from CR0/CR4 and SMSW read
   * `(cr & ~mask) | (shadow & mask)`, and MOV to CR0/CR4, CLTS and LMSW leave the masked
   * (host-owned) bits unchanged.
   */
  cr0GuestMask = 0;
  cr0ReadShadow = 0;
  cr4GuestMask = 0;
  cr4ReadShadow = 0;
  /** TSC offset added (64-bit, with carry) to RDTSC, RDTSCP and RDMSR IA32_TSC in guest mode (SDM §25.3). */
  tscOffsetLo = 0;
  tscOffsetHi = 0;
  /**
   * In guest mode, a pending INTR is offered to `ext.intercept(Intercept.Interrupt)` even with
   * RFLAGS.IF = 0 (and wakes HLT to do so); still not while an STI / MOV SS shadow blocks it.
   * Set while VMX "external-interrupt exiting" is 1 (SDM Vol. 3C §25.2 "Other Causes of VM
   * Exits", Table 24-5: the exit happens regardless of IF). If the extension declines, nothing
   * is delivered while IF = 0.
   */
  intrIgnoresIf = false;
  /** While true an INIT stays pending (VMX root operation blocks INIT, SDM §24.8, §30.3 "VMXON"). */
  initBlocked = false;
  /**
   * The global interrupt flag (AMD APM Vol. 2 §15.17 "Global Interrupt Flag, STGI and CLGI"):
   * while false, INTR, NMI, SMI and INIT stay pending (host and guest mode alike); debug traps
   * and exceptions are not affected. Only an SVM extension clears it (CLGI, #VMEXIT); RESET sets it.
   */
  gif = true;
  /**
   * In guest mode, a pending physical INTR is not taken at all, whatever RFLAGS.IF (SVM with
   * V_INTR_MASKING = 1 and the host's RFLAGS.IF = 0: the host's IF masks physical interrupts,
   * the guest's IF only virtual ones, APM Vol. 2 §15.21.1 "Physical Interrupt Masking").
   */
  intrBlocked = false;
  /**
   * In guest mode, legacy PAE paging does not use PDPTE registers: MOV to CR0/CR3/CR4 and task
   * switches load no PDPTEs (and raise no #GP for illegal ones), and every page walk reads the
   * PDPTE it needs from the guest's PDPT through `ext.translateGpa`, faulting (#PF) on an illegal
   * one. Set by an SVM extension for a guest with nested paging (AMD APM Vol. 2 §15.25.10
   * "Legacy PAE Mode"); VMX leaves it false (EPT keeps the PDPTE registers, SDM §29.3.1).
   */
  pdpteFromWalk = false;
  /** An INIT that arrived while blocked or in guest mode, taken at the next boundary (see {@link initBlocked}). */
  initPending = false;
  /**
   * While `deliverEvent` delivers an event (after its intercept check, until the handler's
   * CS:RIP is loaded): `1 << 31 | hasError << 11 | type << 8 | vector` with the VMX
   * interruption types (0 external interrupt, 2 NMI, 3 hardware exception, 4 software
   * interrupt, 5 privileged software exception, 6 software exception); 0 otherwise. A VM exit
   * raised during delivery reports it as IDT-vectoring information (SDM §27.2.4).
   */
  vectoringInfo = 0;
  /** The error code of the event in {@link vectoringInfo}. */
  vectoringError = 0;
  /** Instruction length of a software interrupt/exception (types 4, 5, 6) being delivered. */
  vectoringInsnLen = 0;
  /**
   * The linear address being translated by {@link translate} (gvaValid = true), for the
   * guest-linear address of EPT violations (SDM §27.2.1 Table 27-7 bits 7/8); gvaValid is
   * false for accesses the extension makes itself (no linear address).
   */
  gvaLo = 0;
  gvaHi = 0;
  gvaValid = false;
  /**
   * The second-level rights of the page the last {@link translate} reached in guest mode: bit 0
   * read, bit 1 write, bit 2 execute. `translate` sets it to 7 before its final `translateGpa`
   * call; the extension lowers it to what its second-level mapping grants without another walk
   * (VMX: the EPT leaf's R/W/X, W only once a dirty flag it must set is set, SDM Vol. 3C §28.3.3
   * and §28.3.5; 0 for a page that may never be cached, such as the APIC-access page), and the
   * core ANDs it into the TLB rights it installs, so an entry filled by one kind of access never
   * lets another kind bypass the second level (isolation: a guest never reads or writes memory
   * its second-level mapping does not grant).
   */
  slRights = 7;
  /**
   * Guest mode: the size in bytes of the data access whose final translation {@link translate}
   * is asking `translateGpa` for (1, 2, 4 or 8: the sized linear reads and writes that stay within
   * one page), or 0 for every other translation (instruction fetches, system-structure accesses,
   * page-crossing accesses). The extension reads it in `translateGpa` when the size decides the
   * outcome (VMX: which accesses to the APIC-access page are virtualized, SDM Vol. 3C §29.4.2
   * "Virtualizing Reads from the APIC-Access Page", §29.4.3.1 "Determining Whether a Write Access
   * is Virtualized").
   */
  accessSize = 0;
  /**
   * Guest mode: set by the extension during a memory access after which the current operation
   * must end, each iteration of a repeated string instruction being an operation of its own
   * (VMX: APIC-write emulation follows the iteration that wrote the APIC-access page, SDM Vol. 3C
   * §29.4 "operation", §29.4.3.2 "APIC-Write Emulation"): a REP-prefixed string instruction
   * stops after the current iteration (RIP left at it, the registers describing the iterations
   * done) so the run loop's boundary comes next. The REP loops clear it.
   */
  endOperation = false;
  /** The decode record of the instruction an `ext.intercept` call is made for (guest mode; see insn-info.ts). */
  curRec = 0;
  /** MONITOR armed the monitoring hardware (cleared by MWAIT): the MWAIT exit qualification (SDM §27.2.1). */
  monitorArmed = false;
  /** Set by {@link injectEvent}: `deliverEvent` skips its intercept check for the injected event. */
  injecting = false;

  // TLB: per set (supervisor, user, no-fast), per slot. The arrays are those of the current
  // bank (selectTlbBank swaps them: same types, so the lookups stay monomorphic).
  private tlbBank = new TlbBank(0);
  private readonly tlbBanks: TlbBank[] = [this.tlbBank];
  private tlbBankClock = 0;
  private tlbTagR = this.tlbBank.tagR;
  private tlbTagW = this.tlbBank.tagW;
  private tlbTagX = this.tlbBank.tagX;
  private tlbHi = this.tlbBank.hi;
  /**
   * The RAM chunk holding the page (guest RAM is allocated in chunks: see `PhysicalMemory`), and
   * the index in it of the page's first byte.
   */
  private tlbView = this.tlbBank.view;
  private tlbHost = this.tlbBank.host;
  /** Physical page address. */
  private tlbPhys = this.tlbBank.phys;
  private tlbGlobal = this.tlbBank.global;
  /** 0 (supervisor), TLB_USER or TLB_NOFAST: added to every TLB index. */
  tlbSet = 0;
  /** Paging mode and walk control, recomputed when CR0/CR4/EFER/CPL/AC change. */
  pagingMode: PagingMode = PagingMode.None;
  private walkCtl = 0;

  /** Effective-address / linear-address scratch, written by `ea` and `linear`. */
  eaLo = 0;
  eaHi = 0;
  /** High half of the last linear address computed by {@link linear}, and of 64-bit reads. */
  hi = 0;
  /** Linear address of the last memory operand (for read-modify-write). */
  lastLo = 0;
  lastHi = 0;

  /** The last descriptor read (segments.ts). */
  readonly desc = new DescriptorScratch();
  /** Type bits of the upper half of the last 16-byte descriptor read. */
  descUpperType = 0;
  /** SS:ESP read from the TSS during a privilege change. */
  tssSs = 0;
  tssEsp = 0;
  /** Preallocated frame for event delivery (no allocation per interrupt). */
  readonly frameScratch: number[] = new Array<number>(16).fill(0);

  /** The A20 gate: when false, physical address bit 20 reads as 0 (set by the board's port 0x92 / keyboard controller). */
  a20 = true;

  /** Opens or closes the A20 gate; cached translations are dropped. */
  setA20(enabled: boolean): void {
    if (this.a20 === enabled) return;
    this.a20 = enabled;
    this.flushAllTlbBanks();
  }

  /** Host breakpoints on linear RIP (low 32 bits); checked only when non-empty. */
  readonly breakpoints = new Set<number>();

  /**
   * Host hook (tests, debuggers): called by `deliverEvent` before any event (exception,
   * software interrupt, NMI, external interrupt) is delivered, with the EventKind, vector and
   * error code (-1 for none). Returning true swallows the event: nothing is pushed and RIP
   * stays where the event found it (the faulting instruction, or the next one for traps).
   */
  onEvent: ((kind: number, vector: number, errorCode: number) => boolean) | null = null;

  constructor(options: CpuOptions) {
    if (options.memory === undefined || options.io === undefined) {
      throw new CpuConfigurationError('new Cpu() needs { memory, io }');
    }
    this.memory = options.memory;
    this.io = options.io;
    this.model = options.model ?? INTEL_CORE;
    this.isAmd = this.model.vendor === 'amd';
    this.clock = options.clock ?? null;
    this.apic = options.apic ?? null;
    this.interrupts = options.apic ?? options.interrupts ?? null;
    this.decoder.amd = this.model.vendor === 'amd';
    this.walker = new PageWalker(
      {
        read32: (gpa: number): number => this.walkRead32(this.guestMode ? this.gpaToHpa(gpa, 4) : gpa),
        write32: (gpa: number, value: number): void => this.physWrite32(this.guestMode ? this.gpaToHpa(gpa, 5) : gpa, value),
      },
      { maxPhyAddr: this.model.physAddrBits, gbPages: (this.model.ext1Edx & CpuidExt1Edx.PAGE1GB) !== 0, amd: this.model.vendor === 'amd' },
    );
    this.memory.addWriteObserver({
      physicalWrite: (addr: Hpa, length: number) => this.invalidateCodeRange(addr, length),
    });
    this.apicId = options.apicId ?? 0;
    if (options.apicId !== undefined) this.apicBaseLo = (this.apicBaseLo & ~0x100) | (options.apicId === 0 ? 0x100 : 0);
    this.reset();
  }

  /** Power-on / RESET state (SDM Vol. 3 §10.1.1, Table 10-1). */
  reset(): void {
    this.gpr.fill(0);
    this.gprHi.fill(0);
    this.gpr[2] = 0x600 | ((this.model.family > 0xf ? 0xf : this.model.family) << 8) | (this.model.model & 0xf) << 4 | this.model.stepping;
    this.flags = Flag.Fixed1;
    setArithFlags(this, 0);
    this.ripLo = 0xfff0;
    this.ripHi = 0;
    for (let s = 0; s < 6; s++) this.setSegmentRaw(s, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed);
    this.setSegmentRaw(Seg.CS, 0xf000, 0xffff0000, 0xffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed);
    this.setSegmentRaw(Seg.LDTR, 0, 0, 0xffff, SegAttr.P | 2);
    this.setSegmentRaw(Seg.TR, 0, 0, 0xffff, SegAttr.P | 11);
    this.gdtrBaseLo = this.gdtrBaseHi = this.idtrBaseLo = this.idtrBaseHi = 0;
    this.gdtrLimit = this.idtrLimit = 0xffff;
    this.cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
    this.cr2Lo = this.cr2Hi = this.cr3Lo = this.cr3Hi = this.cr4 = this.cr8 = 0;
    this.efer = 0;
    // MSRs with a defined power-up value (SDM Vol. 3 Table 10-1, §12.11.2.1, §12.12.4): the
    // MTRRs disabled (IA32_MTRR_DEF_TYPE = 0, every range 0) and the PAT at 0007040600070406H.
    // INIT keeps both (see init()).
    this.mtrrs.clear();
    this.patLo = this.patHi = 0x00070406;
    this.specCtrl = 0;
    this.xcr0 = 1;
    // Power-up x87/SSE state (SDM Vol. 3 Table 10-1): FCW 0040H, FSW 0, FTW 5555H (all
    // registers tagged zero, holding +0.0), MXCSR 1F80H, XMM registers zero.
    this.fpLo.fill(0);
    this.fpHi.fill(0);
    this.fpSe.fill(0);
    this.fpTop = 0;
    this.fsw = 0;
    this.fcw = 0x40;
    this.fpEmpty = 0;
    this.fipLo = this.fipHi = this.fcs = this.fdpLo = this.fdpHi = this.fds = this.fop = 0;
    this.xmm.fill(0);
    this.mxcsr = 0x1f80;
    if (this.ferr) {
      this.ferr = false;
      this.onFerr?.(false);
    }
    this.drLo.fill(0);
    this.drHi.fill(0);
    this.drLo[6] = 0xffff0ff0 | 0;
    this.drLo[7] = 0x400;
    this.halted = false;
    this.shutdown = false;
    this.interruptShadow = false;
    this.stiShadow = false;
    this.insnShadow = 0;
    this.pendingDb = 0;
    this.dbExec = this.dbData = this.dbIo = 0;
    this.dbDr7 = NO_DR7;
    this.nmiBlocked = false;
    this.nmiPending = false;
    this.waitForSipi = false;
    this.initPending = false;
    this.gif = true;
    this.intrBlocked = false;
    this.vectoringInfo = 0;
    this.monitorArmed = false;
    this.yieldRequested = false;
    this.excVector = -1;
    this.deliveringVector = -1;
    this.updateMode();
    this.flushTlb(true);
  }

  // ---- the pins the local APIC drives (CpuPins) ----------------------------------------------

  /**
   * INIT (SDM Vol. 3 §10.4.2 and Table 10-1): the core returns to its reset state, except that
   * INIT leaves the MSRs (MTRRs, PAT, SYSENTER, STAR…, IA32_APIC_BASE, the TSC) unchanged; EFER
   * is cleared so the core restarts in real mode. The BSP then fetches from the reset vector;
   * an application processor waits for a start-up IPI (§10.4.3).
   */
  init(): void {
    if (this.initBlocked || this.guestMode || !this.gif) {
      // Held pending (also while GIF = 0, APM Vol. 2 §15.17): blocked in VMX root operation (SDM §24.8, §30.3 "VMXON"), or a possible VM
      // exit in guest mode, which happens at an instruction boundary (see run).
      this.initPending = true;
      this.exitBlock = true;
      return;
    }
    this.initNow();
  }

  /** A pending INIT no longer blocked: in guest mode the extension may turn it into a VM exit first (SDM §25.2 "INIT signals"). */
  private takeInit(): void {
    if (this.guestMode && this.ext !== null && this.ext.intercept(this, 17, 0, 0)) return;
    this.initNow();
  }

  private initNow(): void {
    const keep = [
      this.patLo, this.patHi, this.sysenterCs, this.sysenterEspLo, this.sysenterEspHi, this.sysenterEipLo, this.sysenterEipHi,
      this.starLo, this.starHi, this.lstarLo, this.lstarHi, this.cstarLo, this.cstarHi, this.sfmask,
      this.kernelGsBaseLo, this.kernelGsBaseHi, this.tscAux, this.specCtrl, this.tscOffset, this.miscEnableLo, this.miscEnableHi,
      this.featureControlLo, this.apicBaseLo, this.apicBaseHi,
    ] as const;
    const a20 = this.a20;
    // INIT leaves the x87 FPU state, MXCSR and the XMM registers unchanged (SDM Vol. 3 Table
    // 10-1, "INIT" column), and XCR0 with them (only RESET sets it to 1); FERR# keeps its level.
    const fp = [this.fpTop, this.fsw, this.fcw, this.fpEmpty, this.fipLo, this.fipHi, this.fcs, this.fdpLo, this.fdpHi, this.fds, this.fop, this.mxcsr, this.xcr0] as const;
    const fpRegs = [this.fpLo.slice(), this.fpHi.slice(), this.fpSe.slice(), this.xmm.slice()] as const;
    const ferr = this.ferr;
    const onFerr = this.onFerr;
    const mtrrs = [...this.mtrrs];
    this.onFerr = null;
    this.reset();
    [this.fpTop, this.fsw, this.fcw, this.fpEmpty, this.fipLo, this.fipHi, this.fcs, this.fdpLo, this.fdpHi, this.fds, this.fop, this.mxcsr, this.xcr0] = fp;
    this.fpLo.set(fpRegs[0]);
    this.fpHi.set(fpRegs[1]);
    this.fpSe.set(fpRegs[2]);
    this.xmm.set(fpRegs[3]);
    this.ferr = ferr;
    this.onFerr = onFerr;
    for (const [msr, v] of mtrrs) this.mtrrs.set(msr, v);
    [
      this.patLo, this.patHi, this.sysenterCs, this.sysenterEspLo, this.sysenterEspHi, this.sysenterEipLo, this.sysenterEipHi,
      this.starLo, this.starHi, this.lstarLo, this.lstarHi, this.cstarLo, this.cstarHi, this.sfmask,
      this.kernelGsBaseLo, this.kernelGsBaseHi, this.tscAux, this.specCtrl, this.tscOffset, this.miscEnableLo, this.miscEnableHi,
      this.featureControlLo, this.apicBaseLo, this.apicBaseHi,
    ] = keep;
    this.a20 = a20;
    // The local APIC takes INIT with the core (SDM Vol. 3 §11.4.7.3), not when the message
    // arrives: a blocked INIT (VMX root operation) or one that causes a VM exit leaves it alone.
    if (this.apic !== null) this.apic.initReset();
    const bsp = this.apic !== null ? (this.apic.baseLo & 0x100) !== 0 : (this.apicBaseLo & 0x100) !== 0;
    this.waitForSipi = !bsp;
    this.exitBlock = true;
  }

  /**
   * Start-up IPI (SDM Vol. 3 §10.4.4.1, §11.6.1): a core waiting for SIPI starts in real mode at
   * `vector` << 12 (CS = vector << 8, IP = 0). A SIPI reaching a core that is not waiting is ignored.
   */
  startup(vector: number): void {
    if (!this.waitForSipi) return;
    // In guest mode a SIPI in wait-for-SIPI may be a VM exit (SDM §25.2 "start-up IPIs").
    if (this.guestMode && this.ext !== null && this.ext.intercept(this, 18, vector & 0xff, 0)) return;
    this.waitForSipi = false;
    this.halted = false;
    const v = vector & 0xff;
    this.setSegmentRaw(Seg.CS, v << 8, v << 12, 0xffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed);
    this.ripLo = 0;
    this.ripHi = 0;
    this.updateMode();
    this.bumpCodeGen();
  }

  /** The NMI pin (edge): delivered at the next instruction boundary unless NMIs are blocked (§6.7.1). */
  nmi(): void {
    if (this.waitForSipi) return;
    this.nmiPending = true;
    this.exitBlock = true;
  }

  /** SMI: this core has no SMM, so an SMI is dropped. */
  smi(): void {
    // No System Management Mode: nothing to enter. In guest mode an SVM SMI intercept turns it
    // into a #VMEXIT(SMI) (APM Vol. 2 §15.13.3); otherwise it is dropped.
    if (this.guestMode && this.ext !== null) this.ext.intercept(this, 45, 0, 0);
  }

  /** The maskable-interrupt state changed: leave the current block so the run loop looks. */
  kick(): void {
    this.exitBlock = true;
  }

  /** This core as the {@link CpuPins} its local APIC drives. */
  get pins(): CpuPins {
    return this;
  }

  // ---- mode bookkeeping -------------------------------------------------------------------

  /** Recomputes CPL-independent derived state after CR0/CR4/EFER/CS changes. */
  updateMode(): void {
    const csAttr = this.segAttr[Seg.CS]!;
    if ((this.efer & Efer.LMA) !== 0 && (csAttr & SegAttr.L) !== 0) this.mode = CodeMode.Bits64;
    else if ((this.cr0 & Cr0.PE) !== 0 && (this.flags & Flag.VM) === 0 && (csAttr & SegAttr.DB) !== 0) this.mode = CodeMode.Bits32;
    else this.mode = CodeMode.Bits16;
    this.decoder.mode = this.mode;
    this.bumpCodeGen();
    if ((this.cr0 & Cr0.PE) === 0) this.cpl = 0;
    else if ((this.flags & Flag.VM) !== 0) this.cpl = 3;
    else this.cpl = (this.segAttr[Seg.SS]! >> SegAttr.DplShift) & 3;
    // The segments' fast limits are read outside 64-bit mode only (segLinear checks no limits in
    // 64-bit mode, and fast.ts's 32-bit address forms are decoded outside it). The code mode
    // changes only here, so leaving 64-bit mode recomputes all six; in 64-bit mode (world switches
    // between 64-bit contexts) they are left for then.
    if (this.mode !== CodeMode.Bits64) for (let s = 0; s < 6; s++) segmentFastLimits(this, s);
    this.pagingMode = pagingModeOf(this.cr0, this.cr4, this.efer);
    this.updateTlbSet();
    this.exitBlock = true;
  }

  /** Picks the TLB set for the current CPL and alignment-check state. */
  updateTlbSet(): void {
    const ac = (this.cr0 & Cr0.AM) !== 0 && (this.flags & Flag.AC) !== 0 && this.cpl === 3;
    this.tlbSet = ac ? TLB_NOFAST : this.cpl === 3 ? TLB_USER : 0;
    this.walkCtl = walkControlOf(this.cr0, this.cr4, this.efer, this.flags, this.cpl);
    // Cached rights depend on WP, SMEP, SMAP, NXE and AC; the CPL picks the set.
    const rights = this.walkCtl & ~WalkControl.Cpl3;
    if (rights !== this.tlbRights) {
      this.tlbRights = rights;
      this.flushTlb(true);
    }
  }
  private tlbRights = -1;

  /** Loads a segment register's hidden part directly (reset, loaders, VM entry, tests). */
  setSegmentRaw(seg: number, selector: number, base: number, limit: number, attr: number, baseHi = 0): void {
    this.segSel[seg] = selector;
    this.segBase[seg] = base | 0;
    this.segBaseHi[seg] = baseHi | 0;
    this.segLimit[seg] = limit >>> 0;
    this.segAttr[seg] = attr;
    segmentFastLimits(this, seg);
    if (seg === Seg.CS) this.bumpCodeGen();
    if (seg === Seg.CS || seg === Seg.SS) this.exitBlock = true;
  }

  /**
   * Loads the PAE PDPTE registers from the PDPT at `cr3Lo` bits 31:5, as MOV to CR0/CR3/CR4 and
   * task switches do with PAE paging (SDM Vol. 3 §4.4.1): false (nothing loaded; the caller
   * raises #GP(0)) when a present PDPTE sets a reserved bit. In guest mode with
   * {@link pdpteFromWalk} nothing is loaded and the result is true (AMD APM Vol. 2 §15.25.10:
   * the walks read the PDPTEs).
   */
  loadPdptes(cr3Lo: number): boolean {
    if (this.pdpteFromWalk && this.guestMode) return true;
    return this.walker.loadPdptes(cr3Lo);
  }

  // ---- world switches (the virtualization extension) -------------------------------------------

  /**
   * Recomputes everything derived from the architectural state after the extension loaded a
   * whole new context (VM entry, VM exit; SDM §26.3.2 "Loading Guest State", §27.5 "Loading
   * Host State"): code mode, CPL, segment fast limits, paging mode, walk control and TLB set
   * (the TLB bank is the extension's choice: {@link selectTlbBank}), debug-register masks, the
   * jump-cache generation, `exitBlock`, and the next RIP (= RIP, so the run loop continues at
   * the loaded RIP even when called from an instruction's intercept).
   *
   * The extension writes these directly before calling it: `gpr`/`gprHi` (RSP included),
   * `ripLo`/`ripHi`, RFLAGS through `setEflags`, segment registers through `setSegmentRaw`
   * (selector, base, baseHi, limit, access rights), `cr0`, `cr3Lo`/`cr3Hi`, `cr4`, `efer`,
   * `drLo[7]`/`drHi[7]` (DR7), `gdtrBaseLo/Hi`, `gdtrLimit`, `idtrBaseLo/Hi`, `idtrLimit`,
   * `sysenterCs/EspLo/EspHi/EipLo/EipHi`, `patLo`/`patHi`, `kernelGsBaseLo/Hi`, and the
   * activity/interruptibility state (`halted`, `waitForSipi`, `interruptShadow`, `stiShadow`,
   * `nmiBlocked`, `pendingDb`). With PAE paging (not IA-32e) it loads the PDPTEs itself
   * (`walker.loadPdptes(cr3Lo)` or from the VMCS, SDM §26.3.2.4).
   */
  contextChanged(): void {
    const bank = this.tlbBank;
    const saved = bank.jcGen;
    this.nipLo = this.ripLo;
    this.nipHi = this.ripHi;
    this.excVector = -1;
    // updateMode gives the context a fresh jump-cache generation (bumpCodeGen) and sets exitBlock.
    this.updateMode();
    this.updateDebug();
    // Back in a bank whose jump-cache generation survived (no flush of the bank, no code
    // invalidation, no mode/CS/paging change during its last stay: each voids it) with the same
    // code mode, CPL, paging mode and rights, TLB set and CS base/limit as then: a linear RIP
    // means what it meant then, so that stay's jump-cache entries are taken up again.
    const cs = Seg.CS;
    if (
      saved !== -1 &&
      bank.jcMode === this.mode &&
      bank.jcCpl === this.cpl &&
      bank.jcPaging === this.pagingMode &&
      bank.jcWalkCtl === this.walkCtl &&
      bank.jcTlbSet === this.tlbSet &&
      bank.jcCsBase === this.segBase[cs] &&
      bank.jcCsBaseHi === this.segBaseHi[cs] &&
      bank.jcCsLimit === this.segLimit[cs]
    ) {
      this.codeGen = saved;
    }
    bank.jcGen = this.codeGen;
    bank.jcMode = this.mode;
    bank.jcCpl = this.cpl;
    bank.jcPaging = this.pagingMode;
    bank.jcWalkCtl = this.walkCtl;
    bank.jcTlbSet = this.tlbSet;
    bank.jcCsBase = this.segBase[cs]!;
    bank.jcCsBaseHi = this.segBaseHi[cs]!;
    bank.jcCsLimit = this.segLimit[cs]!;
  }

  /**
   * A new jump-cache generation for the current context (what a linear RIP means changed): the
   * jump-cache entries made so far no longer hit, and the current bank's recorded generation is
   * void.
   */
  private bumpCodeGen(): void {
    this.codeGen = this.freshGen();
    this.tlbBank.jcGen = -1;
  }

  /** A jump-cache generation never handed out before (at the 31-bit wrap the whole jump cache is reset first). */
  private freshGen(): number {
    let g = this.genClock + 1;
    if (g > 0x7fff_fff0) {
      g = 1;
      this.jcGen.fill(-1);
      for (const b of this.tlbBanks) b.jcGen = -1;
    }
    this.genClock = g;
    return g;
  }

  /** Decoded blocks were dropped: no jump-cache entry of any bank's context hits any more. */
  private invalidateJumpCache(): void {
    for (const b of this.tlbBanks) b.jcGen = -1;
    this.codeGen = this.freshGen();
  }

  /**
   * Delivers an event through the guest's IDT for VM-entry event injection (SDM §26.6 "Event
   * Injection"; AMD APM Vol. 2 §15.20): the injected event itself is not offered to
   * `ext.intercept`, faults during its delivery are (with `vectoringInfo` describing it).
   * `kind` is an EventKind; software events (INT n: src 1, INT3: 2, INTO: 3, INT1: 4) push
   * RIP + `insnLen` as the return address. A fault during delivery is delivered (double-fault
   * rules) before this returns.
   */
  injectEvent(kind: number, vector: number, errorCode: number, insnLen = 0, src = 0): void {
    const lo = this.ripLo;
    const hi = this.ripHi;
    const software = kind === EventKind.Software || kind === EventKind.PrivilegedSoftware;
    if (software) {
      const next = (lo >>> 0) + insnLen;
      this.ripLo = next | 0;
      if (next > 0xffff_ffff) this.ripHi = this.mode === CodeMode.Bits64 ? (hi + 1) | 0 : 0;
      this.vectoringInsnLen = insnLen;
    }
    this.nipLo = this.ripLo;
    this.nipHi = this.ripHi;
    this.injecting = true;
    try {
      if (kind === EventKind.Exception) this.deliverException(vector, errorCode);
      else deliverEvent(this, kind as interrupts.EventKind, vector, errorCode, src);
    } catch (e) {
      // A fault or a VM exit (CPU_VMEXIT: an EPT violation, say, completed at the next boundary
      // with the state the delivery left) during delivery is reported at the instruction: RIP
      // goes back to the guest RIP the event was injected at (SDM Vol. 3C §27.3.3 "Saving RIP,
      // RSP, and RFLAGS": a VM exit during event delivery saves the state of before it).
      if (software && (e === CPU_FAULT || e === CPU_VMEXIT)) {
        this.ripLo = lo;
        this.ripHi = hi;
        this.nipLo = lo;
        this.nipHi = hi;
      }
      this.handleThrow(e);
    } finally {
      this.injecting = false;
    }
  }

  // ---- flags ------------------------------------------------------------------------------

  /** The full EFLAGS value. */
  getEflags(): number {
    return (this.flags | arithFlags(this)) >>> 0;
  }

  /** Sets all of EFLAGS (no privilege checks: callers apply POPF/IRET rules). */
  setEflags(value: number): void {
    const old = this.flags;
    setArithFlags(this, value);
    this.flags = (value & 0x3f7fd5 & ~0x8d5) | Flag.Fixed1;
    if (((old ^ this.flags) & (Flag.VM | Flag.AC)) !== 0) this.updateMode();
    if (((old ^ this.flags) & (Flag.TF | Flag.IF)) !== 0) this.exitBlock = true;
  }

  // ---- registers --------------------------------------------------------------------------

  getReg8(r: number): number {
    return r < 16 ? this.gpr[r]! & 0xff : (this.gpr[r - 16]! >> 8) & 0xff;
  }
  setReg8(r: number, v: number): void {
    if (r < 16) this.gpr[r] = (this.gpr[r]! & ~0xff) | (v & 0xff);
    else this.gpr[r - 16] = (this.gpr[r - 16]! & ~0xff00) | ((v & 0xff) << 8);
  }
  setReg16(r: number, v: number): void {
    this.gpr[r] = (this.gpr[r]! & ~0xffff) | (v & 0xffff);
  }
  setReg32(r: number, v: number): void {
    this.gpr[r] = v;
    this.gprHi[r] = 0;
  }
  setReg64(r: number, lo: number, hi: number): void {
    this.gpr[r] = lo;
    this.gprHi[r] = hi;
  }

  // ---- exceptions -------------------------------------------------------------------------

  /** Raises a fault: records it and throws {@link CPU_FAULT}. */
  raise(vector: number, errorCode = -1): never {
    this.excVector = vector;
    this.excHasError = errorCode >= 0;
    this.excError = errorCode >= 0 ? errorCode : 0;
    throw CPU_FAULT;
  }

  /** #GP(errorCode). */
  gp(errorCode = 0): never {
    return this.raise(Vector.GP, errorCode);
  }

  ud(): never {
    return this.raise(Vector.UD);
  }

  // ---- physical memory --------------------------------------------------------------------

  /**
   * The RAM region of the last paging-structure read: walks read a few entries each, mostly from
   * the same few table pages, so a one-region cache skips the memory-map lookup (a TLB refill
   * after a world switch without VPIDs is mostly these reads). A region object is stable (RAM
   * restores copy into the chunks), as the TLB's cached views rely on too; dropped by every TLB
   * flush anyway. Reads only: A/D updates go through `memory` (and its write observers).
   */
  private walkRegion: ReturnType<PhysicalMemory['regionAt']> = null;
  private walkRead32(addr: number): number {
    const r = this.walkRegion;
    if (r !== null && addr >= r.base && addr + 4 <= r.end) return r.view.getInt32(addr + r.delta, true);
    const region = this.memory.regionAt(addr);
    if (region === null || !region.writable || addr + 4 > region.end) return this.physRead32(addr);
    this.walkRegion = region;
    return region.view.getInt32(addr + region.delta, true);
  }

  physRead32(addr: number): number {
    return this.memory.read32(addr as Hpa) | 0;
  }
  physWrite32(addr: number, value: number): void {
    this.memory.write32(addr as Hpa, value >>> 0);
  }

  /**
   * Guest mode only: offers the instruction at decode record `d` to the extension's
   * `intercept` (after setting {@link curRec} = d). Returns true when it performed a VM exit.
   */
  interceptInsn(d: number, what: number, info: number, info2: number): boolean {
    const ext = this.ext;
    if (ext === null) return false;
    this.curRec = d;
    const exited = ext.intercept(this, what as Intercept, info, info2);
    // The extension may have set extBoundary/extDeadline: the run loop looks after this instruction.
    this.exitBlock = true;
    return exited;
  }

  /** Applies the extension's guest-physical -> host-physical translation (guest mode only). */
  gpaToHpa(gpa: number, kind: number): number {
    return this.ext === null ? gpa : this.ext.translateGpa(this, gpa, kind);
  }

  // ---- TLB --------------------------------------------------------------------------------

  /** Drops every TLB entry, or only non-global ones (SDM Vol. 3 §4.10.4). */
  flushTlb(includeGlobal: boolean): void {
    // Only the slots filled since the last flush (TlbBank.filled) hold valid tags.
    this.tlbBank.clear(includeGlobal);
    this.walkRegion = null;
    this.bumpCodeGen();
    this.exitBlock = true;
  }

  /** The tag of the current TLB bank (0 = host). */
  get tlbBankTag(): number {
    return this.tlbBank.tag;
  }

  /**
   * Selects the TLB bank tagged `tag` (0 = root/host; the extension passes e.g. 1 + VPID), so a
   * world switch keeps each context's translations without a flush (SDM §28.3.1, §28.4). Banks
   * are created on first use, at most 8 (the least recently used one is flushed and reused).
   * The decoded-block jump cache is invalidated (codeGen), so no block found by linear RIP in
   * one context runs in another. A world switch selects the new context's bank after loading
   * its CR0/CR4/EFER/RFLAGS and before {@link contextChanged}: the bank is then flushed only if
   * its entries were filled under other access rights.
   */
  selectTlbBank(tag: number): void {
    const cur = this.tlbBank;
    if (cur.tag === tag) return;
    cur.rights = this.tlbRights;
    let bank: TlbBank | null = null;
    const banks = this.tlbBanks;
    for (let k = 0; k < banks.length; k++) {
      if (banks[k]!.tag === tag) {
        bank = banks[k]!;
        break;
      }
    }
    if (bank === null) {
      if (banks.length < MAX_TLB_BANKS) {
        bank = new TlbBank(tag);
        banks.push(bank);
      } else {
        for (let k = 0; k < banks.length; k++) {
          const b = banks[k]!;
          if (b !== cur && (bank === null || b.lastUse < bank.lastUse)) bank = b;
        }
        bank = bank!;
        bank.tag = tag;
        bank.clear();
        bank.rights = -1;
      }
    }
    bank.lastUse = ++this.tlbBankClock;
    this.tlbBank = bank;
    this.tlbTagR = bank.tagR;
    this.tlbTagW = bank.tagW;
    this.tlbTagX = bank.tagX;
    this.tlbHi = bank.hi;
    this.tlbView = bank.view;
    this.tlbHost = bank.host;
    this.tlbPhys = bank.phys;
    this.tlbGlobal = bank.global;
    this.tlbRights = bank.rights;
    // Entries filled under other rights (WP, SMEP, SMAP, NXE, AC) cannot be reused. The rights
    // come from CR0/CR4/EFER/RFLAGS as they are now (not the derived walkCtl), so a world switch
    // may select the new context's bank before `contextChanged` and flush nothing when that
    // context's rights are the ones its bank was filled under.
    const rights = walkControlOf(this.cr0, this.cr4, this.efer, this.flags, 0);
    if (rights !== this.tlbRights) {
      this.tlbRights = rights;
      this.flushTlb(true);
    }
    this.codeGen = this.freshGen();
    this.exitBlock = true;
  }

  /** Drops every entry of the bank tagged `tag` (nothing when there is none), global ones included. */
  flushTlbBank(tag: number): void {
    if (tag === this.tlbBank.tag) {
      this.flushTlb(true);
      return;
    }
    for (const b of this.tlbBanks) if (b.tag === tag) b.clear();
  }

  /** Drops every entry of every bank (physical-layout changes: A20, the xAPIC page, data breakpoints). */
  flushAllTlbBanks(): void {
    for (const b of this.tlbBanks) if (b !== this.tlbBank) b.clear();
    this.flushTlb(true);
  }

  /** Drops the entries for one linear page (INVLPG), global ones included (SDM Vol. 3 §4.10.4.1). */
  flushTlbPage(lo: number, hi: number): void {
    const page = lo & -4096;
    for (let s = 0; s < TLB_SETS; s++) {
      const i = ((lo >>> 12) & TLB_MASK) + s * TLB_SIZE;
      if (this.tlbHi[i] === hi && ((this.tlbTagR[i]! & -4096) === page || (this.tlbTagW[i]! & -4096) === page || (this.tlbTagX[i]! & -4096) === page)) {
        this.tlbTagR[i] = TLB_INVALID;
        this.tlbTagW[i] = TLB_INVALID;
        this.tlbTagX[i] = TLB_INVALID;
      }
    }
    this.bumpCodeGen();
    // Large pages may be cached in other slots: be conservative.
    if (this.pagingMode !== PagingMode.None) this.flushTlb(true);
    this.exitBlock = true;
  }

  /**
   * Translates a linear address for `kind` (0 read, 1 write, 2 fetch) and fills the TLB.
   * Returns the physical address; raises #PF (or a VM exit) on failure.
   * `implicit` marks supervisor accesses to system structures (SDM Vol. 3 §4.6); `size` is the
   * data access's size for the extension ({@link accessSize}; 0 when not a sized data access).
   */
  translate(lo: number, hi: number, kind: number, implicit = false, size = 0): number {
    let phys: number;
    let user = true;
    let writable = true;
    let executable = true;
    let global = false;
    let dirty = true;
    if (this.guestMode) {
      // The guest-linear address of this access, for EPT-violation exit information (SDM §27.2.1).
      this.gvaLo = lo;
      this.gvaHi = hi;
      this.gvaValid = true;
    }
    if (this.pagingMode === PagingMode.None) {
      phys = lo >>> 0;
    } else {
      let acc = kind === access.write ? PageAccess.Write : kind === access.fetch ? PageAccess.Fetch : PageAccess.Read;
      if (implicit) acc |= PageAccess.Implicit;
      const w = this.walker;
      w.pdptesFromMemory = this.pdpteFromWalk && this.guestMode;
      if (!w.walk(this.pagingMode, this.cr3Lo, this.cr3Hi, lo, hi, acc, this.walkCtl)) {
        this.cr2Lo = lo;
        this.cr2Hi = hi;
        // No linear address goes with later physical accesses (PDPTE loads, the extension's own).
        this.gvaValid = false;
        this.raise(Vector.PF, w.errorCode);
      }
      phys = w.physAddr;
      user = w.user;
      writable = w.writable;
      executable = w.executable;
      global = w.global && (this.cr4 & Cr4.PGE) !== 0;
      dirty = w.dirty;
    }
    let sl = 7;
    if (this.guestMode) {
      this.slRights = 7;
      this.accessSize = size;
      phys = this.gpaToHpa(phys, kind);
      this.gvaValid = false;
      sl = this.slRights;
    }
    // The A20 gate masks physical address bit 20 (SDM Vol. 3 §21.33.1 "A20M#").
    if (!this.a20) phys = phys - (Math.floor(phys / 0x100000) % 2) * 0x100000;
    if (implicit) return phys;
    this.tlbFills++;
    // Fill the TLB for the current set, with the rights this walk proved.
    const set = this.tlbSet;
    // Pages holding a data breakpoint stay out of the TLB so their accesses take the slow path.
    if (set === TLB_NOFAST || (this.dbData !== 0 && this.dataBpOnPage(lo, hi))) return phys;
    const physPage = phys - (phys % 4096);
    const i = ((lo >>> 12) & TLB_MASK) + set;
    const page = lo & -4096;
    // The local APIC's xAPIC page hides whatever is beneath it, for this core only (SDM Vol. 3
    // §11.4.1): it never goes in the TLB, so every access reaches physReadN / writeSlow.
    const region = this.apic !== null && physPage === this.apic.mmioPage ? null : this.memory.regionAt(physPage);
    const isRam = region !== null && region.writable;
    const isRom = region !== null && !region.writable;
    // A fill replaces the whole entry: the page may now map elsewhere (a stale entry for the same
    // linear page, or RAM that became MMIO), so no right of the old mapping survives.
    this.tlbTagR[i] = TLB_INVALID;
    this.tlbTagW[i] = TLB_INVALID;
    this.tlbTagX[i] = TLB_INVALID;
    this.tlbBank.note(i);
    this.tlbHi[i] = hi;
    this.tlbPhys[i] = physPage;
    this.tlbGlobal[i] = global ? 1 : 0;
    this.tlbHost[i] = isRam ? physPage + region.delta : 0;
    this.tlbView[i] = isRam ? region.view : NO_PAGE;
    // Install each kind of access the cached rights allow under the current CPL and control
    // bits; writes only once D is set, so the first write still walks and sets it (SDM §4.8).
    // In guest mode each right also needs the second level's (`sl`, see slRights).
    const ctl = this.walkCtl;
    const paged = this.pagingMode !== PagingMode.None;
    if (isRam) {
      if ((sl & 1) !== 0 && (!paged || isAccessPermitted(user, writable, executable, PageAccess.Read, ctl))) this.tlbTagR[i] = page;
      if (
        (sl & 2) !== 0 &&
        (!paged || (dirty && isAccessPermitted(user, writable, executable, PageAccess.Write, ctl))) &&
        !this.codePages.has(physPage / 4096)
      ) {
        this.tlbTagW[i] = page;
      }
    }
    if ((sl & 4) !== 0 && (isRam || isRom) && (!paged || isAccessPermitted(user, writable, executable, PageAccess.Fetch, ctl))) this.tlbTagX[i] = page;
    return phys;
  }

  // ---- linear memory access ---------------------------------------------------------------

  rd8(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagR[i] === (lo & -4096) && this.tlbHi[i] === hi) return this.tlbView[i]!.getUint8(this.tlbHost[i]! + (lo & 0xfff));
    return this.readSlow(lo, hi, 1, access.read);
  }
  rd16(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagR[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xfff) {
      return this.tlbView[i]!.getUint16(this.tlbHost[i]! + (lo & 0xfff), true);
    }
    return this.readSlow(lo, hi, 2, access.read);
  }
  rd32(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagR[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xffd) {
      return this.tlbView[i]!.getInt32(this.tlbHost[i]! + (lo & 0xfff), true);
    }
    return this.readSlow(lo, hi, 4, access.read) | 0;
  }
  /** 64-bit read: returns the low half, the high half in `this.hi`. */
  rd64(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagR[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xff9) {
      const h = this.tlbHost[i]! + (lo & 0xfff);
      this.hi = this.tlbView[i]!.getInt32(h + 4, true);
      return this.tlbView[i]!.getInt32(h, true);
    }
    return this.read64Slow(lo, hi, access.read);
  }
  /** Reads for a read-modify-write: requires write rights up front (the #PF error code says W). */
  rdw8(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi) return this.tlbView[i]!.getUint8(this.tlbHost[i]! + (lo & 0xfff));
    return this.readSlow(lo, hi, 1, access.write);
  }
  rdw16(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xfff) {
      return this.tlbView[i]!.getUint16(this.tlbHost[i]! + (lo & 0xfff), true);
    }
    return this.readSlow(lo, hi, 2, access.write);
  }
  rdw32(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xffd) {
      return this.tlbView[i]!.getInt32(this.tlbHost[i]! + (lo & 0xfff), true);
    }
    return this.readSlow(lo, hi, 4, access.write) | 0;
  }
  rdw64(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xff9) {
      const h = this.tlbHost[i]! + (lo & 0xfff);
      this.hi = this.tlbView[i]!.getInt32(h + 4, true);
      return this.tlbView[i]!.getInt32(h, true);
    }
    return this.read64Slow(lo, hi, access.write);
  }
  wr8(lo: number, hi: number, v: number): void {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi) {
      this.tlbView[i]!.setUint8(this.tlbHost[i]! + (lo & 0xfff), v);
      return;
    }
    this.writeSlow(lo, hi, 1, v, 0);
  }
  wr16(lo: number, hi: number, v: number): void {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xfff) {
      this.tlbView[i]!.setUint16(this.tlbHost[i]! + (lo & 0xfff), v, true);
      return;
    }
    this.writeSlow(lo, hi, 2, v, 0);
  }
  wr32(lo: number, hi: number, v: number): void {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xffd) {
      this.tlbView[i]!.setInt32(this.tlbHost[i]! + (lo & 0xfff), v, true);
      return;
    }
    this.writeSlow(lo, hi, 4, v, 0);
  }
  wr64(lo: number, hi: number, vLo: number, vHi: number): void {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagW[i] === (lo & -4096) && this.tlbHi[i] === hi && (lo & 0xfff) < 0xff9) {
      const h = this.tlbHost[i]! + (lo & 0xfff);
      this.tlbView[i]!.setInt32(h, vLo, true);
      this.tlbView[i]!.setInt32(h + 4, vHi, true);
      return;
    }
    this.writeSlow(lo, hi, 8, vLo, vHi);
  }

  /** Checks #AC: alignment checking is on and the access is misaligned (SDM Vol. 3 §6.15, #AC). */
  private checkAlignment(lo: number, size: number): void {
    if (this.tlbSet === TLB_NOFAST && (lo & (size - 1)) !== 0) this.raise(Vector.AC, 0);
  }

  private readSlow(lo: number, hi: number, size: number, kind: number): number {
    this.checkAlignment(lo, size);
    if (this.dbData !== 0) this.checkDataBp(lo, hi, size, kind === access.write);
    const off = lo & 0xfff;
    if (off + size <= 4096) {
      const phys = this.translate(lo, hi, kind, false, size);
      return this.physReadN(phys, size);
    }
    // Crossing a page: translate both pages before reading.
    const n1 = 4096 - off;
    const p1 = this.translate(lo, hi, kind);
    const lo2 = (lo + n1) | 0;
    const hi2 = lo2 === 0 && this.mode === CodeMode.Bits64 ? (hi + 1) | 0 : hi;
    const p2 = this.translate(lo2, hi2, kind);
    let v = 0;
    for (let k = size - 1; k >= 0; k--) v = v * 256 + this.memory.read8((k < n1 ? p1 + k : p2 + k - n1) as Hpa);
    return v;
  }

  private read64Slow(lo: number, hi: number, kind: number): number {
    this.checkAlignment(lo, 8);
    if (this.dbData !== 0) this.checkDataBp(lo, hi, 8, kind === access.write);
    const off = lo & 0xfff;
    if (off + 8 <= 4096) {
      const phys = this.translate(lo, hi, kind, false, 8);
      this.hi = this.physReadN(phys + 4, 4) | 0;
      return this.physReadN(phys, 4) | 0;
    }
    const n1 = 4096 - off;
    const p1 = this.translate(lo, hi, kind);
    const lo2 = (lo + n1) | 0;
    const hi2 = lo2 === 0 && this.mode === CodeMode.Bits64 ? (hi + 1) | 0 : hi;
    const p2 = this.translate(lo2, hi2, kind);
    let vLo = 0;
    let vHi = 0;
    for (let k = 7; k >= 0; k--) {
      const b = this.memory.read8((k < n1 ? p1 + k : p2 + k - n1) as Hpa);
      if (k >= 4) vHi = (vHi << 8) | b;
      else vLo = (vLo << 8) | b;
    }
    this.hi = vHi;
    return vLo;
  }

  private physReadN(phys: number, size: number): number {
    const apic = this.apic;
    if (apic !== null && phys - (phys % 4096) === apic.mmioPage) {
      this.exitBlock = true;
      this.deviceExits++;
      return apic.mmioRead(phys % 4096, size as 1 | 2 | 4);
    }
    // MMIO may change device and interrupt state: let the run loop look after this instruction.
    if (this.memory.regionAt(phys) === null) {
      this.exitBlock = true;
      this.deviceExits++;
    }
    if (size === 1) return this.memory.read8(phys as Hpa);
    if (size === 2) return this.memory.read16(phys as Hpa);
    return this.memory.read32(phys as Hpa);
  }

  private writeSlow(lo: number, hi: number, size: number, v: number, vHi: number): void {
    this.checkAlignment(lo, size);
    if (this.dbData !== 0) this.checkDataBp(lo, hi, size, true);
    const off = lo & 0xfff;
    if (off + size <= 4096) {
      const phys = this.translate(lo, hi, access.write, false, size);
      const apic = this.apic;
      if (apic !== null && phys - (phys % 4096) === apic.mmioPage) {
        this.exitBlock = true;
        this.deviceExits++;
        if (size === 8) {
          apic.mmioWrite(phys % 4096, 4, v);
          apic.mmioWrite((phys % 4096) + 4, 4, vHi);
        } else {
          apic.mmioWrite(phys % 4096, size as 1 | 2 | 4, size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1));
        }
        return;
      }
      if (this.memory.regionAt(phys) === null) {
        this.exitBlock = true; // MMIO: see physReadN
        this.deviceExits++;
      }
      this.invalidateCodeRange(phys, size);
      if (size === 1) this.memory.write8(phys as Hpa, v & 0xff);
      else if (size === 2) this.memory.write16(phys as Hpa, v & 0xffff);
      else if (size === 4) this.memory.write32(phys as Hpa, v >>> 0);
      else {
        this.memory.write32(phys as Hpa, v >>> 0);
        this.memory.write32((phys + 4) as Hpa, vHi >>> 0);
      }
      return;
    }
    const n1 = 4096 - off;
    const p1 = this.translate(lo, hi, access.write);
    const lo2 = (lo + n1) | 0;
    const hi2 = lo2 === 0 && this.mode === CodeMode.Bits64 ? (hi + 1) | 0 : hi;
    const p2 = this.translate(lo2, hi2, access.write);
    this.invalidateCodeRange(p1, n1);
    this.invalidateCodeRange(p2, size - n1);
    for (let k = 0; k < size; k++) {
      const b = k < 4 ? (v >>> (8 * k)) & 0xff : (vHi >>> (8 * (k - 4))) & 0xff;
      this.memory.write8((k < n1 ? p1 + k : p2 + k - n1) as Hpa, b);
    }
  }

  /** Implicit supervisor read of a system structure (GDT, LDT, IDT, TSS) at a linear address. */
  sysRead32(lo: number, hi: number): number {
    if ((lo & 0xfff) > 0xffc) {
      let v = 0;
      for (let k = 3; k >= 0; k--) v = (v << 8) | this.sysRead8((lo + k) | 0, hi);
      return v;
    }
    const phys = this.translate(lo, hi, access.read, true);
    return this.memory.read32(phys as Hpa) | 0;
  }
  sysRead16(lo: number, hi: number): number {
    return (this.sysRead8(lo, hi) | (this.sysRead8((lo + 1) | 0, hi) << 8)) & 0xffff;
  }
  sysRead8(lo: number, hi: number): number {
    const phys = this.translate(lo, hi, access.read, true);
    return this.memory.read8(phys as Hpa);
  }
  sysWrite32(lo: number, hi: number, v: number): void {
    if ((lo & 0xfff) > 0xffc) {
      for (let k = 0; k < 4; k++) this.sysWrite8((lo + k) | 0, hi, v >>> (8 * k));
      return;
    }
    const phys = this.translate(lo, hi, access.write, true);
    this.invalidateCodeRange(phys, 4);
    this.memory.write32(phys as Hpa, v >>> 0);
  }
  sysWrite16(lo: number, hi: number, v: number): void {
    this.sysWrite8(lo, hi, v);
    this.sysWrite8((lo + 1) | 0, hi, v >>> 8);
  }
  sysWrite8(lo: number, hi: number, v: number): void {
    const phys = this.translate(lo, hi, access.write, true);
    this.invalidateCodeRange(phys, 1);
    this.memory.write8(phys as Hpa, v & 0xff);
  }

  // ---- port I/O ---------------------------------------------------------------------------

  /** Port read; the run loop re-checks interrupts afterwards (a device may have changed its IRQ). */
  ioRead(port: number, size: 1 | 2 | 4): number {
    if (this.dbIo !== 0) this.checkIoBp(port, size);
    this.exitBlock = true;
    this.deviceExits++;
    return this.io.read(port as Port, size);
  }
  /** Port write; the run loop re-checks interrupts afterwards. */
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (this.dbIo !== 0) this.checkIoBp(port, size);
    this.exitBlock = true;
    this.deviceExits++;
    this.io.write(port as Port, size, value);
  }

  // ---- debug breakpoints (SDM Vol. 3 ch. 17) -------------------------------------------------

  /**
   * Recomputes the enabled-breakpoint masks from DR7 (L0-L3/G0-G3 and R/W0-R/W3, §17.2.4)
   * after DR0-DR3 or DR7 change. Data-breakpoint pages are kept out of the TLB, so the TLB
   * is flushed whenever data breakpoints are or were enabled.
   */
  updateDebug(): void {
    const dr7 = this.drLo[7]!;
    // The masks depend on DR7 alone: the same DR7 with no data breakpoints (nothing to flush)
    // leaves them as they are (world switches reload DR7 at each entry and exit).
    if (dr7 === this.dbDr7 && this.dbData === 0) {
      this.exitBlock = true;
      return;
    }
    this.dbDr7 = dr7;
    let exec = 0;
    let data = 0;
    let io = 0;
    for (let i = 0; i < 4; i++) {
      if (((dr7 >>> (2 * i)) & 3) === 0) continue;
      const rw = (dr7 >>> (16 + 4 * i)) & 3;
      if (rw === 0) exec |= 1 << i;
      else if (rw === 2) io |= 1 << i;
      else data |= 1 << i;
    }
    this.dbExec = exec;
    this.dbIo = io;
    if (data !== 0 || this.dbData !== 0) {
      this.dbData = data;
      this.flushAllTlbBanks();
    }
    this.exitBlock = true;
  }

  /** Breakpoint length from DR7 LENn: 1, 2, 8 or 4 bytes (§17.2.5). */
  private bpLength(i: number): number {
    const l = (this.drLo[7]! >>> (18 + 4 * i)) & 3;
    return l === 0 ? 1 : l === 1 ? 2 : l === 2 ? 8 : 4;
  }

  private dataBpOnPage(lo: number, hi: number): boolean {
    const page = lo & -4096;
    for (let i = 0; i < 4; i++) {
      if (((this.dbData >>> i) & 1) !== 0 && (this.drLo[i]! & -4096) === page && this.drHi[i] === hi) return true;
    }
    return false;
  }

  /** Records data-breakpoint hits of an access (R/W = 01: writes, 11: reads and writes); the #DB trap follows the instruction. */
  private checkDataBp(lo: number, hi: number, size: number, write: boolean): void {
    const dr7 = this.drLo[7]!;
    for (let i = 0; i < 4; i++) {
      if (((this.dbData >>> i) & 1) === 0 || this.drHi[i] !== hi) continue;
      if (((dr7 >>> (16 + 4 * i)) & 3) === 1 && !write) continue;
      const len = this.bpLength(i);
      const b = (this.drLo[i]! & ~(len - 1)) >>> 0;
      const a = lo >>> 0;
      if (a < b + len && b < a + size) this.pendingDb |= 1 << i;
    }
  }

  /** I/O breakpoints (R/W = 10 with CR4.DE = 1): trap after IN/OUT/INS/OUTS touching the port range. */
  private checkIoBp(port: number, size: number): void {
    if ((this.cr4 & Cr4.DE) === 0) return;
    for (let i = 0; i < 4; i++) {
      if (((this.dbIo >>> i) & 1) === 0) continue;
      const len = this.bpLength(i);
      const b = this.drLo[i]! & 0xffff & ~(len - 1);
      if (port < b + len && b < port + size) this.pendingDb |= 1 << i;
    }
  }

  /** Instruction breakpoints on the linear RIP: a #DB fault before the instruction runs (§17.3.1.1). */
  private checkCodeBp(): void {
    const lo = this.csLinear(this.ripLo, this.ripHi);
    const hi = this.hi;
    let bits = 0;
    for (let i = 0; i < 4; i++) {
      if (((this.dbExec >>> i) & 1) !== 0 && this.drLo[i] === lo && this.drHi[i] === hi) bits |= 1 << i;
    }
    if (bits !== 0) {
      this.drLo[6] = (this.drLo[6]! & ~0xf) | bits;
      this.raise(Vector.DB);
    }
  }

  /** Delivers the pending debug trap: DR6.B0-B3 are replaced, BS/BT/BD accumulate (§17.2.3). */
  private deliverDebugTrap(): void {
    const bits = this.pendingDb;
    this.pendingDb = 0;
    this.drLo[6] = (this.drLo[6]! & ~0xf) | bits;
    try {
      this.deliverException(Vector.DB, -1);
    } catch (e) {
      this.handleThrow(e);
    }
  }

  // ---- code cache -------------------------------------------------------------------------

  /** Drops decoded blocks overlapping [addr, addr + length) (physical). */
  invalidateCodeRange(addr: number, length: number): void {
    if (this.codePages.size === 0) return;
    const first = Math.floor(addr / 4096);
    const last = Math.floor((addr + length - 1) / 4096);
    for (let p = first; p <= last; p++) {
      const list = this.codePages.get(p);
      if (list === undefined) continue;
      if (list.length === 0) {
        // Second write since the page's blocks were dropped: it is data now, let writes be fast.
        this.codePages.delete(p);
        continue;
      }
      // Keep the page registered (its write-TLB entries stay dropped), so re-decoding code
      // there does not rescan the whole TLB in markCodePage (self-modifying code, test runners).
      for (const b of list) this.blocks.delete(b.key);
      list.length = 0;
      this.invalidateJumpCache();
      this.exitBlock = true;
    }
  }

  /** Drops every decoded block. */
  flushCodeCache(): void {
    this.blocks.clear();
    this.codePages.clear();
    this.recUsed = 0;
    this.invalidateJumpCache();
    this.exitBlock = true;
  }

  /** Registers a page as holding code: its write-TLB entries are dropped so writes take the slow path. */
  private markCodePage(physPage: number, block: Block): void {
    const p = physPage / 4096;
    let list = this.codePages.get(p);
    if (list === undefined) {
      list = [];
      this.codePages.set(p, list);
      // In every TLB bank: a bank selected later must not write the code page directly either.
      for (const b of this.tlbBanks) {
        const phys = b.phys;
        const tagW = b.tagW;
        const filled = b.filled;
        for (let k = 0; k < b.count; k++) {
          const i = filled[k]!;
          if (phys[i] === physPage) tagW[i] = TLB_INVALID;
        }
      }
    }
    list.push(block);
  }

  /**
   * The physical address a fetch at linear (lo, hi) would use from the TLB, or -1 when no
   * execute translation is cached: no walk, no fault, no side effect. For an extension's decode
   * assists (the instruction bytes of an intercepted instruction, AMD APM Vol. 2 §15.35.6).
   */
  cachedFetchPhys(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagX[i] === (lo & -4096) && this.tlbHi[i] === hi) return this.tlbPhys[i]! + (lo & 0xfff);
    return -1;
  }

  /** Translates RIP for a fetch: returns the physical address. */
  private fetchPhys(lo: number, hi: number): number {
    const i = ((lo >>> 12) & TLB_MASK) + this.tlbSet;
    if (this.tlbTagX[i] === (lo & -4096) && this.tlbHi[i] === hi) return this.tlbPhys[i]! + (lo & 0xfff);
    return this.translate(lo, hi, access.fetch);
  }

  /** Linear address of offset `ip` in CS: CS base + ip (64-bit mode: flat). */
  private csLinear(ipLo: number, ipHi: number): number {
    if (this.mode === CodeMode.Bits64) {
      this.hi = ipHi;
      return ipLo;
    }
    this.hi = 0;
    return (this.segBase[Seg.CS]! + ipLo) | 0;
  }

  /** Reads byte `k` of the instruction at RIP through a real fetch (crossing pages). */
  private fetchByteAt(k: number): number {
    let ipLo = (this.ripLo + k) | 0;
    let ipHi = this.ripHi;
    if (this.mode === CodeMode.Bits64) {
      if ((ipLo >>> 0) < (this.ripLo >>> 0)) ipHi = (ipHi + 1) | 0;
      if (!isCanonical(ipHi, this.model.linearAddrBits === 57 && (this.cr4 & Cr4.LA57) !== 0 ? 57 : 48)) this.gp(0);
    } else {
      if (this.mode === CodeMode.Bits16 && (this.cr0 & Cr0.PE) === 0) ipLo &= 0xffff_ffff;
      if ((ipLo >>> 0) > this.segLimit[Seg.CS]!) this.gp(0);
    }
    const lo = this.csLinear(ipLo, ipHi);
    const phys = this.fetchPhys(lo, this.hi);
    return this.memory.read8(phys as Hpa);
  }

  private readonly crossFetch = (k: number): number => this.fetchByteAt(k);
  private readonly stopAtPageEnd = (): number => {
    throw NEED_MORE_BYTES;
  };
  private readonly scratchBytes = new Uint8Array(16);

  /** Finds or builds the block at RIP. Returns null when the instruction must run uncached (decoded into the scratch record). */
  private lookupBlock(): Block | null {
    const j = (this.ripLo ^ (this.ripLo >>> 12)) & (JC_SIZE - 1);
    if (this.jcLo[j] === this.ripLo && this.jcHi[j] === this.ripHi && this.jcGen[j] === this.codeGen) return this.jcBlock[j]!;
    const b = this.lookupBlockSlow();
    if (b !== null) {
      this.jcLo[j] = this.ripLo;
      this.jcHi[j] = this.ripHi;
      this.jcGen[j] = this.codeGen;
      this.jcBlock[j] = b;
    }
    return b;
  }

  private lookupBlockSlow(): Block | null {
    this.blockLookups++;
    const mode = this.mode;
    const ipLo = this.ripLo;
    if (mode !== CodeMode.Bits64) {
      // CS limit: the first byte must be within the limit (further bytes are checked below).
      if ((ipLo >>> 0) > this.segLimit[Seg.CS]!) this.gp(0);
    }
    const lo = this.csLinear(ipLo, this.ripHi);
    const hi = this.hi;
    if (mode === CodeMode.Bits64 && !isCanonical(hi, (this.cr4 & Cr4.LA57) !== 0 ? 57 : 48)) this.gp(0);
    const phys = this.fetchPhys(lo, hi);
    const key = phys * 4 + mode;
    let b = this.blocks.get(key);
    if (b !== undefined) {
      if (mode !== CodeMode.Bits64 && (ipLo >>> 0) + b.bytes - 1 > this.segLimit[Seg.CS]!) return this.decodeSingle();
      return b;
    }
    const region = this.memory.regionAt(phys - (phys % 4096));
    if (region === null || phys >= 2 ** 50) return this.decodeSingle();
    // Decode a block from the page's bytes.
    const dec = this.decoder;
    dec.src = region.bytes;
    dec.pos = phys + region.delta;
    dec.avail = 4096 - (phys % 4096);
    dec.more = this.stopAtPageEnd;
    if (this.recUsed + MAX_BLOCK_INSNS * REC_WORDS > this.scratchRec) this.flushCodeCache();
    const start = this.recUsed;
    let d = start;
    let bytes = 0;
    let count = 0;
    while (count < MAX_BLOCK_INSNS) {
      let len: number;
      try {
        len = dec.decode(this.rec, d);
      } catch (e) {
        if (e === NEED_MORE_BYTES) break;
        throw e;
      }
      this.rec[d + R_OP] = specialize(this.rec[d + R_OP]!, this.rec[d + R_INFO]!, this.rec[d + 3]!, this.rec[d + 4]!, mode);
      dec.pos += len;
      dec.avail -= len;
      bytes += len;
      count++;
      d += REC_WORDS;
      // Blocks end after anything that may change the mode or jump, except conditional
      // branches: their not-taken path is the next record (a taken one sets `branched`).
      if (((this.rec[d - REC_WORDS + R_INFO]! & (1 << 16)) !== 0 && CONDITIONAL_BRANCH[this.rec[d - REC_WORDS]!] === 0) || dec.avail === 0) break;
    }
    if (count === 0) return this.decodeSingle();
    this.recUsed = d;
    b = new Block(key, phys, start, count, bytes);
    this.blocks.set(key, b);
    this.markCodePage(phys - (phys % 4096), b);
    if (mode !== CodeMode.Bits64 && (ipLo >>> 0) + bytes - 1 > this.segLimit[Seg.CS]!) return this.decodeSingle();
    return b;
  }

  /** Decodes the instruction at RIP with real fetches into the scratch record. */
  private decodeSingle(): null {
    const dec = this.decoder;
    dec.src = this.scratchBytes;
    dec.pos = 0;
    dec.avail = 0;
    dec.more = this.crossFetch;
    dec.decode(this.rec, this.scratchRec);
    this.rec[this.scratchRec + R_OP] = specialize(this.rec[this.scratchRec + R_OP]!, this.rec[this.scratchRec + R_INFO]!, this.rec[this.scratchRec + 3]!, this.rec[this.scratchRec + 4]!, this.mode);
    return null;
  }

  // ---- the run loop -----------------------------------------------------------------------

  /** Asks `run` to return `Yield` at the next instruction boundary (see {@link pauseYields}). */
  yieldTurn(): void {
    this.yieldRequested = true;
    this.exitBlock = true;
  }

  /** Asks `run` to return at the next instruction boundary. */
  stop(): void {
    this.stopRequested = true;
    this.exitBlock = true;
  }

  /** Executes one instruction (or delivers one pending event). */
  step(): StopReason {
    return this.run(1);
  }

  /**
   * Runs up to `budget` instructions. Returns why it stopped. Exceptions are delivered
   * inside; only a shutdown (triple fault) or a host request stops early.
   */
  run(budget: number): StopReason {
    const start = this.icount;
    const limit = start + budget;
    this.stopRequested = false;
    const clock = this.clock;
    while (this.icount < limit) {
      if (this.shutdown) return StopReason.Shutdown;
      if (this.stopRequested) return StopReason.Stopped;
      if (this.yieldRequested) {
        this.yieldRequested = false;
        return StopReason.Yield;
      }
      if (this.guestMode && (this.extBoundary || this.icount >= this.extDeadline) && this.ext !== null) {
        // The extension's boundary hook (SDM §25.2 window exiting, §25.5.1 preemption timer, MTF).
        if (this.ext.boundary(this)) continue;
      }
      if (this.initPending && !this.initBlocked && this.gif) {
        this.initPending = false;
        this.takeInit();
        continue;
      }
      if (this.waitForSipi) {
        if (this.guestMode && this.idleSkip(limit)) continue;
        return StopReason.Halt;
      }
      // Pending events: interrupts, NMIs, traps.
      if (this.serviceEvents()) continue;
      if (this.halted) {
        // Nothing can wake us within this call unless a timer fires.
        if (this.idleSkip(limit)) continue;
        return StopReason.Halt;
      }
      if (this.breakpoints.size !== 0 && this.breakpoints.has(this.csLinear(this.ripLo, this.ripHi) >>> 0)) {
        if (this.icount !== start) return StopReason.Breakpoint;
      }
      const before = this.icount;
      // Stop exactly at the next timer deadline so timer interrupts land on the right instruction.
      let stopAt = limit;
      if (clock !== null) {
        const until = clock.instructionsUntilNextDeadline();
        if (until < stopAt - before) stopAt = before + Math.max(1, until);
      }
      if (this.guestMode) {
        // The extension's deadline (never run past it) and one-instruction stepping.
        if (this.extBoundary) stopAt = before + 1;
        else if (this.extDeadline < stopAt) stopAt = Math.max(before + 1, this.extDeadline);
      }
      try {
        // executeSome chains blocks while nothing needs this loop: anything that can raise an
        // interrupt, change the mode or need a check (I/O, MMIO, IF/TF changes, faults) sets
        // `exitBlock`.
        this.executeSome(stopAt);
      } catch (e) {
        this.handleThrow(e);
      }
      // The shadowed instruction is done (retired, faulted or exited): a boundary again.
      this.insnShadow = 0;
      if (clock !== null) clock.advance(this.icount - before);
    }
    return this.shutdown ? StopReason.Shutdown : StopReason.Budget;
  }

  /**
   * A halted core (or one waiting for SIPI in guest mode) skips idle time to the next timer
   * deadline or the extension's deadline, when that is within `limit`. Returns whether it did.
   */
  private idleSkip(limit: number): boolean {
    const clock = this.clock;
    if (!this.skipIdle) return false;
    let next = clock !== null ? clock.instructionsUntilNextDeadline() : Infinity;
    if (this.guestMode && this.extDeadline - this.icount < next) next = this.extDeadline - this.icount;
    if (next === Infinity || this.icount + next > limit) return false;
    const n = Math.max(1, next);
    this.icount += n;
    this.idleTicks += n;
    if (clock !== null) clock.advance(n);
    return true;
  }

  private handleThrow(e: unknown): void {
    if (e === CPU_FAULT) {
      // A faulting instruction reports no data breakpoint (SDM Vol. 3 §17.3.1.2).
      this.pendingDb &= ~0xf;
      const v = this.excVector;
      this.excVector = -1;
      try {
        this.deliverException(v, this.excHasError ? this.excError : -1);
      } catch (e2) {
        // A VM exit (or shutdown) raised while delivering the exception.
        this.handleThrow(e2);
      }
    } else if (e === CPU_SHUTDOWN) {
      this.shutdown = true;
    } else if (e === CPU_VMEXIT) {
      this.exitBlock = true;
      this.vectoringInfo = 0;
    } else {
      throw e;
    }
  }

  /**
   * Delivers exception `vector` with the double-fault rules (SDM Vol. 3 §6.15, Table 6-5).
   *
   * In guest mode, an exception raised while delivering another one that the rules would turn
   * into a #DF (or, during a #DF, into a triple fault) is first offered to `ext.intercept` as
   * raised, with `vectoringInfo` still describing the first event: a VM exit it causes (the
   * VMX exception bitmap) happens instead of the #DF (SDM Vol. 3C §25.2 "Other Causes of VM
   * Exits", §27.2.4 "Information for VM Exits During Event Delivery"; Appendix C exit reason 2:
   * a triple fault only for an exception during #DF delivery that "did not itself cause a VM
   * exit due to the exception bitmap"). Only then do the rules apply; the resulting #DF is
   * offered to the intercept again, with no IDT-vectoring information (§27.2.4: a VM exit
   * caused directly by the #DF the original event results in is not "during event delivery"),
   * and so is a triple fault (see {@link triggerShutdown}). An exception the rules leave alone
   * (benign) is offered once, by `deliverEvent`.
   */
  deliverException(vector: number, errorCode: number): void {
    const prev = this.deliveringVector;
    if (prev >= 0) {
      const toDf = isContributoryOrPf(prev) && isContributoryOrPf(vector) && !(prev !== Vector.PF && vector === Vector.PF);
      if (prev === Vector.DF || toDf) {
        if (this.guestMode && this.ext !== null) {
          const err = errorCode < 0 && state.hasErrorCode(vector) ? 0 : errorCode;
          if (this.ext.intercept(this, 14, vector, err)) {
            this.vectoringInfo = 0;
            return;
          }
        }
        if (prev === Vector.DF) {
          this.triggerShutdown();
          return;
        }
        vector = Vector.DF;
        errorCode = 0;
        this.vectoringInfo = 0;
      }
    }
    this.deliveringVector = vector;
    try {
      deliverEvent(this, EventKind.Exception, vector, errorCode);
      this.deliveringVector = -1;
    } catch (e) {
      if (e === CPU_FAULT) {
        const v2 = this.excVector;
        const err2 = this.excHasError ? this.excError : -1;
        this.excVector = -1;
        this.deliverException(v2, err2);
        this.deliveringVector = -1;
      } else {
        this.deliveringVector = -1;
        throw e;
      }
    }
  }

  /**
   * Shutdown after a triple fault (SDM Vol. 3 §6.15 "Interrupt 8"). In guest mode the extension
   * may turn it into a VM exit, which is not "during event delivery": `vectoringInfo` is
   * cleared first (SDM Vol. 3C §27.2.4, "the VM exit is caused by a triple fault").
   */
  triggerShutdown(): void {
    this.vectoringInfo = 0;
    if (this.guestMode && this.ext !== null && this.ext.intercept(this, 34, 0, 0)) return;
    this.shutdown = true;
    this.deliveringVector = -1;
    this.exitBlock = true;
  }

  /** Handles pending NMI / INTR / traps at an instruction boundary. Returns true if an event was delivered. */
  private serviceEvents(): boolean {
    // Debug traps of the previous instruction come before NMI and INTR (SDM Vol. 3 §6.9);
    // MOV SS / POP SS hold them back for one more instruction (§6.8.3).
    if (this.pendingDb !== 0 && !(this.interruptShadow && !this.stiShadow)) {
      this.deliverDebugTrap();
      return true;
    }
    if (this.interruptShadow) return false;
    // GIF = 0 holds NMI and INTR pending (APM Vol. 2 §15.17); so does SVM's physical-interrupt
    // masking for INTR (intrBlocked, §15.21.1).
    if (!this.gif) return false;
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      try {
        // deliverEvent sets nmiBlocked once delivery starts (not when the extension exits), and
        // leaves HLT only then: an NMI that causes a VM exit directly does so from the HLT
        // activity state (SDM Vol. 3C §27.1, §27.3.4).
        deliverEvent(this, EventKind.Nmi, Vector.NMI, -1);
      } catch (e) {
        this.handleThrow(e);
      }
      this.halted = false;
      return true;
    }
    // INTR: with RFLAGS.IF = 1, or in guest mode whatever IF when the extension asks for it
    // (VMX "external-interrupt exiting": the interrupt causes a VM exit regardless of IF, SDM
    // Vol. 3C §25.2, Table 24-5). An interrupt that exits does so from HLT (§27.1).
    if (this.intrBlocked && this.guestMode) return false;
    if (this.intrIgnoresIf && (this.flags & Flag.IF) === 0) {
      if (this.interrupts === null || !this.interrupts.hasInterrupt()) return false;
      return this.guestMode && this.ext !== null && this.ext.intercept(this, 15, 0, 0);
    }
    if ((this.flags & Flag.IF) !== 0 && this.interrupts !== null && this.interrupts.hasInterrupt()) {
      if (this.guestMode && this.ext !== null && this.ext.intercept(this, 15, 0, 0)) return true;
      const vector = this.interrupts.acknowledge();
      this.halted = false;
      try {
        deliverEvent(this, EventKind.External, vector, -1);
      } catch (e) {
        this.handleThrow(e);
      }
      return true;
    }
    return false;
  }

  /** Executes at least one instruction, up to the end of a block or `limit`. */
  private executeSome(limit: number): void {
    const shadow = this.interruptShadow;
    // MOV SS / POP SS inhibit debug exceptions "until the instruction boundary following the
    // next instruction" (SDM Vol. 3 §6.8.3): an instruction breakpoint on that next instruction
    // is not reported (a fault condition, gone once the instruction has run; Bochs skips the
    // match the same way). STI's shadow does not block debug exceptions.
    const dbBlocked = shadow && !this.stiShadow;
    if (shadow) this.insnShadow = dbBlocked ? 2 : 1;
    this.interruptShadow = false;
    this.stiShadow = false;
    if (this.dbExec !== 0 && (this.flags & Flag.RF) === 0 && !dbBlocked) this.checkCodeBp();
    let block = this.lookupBlock();
    const rec = this.rec;
    this.exitBlock = false;
    this.branched = false;
    const single = shadow || (this.flags & (Flag.TF | Flag.RF)) !== 0 || (this.drLo[7]! & 0xff) !== 0;
    // TF as the instruction starts decides the single-step trap (SDM Vol. 3 §17.3.1.4): POPF
    // setting TF traps one instruction later; INT n clearing it still traps (into the handler).
    const tf = this.flags & Flag.TF;
    if (single) {
      // RF lasts for one instruction (§17.3.1.1); an IRET that loads RF = 1 keeps it.
      this.flags &= ~Flag.RF;
    }
    const handlers = HANDLERS;
    // Chain blocks until something needs the run loop (exitBlock), the limit is reached, or
    // (single-stepping, shadows, breakpoints) after one instruction.
    for (;;) {
      let d: number;
      let end: number;
      if (block === null) {
        d = this.scratchRec;
        end = d + REC_WORDS;
      } else {
        d = block.start;
        end = d + block.count * REC_WORDS;
        const room = (limit - this.icount) * REC_WORDS;
        if (end - d > room) end = d + room;
      }
      if (single) end = d + REC_WORDS;
      const start = d;
      this.blockStart = d;
      try {
        if (block !== null && (this.ripLo >>> 0) + block.bytes <= 0xffff_ffff) {
          // The common case: no instruction of the block ends past 2^32, so the next RIP is
          // RIP + length and its high half stays put (only branches, which end blocks, and
          // event delivery change it; both set nipHi themselves).
          this.nipHi = this.ripHi;
          for (; d < end; d += REC_WORDS) {
            this.nipLo = (this.ripLo + (rec[d + R_INFO]! & 0xf)) | 0;
            handlers[rec[d]!]!(this, d);
            this.ripLo = this.nipLo;
            if (this.exitBlock || this.branched) {
              d += REC_WORDS;
              break;
            }
          }
          this.ripHi = this.nipHi;
        } else {
          const is64 = this.mode === CodeMode.Bits64;
          for (; d < end; d += REC_WORDS) {
            const next = (this.ripLo >>> 0) + (rec[d + R_INFO]! & 0xf);
            if (next > 0xffff_ffff) {
              this.nipLo = next | 0;
              this.nipHi = is64 ? (this.ripHi + 1) | 0 : 0;
            } else {
              this.nipLo = next | 0;
              this.nipHi = this.ripHi;
            }
            handlers[rec[d]!]!(this, d);
            this.ripLo = this.nipLo;
            this.ripHi = this.nipHi;
            if (this.exitBlock || this.branched) {
              d += REC_WORDS;
              break;
            }
          }
        }
      } finally {
        // Retired instructions: those whose handler returned (a faulting one did not retire).
        this.icount += (d - start) / REC_WORDS;
      }
      this.branched = false;
      if (single || this.exitBlock || this.icount >= limit || this.breakpoints.size !== 0) break;
      block = this.lookupBlock();
      this.exitBlock = false;
    }
    // Single-step trap after the instruction (SDM Vol. 3 §17.3.1.4), delivered by serviceEvents.
    if (tf !== 0) this.pendingDb |= 0x4000;
  }


  // ---- architectural state API -------------------------------------------------------------

  /** Instructions retired before the instruction at record `d` of the running block (TSC reads). */
  retired(d: number): number {
    return this.icount + (d - this.blockStart) / REC_WORDS;
  }

  /** Linear address bits in effect (48, or 57 with CR4.LA57). */
  get linearBits(): 48 | 57 {
    return (this.cr4 & Cr4.LA57) !== 0 ? 57 : 48;
  }
}

/** {@link Cpu.updateDebug}'s "no DR7 seen" (outside the range of the Int32Array drLo). */
const NO_DR7 = 2 ** 32;

function isContributoryOrPf(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 14);
}
