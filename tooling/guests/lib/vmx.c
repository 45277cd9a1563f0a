/*
 * The hypervisor library of the VMX test programs (see vmx.h). 64-bit only: linked into the
 * programs whose @guest line asks for `cpu=...,+vmx`.
 */
#include "vmx.h"

struct vmx_caps vmx_caps;
u64 vmx_last_flags;
struct vmx_regs vmx_guest_regs;
u8 vmxon_region[4096] ALIGNED(4096);
u8 vmcs_pages[4][4096] ALIGNED(4096);
u8 vmx_guest_stack[16384] ALIGNED(4096);
u32 vmx_default_pin, vmx_default_proc, vmx_default_exit, vmx_default_entry;

/* ---- MSRs that may fault -------------------------------------------------------------------- */

static volatile u32 safe_msr;
static volatile u64 safe_value;
static NOINLINE void safe_rd(void) { safe_value = rdmsr(safe_msr); }
static NOINLINE void safe_wr(void) { wrmsr(safe_msr, safe_value); }
int vmx_rdmsr_safe(u32 msr, u64 *v) {
  safe_msr = msr;
  safe_value = 0;
  int got = trap_catch(safe_rd);
  if (v) *v = got == NO_TRAP ? safe_value : 0;
  return got;
}
int vmx_wrmsr_safe(u32 msr, u64 v) {
  safe_msr = msr;
  safe_value = v;
  return trap_catch(safe_wr);
}

/* ---- capabilities (Appendix A) ------------------------------------------------------------ */

static u64 cap_msr(u32 msr) {
  u64 v;
  return vmx_rdmsr_safe(msr, &v) == NO_TRAP ? v : 0;
}

void vmx_read_caps(void) {
  struct vmx_caps *c = &vmx_caps;
  memset(c, 0, sizeof *c);
  c->supported = (int)((cpu.l1_ecx >> 5) & 1);
  if (!c->supported) return;
  c->basic = cap_msr(MSR_IA32_VMX_BASIC);
  c->revision = BASIC_REVISION(c->basic);
  c->phys_bits = (c->basic & BASIC_32BIT_ADDR) ? 32 : cpu.phys_bits;
  c->pin_legacy = cap_msr(MSR_IA32_VMX_PINBASED_CTLS);
  c->proc_legacy = cap_msr(MSR_IA32_VMX_PROCBASED_CTLS);
  c->exit_legacy = cap_msr(MSR_IA32_VMX_EXIT_CTLS);
  c->entry_legacy = cap_msr(MSR_IA32_VMX_ENTRY_CTLS);
  /* A.3.1-A.5: with BASIC[55] = 1 the TRUE_ MSRs report which default1 controls may be 0. */
  if (c->basic & BASIC_TRUE_CTLS) {
    c->pin = cap_msr(MSR_IA32_VMX_TRUE_PINBASED_CTLS);
    c->proc = cap_msr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
    c->exit = cap_msr(MSR_IA32_VMX_TRUE_EXIT_CTLS);
    c->entry = cap_msr(MSR_IA32_VMX_TRUE_ENTRY_CTLS);
  } else {
    c->pin = c->pin_legacy;
    c->proc = c->proc_legacy;
    c->exit = c->exit_legacy;
    c->entry = c->entry_legacy;
  }
  c->misc = cap_msr(MSR_IA32_VMX_MISC);
  c->cr0_fixed0 = cap_msr(MSR_IA32_VMX_CR0_FIXED0);
  c->cr0_fixed1 = cap_msr(MSR_IA32_VMX_CR0_FIXED1);
  c->cr4_fixed0 = cap_msr(MSR_IA32_VMX_CR4_FIXED0);
  c->cr4_fixed1 = cap_msr(MSR_IA32_VMX_CR4_FIXED1);
  c->vmcs_enum = cap_msr(MSR_IA32_VMX_VMCS_ENUM);
  /* A.3.3: PROCBASED_CTLS2 exists only if "activate secondary controls" may be 1. */
  if (ctl_allowed1(c->proc_legacy, CPU_SECONDARY)) c->proc2 = cap_msr(MSR_IA32_VMX_PROCBASED_CTLS2);
  /* A.10: EPT_VPID_CAP exists only if "enable EPT" or "enable VPID" may be 1. */
  if (ctl_allowed1(c->proc2, CPU2_EPT) || ctl_allowed1(c->proc2, CPU2_VPID)) c->ept_vpid = cap_msr(MSR_IA32_VMX_EPT_VPID_CAP);
  /* A.11: IA32_VMX_VMFUNC exists only if "enable VM functions" may be 1. */
  if (ctl_allowed1(c->proc2, CPU2_VMFUNC)) c->vmfunc = cap_msr(MSR_IA32_VMX_VMFUNC);
}

/* ---- the instructions --------------------------------------------------------------------- */

static int outcome_from(u64 flags) {
  vmx_last_flags = flags;
  if (flags & FL_CF) return VMX_FAIL_INVALID;
  if (flags & BIT(6)) {
    u64 e = 0;
    __asm__ volatile("vmread %1, %0" : "+r"(e) : "r"((u64)VM_INSTRUCTION_ERROR) : "cc");
    return e ? (int)e : 0x100;
  }
  return VMX_OK;
}

NOINLINE int vmxon(u64 p) {
  u64 f;
  __asm__ volatile("vmxon %1; pushfq; popq %0" : "=r"(f) : "m"(p) : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int vmxoff(void) {
  u64 f;
  __asm__ volatile("vmxoff; pushfq; popq %0" : "=r"(f) : : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int vmclear(u64 p) {
  u64 f;
  __asm__ volatile("vmclear %1; pushfq; popq %0" : "=r"(f) : "m"(p) : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int vmptrld(u64 p) {
  u64 f;
  __asm__ volatile("vmptrld %1; pushfq; popq %0" : "=r"(f) : "m"(p) : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int vmptrst(u64 *p) {
  u64 f;
  __asm__ volatile("vmptrst %1; pushfq; popq %0" : "=r"(f), "=m"(*p) : : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int vmread(u32 field, u64 *value) {
  u64 f, v = 0;
  __asm__ volatile("vmread %2, %1; pushfq; popq %0" : "=r"(f), "+r"(v) : "r"((u64)field) : "cc", "memory");
  if (value) *value = v;
  return outcome_from(f);
}
NOINLINE int vmwrite(u32 field, u64 value) {
  u64 f;
  __asm__ volatile("vmwrite %1, %2; pushfq; popq %0" : "=r"(f) : "r"(value), "r"((u64)field) : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int invept(u64 type, u64 eptp) {
  struct {
    u64 eptp, reserved;
  } desc = {eptp, 0};
  u64 f;
  __asm__ volatile("invept %1, %2; pushfq; popq %0" : "=r"(f) : "m"(desc), "r"(type) : "cc", "memory");
  return outcome_from(f);
}
NOINLINE int invvpid_desc(u64 type, u64 lo, u64 hi) {
  struct {
    u64 lo, hi;
  } desc = {lo, hi};
  u64 f;
  __asm__ volatile("invvpid %1, %2; pushfq; popq %0" : "=r"(f) : "m"(desc), "r"(type) : "cc", "memory");
  return outcome_from(f);
}
int invvpid(u64 type, u64 vpid, u64 gla) { return invvpid_desc(type, vpid, gla); }
NOINLINE int vmcall(void) {
  u64 f;
  __asm__ volatile("vmcall; pushfq; popq %0" : "=r"(f) : : "cc", "memory");
  return outcome_from(f);
}
NOINLINE void vmfunc(u32 leaf, u32 index) { __asm__ volatile("vmfunc" : : "a"(leaf), "c"(index) : "memory"); }
static NOINLINE int raw_vmlaunch(void) {
  u64 f;
  __asm__ volatile("vmlaunch; pushfq; popq %0" : "=r"(f) : : "cc", "memory");
  return outcome_from(f);
}
static NOINLINE int raw_vmresume(void) {
  u64 f;
  __asm__ volatile("vmresume; pushfq; popq %0" : "=r"(f) : : "cc", "memory");
  return outcome_from(f);
}

u64 vmcs_read(u32 field) {
  u64 v = 0;
  vmread(field, &v);
  return v;
}
void vmcs_write(u32 field, u64 value) { vmwrite(field, value); }

const char *vmx_outcome_name(int outcome) {
  static char buf[4][24];
  static int next;
  if (outcome == VMX_OK) return "VMsucceed";
  if (outcome == VMX_FAIL_INVALID) return "VMfailInvalid";
  char *b = buf[next++ & 3];
  if (outcome < 0) snprintf(b, sizeof buf[0], "outcome %d", outcome);
  else snprintf(b, sizeof buf[0], "VMfailValid(%d)", outcome == 0x100 ? 0 : outcome);
  return b;
}

int check_vmx(const char *check, int got, int want) {
  if (got == want) {
    pass(check);
    return 1;
  }
  fail(check, "got %s, want %s", vmx_outcome_name(got), vmx_outcome_name(want));
  return 0;
}

/* ---- the fault-catching wrapper ------------------------------------------------------------ */

static volatile int try_insn, try_outcome;
static volatile u64 try_a, try_b, try_store;
static NOINLINE void try_fn(void) {
  u64 a = try_a, b = try_b;
  int r = -2;
  switch (try_insn) {
  case I_VMXON: r = vmxon(a); break;
  case I_VMXOFF: r = vmxoff(); break;
  case I_VMCLEAR: r = vmclear(a); break;
  case I_VMPTRLD: r = vmptrld(a); break;
  case I_VMPTRST: {
    u64 v = 0;
    r = vmptrst(&v);
    try_store = v;
    break;
  }
  case I_VMREAD: {
    u64 v = 0;
    r = vmread((u32)a, &v);
    try_store = v;
    break;
  }
  case I_VMWRITE: r = vmwrite((u32)a, b); break;
  case I_INVEPT: r = invept(a, b); break;
  case I_INVVPID: r = invvpid(a, b, 0); break;
  case I_VMCALL: r = vmcall(); break;
  case I_VMLAUNCH: r = raw_vmlaunch(); break;
  case I_VMRESUME: r = raw_vmresume(); break;
  }
  try_outcome = r;
}

int vmx_try(enum vmx_insn insn, u64 a, u64 b, int *outcome) {
  try_insn = (int)insn;
  try_a = a;
  try_b = b;
  try_outcome = -2;
  int got = trap_catch(try_fn);
  if (outcome) *outcome = try_outcome;
  return got;
}

int vmx_try_user(enum vmx_insn insn, u64 a, u64 b) {
  try_insn = (int)insn;
  try_a = a;
  try_b = b;
  try_outcome = -2;
  return run_user(try_fn, 0);
}

/* ---- VMXON -------------------------------------------------------------------------------- */

void vmx_init_region(void *region) {
  memset(region, 0, 4096);
  *(u32 *)region = vmx_caps.revision;
}

int vmx_on(void) {
  /* §23.7: VMXON needs CR4.VMXE and IA32_FEATURE_CONTROL locked with VMX outside SMX. */
  u64 fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
  if (!(fc & FC_LOCK)) wrmsr(MSR_IA32_FEATURE_CONTROL, fc | FC_LOCK | FC_VMX_OUTSIDE_SMX);
  /* §23.8: CR0 and CR4 as IA32_VMX_CR0/CR4_FIXED0/1 require. */
  write_cr0((read_cr0() | vmx_caps.cr0_fixed0) & (vmx_caps.cr0_fixed1 | 0xffffffff00000000ull));
  write_cr4((read_cr4() | vmx_caps.cr4_fixed0 | CR4_VMXE) & (vmx_caps.cr4_fixed1 | 0xffffffff00000000ull));
  vmx_init_region(vmxon_region);
  int outcome;
  int got = vmx_try(I_VMXON, pa(vmxon_region), 0, &outcome);
  return got == NO_TRAP ? outcome : -2;
}

void vmx_off(void) {
  vmxoff();
  write_cr4(read_cr4() & ~(ulong)CR4_VMXE);
}

/* ---- entering and leaving the guest --------------------------------------------------------- */

vmx_guest_fn vmx_guest_fn_ptr;
u64 vmx_exit_rflags;
struct PACKED dtr {
  u16 limit;
  u64 base;
};
struct dtr vmx_exit_gdtr, vmx_exit_idtr;
static struct dtr host_gdtr, host_idtr;
static int vmx_launched;

u64 vmx_launch_asm(int resume);
extern char vmx_exit_landing[], vmx_guest_trampoline[];

/*
 * vmx_launch_asm(resume): saves the callee-saved registers, writes HOST_RSP, loads the guest
 * registers and executes VMLAUNCH or VMRESUME. If the instruction fails it returns RFLAGS
 * (never 0); a VM exit arrives at vmx_exit_landing (HOST_RIP) with the stack as it was, which
 * saves the guest registers and returns 0.
 */
__asm__(".text\n"
        ".global vmx_launch_asm\n"
        "vmx_launch_asm:\n"
        "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov $0x6c14, %eax\n"
        "  vmwrite %rsp, %rax\n"
        "  test %edi, %edi\n"
        "  lea vmx_guest_regs(%rip), %rax\n"
        "  mov 8(%rax), %rcx\n  mov 16(%rax), %rdx\n  mov 24(%rax), %rbx\n  mov 40(%rax), %rbp\n"
        "  mov 48(%rax), %rsi\n  mov 56(%rax), %rdi\n  mov 64(%rax), %r8\n  mov 72(%rax), %r9\n"
        "  mov 80(%rax), %r10\n  mov 88(%rax), %r11\n  mov 96(%rax), %r12\n  mov 104(%rax), %r13\n"
        "  mov 112(%rax), %r14\n  mov 120(%rax), %r15\n  mov 0(%rax), %rax\n"
        "  jnz 1f\n"
        "  vmlaunch\n"
        "  jmp 2f\n"
        "1: vmresume\n"
        "2: pushfq\n"
        "  pop %rax\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n"
        "  ret\n"
        ".global vmx_exit_landing\n"
        "vmx_exit_landing:\n"
        "  push %rax\n"
        "  lea vmx_guest_regs(%rip), %rax\n"
        "  mov %rcx, 8(%rax)\n  mov %rdx, 16(%rax)\n  mov %rbx, 24(%rax)\n  mov %rbp, 40(%rax)\n"
        "  mov %rsi, 48(%rax)\n  mov %rdi, 56(%rax)\n  mov %r8, 64(%rax)\n  mov %r9, 72(%rax)\n"
        "  mov %r10, 80(%rax)\n  mov %r11, 88(%rax)\n  mov %r12, 96(%rax)\n  mov %r13, 104(%rax)\n"
        "  mov %r14, 112(%rax)\n  mov %r15, 120(%rax)\n"
        "  popq 0(%rax)\n"
        "  pushfq\n  popq vmx_exit_rflags(%rip)\n"
        "  sgdt vmx_exit_gdtr(%rip)\n  sidt vmx_exit_idtr(%rip)\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n"
        "  xor %eax, %eax\n"
        "  ret\n"
        ".global vmx_guest_trampoline\n"
        "vmx_guest_trampoline:\n"
        "  call *vmx_guest_fn_ptr(%rip)\n"
        "  mov $0x600d, %eax\n"
        "  vmcall\n"
        "  ud2\n");

struct vmx_exit vmx_enter(void) { return vmx_enter_with(vmx_launched); }

struct vmx_exit vmx_enter_with(int resume) {
  struct vmx_exit e;
  memset(&e, 0, sizeof e);
  u64 r = vmx_launch_asm(resume);
  if (r) {
    e.outcome = outcome_from(r);
    if (e.outcome == VMX_OK) e.outcome = -3; /* fell through without VMfail */
    return e;
  }
  e.host_rflags = vmx_exit_rflags;
  e.host_gdtr_limit = vmx_exit_gdtr.limit;
  e.host_idtr_limit = vmx_exit_idtr.limit;
  /* §27.5.2: VM exits set the GDTR and IDTR limits to FFFFH; put the library's back. */
  __asm__ volatile("lgdt %0; lidt %1" : : "m"(host_gdtr), "m"(host_idtr) : "memory");
  e.reason = (u32)vmcs_read(VM_EXIT_REASON);
  e.qual = vmcs_read(EXIT_QUALIFICATION);
  e.intr_info = (u32)vmcs_read(VM_EXIT_INTR_INFO);
  e.intr_error = (u32)vmcs_read(VM_EXIT_INTR_ERROR_CODE);
  e.idt_info = (u32)vmcs_read(IDT_VECTORING_INFO_FIELD);
  e.idt_error = (u32)vmcs_read(IDT_VECTORING_ERROR_CODE);
  e.insn_len = (u32)vmcs_read(VM_EXIT_INSTRUCTION_LEN);
  e.insn_info = (u32)vmcs_read(VMX_INSTRUCTION_INFO);
  e.guest_rip = vmcs_read(GUEST_RIP);
  e.gla = vmcs_read(GUEST_LINEAR_ADDRESS);
  e.gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
  /* §26.8 / §27.1: a VM-entry failure (bit 31) leaves the launch state as it was. */
  if (!(e.reason & EXIT_REASON_FAILED_ENTRY)) vmx_launched = 1;
  return e;
}

void vmx_relaunch(void) {
  u64 p = 0;
  vmptrst(&p);
  vmclear(p);
  vmptrld(p);
  vmx_launched = 0;
}

void vmx_skip_insn(void) { vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) + vmcs_read(VM_EXIT_INSTRUCTION_LEN)); }

struct vmx_exit vmx_run(vmx_exit_handler handler, int max) {
  struct vmx_exit e;
  for (;;) {
    e = vmx_enter();
    if (e.outcome != VMX_OK || (e.reason & EXIT_REASON_FAILED_ENTRY) || vmx_guest_done(&e)) return e;
    if (--max <= 0 || !handler || !handler(&e, &vmx_guest_regs)) return e;
  }
}

void vmx_describe(const struct vmx_exit *e, char *buf, size_t size) {
  if (e->outcome != VMX_OK) snprintf(buf, size, "%s", vmx_outcome_name(e->outcome));
  else if (e->reason == EXIT_REASON_VMCALL && vmx_guest_regs.rax == VMX_GUEST_DONE) snprintf(buf, size, "the guest ran to its end (exit 18)");
  else
    snprintf(buf, size, "exit %u%s (qual 0x%lx, intr 0x%x, rip 0x%lx)", e->reason & 0xffff, (e->reason & EXIT_REASON_FAILED_ENTRY) ? " | 1<<31" : "",
             (ulong)e->qual, e->intr_info, (ulong)e->guest_rip);
}

int check_exit(const char *check, const struct vmx_exit *e, u32 reason) {
  if (e->outcome == VMX_OK && e->reason == reason) {
    pass(check);
    return 1;
  }
  char b[96];
  vmx_describe(e, b, sizeof b);
  fail(check, "got %s, want exit %u%s", b, reason & 0xffff, (reason & EXIT_REASON_FAILED_ENTRY) ? " | 1<<31" : "");
  return 0;
}

int check_exit_qual(const char *check, const struct vmx_exit *e, u32 reason, u64 qual) {
  if (e->outcome == VMX_OK && e->reason == reason && e->qual == qual) {
    pass(check);
    return 1;
  }
  char b[96];
  vmx_describe(e, b, sizeof b);
  fail(check, "got %s, want exit %u%s with qualification 0x%lx", b, reason & 0xffff, (reason & EXIT_REASON_FAILED_ENTRY) ? " | 1<<31" : "",
       (ulong)qual);
  return 0;
}

int check_entry_fail(const char *check, const struct vmx_exit *e, int outcome) {
  if (e->outcome == outcome) {
    pass(check);
    return 1;
  }
  char b[96];
  vmx_describe(e, b, sizeof b);
  fail(check, "got %s, want %s", b, vmx_outcome_name(outcome));
  return 0;
}

int check_guest_done(const char *check, const struct vmx_exit *e) {
  if (vmx_guest_done(e)) {
    pass(check);
    return 1;
  }
  char b[96];
  vmx_describe(e, b, sizeof b);
  fail(check, "got %s, want the guest to run to its end (exit 18)", b);
  return 0;
}

/* ---- the VMCS -------------------------------------------------------------------------------- */

void vmx_set_controls(u32 field, u32 want) {
  u64 cap = 0;
  switch (field) {
  case PIN_BASED_VM_EXEC_CONTROL: cap = vmx_caps.pin; break;
  case CPU_BASED_VM_EXEC_CONTROL: cap = vmx_caps.proc; break;
  case SECONDARY_VM_EXEC_CONTROL: cap = vmx_caps.proc2; break;
  case VM_EXIT_CONTROLS: cap = vmx_caps.exit; break;
  case VM_ENTRY_CONTROLS: cap = vmx_caps.entry; break;
  }
  vmcs_write(field, ctl_adjust(cap, want));
}

static u16 read_fs(void) {
  u16 v;
  __asm__ volatile("mov %%fs, %0" : "=r"(v));
  return v;
}
static u16 read_gs(void) {
  u16 v;
  __asm__ volatile("mov %%gs, %0" : "=r"(v));
  return v;
}

void vmx_set_guest(vmx_guest_fn fn) {
  vmx_guest_fn_ptr = fn;
  vmcs_write(GUEST_RIP, (u64)(ulong)vmx_guest_trampoline);
  vmcs_write(GUEST_RSP, ((u64)(ulong)vmx_guest_stack + sizeof vmx_guest_stack) & ~15ull);
  vmcs_write(GUEST_RFLAGS, FL_FIXED);
  vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
  vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
  vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
}

void vmcs_init_guest64(vmx_guest_fn fn) {
  u64 vmcs = pa(vmcs_pages[0]);
  vmx_init_region(vmcs_pages[0]);
  vmclear(vmcs);
  vmptrld(vmcs);
  vmx_launched = 0;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(host_gdtr), "=m"(host_idtr));

  /* Controls (§24.6-§24.8), adjusted by the capability MSRs (Appendix A.3-A.5). */
  vmx_default_pin = ctl_adjust(vmx_caps.pin, 0);
  vmx_default_proc = ctl_adjust(vmx_caps.proc, 0);
  vmx_default_exit = ctl_adjust(vmx_caps.exit, EXIT_HOST_ADDR_SPACE);
  vmx_default_entry = ctl_adjust(vmx_caps.entry, ENTRY_IA32E);
  vmcs_write(PIN_BASED_VM_EXEC_CONTROL, vmx_default_pin);
  vmcs_write(CPU_BASED_VM_EXEC_CONTROL, vmx_default_proc);
  if (HAS_PROC(CPU_SECONDARY)) vmcs_write(SECONDARY_VM_EXEC_CONTROL, ctl_adjust(vmx_caps.proc2, 0));
  vmcs_write(VM_EXIT_CONTROLS, vmx_default_exit);
  vmcs_write(VM_ENTRY_CONTROLS, vmx_default_entry);
  vmcs_write(EXCEPTION_BITMAP, 0);
  vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
  vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
  vmcs_write(CR3_TARGET_COUNT, 0);
  vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
  vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
  vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
  vmcs_write(CR0_GUEST_HOST_MASK, 0);
  vmcs_write(CR4_GUEST_HOST_MASK, 0);
  vmcs_write(CR0_READ_SHADOW, read_cr0());
  vmcs_write(CR4_READ_SHADOW, read_cr4());
  vmcs_write(TSC_OFFSET, 0);

  /* Host state (§24.5): the current context, returning into vmx_launch_asm. */
  vmcs_write(HOST_CR0, read_cr0());
  vmcs_write(HOST_CR3, read_cr3());
  vmcs_write(HOST_CR4, read_cr4());
  vmcs_write(HOST_ES_SELECTOR, KDATA);
  vmcs_write(HOST_CS_SELECTOR, KCODE);
  vmcs_write(HOST_SS_SELECTOR, KDATA);
  vmcs_write(HOST_DS_SELECTOR, KDATA);
  vmcs_write(HOST_FS_SELECTOR, read_fs() & ~7u);
  vmcs_write(HOST_GS_SELECTOR, read_gs() & ~7u);
  vmcs_write(HOST_TR_SELECTOR, TSS_SEL);
  vmcs_write(HOST_FS_BASE, rdmsr(MSR_FS_BASE));
  vmcs_write(HOST_GS_BASE, rdmsr(MSR_GS_BASE));
  vmcs_write(HOST_TR_BASE, (u64)(ulong)&main_tss);
  vmcs_write(HOST_GDTR_BASE, host_gdtr.base);
  vmcs_write(HOST_IDTR_BASE, host_idtr.base);
  vmcs_write(HOST_IA32_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS));
  vmcs_write(HOST_IA32_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP));
  vmcs_write(HOST_IA32_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP));
  vmcs_write(HOST_IA32_EFER, rdmsr(MSR_EFER));
  u64 pat = 0x0007040600070406ull;
  vmx_rdmsr_safe(MSR_IA32_PAT, &pat);
  if (!pat) pat = 0x0007040600070406ull;
  vmcs_write(HOST_IA32_PAT, pat);
  vmcs_write(HOST_RIP, (u64)(ulong)vmx_exit_landing);

  /* Guest state (§24.4): a copy of the host context. */
  vmcs_write(GUEST_CR0, read_cr0());
  vmcs_write(GUEST_CR3, read_cr3());
  vmcs_write(GUEST_CR4, read_cr4());
  vmcs_write(GUEST_DR7, 0x400);
  static const u32 sel[] = {GUEST_ES_SELECTOR, GUEST_CS_SELECTOR, GUEST_SS_SELECTOR, GUEST_DS_SELECTOR, GUEST_FS_SELECTOR, GUEST_GS_SELECTOR};
  for (int i = 0; i < 6; i++) {
    u32 off = sel[i] - GUEST_ES_SELECTOR; /* 2 per register */
    int cs = sel[i] == GUEST_CS_SELECTOR;
    vmcs_write(sel[i], cs ? KCODE : KDATA);
    vmcs_write(GUEST_ES_LIMIT + off, 0xffffffffu);
    vmcs_write(GUEST_ES_AR_BYTES + off, cs ? AR_CODE64 : AR_DATA);
    vmcs_write(GUEST_ES_BASE + off, 0);
  }
  vmcs_write(GUEST_FS_SELECTOR, read_fs());
  vmcs_write(GUEST_GS_SELECTOR, read_gs());
  vmcs_write(GUEST_FS_BASE, rdmsr(MSR_FS_BASE));
  vmcs_write(GUEST_GS_BASE, rdmsr(MSR_GS_BASE));
  vmcs_write(GUEST_LDTR_SELECTOR, 0);
  vmcs_write(GUEST_LDTR_AR_BYTES, AR_UNUSABLE);
  vmcs_write(GUEST_LDTR_BASE, 0);
  vmcs_write(GUEST_LDTR_LIMIT, 0);
  vmcs_write(GUEST_TR_SELECTOR, TSS_SEL);
  vmcs_write(GUEST_TR_BASE, (u64)(ulong)&main_tss);
  vmcs_write(GUEST_TR_LIMIT, sizeof main_tss - 1);
  vmcs_write(GUEST_TR_AR_BYTES, AR_TSS64_BUSY);
  vmcs_write(GUEST_GDTR_BASE, host_gdtr.base);
  vmcs_write(GUEST_GDTR_LIMIT, host_gdtr.limit);
  vmcs_write(GUEST_IDTR_BASE, host_idtr.base);
  vmcs_write(GUEST_IDTR_LIMIT, host_idtr.limit);
  vmcs_write(GUEST_IA32_DEBUGCTL, 0);
  vmcs_write(GUEST_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS));
  vmcs_write(GUEST_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP));
  vmcs_write(GUEST_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP));
  vmcs_write(GUEST_IA32_EFER, rdmsr(MSR_EFER));
  vmcs_write(GUEST_IA32_PAT, pat);
  vmcs_write(VMCS_LINK_POINTER, ~0ull);
  vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0);
  memset(&vmx_guest_regs, 0, sizeof vmx_guest_regs);
  vmx_set_guest(fn);
}

/* ---- EPT (§28.3.2, Figures 28-1 to 28-7) ------------------------------------------------------ */

struct ept_tables {
  u64 pml4[512] ALIGNED(4096);
  u64 pdpt[512] ALIGNED(4096);
  u64 pd[4][512] ALIGNED(4096);
};
static struct ept_tables ept_main ALIGNED(4096), ept_alt ALIGNED(4096);
#define EPT_POOL 64
static u64 ept_pool[EPT_POOL][512] ALIGNED(4096);
static int ept_pool_used;
u64 ept_eptp;
#define EPT_MT_WB 6ull
#define EPT_ADDR_MASK 0x000ffffffffff000ull

static u64 *ept_alloc(void) {
  if (ept_pool_used >= EPT_POOL) panic("EPT table pool exhausted");
  u64 *t = ept_pool[ept_pool_used++];
  memset(t, 0, 4096);
  return t;
}

/* The PT for the 2 MiB region of gpa in `t`, splitting a 2 MiB leaf into 512 4 KiB leaves. */
static u64 *ept_pt(struct ept_tables *t, u64 gpa) {
  u64 *pde = &t->pd[(gpa >> 30) & 3][(gpa >> 21) & 511];
  if (*pde & EPT_LARGE) {
    u64 *pt = ept_alloc();
    u64 base = *pde & 0x000fffffffe00000ull, flags = *pde & ~(EPT_LARGE | 0x000fffffffe00000ull);
    for (u64 i = 0; i < 512; i++) pt[i] = (base + (i << 12)) | flags;
    *pde = pa(pt) | EPT_RWX;
  } else if (!(*pde & EPT_RWX)) {
    u64 *pt = ept_alloc();
    u64 base = gpa & ~0x1fffffull;
    for (u64 i = 0; i < 512; i++) pt[i] = (base + (i << 12)) | EPT_RWX | (EPT_MT_WB << EPT_MT_SHIFT);
    *pde = pa(pt) | EPT_RWX;
  }
  return (u64 *)(ulong)(*pde & EPT_ADDR_MASK);
}

static u64 ept_build(struct ept_tables *t) {
  memset(t, 0, sizeof *t);
  t->pml4[0] = pa(t->pdpt) | EPT_RWX;
  for (int i = 0; i < 4; i++) t->pdpt[i] = pa(t->pd[i]) | EPT_RWX;
  int large = (vmx_caps.ept_vpid & EPT_CAP_2M) != 0;
  for (u64 g = 0; g < 4; g++)
    for (u64 i = 0; i < 512; i++) {
      u64 gpa = (g << 30) | (i << 21);
      if (large) t->pd[g][i] = gpa | EPT_RWX | (EPT_MT_WB << EPT_MT_SHIFT) | EPT_LARGE;
      /* Without 2 MiB pages: the first 64 MiB and the APIC/I/O APIC region in 4 KiB pages. */
      else if (gpa < (64ull << 20) || gpa == 0xfec00000ull || gpa == 0xfee00000ull) ept_pt(t, gpa);
    }
  u64 mt = (vmx_caps.ept_vpid & EPT_CAP_WB) ? 6 : 0;
  return pa(t->pml4) | mt | (3ull << 3);
}

u64 ept_identity(void) {
  ept_pool_used = 0;
  ept_eptp = ept_build(&ept_main);
  return ept_eptp;
}
u64 ept_identity_alt(void) { return ept_build(&ept_alt); }
u64 *ept_pte(u64 gpa) { return &ept_pt(&ept_main, gpa)[(gpa >> 12) & 511]; }
u64 *ept_pte_alt(u64 gpa) { return &ept_pt(&ept_alt, gpa)[(gpa >> 12) & 511]; }
void ept_set_perms(u64 gpa, u64 perms) {
  u64 *e = ept_pte(gpa);
  *e = (*e & ~EPT_RWX) | (perms & EPT_RWX);
}
void ept_misconfigure(u64 gpa) {
  u64 *e = ept_pte(gpa);
  *e = (*e & ~EPT_RWX) | EPT_W; /* §28.3.3.1: bit 0 clear and bit 1 set */
}

void vmx_enable_ept(void) {
  if (!ept_eptp) ept_identity();
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_EPT);
  vmcs_write(EPT_POINTER, ept_eptp);
}
