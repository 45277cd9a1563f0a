/* @guest bits=64 cpu=max,+svm machine=pc timeout=60 -- SVM intercepts: CR/DR accesses with decode assists, selective CR0 write, exceptions, INTn, descriptor tables, RDTSC(P)/RDPMC/PUSHF/POPF/CPUID/IRET/INVD/PAUSE/HLT/INVLPG(A), IOIO_PROT, MSR_PROT, task switch, shutdown, the SVM instructions, ICEBP/WBINVD/MONITOR/MWAIT/XSETBV, INTR/NMI/SMI, with EXITCODE, EXITINFO1/2 and nRIP */
/*
 * AMD APM Vol. 2 §15.7 "Intercept Operation" (§15.7.1 nRIP), §15.8 "Instruction Intercepts",
 * §15.9 "CR and DR intercepts" (§15.9.1 selective CR0 write), §15.10 "IOIO Intercepts" (§15.10.1
 * the IOPM, §15.10.2 EXITINFO1), §15.11 "MSR Intercepts" (the MSRPM), §15.12 "Exception
 * Intercepts", §15.13 "Interrupt Intercepts", §15.14 "Miscellaneous Intercepts" (task switch,
 * shutdown, PAUSE filter), §15.35 "Decode Assists"; Appendix C (exit codes).
 *
 * Each guest is a few instructions between the labels <name> (entry), <name>_insn (the
 * intercepted instruction) and <name>_next (the one after it); a run checks EXITCODE, EXITINFO1,
 * EXITINFO2, the saved RIP (= <name>_insn: intercepts are taken before the instruction executes)
 * and, with NRIPS, nRIP (= <name>_next).
 */
#include "svm.h"
#include "apic_hw.h"

const char test_name[] = "svm_intercepts";

static struct vmcb *vmcb = &vmcbs[0];
static int decode_assists, nrips;

/* A guest: entry label, the intercepted instruction, the rest; ends with VMMCALL(RAX = done). */
#define GUEST(name, pre, insn, post)                                                             \
  extern char name[], name##_insn[], name##_next[];                                               \
  __asm__(".text\n" #name ":\n" pre "\n" #name "_insn:\n" insn "\n" #name "_next:\n" post "\n" \
          "  mov $0x600d, %eax\n  vmmcall\n  ud2\n")
#define GUEST32(name, pre, insn, post)                                                           \
  extern char name[], name##_insn[], name##_next[];                                               \
  __asm__(".text\n.code32\n" #name ":\n" pre "\n" #name "_insn:\n" insn "\n" #name "_next:\n" post \
          "\n  mov $0x600d, %eax\n  vmmcall\n  ud2\n.code64\n")

static void fresh(const char *entry) {
  svm_vmcb_init_guest64(vmcb, (u64)(ulong)entry, SVM_GUEST_STACK_TOP);
  vmcb->control.intercept_misc1 |= INTERCEPT_SHUTDOWN;
  memset(&svm_guest_regs, 0, sizeof svm_guest_regs);
  svm_maps_clear();
}

/*
 * A rule QEMU's TCG SVM gets wrong (README: "SVM on QEMU TCG"): the next expect() reports SKIP
 * instead of FAIL when it runs on TCG and the outcome is QEMU's known one (EXITCODE tcg_code and,
 * unless ANY_VALUE, EXITINFO1 tcg_info1).
 */
static const char *tcg_why;
static u64 tcg_code, tcg_info1;
static void tcg_known(u64 code, u64 info1, const char *why) {
  tcg_code = code;
  tcg_info1 = info1;
  tcg_why = why;
}

/* EXITCODE, EXITINFO1/2 (ANY_VALUE: not compared), RIP = insn, nRIP = next (NRIPS). */
static void expect(const char *check, u64 code, u64 info1, u64 info2, const char *insn, const char *next) {
  char n[200];
  const char *why = tcg_why;
  tcg_why = 0;
  if (why && cpu.is_qemu_tcg && vmcb->control.exitcode == tcg_code && (tcg_info1 == ANY_VALUE || vmcb->control.exitinfo1 == tcg_info1)) {
    skip(check, "QEMU TCG %s", why);
    return;
  }
  check_exit_info(check, vmcb, code, info1, info2);
  if (insn) {
    snprintf(n, sizeof n, "%s: RIP = the intercepted instruction", check);
    check_eq(n, vmcb->save.rip, (u64)(ulong)insn);
  }
  if (next && nrips) {
    snprintf(n, sizeof n, "%s: nRIP = the next instruction", check);
    check_eq(n, vmcb->control.nrip, (u64)(ulong)next);
  }
}
/* EXITINFO1 when decode assists give it, else not compared. */
static u64 da(u64 v) { return decode_assists ? v : ANY_VALUE; }
#define RUN_EXPECT(check, name, code, i1, i2) \
  do {                                         \
    svm_run(vmcb);                             \
    expect(check, code, i1, i2, name##_insn, name##_next); \
  } while (0)
/* For exception intercepts nRIP is not compared (§15.7.1: nRIP is for instruction intercepts). */
#define RUN_EXPECT_EXC(check, name, code, i1, i2) \
  do {                                             \
    svm_run(vmcb);                                 \
    expect(check, code, i1, i2, name##_insn, 0);   \
  } while (0)

/*
 * An exception or interrupt that reaches the guest's IDT (the program's own) instead of exiting:
 * the guest leaves through VMMCALL with RAX = SVM_GUEST_BAIL, so the check fails cleanly.
 */
#define SVM_GUEST_BAIL 0xbadull
extern char guest_bail[];
__asm__(".text\nguest_bail:\n  mov $0xbad, %eax\n  vmmcall\n  ud2\n");
static int bail_handler(struct frame *f) {
  if (f->sp < (u64)(ulong)svm_guest_stack || f->sp > SVM_GUEST_STACK_TOP) return 0; /* the host's: not ours */
  f->ip = (u64)(ulong)guest_bail;
  return 1;
}
static const int bail_vectors[] = {0, 1, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 0x55};
static void bail_handlers(int on) {
  for (unsigned i = 0; i < ARRAY_SIZE(bail_vectors); i++) set_trap_handler(bail_vectors[i], on ? bail_handler : 0);
}

/* A guest that must run to its end (the operation was not intercepted). */
static void expect_done(const char *check) {
  const char *why = tcg_why;
  tcg_why = 0;
  svm_run(vmcb);
  if (why && cpu.is_qemu_tcg && vmcb->control.exitcode == tcg_code) {
    skip(check, "QEMU TCG %s", why);
    return;
  }
  check_guest_done(check, vmcb);
}

/* ---- CR and DR accesses (§15.9, decode assists §15.35.2) ---------------------------------------- */

GUEST(g_rdcr0, "", "mov %cr0, %rbx", "");
GUEST(g_rdcr3, "", "mov %cr3, %r10", "");
GUEST(g_rdcr4, "", "mov %cr4, %rax", "");
GUEST(g_rdcr8, "", "mov %cr8, %rcx", "");
GUEST(g_wrcr0, "mov %cr0, %rdx", "mov %rdx, %cr0", "");
GUEST(g_wrcr3, "mov %cr3, %r9", "mov %r9, %cr3", "");
GUEST(g_wrcr4, "mov %cr4, %rsi", "mov %rsi, %cr4", "");
GUEST(g_wrcr8, "xor %edi, %edi", "mov %rdi, %cr8", "");
GUEST(g_clts, "", "clts", "");
GUEST(g_lmsw, "smsw %eax", "lmsw %ax", "");
GUEST(g_ts, "mov %cr0, %rax\n  xor $8, %rax", "mov %rax, %cr0", "xor $8, %rax\n  mov %rax, %cr0");
GUEST(g_wp, "mov %cr0, %rbx\n  btc $16, %rbx", "mov %rbx, %cr0", "btc $16, %rbx\n  mov %rbx, %cr0");
GUEST(g_smsw, "", "smsw %eax", "");
GUEST(g_clts2, "", "clts", "");
GUEST(g_rddr7, "", "mov %dr7, %r11", "");
GUEST(g_rddr0, "", "mov %dr0, %rax", "");
GUEST(g_wrdr7, "mov $0x400, %edx", "mov %rdx, %dr7", "");
GUEST(g_wrdr3, "xor %ebp, %ebp", "mov %rbp, %dr3", "");

static void test_cr_dr(void) {
  fresh(g_rdcr0);
  vmcb->control.intercept_cr_read = BIT(0);
  RUN_EXPECT("MOV from CR0 (RBX): EXITCODE 0h, EXITINFO1 = bit 63 | GPR 3", g_rdcr0, SVM_EXIT_READ_CR0, da(BIT64(63) | 3), ANY_VALUE);
  fresh(g_rdcr3);
  vmcb->control.intercept_cr_read = BIT(3);
  RUN_EXPECT("MOV from CR3 (R10): EXITCODE 3h, EXITINFO1 = bit 63 | GPR 10", g_rdcr3, SVM_EXIT_READ_CR0 + 3, da(BIT64(63) | 10), ANY_VALUE);
  fresh(g_rdcr4);
  vmcb->control.intercept_cr_read = BIT(4);
  RUN_EXPECT("MOV from CR4 (RAX): EXITCODE 4h, EXITINFO1 = bit 63 | GPR 0", g_rdcr4, SVM_EXIT_READ_CR0 + 4, da(BIT64(63) | 0), ANY_VALUE);
  fresh(g_rdcr8);
  vmcb->control.intercept_cr_read = BIT(8);
  RUN_EXPECT("MOV from CR8 (RCX): EXITCODE 8h, EXITINFO1 = bit 63 | GPR 1", g_rdcr8, SVM_EXIT_READ_CR0 + 8, da(BIT64(63) | 1), ANY_VALUE);
  fresh(g_rdcr0);
  vmcb->control.intercept_cr_read = BIT(3) | BIT(4);
  expect_done("MOV from CR0 with only CR3/CR4 reads intercepted: no exit");

  fresh(g_wrcr0);
  vmcb->control.intercept_cr_write = BIT(0);
  RUN_EXPECT("MOV to CR0 (RDX): EXITCODE 10h, EXITINFO1 = bit 63 | GPR 2", g_wrcr0, SVM_EXIT_WRITE_CR0, da(BIT64(63) | 2), ANY_VALUE);
  fresh(g_wrcr3);
  vmcb->control.intercept_cr_write = BIT(3);
  RUN_EXPECT("MOV to CR3 (R9): EXITCODE 13h, EXITINFO1 = bit 63 | GPR 9", g_wrcr3, SVM_EXIT_WRITE_CR0 + 3, da(BIT64(63) | 9), ANY_VALUE);
  fresh(g_wrcr4);
  vmcb->control.intercept_cr_write = BIT(4);
  RUN_EXPECT("MOV to CR4 (RSI): EXITCODE 14h, EXITINFO1 = bit 63 | GPR 6", g_wrcr4, SVM_EXIT_WRITE_CR0 + 4, da(BIT64(63) | 6), ANY_VALUE);
  fresh(g_wrcr8);
  vmcb->control.intercept_cr_write = BIT(8);
  RUN_EXPECT("MOV to CR8 (RDI): EXITCODE 18h, EXITINFO1 = bit 63 | GPR 7", g_wrcr8, SVM_EXIT_WRITE_CR0 + 8, da(BIT64(63) | 7), ANY_VALUE);
  fresh(g_clts);
  vmcb->control.intercept_cr_write = BIT(0);
  RUN_EXPECT("CLTS with the CR0 write intercept: EXITCODE 10h, EXITINFO1 bit 63 = 0", g_clts, SVM_EXIT_WRITE_CR0, da(0), ANY_VALUE);
  fresh(g_lmsw);
  vmcb->control.intercept_cr_write = BIT(0);
  svm_run(vmcb);
  expect("LMSW with the CR0 write intercept: EXITCODE 10h", SVM_EXIT_WRITE_CR0, ANY_VALUE, ANY_VALUE, g_lmsw_insn, g_lmsw_next);
  check_eq("LMSW with the CR0 write intercept: EXITINFO1 bit 63 = 0", decode_assists ? vmcb->control.exitinfo1 >> 63 : 0, 0);

  fresh(g_smsw);
  vmcb->control.intercept_cr_read = BIT(0);
  svm_run(vmcb);
  expect("SMSW with the CR0 read intercept: EXITCODE 0h", SVM_EXIT_READ_CR0, ANY_VALUE, ANY_VALUE, g_smsw_insn, g_smsw_next);
  check_eq("SMSW with the CR0 read intercept: EXITINFO1 bit 63 = 0 (not a MOV)", decode_assists ? vmcb->control.exitinfo1 >> 63 : 0, 0);

  /* Selective CR0 write (§15.9.1): only writes changing bits other than TS and MP exit (65h). */
  fresh(g_clts2);
  vmcb->control.intercept_misc1 |= INTERCEPT_CR0_SEL_WRITE;
  expect_done("selective CR0 write: CLTS (only TS) does not exit");

  fresh(g_ts);
  vmcb->control.intercept_misc1 |= INTERCEPT_CR0_SEL_WRITE;
  expect_done("selective CR0 write: a MOV to CR0 changing only TS does not exit");
  fresh(g_wp);
  vmcb->control.intercept_misc1 |= INTERCEPT_CR0_SEL_WRITE;
  RUN_EXPECT("selective CR0 write: a MOV to CR0 changing WP exits 65h, EXITINFO1 = bit 63 | GPR 3", g_wp, SVM_EXIT_CR0_SEL_WRITE, da(BIT64(63) | 3),
             ANY_VALUE);
  fresh(g_wp);
  vmcb->control.intercept_misc1 |= INTERCEPT_CR0_SEL_WRITE;
  vmcb->control.intercept_cr_write = BIT(0);
  RUN_EXPECT("CR0 write and selective CR0 write both set: the CR0 write intercept (10h) wins", g_wp, SVM_EXIT_WRITE_CR0, da(BIT64(63) | 3), ANY_VALUE);

  fresh(g_rddr7);
  vmcb->control.intercept_dr_read = BIT(7);
  RUN_EXPECT("MOV from DR7 (R11): EXITCODE 27h, EXITINFO1[3:0] = GPR 11", g_rddr7, SVM_EXIT_READ_DR0 + 7, da(11), ANY_VALUE);
  fresh(g_rddr0);
  vmcb->control.intercept_dr_read = BIT(0);
  RUN_EXPECT("MOV from DR0 (RAX): EXITCODE 20h, EXITINFO1[3:0] = GPR 0", g_rddr0, SVM_EXIT_READ_DR0, da(0), ANY_VALUE);
  fresh(g_wrdr7);
  vmcb->control.intercept_dr_write = BIT(7);
  RUN_EXPECT("MOV to DR7 (RDX): EXITCODE 37h, EXITINFO1[3:0] = GPR 2", g_wrdr7, SVM_EXIT_WRITE_DR0 + 7, da(2), ANY_VALUE);
  fresh(g_wrdr3);
  vmcb->control.intercept_dr_write = BIT(3);
  RUN_EXPECT("MOV to DR3 (RBP): EXITCODE 33h, EXITINFO1[3:0] = GPR 5", g_wrdr3, SVM_EXIT_WRITE_DR0 + 3, da(5), ANY_VALUE);
  fresh(g_wrdr3);
  vmcb->control.intercept_dr_write = BIT(7);
  expect_done("MOV to DR3 with only DR7 writes intercepted: no exit");
}

/* ---- exceptions (§15.12) and INTn ---------------------------------------------------------------- */

#define UNMAPPED "0x10000000000" /* 1 TiB: beyond the boot tables' 4 GiB identity map */
GUEST(g_pfr, "mov $" UNMAPPED ", %rbx", "mov (%rbx), %eax", "");
GUEST(g_pfw, "mov $" UNMAPPED "+0x123, %rbx", "movb $1, (%rbx)", "");
GUEST(g_gp, "mov $0x1008, %eax", "mov %ax, %es", "");
GUEST(g_bp, "", "int3", "");
GUEST(g_ud, "", "ud2", "");
GUEST(g_de, "xor %ecx, %ecx\n  mov $1, %eax\n  xor %edx, %edx", "div %ecx", "");
GUEST(g_intn, "", "int $0x55", "");

static void test_exceptions(void) {
  fresh(g_pfr);
  vmcb->control.intercept_exceptions = BIT(PF_VECTOR);
  u64 cr2 = vmcb->save.cr2 = 0x5000;
  RUN_EXPECT_EXC("#PF intercept (read, not present): EXITCODE 4Eh, EXITINFO1 = error code 0, EXITINFO2 = the address", g_pfr, SVM_EXIT_EXCP_BASE + PF_VECTOR, 0,
             0x10000000000ull);
  check_eq("#PF intercept: the guest CR2 is not written", vmcb->save.cr2, cr2);
  fresh(g_pfw);
  vmcb->control.intercept_exceptions = BIT(PF_VECTOR);
  RUN_EXPECT_EXC("#PF intercept (write, not present): EXITINFO1 = error code 2, EXITINFO2 = the address", g_pfw, SVM_EXIT_EXCP_BASE + PF_VECTOR, PFERR_W,
             0x10000000123ull);
  fresh(g_gp);
  vmcb->control.intercept_exceptions = BIT(GP_VECTOR);
  RUN_EXPECT_EXC("#GP intercept (selector 1008h past the GDT limit): EXITCODE 4Dh, EXITINFO1 = error code 1008h", g_gp, SVM_EXIT_EXCP_BASE + GP_VECTOR, 0x1008,
             ANY_VALUE);
  fresh(g_bp);
  vmcb->control.intercept_exceptions = BIT(BP_VECTOR);
  tcg_known(SVM_EXIT_VMMCALL, 0, "treats INT3 as a software interrupt: the #BP intercept is not checked, #BP goes through the guest IDT");
  RUN_EXPECT_EXC("#BP intercept (INT3): EXITCODE 43h", g_bp, SVM_EXIT_EXCP_BASE + BP_VECTOR, ANY_VALUE, ANY_VALUE);
  fresh(g_ud);
  vmcb->control.intercept_exceptions = BIT(UD_VECTOR);
  RUN_EXPECT_EXC("#UD intercept (UD2): EXITCODE 46h", g_ud, SVM_EXIT_EXCP_BASE + UD_VECTOR, ANY_VALUE, ANY_VALUE);
  fresh(g_de);
  vmcb->control.intercept_exceptions = BIT(DE_VECTOR);
  RUN_EXPECT_EXC("#DE intercept (DIV by 0): EXITCODE 40h", g_de, SVM_EXIT_EXCP_BASE + DE_VECTOR, ANY_VALUE, ANY_VALUE);
  fresh(g_intn);
  vmcb->control.intercept_misc1 |= INTERCEPT_INTN;
  RUN_EXPECT("INTn intercept (INT 55h): EXITCODE 75h, EXITINFO1 = vector 55h", g_intn, SVM_EXIT_SWINT, da(0x55), ANY_VALUE);
  fresh(g_bp);
  vmcb->control.intercept_misc1 |= INTERCEPT_INTN;
  vmcb->control.intercept_exceptions = BIT(BP_VECTOR);
  tcg_known(SVM_EXIT_SWINT, ANY_VALUE, "treats INT3 as a software interrupt: the INTn intercept (75h) is taken");
  RUN_EXPECT_EXC("INT3 with the INTn and #BP intercepts: #BP (43h), INT3 is not INTn", g_bp, SVM_EXIT_EXCP_BASE + BP_VECTOR, ANY_VALUE, ANY_VALUE);
}

/* ---- descriptor tables, simple instructions ------------------------------------------------------- */

u8 dt_buf[16] USED;
GUEST(g_sidt, "lea dt_buf(%rip), %rbx", "sidt (%rbx)", "");
GUEST(g_sgdt, "lea dt_buf(%rip), %rbx", "sgdt (%rbx)", "");
GUEST(g_sldt, "", "sldt %ax", "");
GUEST(g_str, "", "str %ax", "");
GUEST(g_lidt, "lea dt_buf(%rip), %rbx\n  sidt (%rbx)", "lidt (%rbx)", "");
GUEST(g_lgdt, "lea dt_buf(%rip), %rbx\n  sgdt (%rbx)", "lgdt (%rbx)", "");
GUEST(g_lldt, "xor %eax, %eax", "lldt %ax", "");
GUEST(g_ltr, "mov $0x30, %eax", "ltr %ax", "");
GUEST(g_rdtsc, "", "rdtsc", "");
GUEST(g_rdtscp, "", "rdtscp", "");
GUEST(g_rdpmc, "xor %ecx, %ecx", "rdpmc", "");
GUEST(g_pushf, "", "pushfq", "popfq");
GUEST(g_popf, "pushfq", "popfq", "");
GUEST(g_cpuid, "xor %eax, %eax\n  xor %ecx, %ecx", "cpuid", "");
GUEST(g_iret, "mov %rsp, %rax\n  mov %ss, %ecx\n  push %rcx\n  push %rax\n  pushfq\n  mov %cs, %ecx\n  push %rcx\n  lea g_iret_next(%rip), %rax\n  push %rax", "iretq", "");
GUEST(g_invd, "", "invd", "");
GUEST(g_pause, "", "pause", "");
GUEST(g_pause5, "", "pause", "pause\n  pause\n  pause\n  pause");
GUEST(g_hlt, "", "hlt", "");
GUEST(g_invlpg, "mov $0x123456789000, %rdx", "invlpg (%rdx)", "");
GUEST(g_invlpga, "mov $0x4000, %eax\n  mov $1, %ecx", "invlpga %rax, %ecx", "");
GUEST(g_wbinvd, "", "wbinvd", "");
GUEST(g_icebp, "", ".byte 0xf1", "");
/* RSM (0F AA): outside SMM it is #UD, but the intercept comes first: a hypervisor that emulates SMM
   for its guest (which is never in the processor's SMM) relies on it (APM Vol. 2 §15.9, RSM). */
GUEST(g_rsm, "", ".byte 0x0f, 0xaa", "");
GUEST(g_monitor, "lea dt_buf(%rip), %rax\n  xor %ecx, %ecx\n  xor %edx, %edx", "monitor %rax, %ecx, %edx", "");
GUEST(g_mwait, "xor %eax, %eax\n  xor %ecx, %ecx", "mwait %eax, %ecx", "");
GUEST(g_mwait_armed, "lea dt_buf(%rip), %rax\n  xor %ecx, %ecx\n  xor %edx, %edx\n  monitor %rax, %ecx, %edx\n  xor %eax, %eax", "mwait %eax, %ecx", "");
GUEST(g_xsetbv, "xor %ecx, %ecx\n  mov $1, %eax\n  xor %edx, %edx", "xsetbv", "");

struct simple {
  const char *check;
  char *entry, *insn, *next;
  int word; /* 1: intercept_misc1, 2: intercept_misc2 */
  u32 bit;
  u64 code;
};

static void test_simple(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  int has_monitor = (c >> 3) & 1, has_xsave = (c >> 26) & 1;
  const struct simple list[] = {
      {"SIDT: EXITCODE 66h", g_sidt, g_sidt_insn, g_sidt_next, 1, INTERCEPT_IDTR_READ, SVM_EXIT_IDTR_READ},
      {"SGDT: EXITCODE 67h", g_sgdt, g_sgdt_insn, g_sgdt_next, 1, INTERCEPT_GDTR_READ, SVM_EXIT_GDTR_READ},
      {"SLDT: EXITCODE 68h", g_sldt, g_sldt_insn, g_sldt_next, 1, INTERCEPT_LDTR_READ, SVM_EXIT_LDTR_READ},
      {"STR: EXITCODE 69h", g_str, g_str_insn, g_str_next, 1, INTERCEPT_TR_READ, SVM_EXIT_TR_READ},
      {"LIDT: EXITCODE 6Ah", g_lidt, g_lidt_insn, g_lidt_next, 1, INTERCEPT_IDTR_WRITE, SVM_EXIT_IDTR_WRITE},
      {"LGDT: EXITCODE 6Bh", g_lgdt, g_lgdt_insn, g_lgdt_next, 1, INTERCEPT_GDTR_WRITE, SVM_EXIT_GDTR_WRITE},
      {"LLDT: EXITCODE 6Ch", g_lldt, g_lldt_insn, g_lldt_next, 1, INTERCEPT_LDTR_WRITE, SVM_EXIT_LDTR_WRITE},
      {"LTR: EXITCODE 6Dh", g_ltr, g_ltr_insn, g_ltr_next, 1, INTERCEPT_TR_WRITE, SVM_EXIT_TR_WRITE},
      {"RDTSC: EXITCODE 6Eh", g_rdtsc, g_rdtsc_insn, g_rdtsc_next, 1, INTERCEPT_RDTSC, SVM_EXIT_RDTSC},
      {"RDTSCP: EXITCODE 87h", g_rdtscp, g_rdtscp_insn, g_rdtscp_next, 2, INTERCEPT_RDTSCP, SVM_EXIT_RDTSCP},
      {"RDPMC: EXITCODE 6Fh", g_rdpmc, g_rdpmc_insn, g_rdpmc_next, 1, INTERCEPT_RDPMC, SVM_EXIT_RDPMC},
      {"PUSHF: EXITCODE 70h", g_pushf, g_pushf_insn, g_pushf_next, 1, INTERCEPT_PUSHF, SVM_EXIT_PUSHF},
      {"POPF: EXITCODE 71h", g_popf, g_popf_insn, g_popf_next, 1, INTERCEPT_POPF, SVM_EXIT_POPF},
      {"CPUID: EXITCODE 72h", g_cpuid, g_cpuid_insn, g_cpuid_next, 1, INTERCEPT_CPUID, SVM_EXIT_CPUID},
      {"IRET: EXITCODE 74h", g_iret, g_iret_insn, g_iret_next, 1, INTERCEPT_IRET, SVM_EXIT_IRET},
      {"INVD: EXITCODE 76h", g_invd, g_invd_insn, g_invd_next, 1, INTERCEPT_INVD, SVM_EXIT_INVD},
      {"PAUSE: EXITCODE 77h", g_pause, g_pause_insn, g_pause_next, 1, INTERCEPT_PAUSE, SVM_EXIT_PAUSE},
      {"HLT: EXITCODE 78h", g_hlt, g_hlt_insn, g_hlt_next, 1, INTERCEPT_HLT, SVM_EXIT_HLT},
      {"INVLPGA: EXITCODE 7Ah", g_invlpga, g_invlpga_insn, g_invlpga_next, 1, INTERCEPT_INVLPGA, SVM_EXIT_INVLPGA},
      {"WBINVD: EXITCODE 89h", g_wbinvd, g_wbinvd_insn, g_wbinvd_next, 2, INTERCEPT_WBINVD, SVM_EXIT_WBINVD},
      {"ICEBP: EXITCODE 88h", g_icebp, g_icebp_insn, g_icebp_next, 2, INTERCEPT_ICEBP, SVM_EXIT_ICEBP},
      {"RSM: EXITCODE 73h", g_rsm, g_rsm_insn, g_rsm_next, 1, INTERCEPT_RSM, SVM_EXIT_RSM},
      {"MONITOR: EXITCODE 8Ah", g_monitor, g_monitor_insn, g_monitor_next, 2, INTERCEPT_MONITOR, SVM_EXIT_MONITOR},
      {"MWAIT: EXITCODE 8Bh", g_mwait, g_mwait_insn, g_mwait_next, 2, INTERCEPT_MWAIT, SVM_EXIT_MWAIT},
      {"MWAIT with the monitor armed, conditional intercept: EXITCODE 8Ch", g_mwait_armed, g_mwait_armed_insn, g_mwait_armed_next, 2, INTERCEPT_MWAIT_COND,
       SVM_EXIT_MWAIT_COND},
      {"XSETBV: EXITCODE 8Dh", g_xsetbv, g_xsetbv_insn, g_xsetbv_next, 2, INTERCEPT_XSETBV, SVM_EXIT_XSETBV},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(list); i++) {
    const struct simple *t = &list[i];
    if ((t->code == SVM_EXIT_MONITOR || t->code == SVM_EXIT_MWAIT || t->code == SVM_EXIT_MWAIT_COND) && !has_monitor) {
      skip(t->check, "MONITOR/MWAIT not supported (CPUID Fn0000_0001_ECX[MONITOR] = 0): #UD comes first");
      continue;
    }
    if (t->code == SVM_EXIT_XSETBV && !has_xsave) {
      skip(t->check, "XSAVE not supported: XSETBV is #UD");
      continue;
    }
    if (t->code == SVM_EXIT_RDTSCP && !((cpu.e1_edx >> 27) & 1)) {
      skip(t->check, "RDTSCP not supported");
      continue;
    }
    if (t->code == SVM_EXIT_MWAIT_COND && tcg_skip(t->check, "does not implement the conditional MWAIT intercept: the MWAIT would wait forever")) continue;
    fresh(t->entry);
    if (t->code == SVM_EXIT_XSETBV) vmcb->save.cr4 |= BIT(18); /* OSXSAVE */
    if (t->code == SVM_EXIT_RDTSCP || t->code == SVM_EXIT_INVD || t->code == SVM_EXIT_XSETBV)
      tcg_known(SVM_EXIT_VMMCALL, 0, "does not implement this intercept: the instruction executes");
    if (t->code == SVM_EXIT_ICEBP) tcg_known(SVM_EXIT_VMMCALL, 0, "does not implement the ICEBP intercept: #DB goes through the guest IDT");
    if (t->word == 1) vmcb->control.intercept_misc1 |= t->bit;
    else vmcb->control.intercept_misc2 |= t->bit;
    svm_run(vmcb);
    expect(t->check, t->code, ANY_VALUE, ANY_VALUE, t->insn, t->next);
  }
  /* INVLPG: EXITINFO1 = the linear address with decode assists (§15.35.4). */
  fresh(g_invlpg);
  vmcb->control.intercept_misc1 |= INTERCEPT_INVLPG;
  RUN_EXPECT("INVLPG: EXITCODE 79h, EXITINFO1 = the linear address", g_invlpg, SVM_EXIT_INVLPG, da(0x123456789000ull), ANY_VALUE);
  /* Not intercepted: runs. */
  fresh(g_cpuid);
  vmcb->control.intercept_misc1 |= INTERCEPT_RDTSC;
  expect_done("CPUID with only RDTSC intercepted: no exit");
  /* PAUSE filter (§15.14.4). */
  if (SVM_HAS(SVM_FEAT_PAUSE_FILTER)) {
    fresh(g_pause5);
    vmcb->control.intercept_misc1 |= INTERCEPT_PAUSE;
    vmcb->control.pause_filter_count = 10;
    expect_done("PAUSE filter count 10: five PAUSEs do not exit");
    fresh(g_pause5);
    vmcb->control.intercept_misc1 |= INTERCEPT_PAUSE;
    vmcb->control.pause_filter_count = 2;
    svm_run(vmcb);
    check_exitcode("PAUSE filter count 2: the PAUSE intercept is taken within five PAUSEs", vmcb, SVM_EXIT_PAUSE);
    check_true("PAUSE filter count 2: not at the first PAUSE", vmcb->save.rip != (u64)(ulong)g_pause5_insn, "exited at the first PAUSE");
  } else {
    skip("PAUSE filter count 10: five PAUSEs do not exit", "PauseFilter not advertised");
  }
}

/* ---- IOIO_PROT (§15.10) -------------------------------------------------------------------------- */

GUEST(g_inb, "", "inb $0x80, %al", "");
GUEST(g_outw, "mov $0x70, %edx", "outw %ax, %dx", "");
GUEST(g_inl, "mov $0x3fc, %edx", "inl %dx, %eax", "");
GUEST(g_outl_imm, "", "outl %eax, $0x84", "");
GUEST(g_outsb, "lea dt_buf(%rip), %rsi\n  mov $0x80, %edx\n  mov $2, %ecx", "rep outsb", "");
GUEST(g_insw, "lea dt_buf(%rip), %rdi\n  mov $0x80, %edx", "insw", "");
GUEST(g_wrap, "mov $0xffff, %edx", "inw %dx, %ax", "");
GUEST(g_out67, "lea dt_buf(%rip), %esi\n  mov $0x80, %edx", ".byte 0x67\n  outsb", "");

/* SEG (bits 12:10) of a string instruction: given with decode assists (§15.35). */
static u64 seg(int s) { return decode_assists ? IOIO_SEG(s) : 0; }

/* An IOIO check; on QEMU TCG, EXITINFO1 without its address-size and SEG bits is its known outcome. */
#define IO_EXPECT(check, name, code, i1, i2)                                                                            \
  do {                                                                                                               \
    tcg_known(SVM_EXIT_IOIO, (i1) & ~0x1f80ull, "leaves out the address-size bits (A16/A32/A64) and SEG of EXITINFO1"); \
    RUN_EXPECT(check, name, code, i1, i2);                                                                           \
  } while (0)

static void test_ioio(void) {
  fresh(g_inb);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x80, 1);
  IO_EXPECT("IN AL, 80h: EXITCODE 7Bh, EXITINFO1 = port 80h | SZ8 | A64 | IN, EXITINFO2 = next RIP", g_inb, SVM_EXIT_IOIO,
             IOIO_PORT(0x80) | IOIO_SZ8 | IOIO_A64 | IOIO_TYPE_IN, (u64)(ulong)g_inb_next);
  fresh(g_inb);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x81, 1);
  expect_done("IN AL, 80h with only port 81h's bit set: no exit");
  fresh(g_inb);
  iopm_set(0x80, 1);
  expect_done("IN AL, 80h with the IOPM bit set but IOIO_PROT clear: no exit");
  fresh(g_outw);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x71, 1);
  IO_EXPECT("OUT DX(70h), AX with only port 71h's bit set: exits (both bytes checked), SZ16", g_outw, SVM_EXIT_IOIO, IOIO_PORT(0x70) | IOIO_SZ16 | IOIO_A64,
             (u64)(ulong)g_outw_next);
  fresh(g_inl);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x3ff, 1);
  IO_EXPECT("IN EAX, DX(3FCh) with only port 3FFh's bit set: exits, SZ32", g_inl, SVM_EXIT_IOIO, IOIO_PORT(0x3fc) | IOIO_SZ32 | IOIO_A64 | IOIO_TYPE_IN,
             (u64)(ulong)g_inl_next);
  fresh(g_outl_imm);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x84, 1);
  IO_EXPECT("OUT 84h, EAX (immediate port): EXITINFO1 = port 84h | SZ32 | A64", g_outl_imm, SVM_EXIT_IOIO, IOIO_PORT(0x84) | IOIO_SZ32 | IOIO_A64,
             (u64)(ulong)g_outl_imm_next);
  fresh(g_outsb);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x80, 1);
  IO_EXPECT("REP OUTSB: EXITINFO1 = port | SEG DS (3, decode assists) | A64 | SZ8 | REP | STR", g_outsb, SVM_EXIT_IOIO,
             IOIO_PORT(0x80) | seg(3) | IOIO_A64 | IOIO_SZ8 | IOIO_REP | IOIO_STR, (u64)(ulong)g_outsb_next);
  fresh(g_insw);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x81, 1);
  IO_EXPECT("INSW: EXITINFO1 = port | A64 | SZ16 | STR | IN (ES, SEG field 0)", g_insw, SVM_EXIT_IOIO,
             IOIO_PORT(0x80) | IOIO_A64 | IOIO_SZ16 | IOIO_STR | IOIO_TYPE_IN, (u64)(ulong)g_insw_next);
  fresh(g_out67);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  iopm_set(0x80, 1);
  IO_EXPECT("OUTSB with a 67h prefix: EXITINFO1 A32", g_out67, SVM_EXIT_IOIO, IOIO_PORT(0x80) | seg(3) | IOIO_A32 | IOIO_SZ8 | IOIO_STR,
             (u64)(ulong)g_out67_next);
  /* Port FFFFh with 16 bits: the second byte is bit 10000h of the 12 KiB map (§15.10.1). */
  fresh(g_wrap);
  vmcb->control.intercept_misc1 |= INTERCEPT_IOIO_PROT;
  svm_iopm[0x10000 >> 3] |= 1;
  IO_EXPECT("IN AX, DX(FFFFh) with only IOPM bit 10000h set: exits", g_wrap, SVM_EXIT_IOIO, IOIO_PORT(0xffff) | IOIO_SZ16 | IOIO_A64 | IOIO_TYPE_IN,
             (u64)(ulong)g_wrap_next);
}

/* ---- MSR_PROT (§15.11) ----------------------------------------------------------------------------- */

GUEST(g_rdmsr, "mov guest_msr(%rip), %ecx", "rdmsr", "");
GUEST(g_wrmsr, "mov guest_msr(%rip), %ecx\n  mov guest_msr_value(%rip), %eax\n  mov guest_msr_value+4(%rip), %edx", "wrmsr", "");
u32 guest_msr;
u64 guest_msr_value; /* the MSR's current value: the WRMSR changes nothing if it is not intercepted */

static void msr_case(const char *check, u32 msr, int write, int r, int w, int want_exit) {
  guest_msr = msr;
  guest_msr_value = 0;
  if (write && svm_rdmsr_safe(msr, (u64 *)&guest_msr_value) != NO_TRAP) panic("RDMSR %x", msr);
  fresh(write ? g_wrmsr : g_rdmsr);
  vmcb->control.intercept_misc1 |= INTERCEPT_MSR_PROT;
  if (!msrpm_set(msr, r, w) && (r || w)) panic("MSR %x outside the MSRPM", msr);
  if (want_exit) {
    svm_run(vmcb);
    expect(check, SVM_EXIT_MSR, write, ANY_VALUE, write ? g_wrmsr_insn : g_rdmsr_insn, write ? g_wrmsr_next : g_rdmsr_next);
  } else {
    expect_done(check);
  }
}

static void test_msr(void) {
  msr_case("RDMSR 10h (TSC), read bit set: EXITCODE 7Ch, EXITINFO1 = 0", MSR_TSC, 0, 1, 0, 1);
  msr_case("RDMSR 10h, only the write bit set: no exit", MSR_TSC, 0, 0, 1, 0);
  msr_case("WRMSR 174h (SYSENTER_CS), write bit set: EXITINFO1 = 1", MSR_SYSENTER_CS, 1, 0, 1, 1);
  msr_case("WRMSR 174h, only the read bit set: no exit", MSR_SYSENTER_CS, 1, 1, 0, 0);
  msr_case("RDMSR 1FFFh (last of range 0), read bit set: exits", 0x1fff, 0, 1, 0, 1);
  msr_case("RDMSR C0000081h (STAR, range 1), read bit set: exits", MSR_STAR, 0, 1, 0, 1);
  msr_case("WRMSR C0000102h (KernelGsBase, range 1), write bit set: exits", MSR_KERNEL_GS_BASE, 1, 0, 1, 1);
  msr_case("RDMSR C0000081h, no bit set: no exit", MSR_STAR, 0, 0, 0, 0);
  msr_case("RDMSR C0010117h (VM_HSAVE_PA, range 2), read bit set: exits", MSR_VM_HSAVE_PA, 0, 1, 0, 1);
  msr_case("WRMSR C0010117h (range 2), write bit set: exits", MSR_VM_HSAVE_PA, 1, 0, 1, 1);
  msr_case("RDMSR 40000000h (outside the three ranges), MSRPM clear: always exits", 0x40000000u, 0, 0, 0, 1);
  msr_case("RDMSR C0002000h (past range 1), MSRPM clear: always exits", 0xc0002000u, 0, 0, 0, 1);
  /* Without MSR_PROT, nothing exits. */
  guest_msr = MSR_TSC;
  fresh(g_rdmsr);
  msrpm_set(MSR_TSC, 1, 1);
  expect_done("RDMSR 10h with the MSRPM bit but MSR_PROT clear: no exit");
}

/* ---- task switch (§15.14.2), shutdown ------------------------------------------------------------ */

static u8 tss32[0x68] ALIGNED(16);
#define TSS32_SEL ((GDT_FREE + 4) << 3)
GUEST32(g_tsjmp, "", "ljmp $0xa0, $0", "");
_Static_assert(TSS32_SEL == 0xa0, "the far JMP's selector");

static void test_task_switch(void) {
  gdt_set(GDT_FREE + 4, seg_desc((u32)pa(tss32), sizeof tss32 - 1, ACC_P | ACC_TSS32, 0));
  fresh(g_tsjmp);
  struct vmcb_save *s = &vmcb->save;
  s->efer = EFER_SVME;
  s->cr0 = CR0_PE | BIT(4) | CR0_NE;
  s->cr4 = 0;
  s->cs.selector = KCODE32;
  s->cs.attrib = 0xc9b;
  s->cs.base = 0;
  s->cs.limit = 0xffffffffu;
  struct vmcb_seg *d[] = {&s->ds, &s->es, &s->ss};
  for (int i = 0; i < 3; i++) {
    d[i]->selector = KDATA;
    d[i]->attrib = 0xc93;
    d[i]->base = 0;
    d[i]->limit = 0xffffffffu;
  }
  vmcb->control.intercept_misc1 |= INTERCEPT_TASK_SWITCH;
  vmcb->control.intercept_exceptions = 0xffffffffu;
  tcg_known(SVM_EXIT_EXCP_BASE + TS_VECTOR, ANY_VALUE, "does not implement the task-switch intercept: the switch happens (and faults)");
  RUN_EXPECT("task switch by JMP to a 32-bit TSS: EXITCODE 7Dh, EXITINFO1 = the selector, EXITINFO2 = bit 38 (JMP)", g_tsjmp, SVM_EXIT_TASK_SWITCH, TSS32_SEL,
             BIT64(38));
}

GUEST(g_triple, "", "ud2", "");

static void test_shutdown(void) {
  fresh(g_triple);
  vmcb->save.idtr.limit = 0; /* #UD -> #GP -> #DF -> shutdown */
  svm_run(vmcb);
  check_exitcode("triple fault in the guest with the shutdown intercept: EXITCODE 7Fh", vmcb, SVM_EXIT_SHUTDOWN);
}

/* ---- the SVM instructions in the guest (§15.8) ---------------------------------------------------- */

GUEST(g_vmrun, "lea vmcbs+4096(%rip), %rax", "vmrun %rax", "");
GUEST(g_vmload, "lea vmcbs+4096(%rip), %rax", "vmload %rax", "");
GUEST(g_vmsave, "lea vmcbs+8192(%rip), %rax", "vmsave %rax", "");
GUEST(g_stgi, "", "stgi", "");
GUEST(g_clgi, "", "clgi", "");
GUEST(g_skinit, "lea vmcbs+8192(%rip), %rax", "skinit %eax", "");
GUEST(g_vmmcall, "mov $0x1234, %eax", "vmmcall", "");

static void test_svm_insns(void) {
  const struct {
    const char *check;
    char *entry, *insn, *next;
    u32 bit;
    u64 code;
  } list[] = {
      {"VMRUN in the guest: EXITCODE 80h", g_vmrun, g_vmrun_insn, g_vmrun_next, INTERCEPT_VMRUN, SVM_EXIT_VMRUN},
      {"VMLOAD in the guest: EXITCODE 82h", g_vmload, g_vmload_insn, g_vmload_next, INTERCEPT_VMLOAD, SVM_EXIT_VMLOAD},
      {"VMSAVE in the guest: EXITCODE 83h", g_vmsave, g_vmsave_insn, g_vmsave_next, INTERCEPT_VMSAVE, SVM_EXIT_VMSAVE},
      {"STGI in the guest: EXITCODE 84h", g_stgi, g_stgi_insn, g_stgi_next, INTERCEPT_STGI, SVM_EXIT_STGI},
      {"CLGI in the guest: EXITCODE 85h", g_clgi, g_clgi_insn, g_clgi_next, INTERCEPT_CLGI, SVM_EXIT_CLGI},
      {"SKINIT in the guest: EXITCODE 86h", g_skinit, g_skinit_insn, g_skinit_next, INTERCEPT_SKINIT, SVM_EXIT_SKINIT},
      {"VMMCALL in the guest: EXITCODE 81h", g_vmmcall, g_vmmcall_insn, g_vmmcall_next, INTERCEPT_VMMCALL, SVM_EXIT_VMMCALL},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(list); i++) {
    fresh(list[i].entry);
    vmcb->control.intercept_misc2 |= list[i].bit;
    svm_run(vmcb);
    expect(list[i].check, list[i].code, ANY_VALUE, ANY_VALUE, list[i].insn, list[i].next);
  }
  /* VMMCALL not intercepted in the guest: #UD (§15.18). */
  fresh(g_vmmcall);
  vmcb->control.intercept_misc2 &= ~INTERCEPT_VMMCALL;
  vmcb->control.intercept_exceptions = BIT(UD_VECTOR);
  RUN_EXPECT_EXC("VMMCALL in the guest without its intercept: #UD (exit 46h)", g_vmmcall, SVM_EXIT_EXCP_BASE + UD_VECTOR, ANY_VALUE, ANY_VALUE);
  /* VMLOAD not intercepted in the guest: it runs (the guest's EFER.SVME = 1, CPL 0). */
  fresh(g_vmsave);
  tcg_known(SVM_EXIT_VMSAVE, ANY_VALUE, "always exits for VMLOAD/VMSAVE in a guest without nested paging");
  expect_done("VMSAVE in the guest without its intercept: executes");
}

/* ---- INTR, NMI, SMI (§15.13) ------------------------------------------------------------------------ */

static volatile int host_intr, host_nmi;
static int h_intr(struct frame *f) {
  host_intr++;
  apic_eoi();
  return 1;
}
static int h_nmi(struct frame *f) {
  host_nmi++;
  return 1;
}
u32 guest_icr_lo, guest_icr_hi;
GUEST(g_ipi, "mov $0xfee00000, %edx\n  mov guest_icr_hi(%rip), %eax\n  mov %eax, 0x310(%rdx)\n  mov guest_icr_lo(%rip), %eax\n  mov %eax, 0x300(%rdx)\n"
             "  mov $1000, %ecx\n1: pause\n  dec %ecx\n  jnz 1b",
      "nop", "");

static void test_events(void) {
  apic_setup_xapic(1);
  u32 me = cpuid_initial_apic_id();
  set_trap_handler(0x50, h_intr);
  set_trap_handler(NMI_VECTOR, h_nmi);
  guest_icr_hi = me << 24;

  guest_icr_lo = ICR_FIXED | ICR_ASSERT | 0x50;
  fresh(g_ipi);
  vmcb->save.rflags = FL_FIXED | FL_IF;
  vmcb->control.intercept_misc1 |= INTERCEPT_INTR;
  host_intr = 0;
  svm_run(vmcb);
  check_exitcode("physical INTR in the guest with the INTR intercept: EXITCODE 60h", vmcb, SVM_EXIT_INTR);
  check_eq("INTR intercept: the interrupt was not taken in the guest", host_intr, 0);
  __asm__ volatile("sti; nop; nop; cli" ::: "memory");
  check_eq("INTR intercept: the interrupt stays pending and the host takes it (IF = 1)", host_intr, 1);

  guest_icr_lo = ICR_NMI | ICR_ASSERT;
  fresh(g_ipi);
  vmcb->control.intercept_misc1 |= INTERCEPT_NMI;
  host_nmi = 0;
  svm_keep_gif0 = 1;
  svm_run(vmcb);
  int in_guest = host_nmi;
  svm_keep_gif0 = 0;
  check_exitcode("NMI in the guest with the NMI intercept: EXITCODE 61h", vmcb, SVM_EXIT_NMI);
  check_eq("NMI intercept: the NMI was not taken in the guest or before STGI", in_guest, 0);
  stgi();
  __asm__ volatile("nop; nop" ::: "memory");
  check_eq("NMI intercept: the NMI stays pending and the host takes it at STGI", host_nmi, 1);
  set_trap_handler(0x50, 0);
  set_trap_handler(NMI_VECTOR, 0);

  skip("SMI intercept: EXITCODE 62h", "an SMI that is not intercepted would enter the firmware's SMM handler; not sent");
  skip("INIT intercept: EXITCODE 63h", "the INIT stays pending and would reset the host at STGI (VM_CR.R_INIT = 0); not sent");
  skip("FERR_FREEZE intercept: EXITCODE 7Eh", "needs CR0.NE = 0 with an external FERR# freeze, which no PC here wires");
}

void test_main(void) {
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("SVM", "CPUID Fn8000_0001_ECX[SVM] = 0");
    return;
  }
  if (svm_enable() != NO_TRAP) panic("cannot set EFER.SVME");
  decode_assists = SVM_HAS(SVM_FEAT_DECODE_ASSISTS);
  nrips = SVM_HAS(SVM_FEAT_NRIPS);
  info("decode assists %d, NRIPS %d", decode_assists, nrips);
  if (!nrips) skip("nRIP = the next instruction (every instruction intercept)", "NRIPS not advertised");
  bail_handlers(1);
  test_cr_dr();
  test_exceptions();
  test_simple();
  test_ioio();
  test_msr();
  test_task_switch();
  test_shutdown();
  test_svm_insns();
  bail_handlers(0);
  test_events();
}
