/*
 * hvkit native differential-testing oracle.
 *
 * Runs x86-64 instruction snippets on the host CPU from given register, flag and memory
 * inputs and reports the outputs, so the emulator in @hvkit/x86 can be compared against real
 * hardware. Linux x86-64 only; built by native-oracle.ts with
 *     gcc -O2 -o <cache>/hvkit-oracle oracle.c trampoline.S
 *
 * Address space seen by a snippet (the emulator side must model the same):
 *   CODE_BASE  0x30000000  one RWX page. The snippet's bytes sit at offset 0, followed at
 *                          offset code_len by `jmp [rip+slot]` back to the oracle, then 0xCC
 *                          (int3) up to offset 64. Pages around it are not present.
 *   DATA_BASE  0x20000000  one RW, non-executable page. Its first DATA_SIZE (128) bytes are
 *                          the case's data window; the rest of the page reads as zero (writes
 *                          there are undone and reported as status bit STRAY_WRITE). The
 *                          pages below and above are not present.
 *   everything else reachable is not present (the oracle's own memory lives above 4 GiB).
 *
 * Protocol (all little-endian). The oracle reads batches from stdin until EOF; each batch is
 *   header  { u32 magic 'HVO2' (0x324f5648); u32 count; u32 data_size (must be 128);
 *             u32 flags (bit 0 BATCH_FP: every record carries x87/SSE state, see below) }
 *   count x input record (304 bytes, 816 with BATCH_FP):
 *     0   u64 gpr[16]    RAX RCX RDX RBX RSP RBP RSI RDI R8..R15
 *     128 u64 rflags     only CF PF AF ZF SF DF OF (mask 0xCD5) are used; bits 1 and IF are
 *                        forced on (user mode cannot clear IF), TF/AC/NT/ID are never loaded
 *     136 u32 code_len   0..32
 *     140 u32 reserved
 *     144 u8  code[32]
 *     176 u8  mem[128]   the data window
 *     304 u8  fx[512]    BATCH_FP only: an FXSAVE64 image (SDM Vol. 1 Table 10-2) loaded with
 *                        FXRSTOR64 right before the snippet: FCW, FSW (with TOP), abridged FTW,
 *                        MXCSR, ST0-ST7 in stack order, XMM0-XMM15. FOP/FIP/FDP are ignored.
 *                        MXCSR bits outside 0xFFFF (e.g. AMD's MM, bit 17) are refused
 *                        (BAD_INPUT; cleared), and so is an FSW whose ES/B bits disagree with
 *                        its unmasked exception flags (ES/B recomputed, as this CPU's FXRSTOR
 *                        does anyway: the emulator side loads the image as it is, so such an
 *                        image would be compared against a different input).
 * and answers with
 *   header  { u32 magic 'HVR2' (0x32525648); u32 count; u32 data_size; u32 flags (as sent) }
 *   count x output record (296 bytes, 808 with BATCH_FP):
 *     0   u64 gpr[16]    registers at the end, or at the fault
 *     128 u64 rflags     RFLAGS at the end (pushfq) or at the fault (the signal frame)
 *     136 u64 rip        CODE_BASE + code_len at a normal end; the faulting RIP otherwise
 *     144 u64 fault_addr CR2 as the kernel reports it for #PF, else 0
 *     152 i32 vector     -1 none, 0..31 exception vector (REG_TRAPNO), -2 timeout (the
 *                        snippet used more than ~100 ms of CPU), -3 a syscall was attempted
 *     156 u32 error_code REG_ERR
 *     160 u32 status     bit 0 STRAY_WRITE, bit 1 BAD_INPUT (code_len > 32, truncated; or a
 *                        refused FP image), bit 2 FP_FRAME (the signal frame's fpstate differed
 *                        from the registers after sigreturn: a harness bug, never expected)
 *     164 u32 reserved
 *     168 u8  mem[128]   the data window at the end / at the fault
 *     296 u8  fx[512]    BATCH_FP only: FXSAVE64 image at the end (taken right after the
 *                        snippet, FXSAVE does not raise pending x87 exceptions) or at the fault
 *                        (the fpstate Linux saved into the signal frame; vector 16 is #MF,
 *                        19 is #XM, both delivered as SIGFPE with REG_TRAPNO set)
 *   then the output is flushed, so a parent may keep the process and send further batches.
 *
 * Robustness: faults are caught on an alternate signal stack and the handler rewrites the
 * ucontext so that sigreturn lands in oracle_resume (no sigsetjmp, no syscall per case).
 * Syscalls from the code page are refused by a seccomp filter (SIGSYS, vector -3), endless
 * loops are cut by an ITIMER_VIRTUAL watchdog (vector -2), and oracle_resume repairs RFLAGS,
 * the segment selectors, the FS/GS bases, MXCSR and the x87 control word after every case.
 */
#define _GNU_SOURCE
#include <emmintrin.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

#define PAGE 4096UL
#define DATA_BASE 0x20000000UL
#define DATA_SIZE 128
#define CODE_BASE 0x30000000UL
#define CODE_MAX 32
#define CODE_FILL 64       /* bytes rewritten per case: code, exit jump, int3 fill */
#define SLOT_OFF (PAGE - 8) /* the exit address for `jmp [rip+slot]` */
#define IN_MAGIC 0x324f5648u
#define OUT_MAGIC 0x32525648u
#define BATCH_FP 1u
#define FX_SIZE 512
#define RFLAGS_IN_MASK 0xCD5u
#define RFLAGS_FORCED 0x202u
#define VEC_NONE (-1)
#define VEC_TIMEOUT (-2)
#define VEC_SYSCALL (-3)
#define STATUS_STRAY_WRITE 1u
#define STATUS_BAD_INPUT 2u
#define STATUS_FP_FRAME 4u

struct in_rec {
  uint64_t gpr[16];
  uint64_t rflags;
  uint32_t code_len;
  uint32_t reserved;
  uint8_t code[CODE_MAX];
  uint8_t mem[DATA_SIZE];
};
_Static_assert(sizeof(struct in_rec) == 304, "input record size");

struct out_rec {
  uint64_t gpr[16];
  uint64_t rflags;
  uint64_t rip;
  uint64_t fault_addr;
  int32_t vector;
  uint32_t error_code;
  uint32_t status;
  uint32_t reserved;
  uint8_t mem[DATA_SIZE];
};
_Static_assert(sizeof(struct out_rec) == 296, "output record size");

/* Shared with trampoline.S: keep the offsets in sync (asserted below). */
struct oracle_state {
  uint64_t in_gpr[16];
  uint64_t in_rflags;
  uint64_t out_gpr[16];
  uint64_t out_rflags;
  uint64_t host_rsp;
  uint64_t code_addr;
  uint64_t host_fsbase;
  uint64_t host_gsbase;
  uint32_t host_mxcsr;
  uint16_t host_fcw;
  uint16_t host_fs, host_gs, host_ds, host_es;
  volatile uint8_t in_snippet;
  uint8_t have_fsgsbase;
  uint32_t scratch;
  uint8_t fp_mode; /* BATCH_FP: FXRSTOR in_fx before the snippet, FXSAVE out_fx after */
  uint8_t pad[59];
  uint8_t in_fx[FX_SIZE] __attribute__((aligned(64)));
  uint8_t out_fx[FX_SIZE] __attribute__((aligned(64)));
  uint8_t host_fx[FX_SIZE] __attribute__((aligned(64))); /* sane state for the oracle's own code */
};
_Static_assert(offsetof(struct oracle_state, in_rflags) == 128, "layout");
_Static_assert(offsetof(struct oracle_state, out_gpr) == 136, "layout");
_Static_assert(offsetof(struct oracle_state, out_rflags) == 264, "layout");
_Static_assert(offsetof(struct oracle_state, host_rsp) == 272, "layout");
_Static_assert(offsetof(struct oracle_state, code_addr) == 280, "layout");
_Static_assert(offsetof(struct oracle_state, host_fsbase) == 288, "layout");
_Static_assert(offsetof(struct oracle_state, host_mxcsr) == 304, "layout");
_Static_assert(offsetof(struct oracle_state, host_fcw) == 308, "layout");
_Static_assert(offsetof(struct oracle_state, host_fs) == 310, "layout");
_Static_assert(offsetof(struct oracle_state, host_es) == 316, "layout");
_Static_assert(offsetof(struct oracle_state, in_snippet) == 318, "layout");
_Static_assert(offsetof(struct oracle_state, have_fsgsbase) == 319, "layout");
_Static_assert(offsetof(struct oracle_state, scratch) == 320, "layout");
_Static_assert(offsetof(struct oracle_state, fp_mode) == 324, "layout");
_Static_assert(offsetof(struct oracle_state, in_fx) == 384, "layout");
_Static_assert(offsetof(struct oracle_state, out_fx) == 896, "layout");
_Static_assert(offsetof(struct oracle_state, host_fx) == 1408, "layout");

struct oracle_state oracle_state __attribute__((aligned(64)));
extern void oracle_enter(void);
extern void oracle_exit(void);
extern void oracle_resume(void);

/* Filled by the signal handler when a snippet faults. */
static volatile struct {
  int faulted;
  int32_t vector;
  uint32_t error_code;
  uint64_t fault_addr;
  uint64_t rip;
  uint64_t rflags;
  uint64_t gpr[16];
  uint8_t fx[FX_SIZE]; /* BATCH_FP: the signal frame's fpstate (legacy FXSAVE region) */
} fault;

static uint16_t host_cs, host_ss;
static volatile uint64_t case_seq;    /* increments per case */
static volatile uint64_t watchdog_seq; /* case seen in a snippet at the last watchdog tick */

static uint8_t *code_page;
static uint8_t *data_page;

static void die(const char *what) {
  fprintf(stderr, "hvkit-oracle: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  ucontext_t *uc = ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  if (!oracle_state.in_snippet) {
    if (sig == SIGVTALRM) return;
    /* A fault in the oracle itself: let it happen with the default action. */
    signal(sig, SIG_DFL);
    return;
  }
  int32_t vector;
  uint32_t err = 0;
  uint64_t addr = 0;
  if (sig == SIGVTALRM) {
    if (watchdog_seq != case_seq) {
      watchdog_seq = case_seq;
      return;
    }
    vector = VEC_TIMEOUT;
  } else if (sig == SIGSYS) {
    vector = VEC_SYSCALL;
  } else {
    vector = (int32_t)g[REG_TRAPNO];
    err = (uint32_t)g[REG_ERR];
    if (vector == 14) addr = (uint64_t)g[REG_CR2];
  }
  fault.vector = vector;
  fault.error_code = err;
  fault.fault_addr = addr;
  fault.rip = (uint64_t)g[REG_RIP];
  fault.rflags = (uint64_t)g[REG_EFL];
  fault.gpr[0] = (uint64_t)g[REG_RAX];
  fault.gpr[1] = (uint64_t)g[REG_RCX];
  fault.gpr[2] = (uint64_t)g[REG_RDX];
  fault.gpr[3] = (uint64_t)g[REG_RBX];
  fault.gpr[4] = (uint64_t)g[REG_RSP];
  fault.gpr[5] = (uint64_t)g[REG_RBP];
  fault.gpr[6] = (uint64_t)g[REG_RSI];
  fault.gpr[7] = (uint64_t)g[REG_RDI];
  fault.gpr[8] = (uint64_t)g[REG_R8];
  fault.gpr[9] = (uint64_t)g[REG_R9];
  fault.gpr[10] = (uint64_t)g[REG_R10];
  fault.gpr[11] = (uint64_t)g[REG_R11];
  fault.gpr[12] = (uint64_t)g[REG_R12];
  fault.gpr[13] = (uint64_t)g[REG_R13];
  fault.gpr[14] = (uint64_t)g[REG_R14];
  fault.gpr[15] = (uint64_t)g[REG_R15];
  /* The x87/SSE state at the fault, as Linux saved it into the frame (sigreturn loads it back,
   * so oracle_resume's FXSAVE sees the same state: run_case checks that). */
  if (oracle_state.fp_mode && uc->uc_mcontext.fpregs != NULL)
    memcpy((void *)fault.fx, uc->uc_mcontext.fpregs, FX_SIZE);
  fault.faulted = 1;
  oracle_state.in_snippet = 0;
  /* Return into oracle_resume on the host stack with clean flags. */
  g[REG_RIP] = (greg_t)(uintptr_t)oracle_resume;
  g[REG_RSP] = (greg_t)oracle_state.host_rsp;
  g[REG_EFL] = RFLAGS_FORCED;
  /* A far return/jump/IRET may have left 64-bit mode (CS 0x23): come back in 64-bit mode. */
  uint64_t csgsfs = (uint64_t)g[REG_CSGSFS];
  csgsfs = (csgsfs & 0x0000ffffffff0000ull) | host_cs | ((uint64_t)host_ss << 48);
  g[REG_CSGSFS] = (greg_t)csgsfs;
}

static void *map_fixed(uint64_t addr, int prot) {
  void *p = mmap((void *)addr, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  if ((uint64_t)p != addr) {
    errno = EEXIST;
    die("mmap at fixed address");
  }
  return p;
}

static void install_seccomp(void) {
  /* Trap (SIGSYS) every syscall whose instruction pointer lies in the code page or its
   * neighbourhood; allow the rest. */
  uint32_t lo = (uint32_t)(CODE_BASE - PAGE), hi = (uint32_t)(CODE_BASE + 2 * PAGE);
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 1),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, hi, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) die("seccomp");
}

static void setup(void) {
  map_fixed(DATA_BASE - PAGE, PROT_NONE);
  data_page = map_fixed(DATA_BASE, PROT_READ | PROT_WRITE);
  map_fixed(DATA_BASE + PAGE, PROT_NONE);
  map_fixed(CODE_BASE - PAGE, PROT_NONE);
  code_page = map_fixed(CODE_BASE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_fixed(CODE_BASE + PAGE, PROT_NONE);
  memset(data_page, 0, PAGE);
  memset(code_page, 0xCC, PAGE);
  uint64_t exit_addr = (uint64_t)(uintptr_t)oracle_exit;
  memcpy(code_page + SLOT_OFF, &exit_addr, 8);
  oracle_state.code_addr = CODE_BASE;

  unsigned long fsb = 0, gsb = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_FS, &fsb) != 0) die("arch_prctl");
  if (syscall(SYS_arch_prctl, ARCH_GET_GS, &gsb) != 0) die("arch_prctl");
  oracle_state.host_fsbase = fsb;
  oracle_state.host_gsbase = gsb;
  oracle_state.have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
  uint16_t sel;
  __asm__ volatile("mov %%fs, %0" : "=r"(sel));
  oracle_state.host_fs = sel;
  __asm__ volatile("mov %%gs, %0" : "=r"(sel));
  oracle_state.host_gs = sel;
  __asm__ volatile("mov %%ds, %0" : "=r"(sel));
  oracle_state.host_ds = sel;
  __asm__ volatile("mov %%es, %0" : "=r"(sel));
  oracle_state.host_es = sel;
  __asm__ volatile("mov %%cs, %0" : "=r"(sel));
  host_cs = sel;
  __asm__ volatile("mov %%ss, %0" : "=r"(sel));
  host_ss = sel;
  uint32_t mxcsr;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  oracle_state.host_mxcsr = mxcsr;
  uint16_t fcw;
  __asm__ volatile("fnstcw %0" : "=m"(fcw));
  oracle_state.host_fcw = fcw;
  __asm__ volatile("fxsave64 %0" : "=m"(oracle_state.host_fx));

  static uint8_t altstack[256 * 1024] __attribute__((aligned(64)));
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGVTALRM};
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaddset(&sa.sa_mask, sigs[i]);
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");
  struct itimerval it = {.it_interval = {0, 50000}, .it_value = {0, 50000}};
  if (setitimer(ITIMER_VIRTUAL, &it, NULL) != 0) die("setitimer");
  install_seccomp();
}

/* Is the data page outside the window still all zero? (SSE2, 4 accumulators: ~130 cycles.) */
static int page_tail_dirty(void) {
  const __m128i *p = (const __m128i *)(data_page + DATA_SIZE);
  __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
  for (size_t i = 0; i < (PAGE - DATA_SIZE) / 16; i += 4) {
    a = _mm_or_si128(a, _mm_load_si128(p + i));
    b = _mm_or_si128(b, _mm_load_si128(p + i + 1));
    c = _mm_or_si128(c, _mm_load_si128(p + i + 2));
    d = _mm_or_si128(d, _mm_load_si128(p + i + 3));
  }
  a = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
  return _mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_setzero_si128())) != 0xFFFF;
}

/* The fields of two FXSAVE images a comparison uses: FCW FSW FTW, MXCSR, ST0-7, XMM0-15. */
static int fx_differs(const uint8_t *a, const uint8_t *b) {
  if (memcmp(a, b, 5) != 0 || memcmp(a + 24, b + 24, 4) != 0) return 1;
  for (int i = 0; i < 8; i++)
    if (memcmp(a + 32 + 16 * i, b + 32 + 16 * i, 10) != 0) return 1;
  return memcmp(a + 160, b + 160, 256) != 0;
}

/* Copies an input image into oracle_state.in_fx, refusing what FXRSTOR64 or Linux cannot take. */
static uint32_t load_fx(const uint8_t *fx) {
  uint32_t status = 0;
  uint8_t *d = oracle_state.in_fx;
  memcpy(d, fx, FX_SIZE);
  uint32_t mxcsr;
  memcpy(&mxcsr, d + 24, 4);
  if (mxcsr & ~0xFFFFu) {
    status |= STATUS_BAD_INPUT;
    mxcsr &= 0xFFFFu;
    memcpy(d + 24, &mxcsr, 4);
  }
  uint16_t fcw, fsw;
  memcpy(&fcw, d, 2);
  memcpy(&fsw, d + 2, 2);
  uint16_t want = (fsw & ~fcw & 0x3F) ? (fsw | 0x8080) : (fsw & ~0x8080);
  if (want != fsw) {
    status |= STATUS_BAD_INPUT;
    memcpy(d + 2, &want, 2);
  }
  return status;
}

static void run_case(const struct in_rec *in, struct out_rec *out, const uint8_t *in_fx, uint8_t *out_fx) {
  uint32_t status = 0;
  if (in_fx != NULL) status |= load_fx(in_fx);
  uint32_t len = in->code_len;
  if (len > CODE_MAX) {
    len = CODE_MAX;
    status |= STATUS_BAD_INPUT;
  }
  memcpy(code_page, in->code, len);
  uint8_t *p = code_page + len;
  int32_t disp = (int32_t)(SLOT_OFF - (len + 6));
  p[0] = 0xFF;
  p[1] = 0x25;
  memcpy(p + 2, &disp, 4);
  memset(p + 6, 0xCC, CODE_FILL - len - 6);
  uint64_t exit_addr = (uint64_t)(uintptr_t)oracle_exit, slot;
  memcpy(&slot, code_page + SLOT_OFF, 8);
  if (slot != exit_addr) memcpy(code_page + SLOT_OFF, &exit_addr, 8);
  memcpy(data_page, in->mem, DATA_SIZE);
  memcpy(oracle_state.in_gpr, in->gpr, sizeof(in->gpr));
  oracle_state.in_rflags = (in->rflags & RFLAGS_IN_MASK) | RFLAGS_FORCED;
  fault.faulted = 0;
  case_seq = case_seq + 1;

  oracle_enter();

  if (fault.faulted) {
    for (int i = 0; i < 16; i++) out->gpr[i] = fault.gpr[i];
    out->rflags = fault.rflags;
    out->rip = fault.rip;
    out->fault_addr = fault.fault_addr;
    out->vector = fault.vector;
    out->error_code = fault.error_code;
  } else {
    memcpy(out->gpr, oracle_state.out_gpr, sizeof(out->gpr));
    out->rflags = oracle_state.out_rflags;
    out->rip = CODE_BASE + len;
    out->fault_addr = 0;
    out->vector = VEC_NONE;
    out->error_code = 0;
  }
  if (out_fx != NULL) {
    if (fault.faulted) {
      memcpy(out_fx, (const void *)fault.fx, FX_SIZE);
      if (fx_differs(out_fx, oracle_state.out_fx)) status |= STATUS_FP_FRAME;
    } else {
      memcpy(out_fx, oracle_state.out_fx, FX_SIZE);
    }
  }
  memcpy(out->mem, data_page, DATA_SIZE);
  if (page_tail_dirty()) {
    status |= STATUS_STRAY_WRITE;
    memset(data_page + DATA_SIZE, 0, PAGE - DATA_SIZE);
  }
  out->status = status;
  out->reserved = 0;
}

int main(int argc, char **argv) {
  static char inbuf[1 << 20], outbuf[1 << 20];
  /* `hvkit-oracle REQ RESP`: serve batches over two named pipes instead of stdin/stdout. */
  if (argc == 3) {
    if (freopen(argv[1], "rb", stdin) == NULL) die(argv[1]);
    if (freopen(argv[2], "wb", stdout) == NULL) die(argv[2]);
  } else if (argc != 1) {
    fprintf(stderr, "usage: hvkit-oracle [REQUEST-FIFO RESPONSE-FIFO] < requests > responses\n");
    return 2;
  }
  setvbuf(stdin, inbuf, _IOFBF, sizeof(inbuf));
  setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
  setup();
  for (;;) {
    uint32_t hdr[4];
    size_t got = fread(hdr, 1, sizeof(hdr), stdin);
    if (got == 0 && feof(stdin)) return 0;
    if (got != sizeof(hdr) || hdr[0] != IN_MAGIC || hdr[2] != DATA_SIZE) {
      fprintf(stderr, "hvkit-oracle: bad batch header\n");
      return 3;
    }
    uint32_t count = hdr[1];
    uint32_t flags = hdr[3];
    if (flags & ~BATCH_FP) {
      fprintf(stderr, "hvkit-oracle: unknown batch flags 0x%x\n", flags);
      return 3;
    }
    int fp = (flags & BATCH_FP) != 0;
    oracle_state.fp_mode = (uint8_t)fp;
    uint32_t ohdr[4] = {OUT_MAGIC, count, DATA_SIZE, flags};
    if (fwrite(ohdr, sizeof(ohdr), 1, stdout) != 1) return 4;
    for (uint32_t i = 0; i < count; i++) {
      struct in_rec in;
      struct out_rec out;
      static uint8_t in_fx[FX_SIZE], out_fx[FX_SIZE];
      if (fread(&in, sizeof(in), 1, stdin) != 1 || (fp && fread(in_fx, FX_SIZE, 1, stdin) != 1)) {
        fprintf(stderr, "hvkit-oracle: truncated batch (%u of %u records)\n", i, count);
        return 3;
      }
      run_case(&in, &out, fp ? in_fx : NULL, fp ? out_fx : NULL);
      if (fwrite(&out, sizeof(out), 1, stdout) != 1) return 4;
      if (fp && fwrite(out_fx, FX_SIZE, 1, stdout) != 1) return 4;
    }
    if (fflush(stdout) != 0) return 4;
  }
}
