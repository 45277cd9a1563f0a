/* @guest bits=64 cpu=max,+vmx timeout=60 -- VMX-preemption timer (count-down rate, save on exit, value 0 at entry, HLT activity state), TSC offsetting for RDTSC/RDTSCP/RDMSR, enable RDTSCP, PAUSE-loop exiting */
/*
 * Time in VMX non-root operation (SDM Vol. 3C):
 * - the VMX-preemption timer (§25.5.1 "VMX-Preemption Timer": it counts down by 1 each time bit X
 *   of the TSC changes, X = IA32_VMX_MISC[4:0] (Appendix A.6); §26.7.4 "VMX-Preemption Timer": a
 *   value of 0 exits before any instruction, after event injection; §27.3.4: "save
 *   VMX-preemption timer value" stores the value at the exit; §27.1: a VM exit from the HLT state
 *   saves the HLT activity state);
 * - TSC offsetting (§25.3 "Changes to Instruction Behavior in VMX Non-Root Operation": RDTSC,
 *   RDTSCP and RDMSR of IA32_TIME_STAMP_COUNTER return TSC + offset, modulo 2^64), "enable RDTSCP"
 *   (RDTSCP is #UD when it is 0) and RDTSCP exiting (§25.1.3: "RDTSC exiting" and "enable RDTSCP"
 *   both 1 -> exit 51);
 * - PAUSE-loop exiting (§25.1.3 "PAUSE": at CPL 0, a PAUSE more than PLE_Gap TSC ticks after the
 *   previous one starts a loop, and a PAUSE more than PLE_Window ticks after the start of its loop
 *   exits with reason 40; the first PAUSE after VM entry starts a loop).
 * Expected values come from those rules, measured against the TSC the guest and host read.
 */
#include "apic_hw.h"
#include "vmx.h"

const char test_name[] = "vmx_timer";

extern char vmx_guest_trampoline[];
static volatile u64 g_out[4];
#define MSR_TSC 0x10u
#define MSR_TSC_AUX 0xc0000103u
#define HAS_RDTSCP() ((cpu.e1_edx >> 27) & 1)

static int check_rip(const char *check, u64 got, const void *site) { return check_eq(check, got, (u64)(ulong)site); }

/* ---- the VMX-preemption timer ----------------------------------------------------------------- */

/* Records the TSC at the start and at the end of a loop of g_loops iterations, then CPUID (exit 10). */
static volatile u32 g_loops;
static NOINLINE void g_timed_loop(void) {
  g_out[0] = rdtsc();
  for (volatile u32 i = 0; i < g_loops; i++) {
  }
  g_out[1] = rdtsc();
  u32 a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}
/* Reads the TSC in a loop for as long as it runs: g_out[0] = first sample, g_out[1] = last one. */
static NOINLINE void g_sample_forever(void) {
  g_out[0] = rdtsc();
  for (u32 i = 0; i < 50000000u; i++) g_out[1] = rdtsc();
}
DECLARE_SITE(s_inj);
__asm__(".text\n" SITE(s_inj) "nop\n nop\n mov $0x600d, %eax\n vmcall\n ud2\n");
DECLARE_SITE(s_after_hlt);
__asm__(".text\n" SITE(s_after_hlt) "mov $0x600d, %eax\n vmcall\n ud2\n");

static void test_preemption_timer(void) {
  if (!HAS_PIN(PIN_PREEMPT)) {
    skip("VMX-preemption timer", "the 'activate VMX-preemption timer' control is not supported");
    return;
  }
  const u32 X = MISC_TIMER_RATE(vmx_caps.misc);
  info("VMX-preemption timer rate: bit %u of the TSC", X);
  const int save = HAS_EXIT(EXIT_SAVE_PREEMPT);

  /* Value 0: an exit before the first guest instruction; the guest's registers untouched. */
  vmcs_init_guest64(g_timed_loop);
  vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
  vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0);
  vmx_guest_regs.rax = 0x5a5a;
  vmx_guest_regs.r13 = 0x1313;
  u64 rsp0 = vmcs_read(GUEST_RSP);
  struct vmx_exit e = vmx_enter();
  check_exit_qual("timer value 0: exit 52 (qualification 0) at once", &e, EXIT_REASON_PREEMPTION_TIMER, 0);
  check_rip("timer value 0: guest RIP is the entry point (no instruction ran)", e.guest_rip, vmx_guest_trampoline);
  check_eq("timer value 0: guest RSP unchanged", vmcs_read(GUEST_RSP), rsp0);
  check_true("timer value 0: guest RAX and R13 unchanged", vmx_guest_regs.rax == 0x5a5a && vmx_guest_regs.r13 == 0x1313, "registers changed");
  check_eq("timer value 0: no IDT-vectoring information", e.idt_info & INTR_INFO_VALID, 0);

  /* Value 0 with an injected INT 0x61: the exit follows the delivery (§26.7.4). */
  set_trap_handler(0x61, 0);
  vmcs_init_guest64(0);
  vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
  vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0);
  vmcs_write(GUEST_RIP, (u64)(ulong)s_inj);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_SOFT_INTR | 0x61);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, 2);
  rsp0 = vmcs_read(GUEST_RSP);
  e = vmx_enter();
  check_exit("timer value 0 with an injected INT 0x61: exit 52", &e, EXIT_REASON_PREEMPTION_TIMER);
  check_eq("timer value 0 with injection: the exit comes after delivery (guest RIP = the handler of 0x61)", e.guest_rip, isr_stub(0x61));
  u64 rsp1 = vmcs_read(GUEST_RSP);
  check_eq("timer value 0 with injection: the 64-bit interrupt frame (5 quadwords) is on the guest stack", rsp0 - rsp1, 40);
  if (rsp0 - rsp1 == 40) {
    const u64 *f = (const u64 *)(ulong)rsp1;
    check_true("timer value 0 with injection: pushed RIP = entry RIP + VM-entry instruction length, CS, SS",
               f[0] == (u64)(ulong)s_inj + 2 && f[1] == KCODE && f[4] == KDATA, "different frame");
  }
  check_eq("timer value 0 with injection: the VM exit clears the VM-entry interruption-information valid bit",
           vmcs_read(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID, 0);

  /* Counting down: the saved value is the start value minus the changes of TSC bit X. */
  if (save) {
    const u64 V = 0xffffffffu;
    vmcs_init_guest64(g_timed_loop);
    g_loops = 200000;
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, V);
    u64 t0 = rdtsc();
    e = vmx_enter();
    u64 t1 = rdtsc();
    check_exit("save timer value: the guest's loop ends in a CPUID exit (10)", &e, EXIT_REASON_CPUID);
    u64 left = vmcs_read(VMX_PREEMPTION_TIMER_VALUE);
    u64 dec = V - left, lo = (g_out[1] >> X) - (g_out[0] >> X), hi = (t1 >> X) - (t0 >> X);
    info("timer: %lu counts for the loop; the guest saw at least %lu, the host at most %lu", (ulong)dec, (ulong)lo, (ulong)hi);
    check_true("save timer value: the saved value decreased by at least the bit-X changes the guest saw", left < V && dec >= lo, "too few counts");
    check_true("save timer value: and by at most the bit-X changes around the VM entry and exit", dec <= hi, "too many counts");
    /* Re-entering continues from the saved value. */
    u64 before = vmcs_read(VMX_PREEMPTION_TIMER_VALUE);
    vmx_skip_insn();
    e = vmx_enter();
    check_guest_done("save timer value: the guest runs on after re-entry", &e);
    check_true("save timer value: the second exit saves a value below the first", vmcs_read(VMX_PREEMPTION_TIMER_VALUE) <= before, "grew");
  } else {
    skip("save timer value", "the 'save VMX-preemption timer value' exit control is not supported");
  }

  /* Without the save control the field keeps the value software wrote. */
  if (ctl_allowed0(vmx_caps.exit, EXIT_SAVE_PREEMPT)) {
    vmcs_init_guest64(g_timed_loop);
    g_loops = 20000;
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    vmcs_clear_bits(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0x7fffffff);
    e = vmx_enter();
    check_exit("timer without save: a CPUID exit (10)", &e, EXIT_REASON_CPUID);
    check_eq("timer without save: the timer-value field is unchanged by the exit", vmcs_read(VMX_PREEMPTION_TIMER_VALUE), 0x7fffffff);
  }

  /* A timer that expires: exit 52 after V changes of bit X, not before, and the saved value is 0. */
  {
    const u64 V = 200;
    vmcs_init_guest64(g_sample_forever);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    if (save) vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, V);
    g_out[0] = g_out[1] = 0;
    u64 t0 = rdtsc();
    e = vmx_enter();
    u64 t1 = rdtsc();
    check_exit("timer value 200: the looping guest exits with reason 52", &e, EXIT_REASON_PREEMPTION_TIMER);
    check_true("timer value 200: at least 200 changes of TSC bit X between entry and exit", (t1 >> X) - (t0 >> X) >= V, "exit came too early");
    check_true("timer value 200: the guest never saw 200 changes of bit X while it ran", g_out[1] && (g_out[1] >> X) - (g_out[0] >> X) < V,
               "the guest ran past the timer");
    if (save) check_eq("timer value 200: the value saved at the timer's exit is 0", vmcs_read(VMX_PREEMPTION_TIMER_VALUE), 0);
  }

  /* The timer counts in the HLT activity state and its exit saves activity state HLT (§27.1). */
  if (vmx_caps.misc & MISC_ACT_HLT) {
    const u64 V = 100;
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_after_hlt);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    if (save) vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, V);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    u64 t0 = rdtsc();
    e = vmx_enter();
    u64 t1 = rdtsc();
    check_exit("timer in the HLT activity state: exit 52", &e, EXIT_REASON_PREEMPTION_TIMER);
    check_eq("timer in the HLT activity state: saved activity state HLT (1)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    check_rip("timer in the HLT activity state: guest RIP unchanged", e.guest_rip, s_after_hlt);
    check_true("timer in the HLT activity state: at least 100 changes of TSC bit X passed", (t1 >> X) - (t0 >> X) >= V, "exit came too early");
    if (save) check_eq("timer in the HLT activity state: saved timer value 0", vmcs_read(VMX_PREEMPTION_TIMER_VALUE), 0);
    /* Resuming in the HLT state with timer 0 exits again at once, still halted. */
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0);
    e = vmx_enter();
    check_exit("timer 0 on re-entry in the HLT state: exit 52", &e, EXIT_REASON_PREEMPTION_TIMER);
    check_eq("timer 0 on re-entry in the HLT state: still HLT", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    /* Active state and a large timer: the guest runs to its end. */
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0xffffffffu);
    e = vmx_enter();
    check_guest_done("active again with a large timer: the guest resumes after the HLT site", &e);
  } else {
    skip("timer in the HLT activity state", "IA32_VMX_MISC[6] = 0");
  }
}

/* ---- TSC offsetting, RDTSCP ---------------------------------------------------------------------- */

DECLARE_SITE(s_rdtsc);
static NOINLINE void g_rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile(SITE(s_rdtsc) "rdtsc" : "=a"(lo), "=d"(hi));
  g_out[0] = ((u64)hi << 32) | lo;
}
DECLARE_SITE(s_rdtscp);
static NOINLINE void g_rdtscp(void) {
  u32 lo, hi, aux;
  __asm__ volatile(SITE(s_rdtscp) "rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
  g_out[0] = ((u64)hi << 32) | lo;
  g_out[1] = aux;
}
static NOINLINE void g_rdmsr_tsc(void) { g_out[0] = rdmsr(MSR_TSC); }
static volatile int g_vec;
static NOINLINE void rdtscp_only(void) { __asm__ volatile("rdtscp" ::: "rax", "rdx", "rcx"); }
static NOINLINE void g_rdtscp_catch(void) { g_vec = trap_catch(rdtscp_only); }
static u8 no_msr_exits[4096] ALIGNED(4096);

static void tsc_case(const char *name, vmx_guest_fn fn, u64 offset, int use_offset) {
  char c[160];
  vmcs_init_guest64(fn);
  vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_RDTSC);
  if (use_offset) vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_TSC_OFFSET);
  else vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_TSC_OFFSET);
  vmcs_write(TSC_OFFSET, offset);
  if (fn == g_rdtscp) {
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
    vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_RDTSCP);
  }
  if (fn == g_rdmsr_tsc) {
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP);
    vmcs_write(MSR_BITMAP, pa(no_msr_exits));
  }
  if (!use_offset) offset = 0;
  g_out[0] = 0;
  u64 t0 = rdtsc();
  struct vmx_exit e = vmx_enter();
  u64 t1 = rdtsc();
  snprintf(c, sizeof c, "%s: no VM exit", name);
  check_guest_done(c, &e);
  snprintf(c, sizeof c, "%s: the guest reads TSC + offset (mod 2^64)", name);
  u64 rel = g_out[0] - offset - t0; /* wraps like the processor's addition */
  if (rel <= t1 - t0) pass(c);
  else fail(c, "got 0x%lx, want within [0x%lx, 0x%lx]", (ulong)g_out[0], (ulong)(t0 + offset), (ulong)(t1 + offset));
}

static void test_tsc(void) {
  if (!ctl_allowed0(vmx_caps.proc, CPU_RDTSC)) {
    skip("TSC offsetting", "RDTSC exiting cannot be 0");
    return;
  }
  if (HAS_PROC(CPU_TSC_OFFSET)) {
    tsc_case("RDTSC, use TSC offsetting, offset 2^40", g_rdtsc, 1ull << 40, 1);
    u64 neg = (u64)0 - (rdtsc() - 1000); /* TSC + offset wraps around to a small value */
    tsc_case("RDTSC, use TSC offsetting, a negative offset", g_rdtsc, neg, 1);
    tsc_case("RDTSC without 'use TSC offsetting': the offset field is ignored", g_rdtsc, 1ull << 40, 0);
    if (HAS_PROC(CPU_MSR_BITMAP)) tsc_case("RDMSR IA32_TIME_STAMP_COUNTER, use TSC offsetting, offset 2^40", g_rdmsr_tsc, 1ull << 40, 1);
    else skip("RDMSR IA32_TIME_STAMP_COUNTER with TSC offsetting", "no MSR bitmaps");
  } else {
    skip("TSC offsetting", "the 'use TSC offsetting' control is not supported");
  }
  if (!HAS_RDTSCP()) {
    skip("RDTSCP", "CPUID.80000001H:EDX.RDTSCP[27] = 0");
    return;
  }
  /* RDTSCP with "enable RDTSCP" = 0: #UD (§25.3), caught by the exception bitmap or by the guest. */
  if (ctl_allowed0(vmx_caps.proc2, CPU2_RDTSCP)) {
    vmcs_init_guest64(g_rdtscp);
    if (HAS_PROC(CPU_SECONDARY)) vmcs_clear_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_RDTSCP);
    vmcs_write(EXCEPTION_BITMAP, BIT(UD_VECTOR));
    struct vmx_exit e = vmx_enter();
    check_exit("RDTSCP with 'enable RDTSCP' = 0: #UD exits through the exception bitmap (exit 0)", &e, EXIT_REASON_EXCEPTION_NMI);
    check_eq("RDTSCP with 'enable RDTSCP' = 0: interruption information = valid | hardware exception | #UD",
             e.intr_info & ~INTR_INFO_NMI_UNBLOCK, INTR_INFO_VALID | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR);
    check_rip("RDTSCP with 'enable RDTSCP' = 0: guest RIP is the RDTSCP", e.guest_rip, s_rdtscp);
    if (HAS_PROC(CPU_RDTSC)) {
      vmcs_init_guest64(g_rdtscp);
      if (HAS_PROC(CPU_SECONDARY)) vmcs_clear_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_RDTSCP);
      vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_RDTSC);
      vmcs_write(EXCEPTION_BITMAP, BIT(UD_VECTOR));
      e = vmx_enter();
      check_exit("RDTSCP with RDTSC exiting but 'enable RDTSCP' = 0: #UD (exit 0), not exit 51", &e, EXIT_REASON_EXCEPTION_NMI);
    }
    vmcs_init_guest64(g_rdtscp_catch);
    if (HAS_PROC(CPU_SECONDARY)) vmcs_clear_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_RDTSCP);
    g_vec = -1;
    e = vmx_enter();
    check_guest_done("RDTSCP with 'enable RDTSCP' = 0 and exception bitmap 0: the guest runs on", &e);
    check_eq("RDTSCP with 'enable RDTSCP' = 0: the guest's own handler sees #UD", (u64)(s64)g_vec, UD_VECTOR);
  }
  if (!HAS_PROC2(CPU2_RDTSCP)) {
    skip("enable RDTSCP", "the 'enable RDTSCP' control is not supported");
    return;
  }
  u64 aux = 0;
  if (vmx_rdmsr_safe(MSR_TSC_AUX, &aux) != NO_TRAP || vmx_wrmsr_safe(MSR_TSC_AUX, 0x5a17) != NO_TRAP) {
    skip("enable RDTSCP", "IA32_TSC_AUX cannot be written");
    return;
  }
  if (HAS_PROC(CPU_TSC_OFFSET)) tsc_case("RDTSCP, enable RDTSCP, use TSC offsetting, offset 2^40", g_rdtscp, 1ull << 40, 1);
  tsc_case("RDTSCP, enable RDTSCP, no TSC offsetting", g_rdtscp, 0, 0);
  check_eq("RDTSCP in the guest: ECX = IA32_TSC_AUX", g_out[1], 0x5a17);
  if (HAS_PROC(CPU_RDTSC)) {
    vmcs_init_guest64(g_rdtscp);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_RDTSC | CPU_SECONDARY);
    vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_RDTSCP);
    struct vmx_exit e = vmx_enter();
    check_exit("RDTSCP with 'RDTSC exiting' and 'enable RDTSCP': exit 51", &e, EXIT_REASON_RDTSCP);
    check_rip("RDTSCP exit: guest RIP is the RDTSCP", e.guest_rip, s_rdtscp);
    check_eq("RDTSCP exit: instruction length 3", e.insn_len, 3);
    vmx_guest_regs.rax = 0x11223344;
    vmx_guest_regs.rdx = 0x55;
    vmx_guest_regs.rcx = 0x66;
    vmx_skip_insn();
    e = vmx_enter();
    check_guest_done("RDTSCP exit: the guest resumes after it", &e);
    check_true("RDTSCP exit: the guest sees EDX:EAX and ECX as the host set them", g_out[0] == 0x5511223344ull && g_out[1] == 0x66, "different values");
  }
  vmx_wrmsr_safe(MSR_TSC_AUX, aux);
}

/* ---- PAUSE-loop exiting ----------------------------------------------------------------------------- */

/*
 * The guest executes PAUSE, counts it, then waits until `ple_spacing` TSC ticks have passed since
 * that PAUSE before the next one, until `ple_limit` ticks have passed since it started.
 */
volatile u64 ple_spacing, ple_limit, ple_count;
void g_ple(void);
DECLARE_SITE(s_ple);
__asm__(".text\n"
        "g_ple:\n"
        "  rdtsc\n  shl $32, %rdx\n  or %rdx, %rax\n  mov %rax, %r8\n" /* r8 = start */
        "  movq $0, ple_count(%rip)\n"
        "1:\n" SITE(s_ple) "  pause\n"
        "  incq ple_count(%rip)\n"
        "  rdtsc\n  shl $32, %rdx\n  or %rdx, %rax\n  mov %rax, %r9\n" /* r9 = this PAUSE */
        "  sub %r8, %rax\n  cmp ple_limit(%rip), %rax\n  ja 3f\n"
        "2:\n  rdtsc\n  shl $32, %rdx\n  or %rdx, %rax\n  sub %r9, %rax\n  cmp ple_spacing(%rip), %rax\n  jb 2b\n"
        "  jmp 1b\n"
        "3:\n  ret\n");

static struct vmx_exit ple_run(u32 gap, u32 window, u64 spacing, u64 limit, int pause_exiting) {
  vmcs_init_guest64(g_ple);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  if (pause_exiting) vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_PAUSE);
  else vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_PAUSE);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_PLE);
  vmcs_write(PLE_GAP, gap);
  vmcs_write(PLE_WINDOW, window);
  ple_spacing = spacing;
  ple_limit = limit;
  ple_count = ~0ull;
  return vmx_enter();
}

static void test_ple(void) {
  if (!HAS_PROC2(CPU2_PLE)) {
    skip("PAUSE-loop exiting", "the 'PAUSE-loop exiting' control is not supported");
    return;
  }
  if (!ctl_allowed0(vmx_caps.proc, CPU_PAUSE)) {
    skip("PAUSE-loop exiting", "PAUSE exiting cannot be 0");
    return;
  }
  /* PAUSEs 64 ticks apart with PLE_Gap 4096 form one loop; it exits once the loop is older than PLE_Window. */
  struct vmx_exit e = ple_run(4096, 16384, 64, 1u << 22, 0);
  check_exit_qual("PLE: a PAUSE loop longer than PLE_Window exits with reason 40 (qualification 0)", &e, EXIT_REASON_PAUSE, 0);
  check_rip("PLE exit: guest RIP is the PAUSE", e.guest_rip, s_ple);
  check_eq("PLE exit: instruction length 2", e.insn_len, 2);
  check_true("PLE exit: not at the first PAUSE of the loop", ple_count != ~0ull && ple_count >= 1, "exited at the first PAUSE");
  vmx_skip_insn();
  ple_limit = 0;
  e = vmx_enter();
  check_guest_done("PLE exit: the guest resumes after the PAUSE", &e);
  /* PLE_Window 0: the first PAUSE after VM entry starts the loop (0 ticks old), the second one exits. */
  e = ple_run(1u << 20, 0, 64, 1u << 22, 0);
  check_exit("PLE_Window 0: exit 40", &e, EXIT_REASON_PAUSE);
  check_eq("PLE_Window 0: the first PAUSE after VM entry does not exit, the second does", ple_count, 1);
  /* PAUSEs further apart than PLE_Gap each start a new loop: no exit however long it runs. */
  e = ple_run(256, 1024, 2048, 1u << 16, 0);
  check_guest_done("PLE: PAUSEs more than PLE_Gap apart never exit", &e);
  check_true("PLE: that guest executed many PAUSEs", ple_count > 8 && ple_count != ~0ull, "too few PAUSEs");
  /* A loop shorter than PLE_Window does not exit. */
  e = ple_run(1u << 20, 0xffffffffu, 64, 1u << 16, 0);
  check_guest_done("PLE: a PAUSE loop shorter than PLE_Window does not exit", &e);
  /* "PAUSE exiting" = 1 makes every PAUSE exit; PLE is then ignored. */
  if (HAS_PROC(CPU_PAUSE)) {
    e = ple_run(1u << 20, 0xffffffffu, 64, 1u << 16, 1);
    check_exit("PAUSE exiting with PAUSE-loop exiting: the first PAUSE exits (40)", &e, EXIT_REASON_PAUSE);
    check_eq("PAUSE exiting with PAUSE-loop exiting: no PAUSE completed", ple_count, 0);
  }
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("VMX timers", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  int out = vmx_on();
  if (out != VMX_OK) panic("VMXON: %s", vmx_outcome_name(out));
  test_preemption_timer();
  test_tsc();
  test_ple();
  vmx_off();
}
