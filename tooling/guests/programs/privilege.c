/* @guest bits=32 cpu=max -- privilege transitions: interrupts, call gates, SYSENTER/SYSEXIT, IOPL, privileged instructions */
/*
 * SDM Vol. 3 §5.8 (call gates and privilege changes), §6.12.1 (interrupt and exception
 * handler procedures: stack switching), §5.8.7 (SYSENTER/SYSEXIT), §5.9 (privileged
 * instructions), Vol. 1 §19.5.1 (IOPL) and the instruction pages for CLI, STI, POPF.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "privilege";

extern char kstack0_top[];
#define SEL_GATE3 ((16 << 3) | 3) /* call gate, DPL 3, to cg_entry with 2 parameters */
#define SEL_GATE0 (17 << 3)       /* call gate, DPL 0, to cg0_entry */

/* ---- interrupts from ring 3 --------------------------------------------------------------- */

static struct frame int_frame;
static u32 int_handler_cs, int_handler_ss, int_handler_flags, int_frame_addr;
static int int_handler(struct frame *f) {
  int_frame = *f;
  int_handler_cs = read_cs();
  int_handler_ss = read_ss();
  int_handler_flags = (u32)read_flags();
  int_frame_addr = (u32)&f->ip;
  if (f->vector == 0x84) f->fs = KDATA; /* IRET to ring 3 must null FS (DPL 0 < CPL 3) */
  return 1;
}

static u32 user_esp, user_fs_after;
DECLARE_SITE(u_int82_after);
static NOINLINE void user_int82(void) { __asm__ volatile("mov %%esp, %0\n int $0x82\n" SITE(u_int82_after) : "=m"(user_esp) : : "memory"); }
static NOINLINE void user_int83(void) { __asm__ volatile("int $0x83" ::: "memory"); }
static NOINLINE void user_int84(void) {
  __asm__ volatile("mov $0x23, %%ax; mov %%ax, %%fs; int $0x84; mov %%fs, %%eax; mov %%eax, %0" : "=m"(user_fs_after) : : "eax", "memory");
}
DECLARE_SITE(u_gp_site);
static NOINLINE void user_gp(void) { __asm__ volatile("mov %%esp, %0\n" SITE(u_gp_site) "hlt" : "=m"(user_esp) : : "memory"); }

static void test_interrupts(void) {
  for (int v = 0x82; v <= 0x84; v++) {
    idt_set(v, KCODE, isr_stub(v), v == 0x83 ? GATE_TRAP : GATE_INT, 3, 1);
    set_trap_handler(v, int_handler);
  }
  check_trap("INT n from CPL 3 through a DPL-3 interrupt gate reaches the handler", run_user(user_int82, FL_IF), NO_TRAP, 0, 0);
  check_eq("ring 3 -> 0: the handler runs with CS = the gate's selector (CPL 0)", int_handler_cs, KCODE);
  check_eq("ring 3 -> 0: SS = TSS.SS0", int_handler_ss, KDATA);
  check_eq("ring 3 -> 0: the frame is at TSS.ESP0 - 20 (SS, ESP, EFLAGS, CS, EIP)", int_frame_addr, (u32)kstack0_top - 20);
  check_eq("ring 3 -> 0: pushed EIP is after the INT", int_frame.ip, (ulong)u_int82_after);
  check_eq("ring 3 -> 0: pushed CS is the user selector", int_frame.cs & 0xffff, UCODE);
  check_eq("ring 3 -> 0: pushed ESP is the user stack pointer", int_frame.sp, user_esp);
  check_eq("ring 3 -> 0: pushed SS is the user selector", int_frame.ss & 0xffff, UDATA);
  check_eq("ring 3 -> 0: pushed EFLAGS has the user's IF = 1", int_frame.flags & (FL_IF | FL_IOPL_MASK | FL_VM), FL_IF);
  check_eq("an interrupt gate clears IF", int_handler_flags & FL_IF, 0);
  check_trap("INT n through a DPL-3 trap gate", run_user(user_int83, FL_IF), NO_TRAP, 0, 0);
  check_eq("a trap gate leaves IF set", int_handler_flags & FL_IF, FL_IF);
  check_trap("IRET back to CPL 3", run_user(user_int84, 0), NO_TRAP, 0, 0);
  check_eq("IRET to CPL 3 loads FS with null when FS held a DPL-0 segment", user_fs_after, 0);
  for (int v = 0x82; v <= 0x84; v++) {
    idt_restore(v);
    set_trap_handler(v, 0);
  }
  check_trap("an exception at CPL 3 (HLT): #GP(0)", run_user(user_gp, 0), GP_VECTOR, 0, (ulong)u_gp_site);
  check_eq("exception from CPL 3: pushed ESP is the user stack pointer", trap.sp, user_esp);
  check_eq("exception from CPL 3: pushed SS is the user selector", trap.ss, UDATA);
  check_eq("exception from CPL 3: the error code is at TSS.ESP0 - 24, below SS, ESP, EFLAGS, CS, EIP", trap.frame_addr - 4, (u32)kstack0_top - 24);
}

/* ---- call gates --------------------------------------------------------------------------- */

__asm__(
    ".text\n"
    ".global cg_entry, cg0_entry\n"
    "cg_entry:\n"
    "  mov %esp, cg_esp\n"
    "  mov %cs, cg_cs\n"
    "  mov %ss, cg_ss\n"
    "  push %eax\n"
    "  push %esi\n"
    "  lea 8(%esp), %esi\n"
    "  mov 0(%esi), %eax\n"
    "  mov %eax, cg_words + 0\n"
    "  mov 4(%esi), %eax\n"
    "  mov %eax, cg_words + 4\n"
    "  mov 8(%esi), %eax\n"
    "  mov %eax, cg_words + 8\n"
    "  mov 12(%esi), %eax\n"
    "  mov %eax, cg_words + 12\n"
    "  mov 16(%esi), %eax\n"
    "  mov %eax, cg_words + 16\n"
    "  mov 20(%esi), %eax\n"
    "  mov %eax, cg_words + 20\n"
    "  mov $0x10, %ax\n"
    "  mov %ax, %es\n" /* a DPL-0 segment in ES: RET to CPL 3 must null it */
    "  pop %esi\n"
    "  pop %eax\n"
    "  lret $8\n"
    "cg0_entry:\n"
    "  mov %esp, cg_esp\n"
    "  mov %ss, cg_ss\n"
    "  lret\n");
extern char cg_entry[], cg0_entry[];
u32 cg_esp, cg_cs, cg_ss, cg_words[6];
static u32 u_esp_before, u_esp_after, u_es_after, u_cs_after;
DECLARE_SITE(u_cg_after);
static NOINLINE void user_callgate(void) {
  __asm__ volatile("mov %%esp, %0\n push $0x1111\n push $0x2222\n lcall %4, $0\n" SITE(u_cg_after) "mov %%esp, %1\n mov %%es, %%eax\n mov %%eax, %2\n"
                   "mov %%cs, %%eax\n mov %%eax, %3\n mov $0x23, %%ax\n mov %%ax, %%es"
                   : "=m"(u_esp_before), "=m"(u_esp_after), "=m"(u_es_after), "=m"(u_cs_after)
                   : "i"(SEL_GATE3)
                   : "eax", "memory");
}
DECLARE_SITE(u_cg0_site);
static NOINLINE void user_callgate0(void) { __asm__ volatile(SITE(u_cg0_site) "lcall %0, $0" : : "i"(SEL_GATE0 | 3) : "memory"); }
static u32 k_esp_before;
static NOINLINE void kernel_callgate0(void) { __asm__ volatile("mov %%esp, %0; lcall %1, $0" : "=m"(k_esp_before) : "i"(SEL_GATE0) : "memory"); }

static void test_call_gates(void) {
  gdt_set(SEL_GATE3 >> 3, call_gate(KCODE, (u32)cg_entry, 3, 2));
  gdt_set(SEL_GATE0 >> 3, call_gate(KCODE, (u32)cg0_entry, 0, 0));
  check_trap("far CALL from CPL 3 through a DPL-3 call gate to CPL 0", run_user(user_callgate, 0), NO_TRAP, 0, 0);
  check_eq("call gate: the procedure runs at CPL 0 (CS = the gate's selector)", cg_cs, KCODE);
  check_eq("call gate: SS = TSS.SS0", cg_ss, KDATA);
  check_eq("call gate: ESP = TSS.ESP0 - 24 (SS, ESP, 2 parameters, CS, EIP)", cg_esp, (u32)kstack0_top - 24);
  check_eq("call gate: pushed EIP is the return address", cg_words[0], (u32)u_cg_after);
  check_eq("call gate: pushed CS is the caller's", cg_words[1] & 0xffff, UCODE);
  check_eq("call gate: the parameters are copied in order (last pushed lowest)", ((u64)cg_words[3] << 32) | cg_words[2], 0x0000111100002222ull);
  check_eq("call gate: pushed ESP is the caller's, after its pushes", cg_words[4], u_esp_before - 8);
  check_eq("call gate: pushed SS is the caller's", cg_words[5] & 0xffff, UDATA);
  check_eq("RET imm16 to CPL 3 pops the parameters from both stacks", u_esp_after, u_esp_before);
  check_eq("RET to CPL 3 returns to CPL 3 code", u_cs_after, UCODE);
  check_eq("RET to CPL 3 loads ES with null when it held a DPL-0 segment", u_es_after, 0);
  check_trap("far CALL from CPL 3 through a DPL-0 call gate: #GP(gate selector)", run_user(user_callgate0, 0), GP_VECTOR, SEL_GATE0,
             (ulong)u_cg0_site);
  check_trap("far CALL at CPL 0 through a call gate to CPL 0", trap_catch(kernel_callgate0), NO_TRAP, 0, 0);
  check_eq("same-privilege call gate: no stack switch (CS, EIP pushed on the same stack)", cg_esp, k_esp_before - 8);
}

/* ---- SYSENTER / SYSEXIT ------------------------------------------------------------------- */

static u32 sysenter_stack[256] ALIGNED(16);
__asm__(
    ".text\n"
    ".global sysenter_entry\n"
    "sysenter_entry:\n"
    "  mov %esp, se_esp\n"
    "  mov %cs, se_cs\n"
    "  mov %ss, se_ss\n"
    "  pushf\n"
    "  pop se_flags\n"
    "  sysexit\n");
extern char sysenter_entry[];
u32 se_esp, se_cs, se_ss, se_flags;
static u32 u_se_cs, u_se_ss, u_se_esp_before, u_se_esp_after;
DECLARE_SITE(u_se_site);
DECLARE_SITE(u_se_return);
static NOINLINE void user_sysenter(void) {
  __asm__ volatile("push %%ebx\n mov %%esp, %%ecx\n mov %%ecx, %2\n mov $u_se_return, %%edx\n" SITE(u_se_site) "sysenter\n" SITE(u_se_return)
                   "mov %%esp, %3\n mov %%cs, %%eax\n mov %%eax, %0\n mov %%ss, %%eax\n mov %%eax, %1\n pop %%ebx"
                   : "=m"(u_se_cs), "=m"(u_se_ss), "=m"(u_se_esp_before), "=m"(u_se_esp_after)
                   :
                   : "eax", "ecx", "edx", "memory");
}
DECLARE_SITE(u_sysexit_site);
static NOINLINE void user_sysexit(void) { __asm__ volatile(SITE(u_sysexit_site) "sysexit" ::: "memory"); }

static void test_sysenter(void) {
  if (!HAS_SEP()) {
    skip("SYSENTER/SYSEXIT", "CPUID.1:EDX.SEP = 0");
    return;
  }
  wrmsr(MSR_SYSENTER_CS, KCODE);
  wrmsr(MSR_SYSENTER_ESP, (u32)&sysenter_stack[256]);
  wrmsr(MSR_SYSENTER_EIP, (u32)sysenter_entry);
  check_trap("SYSENTER from CPL 3 and SYSEXIT back", run_user(user_sysenter, FL_IF), NO_TRAP, 0, 0);
  check_eq("SYSENTER: CS = IA32_SYSENTER_CS", se_cs, KCODE);
  check_eq("SYSENTER: SS = IA32_SYSENTER_CS + 8", se_ss, KDATA);
  check_eq("SYSENTER: ESP = IA32_SYSENTER_ESP", se_esp, (u32)&sysenter_stack[256]);
  check_eq("SYSENTER: clears IF and VM", se_flags & (FL_IF | FL_VM), 0);
  check_eq("SYSEXIT: CS = IA32_SYSENTER_CS + 16 with RPL 3", u_se_cs, UCODE);
  check_eq("SYSEXIT: SS = IA32_SYSENTER_CS + 24 with RPL 3", u_se_ss, UDATA);
  check_eq("SYSEXIT: ESP = ECX", u_se_esp_after, u_se_esp_before);
  wrmsr(MSR_SYSENTER_CS, 0);
  check_trap("SYSENTER with IA32_SYSENTER_CS = 0: #GP(0)", run_user(user_sysenter, 0), GP_VECTOR, 0, (ulong)u_se_site);
  wrmsr(MSR_SYSENTER_CS, KCODE);
  check_trap("SYSEXIT at CPL 3: #GP(0)", run_user(user_sysexit, 0), GP_VECTOR, 0, (ulong)u_sysexit_site);
}

/* ---- IOPL and privileged instructions ----------------------------------------------------- */

static u32 u_flags;
static NOINLINE void user_cli(void) { __asm__ volatile("cli; pushf; popl %0; sti" : "=m"(u_flags) : : "memory"); }
DECLARE_SITE(u_cli_site);
static NOINLINE void user_cli_gp(void) { __asm__ volatile(SITE(u_cli_site) "cli" ::: "memory"); }
DECLARE_SITE(u_sti_site);
static NOINLINE void user_sti_gp(void) { __asm__ volatile(SITE(u_sti_site) "sti" ::: "memory"); }
static NOINLINE void user_popf(void) {
  /* Try to set IF and IOPL = 3 with POPF at CPL 3, IOPL 0: both silently unchanged. */
  __asm__ volatile("pushf; orl $0x3200, (%%esp); popf; pushf; popl %0" : "=m"(u_flags) : : "memory", "cc");
}
DECLARE_SITE(u_in_site);
static NOINLINE void user_in(void) { __asm__ volatile("mov $0x3ff, %%dx\n" SITE(u_in_site) "inb %%dx, %%al" ::: "eax", "edx", "memory"); }

#define PRIV_FN2(name, setup, insn)                                       \
  DECLARE_SITE(name##_site);                                              \
  static NOINLINE void name(void) { __asm__ volatile(setup "\n" SITE(name##_site) insn ::: "eax", "ecx", "edx", "memory"); }
#define PRIV_FN(name, insn) PRIV_FN2(name, "", insn)
PRIV_FN(u_hlt, "hlt")
PRIV_FN(u_mov_cr0, "mov %%cr0, %%eax")
PRIV_FN(u_mov_cr3, "mov %%eax, %%cr3")
PRIV_FN(u_mov_dr7, "mov %%db7, %%eax")
PRIV_FN(u_lgdt, "lgdt 0")
PRIV_FN(u_lidt, "lidt 0")
PRIV_FN2(u_lldt, "xor %%eax, %%eax", "lldt %%ax")
PRIV_FN2(u_ltr, "mov $0x28, %%eax", "ltr %%ax")
PRIV_FN2(u_rdmsr, "mov $0x10, %%ecx", "rdmsr")
PRIV_FN2(u_wrmsr, "mov $0x10, %%ecx", "wrmsr")
PRIV_FN(u_clts, "clts")
PRIV_FN(u_invd, "invd")
PRIV_FN(u_wbinvd, "wbinvd")
PRIV_FN(u_invlpg, "invlpg 0")
PRIV_FN(u_rdtsc, "rdtsc")
PRIV_FN2(u_rdpmc, "xor %%ecx, %%ecx", "rdpmc")
PRIV_FN2(u_load_ss0, "mov $0x10, %%ax", "mov %%ax, %%ss")
static u32 u_smsw, u_verr_user, u_verr_kernel, u_lar_kernel;
static NOINLINE void user_unprivileged(void) {
  __asm__ volatile("smsw %%ax; movzwl %%ax, %%eax; mov %%eax, %0\n"
                   "mov $0, %%eax; mov $0x23, %%cx; verr %%cx; setz %%al; mov %%eax, %1\n"
                   "mov $0, %%eax; mov $0x10, %%cx; verr %%cx; setz %%al; mov %%eax, %2\n"
                   "mov $0, %%eax; mov $0x10, %%cx; lar %%cx, %%edx; setz %%al; mov %%eax, %3"
                   : "=m"(u_smsw), "=m"(u_verr_user), "=m"(u_verr_kernel), "=m"(u_lar_kernel)
                   :
                   : "eax", "ecx", "edx", "memory", "cc");
}

static void test_iopl_and_privileged(void) {
  check_trap("CLI at CPL 3 with IOPL 3", run_user(user_cli, FL_IF | FL_IOPL(3)), NO_TRAP, 0, 0);
  check_eq("CLI at CPL 3 with IOPL 3 clears IF", u_flags & FL_IF, 0);
  check_trap("CLI at CPL 3 with IOPL 0: #GP(0)", run_user(user_cli_gp, FL_IF), GP_VECTOR, 0, (ulong)u_cli_site);
  check_trap("STI at CPL 3 with IOPL 0: #GP(0)", run_user(user_sti_gp, 0), GP_VECTOR, 0, (ulong)u_sti_site);
  check_trap("POPF at CPL 3 with IOPL 0 does not fault", run_user(user_popf, 0), NO_TRAP, 0, 0);
  check_eq("POPF at CPL 3 with IOPL 0 leaves IF and IOPL unchanged", u_flags & (FL_IF | FL_IOPL_MASK), 0);
  check_trap("IN at CPL 3 with IOPL 0 and no I/O permission bitmap: #GP(0)", run_user(user_in, 0), GP_VECTOR, 0, (ulong)u_in_site);
  check_trap("IN at CPL 3 with IOPL 3", run_user(user_in, FL_IOPL(3)), NO_TRAP, 0, 0);
  static const struct {
    const char *name;
    void (*fn)(void);
    char *site;
  } priv[] = {
      {"HLT", u_hlt, u_hlt_site},       {"MOV from CR0", u_mov_cr0, u_mov_cr0_site}, {"MOV to CR3", u_mov_cr3, u_mov_cr3_site},
      {"MOV from DR7", u_mov_dr7, u_mov_dr7_site}, {"LGDT", u_lgdt, u_lgdt_site}, {"LIDT", u_lidt, u_lidt_site},
      {"LLDT", u_lldt, u_lldt_site},    {"LTR", u_ltr, u_ltr_site},                  {"RDMSR", u_rdmsr, u_rdmsr_site},
      {"WRMSR", u_wrmsr, u_wrmsr_site}, {"CLTS", u_clts, u_clts_site},               {"INVD", u_invd, u_invd_site},
      {"WBINVD", u_wbinvd, u_wbinvd_site}, {"INVLPG", u_invlpg, u_invlpg_site},
  };
  char name[96];
  for (unsigned i = 0; i < ARRAY_SIZE(priv); i++) {
    snprintf(name, sizeof name, "%s at CPL 3: #GP(0)", priv[i].name);
    check_trap(name, run_user(priv[i].fn, FL_IOPL(3)), GP_VECTOR, 0, (ulong)priv[i].site);
  }
  check_trap("RDTSC at CPL 3 with CR4.TSD = 0", run_user(u_rdtsc, 0), NO_TRAP, 0, 0);
  write_cr4(read_cr4() | CR4_TSD);
  check_trap("RDTSC at CPL 3 with CR4.TSD = 1: #GP(0)", run_user(u_rdtsc, 0), GP_VECTOR, 0, (ulong)u_rdtsc_site);
  write_cr4(read_cr4() & ~CR4_TSD);
  check_trap("RDPMC at CPL 3 with CR4.PCE = 0: #GP(0)", run_user(u_rdpmc, 0), GP_VECTOR, 0, (ulong)u_rdpmc_site);
  check_trap("load SS with a DPL-0 segment at CPL 3: #GP(selector)", run_user(u_load_ss0, 0), GP_VECTOR, KDATA, (ulong)u_load_ss0_site);
  check_trap("SMSW, VERR and LAR at CPL 3 do not fault", run_user(user_unprivileged, 0), NO_TRAP, 0, 0);
  check_eq("SMSW at CPL 3 reads CR0[15:0] (PE = 1)", u_smsw & CR0_PE, CR0_PE);
  check_eq("VERR at CPL 3 on a DPL-3 data segment sets ZF", u_verr_user, 1);
  check_eq("VERR at CPL 3 on a DPL-0 data segment clears ZF", u_verr_kernel, 0);
  check_eq("LAR at CPL 3 on a DPL-0 segment clears ZF", u_lar_kernel, 0);
}

void test_main(void) {
  test_interrupts();
  test_call_gates();
  test_sysenter();
  test_iopl_and_privileged();
}
