/* @guest bits=64 cpu=max,+svm timeout=180 -- pnpm bench's SVM world switch: a guest runs CPUID in a loop; the host sets RIP = nRIP and executes VMRUN again */
/*
 * The SVM rows of the `vmexit` workload of pnpm bench (tooling/bench/src/vmexit.ts), the AMD
 * counterpart of vmxbench: a bare-metal hypervisor whose guest executes CPUID in a loop. The
 * VMCB intercepts CPUID (AMD64 APM Vol. 2 §15.9, InterceptMisc1 bit 18), so every iteration is
 * one world switch each way: #VMEXIT (§15.6, EXITCODE 72h = VMEXIT_CPUID), the host reads
 * EXITCODE, copies nRIP (VMCB offset 0C8h, §15.7.1: the next sequential instruction pointer,
 * CPUID 8000_000Ah EDX[3] NRIPS; without it RIP + 2, CPUID's length) into the guest RIP, and executes VMRUN again (§15.5). The
 * round trip is written in assembly so that the host does only that.
 *
 * The guest has ASID 1 and TLB_CONTROL 0 (§15.16: no flush at VMRUN, the guest's and host's
 * translations are tagged apart) and, in the timed phase, VMCB clean bits 0FFFh (§15.15: only
 * RIP and RAX, which are not covered by clean bits, change between runs): a real hypervisor's
 * configuration. VMRUN with GIF = 0 (the host executes CLGI first, §15.17): host interrupts
 * stay held during the round trips and STGI at the end lets them in again.
 *
 * Timed phases, between `# mark` lines the bench timestamps on COM1:
 * - `native`: the guest loop body (INC, MOV, CPUID) run ROUND_TRIPS times without SVM (the
 *   guest-loop cost, which the bench subtracts);
 * - `vmexit`: ROUND_TRIPS round trips (after WARMUP_ROUND_TRIPS untimed ones).
 * The host folds the guest's CPUID leaf (the guest RAX, saved in the VMCB at 5F8h: VMRUN and
 * #VMEXIT switch RAX, RSP and RIP, not the other general registers, §15.5.1, §15.6) into a
 * checksum at each exit; it must equal the value computed in C. Without SVM (a CPU without
 * CPUID 8000_0001h ECX[2], or VM_CR.SVMDIS set) the program reports SKIP and passes.
 */
#include "guest.h"
#include "guest64.h"

const char test_name[] = "svmbench";

#define ROUND_TRIPS 100000
#define WARMUP_ROUND_TRIPS 30000

#define MSR_VM_CR 0xc0010114u
#define MSR_VM_HSAVE_PA 0xc0010117u
#define VM_CR_SVMDIS BIT(4)
#define EFER_SVME BIT(12)

/* VMCB offsets (APM Vol. 2 Appendix B, Tables B-1 and B-2). */
#define VMCB_INTERCEPT_MISC1 0x00c
#define VMCB_INTERCEPT_MISC2 0x010
#define VMCB_IOPM_BASE_PA 0x040
#define VMCB_MSRPM_BASE_PA 0x048
#define VMCB_GUEST_ASID 0x058
#define VMCB_TLB_CONTROL 0x05c
#define VMCB_EXITCODE 0x070
#define VMCB_CLEAN 0x0c0
#define VMCB_NRIP 0x0c8
#define VMCB_ES 0x400
#define VMCB_GDTR 0x460
#define VMCB_IDTR 0x480
#define VMCB_CPL 0x4cb
#define VMCB_EFER 0x4d0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5d8
#define VMCB_RAX 0x5f8
#define VMCB_G_PAT 0x668
#define INTERCEPT_CPUID BIT(18)
#define INTERCEPT_VMRUN BIT(0)
#define VMEXIT_CPUID 0x72

static u8 vmcb[4096] ALIGNED(4096);
static u8 hsave[4096] ALIGNED(4096);
static u8 iopm[3 * 4096] ALIGNED(4096);
static u8 msrpm[2 * 4096] ALIGNED(4096);
static u8 guest_stack[8192] ALIGNED(4096);

#define V8(off) (*(volatile u8 *)(vmcb + (off)))
#define V16(off) (*(volatile u16 *)(vmcb + (off)))
#define V32(off) (*(volatile u32 *)(vmcb + (off)))
#define V64(off) (*(volatile u64 *)(vmcb + (off)))

/* Set by the assembly on an unexpected exit: its EXITCODE. */
u64 svmbench_bad_exitcode;
u64 svmbench_roundtrips(u64 vmcb_pa, u64 n, u64 use_nrip);
void svmbench_native(u64 n);
extern char svmbench_guest[];

/*
 * svmbench_roundtrips(vmcb_pa, n, use_nrip): CLGI, then n times: VMRUN; check EXITCODE = 72h
 * (CPUID); RIP = nRIP (or RIP + 2 without NRIPS); checksum = checksum * 31 + guest RAX. STGI, return the checksum (0 with
 * svmbench_bad_exitcode set on another exit). #VMEXIT restores the host RAX (the VMCB address),
 * RSP and RIP (§15.6); the host keeps its state in RBX, RCX, RDX, R12-R15, which the guest
 * does not touch; the guest owns RSI (and its RAX lives in the VMCB).
 */
__asm__(".text\n"
        ".globl svmbench_roundtrips\n"
        "svmbench_roundtrips:\n"
        "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rdi, %r15\n" /* the VMCB (identity-mapped: virtual = physical) */
        "  mov %rsi, %r12\n" /* round trips left */
        "  mov %rdx, %r14\n" /* 1: RIP = nRIP, 0: RIP + 2 */
        "  xor %r13d, %r13d\n" /* checksum */
        "  xor %esi, %esi\n" /* the guest's counter */
        "  clgi\n"
        "1:\n"
        "  mov %r15, %rax\n"
        "  vmrun %rax\n"
        "  mov 0x70(%r15), %rbx\n" /* EXITCODE */
        "  cmp $0x72, %rbx\n"
        "  jne 8f\n"
        "  test %r14, %r14\n"
        "  jz 3f\n"
        "  mov 0xc8(%r15), %rcx\n" /* nRIP */
        "  jmp 4f\n"
        "3:\n"
        "  mov 0x578(%r15), %rcx\n" /* without NRIPS: RIP + 2, CPUID's length */
        "  add $2, %rcx\n"
        "4:\n"
        "  mov %rcx, 0x578(%r15)\n" /* RIP */
        "  imul $31, %r13, %r13\n"
        "  add 0x5f8(%r15), %r13\n" /* + guest RAX */
        "  dec %r12\n"
        "  jnz 1b\n"
        "  mov %r13, %rax\n"
        "  jmp 6f\n"
        "8:\n"
        "  mov %rbx, svmbench_bad_exitcode(%rip)\n"
        "  xor %eax, %eax\n"
        "6:\n"
        "  stgi\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
        "  ret\n"
        /* The guest: count in ESI, ask for leaf ESI, exit. */
        ".globl svmbench_guest\n"
        "svmbench_guest:\n"
        "  inc %esi\n"
        "  mov %esi, %eax\n"
        "  cpuid\n"
        "  jmp svmbench_guest\n"
        /* The same loop body without SVM (CPUID executes), n times: the guest-loop cost. */
        ".globl svmbench_native\n"
        "svmbench_native:\n"
        "  push %rbx\n"
        "  xor %esi, %esi\n"
        "2:\n"
        "  inc %esi\n"
        "  mov %esi, %eax\n"
        "  cpuid\n"
        "  dec %rdi\n"
        "  jnz 2b\n"
        "  pop %rbx\n"
        "  ret\n");

struct PACKED dtr {
  u16 limit;
  u64 base;
};

/* One segment in the VMCB's format (§15.5.1, Appendix B: selector, 12-bit attrib, limit, base). */
static void vmcb_seg(u32 off, u16 sel, u16 attrib, u32 limit, u64 base) {
  V16(off) = sel;
  V16(off + 2) = attrib;
  V32(off + 4) = limit;
  V64(off + 8) = base;
}

/* The guest: a copy of the current 64-bit context (CR0/CR3/CR4/EFER, GDT/IDT, flat segments), own stack. */
static void vmcb_init(void) {
  memset(vmcb, 0, sizeof vmcb);
  V32(VMCB_INTERCEPT_MISC1) = INTERCEPT_CPUID;
  V32(VMCB_INTERCEPT_MISC2) = INTERCEPT_VMRUN; /* §15.5.1: VMRUN must be intercepted */
  V64(VMCB_IOPM_BASE_PA) = (u64)(ulong)iopm;
  V64(VMCB_MSRPM_BASE_PA) = (u64)(ulong)msrpm;
  V32(VMCB_GUEST_ASID) = 1;
  V8(VMCB_TLB_CONTROL) = 0;
  V32(VMCB_CLEAN) = 0;
  struct dtr g, i;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
  /* attrib: bits 7:0 = descriptor bits 47:40, bits 11:8 = bits 55:52 (G D/B L AVL). */
  vmcb_seg(VMCB_ES + 0x00, KDATA, 0xc93, 0xffffffff, 0);
  vmcb_seg(VMCB_ES + 0x10, KCODE, 0xa9b, 0xffffffff, 0);
  vmcb_seg(VMCB_ES + 0x20, KDATA, 0xc93, 0xffffffff, 0);
  vmcb_seg(VMCB_ES + 0x30, KDATA, 0xc93, 0xffffffff, 0);
  vmcb_seg(VMCB_GDTR, 0, 0, g.limit, g.base);
  vmcb_seg(VMCB_IDTR, 0, 0, i.limit, i.base);
  V8(VMCB_CPL) = 0;
  V64(VMCB_EFER) = rdmsr(MSR_EFER);
  V64(VMCB_CR0) = read_cr0();
  V64(VMCB_CR3) = read_cr3();
  V64(VMCB_CR4) = read_cr4();
  V64(VMCB_DR7) = 0x400;
  V64(VMCB_DR6) = 0xffff0ff0;
  V64(VMCB_RFLAGS) = FL_FIXED;
  V64(VMCB_RIP) = (u64)(ulong)svmbench_guest;
  V64(VMCB_RSP) = (u64)(ulong)(guest_stack + sizeof guest_stack);
  V64(VMCB_RAX) = 0;
  V64(VMCB_G_PAT) = 0x0007040600070406ull;
}

void test_main(void) {
  u32 a, b, c, d;
  cpuid(0x80000000u, 0, &a, &b, &c, &d);
  u32 max_ext = a;
  cpuid(0x80000001u, 0, &a, &b, &c, &d);
  if (max_ext < 0x8000000au || !(c & BIT(2))) {
    skip("svmbench", "CPUID 8000_0001h ECX[2] (SVM) = 0: this CPU has no SVM (hvkit needs -cpu max,+svm)");
    return;
  }
  cpuid(0x8000000au, 0, &a, &b, &c, &d);
  info("svmbench SVM revision %u, %u ASIDs, features 0x%x", a & 0xff, b, d);
  /* Without NRIPS (QEMU 7.2's TCG) the host adds CPUID's length (2) to the RIP instead. */
  u64 use_nrip = (d >> 3) & 1;
  if (!use_nrip) info("svmbench: no NRIPS, the host advances RIP by 2");
  if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
    skip("svmbench", "VM_CR.SVMDIS = 1: SVM is disabled");
    return;
  }
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, (u64)(ulong)hsave);
  vmcb_init();

  u64 want = 0;
  for (u64 i = 1; i <= ROUND_TRIPS; i++) want = want * 31 + i;
  u64 want_warmup = 0;
  for (u64 i = 1; i <= WARMUP_ROUND_TRIPS; i++) want_warmup = want_warmup * 31 + i;

  info("svmbench round trips %d (after %d untimed)", ROUND_TRIPS, WARMUP_ROUND_TRIPS);
  svmbench_native(WARMUP_ROUND_TRIPS);
  u64 warm = svmbench_roundtrips((u64)(ulong)vmcb, WARMUP_ROUND_TRIPS, use_nrip);
  if (!check_eq("untimed round trips exited for CPUID with the guest's leaf in RAX (checksum)", warm, want_warmup)) {
    info("svmbench exit code 0x%llx", (unsigned long long)svmbench_bad_exitcode);
    return;
  }
  /* The guest restarts at its entry point; nothing but RIP and RAX changes from now on: §15.15 clean bits. */
  V64(VMCB_RIP) = (u64)(ulong)svmbench_guest;
  V32(VMCB_CLEAN) = 0xfff;
  info("mark native-start");
  svmbench_native(ROUND_TRIPS);
  info("mark native-end");
  info("mark vmexit-start");
  u64 sum = svmbench_roundtrips((u64)(ulong)vmcb, ROUND_TRIPS, use_nrip);
  info("mark vmexit-end");
  if (sum == 0) fail("svmbench round trips", "EXITCODE 0x%llx (want 72h, VMEXIT_CPUID)", (unsigned long long)svmbench_bad_exitcode);
  else check_eq("every round trip exited for CPUID with the guest's leaf in RAX (checksum)", sum, want);
  info("svmbench checksum 0x%llx", (unsigned long long)sum);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_SVME);
}
