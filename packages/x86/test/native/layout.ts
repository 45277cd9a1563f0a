/**
 * The address-space layout and record formats shared by the native oracle (`oracle.c`), its
 * driver (`native-oracle.ts`), the case generator and the emulator runner. The emulator side
 * must present a snippet with the same user-mode (CPL 3, 64-bit) machine:
 *
 * - `CODE_BASE`: one present, writable, executable page. The snippet's bytes are at offset 0;
 *   from `code.length` to offset 64 the page holds `0xCC` (INT3) (natively the first bytes at
 *   `code.length` are the jump back into the oracle, which generated cases never execute except
 *   as "the end"). A snippet has finished normally when RIP reaches `CODE_BASE + code.length`.
 * - `DATA_BASE`: one present, writable, non-executable page. Its first `DATA_SIZE` bytes are the
 *   data window of the case; the rest of the page reads as zero. Writes there are reported by
 *   the oracle as `STATUS_STRAY_WRITE` (a generator bug), not as a difference.
 * - every other address is not present (a #PF with P = 0, U = 1).
 * - CS = 0x33, SS = 0x2B, DS = ES = FS = GS = 0 with zero bases (Linux user selectors); CPL 3,
 *   IOPL 0, CR0.AM = 1 (but AC is never set by the generator), EFER.NXE = 1.
 * - RFLAGS on entry: `(rflags & RFLAGS_IN_MASK) | 0x202` (IF and bit 1 are always set).
 *
 * Results: at a normal end, the registers and RFLAGS after the last instruction (RF = 0). At a
 * fault, the registers, the RIP and the RFLAGS image the CPU would push for the exception (RF is
 * set for faults, as hardware does; traps such as INT3 report the RIP after the instruction).
 */

/** Data window: first byte. Below 2 GiB so disp32 and 32-bit addressing reach it. */
export const DATA_BASE = 0x2000_0000;
/** Data window: size in bytes (the part of the data page a case fills and reads back). */
export const DATA_SIZE = 128;
/** Linear address of the snippet's first byte. */
export const CODE_BASE = 0x3000_0000;
/** Maximum snippet length in bytes. */
export const CODE_MAX = 32;
/** RFLAGS bits a case may set on entry: CF PF AF ZF SF DF OF. */
export const RFLAGS_IN_MASK = 0xcd5;
/** RFLAGS bits always set on entry (bit 1 and IF). */
export const RFLAGS_FORCED = 0x202;

/** No exception: the snippet ran to its end. */
export const VECTOR_NONE = -1;
/** The snippet ran for more than about 100 ms of CPU time (an endless loop). */
export const VECTOR_TIMEOUT = -2;
/** The snippet attempted a system call (SYSCALL, INT 0x80); it was refused. */
export const VECTOR_SYSCALL = -3;

/** Oracle status bit: the snippet wrote to the data page outside the window. */
export const STATUS_STRAY_WRITE = 1;
/** Oracle status bit: the record was malformed (code longer than CODE_MAX). */
export const STATUS_BAD_INPUT = 2;

/** Oracle status bit: the signal frame's x87/SSE state differed from the registers after sigreturn (harness bug). */
export const STATUS_FP_FRAME = 4;

/** Binary protocol (see oracle.c): batch header size and magics. */
export const HEADER_SIZE = 16;
export const IN_MAGIC = 0x324f5648; // 'HVO2'
export const OUT_MAGIC = 0x32525648; // 'HVR2'
/** Batch header flag (word 3): every record carries an FXSAVE64 image in and out. */
export const BATCH_FP = 1;
/** Size of an FXSAVE image (SDM Vol. 1 Table 10-2). */
export const FX_SIZE = 512;

/** Input record: u64 gpr[16] @0, u64 rflags @128, u32 codeLen @136, u8 code[32] @144, u8 mem[128] @176. */
export const IN_RECORD = 304;
export const IN_GPR = 0;
export const IN_RFLAGS = 128;
export const IN_CODE_LEN = 136;
export const IN_CODE = 144;
export const IN_MEM = 176;
/** FP batches: the input FXSAVE64 image follows the record (record size IN_RECORD_FP). */
export const IN_FX = 304;
export const IN_RECORD_FP = IN_RECORD + FX_SIZE;

/**
 * Output record: u64 gpr[16] @0, u64 rflags @128, u64 rip @136, u64 faultAddr @144,
 * i32 vector @152, u32 errorCode @156, u32 status @160, u8 mem[128] @168.
 */
export const OUT_RECORD = 296;
export const OUT_GPR = 0;
export const OUT_RFLAGS = 128;
export const OUT_RIP = 136;
export const OUT_FAULT_ADDR = 144;
export const OUT_VECTOR = 152;
export const OUT_ERROR_CODE = 156;
export const OUT_STATUS = 160;
export const OUT_MEM = 168;
/** FP batches: the output FXSAVE64 image follows the record (record size OUT_RECORD_FP). */
export const OUT_FX = 296;
export const OUT_RECORD_FP = OUT_RECORD + FX_SIZE;

/**
 * FXSAVE64 image layout (SDM Vol. 1 Table 10-2; Vol. 2 "FXSAVE"): byte offsets of the fields the
 * harness uses. ST(i) is stored in stack order (ST0 first), 10 bytes in a 16-byte slot; bit i of
 * the abridged tag is 1 when physical register Ri is not empty.
 */
export const FX_FCW = 0;
export const FX_FSW = 2;
export const FX_FTW = 4;
export const FX_FOP = 6;
export const FX_FIP = 8;
export const FX_FDP = 16;
export const FX_MXCSR = 24;
export const FX_MXCSR_MASK = 28;
export const FX_ST = 32;
export const FX_XMM = 160;

/** Register names in the order of `gpr` (hardware encoding order). */
export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
