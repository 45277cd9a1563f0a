/* @guest bits=64 cpu=max,+vmx timeout=30 -- VMX capabilities and instructions: VMXON/VMXOFF rules, VMCLEAR/VMPTRLD/VMPTRST, VMREAD/VMWRITE widths, launch state, INVEPT/INVVPID, VMCALL */
/*
 * The VMX capability MSRs (SDM Vol. 3C Appendix A), IA32_FEATURE_CONTROL (§23.7 "Enabling and
 * Entering VMX Operation"), the CR0/CR4 restrictions of VMX operation (§23.8), and every VMX
 * instruction's #UD/#GP conditions and VMfailInvalid/VMfailValid outcomes with the
 * VM-instruction error numbers of §30.4 (Table 30-1), following the pseudocode of chapter 30.
 */
#include "vmx.h"

const char test_name[] = "vmx_insn";

#define FLAGS_ARITH (FL_CF | BIT(2) | BIT(4) | BIT(6) | BIT(7) | FL_OF) /* CF PF AF ZF SF OF */

static u8 region_a[4096] ALIGNED(4096);
static u8 region_b[4096] ALIGNED(4096);
static u8 region_bad[4096] ALIGNED(4096);

static int check_ud(const char *check, int got) { return check_trap(check, got, UD_VECTOR, ANY_VALUE, ANY_VALUE); }
static int check_gp0(const char *check, int got) { return check_trap(check, got, GP_VECTOR, 0, ANY_VALUE); }

/* One instruction under trap_catch: no exception and the outcome `want`. */
static int check_try(const char *check, enum vmx_insn insn, u64 a, u64 b, int want) {
  int outcome;
  int got = vmx_try(insn, a, b, &outcome);
  if (got != NO_TRAP) return check_trap(check, got, NO_TRAP, 0, 0);
  return check_vmx(check, outcome, want);
}

/* ---- capabilities (Appendix A) ------------------------------------------------------------ */

static void test_caps(void) {
  struct vmx_caps *c = &vmx_caps;
  info("IA32_VMX_BASIC 0x%lx: revision 0x%x, VMCS size %u", (ulong)c->basic, c->revision, BASIC_VMCS_SIZE(c->basic));
  info("PINBASED 0x%lx PROCBASED 0x%lx PROCBASED2 0x%lx EXIT 0x%lx ENTRY 0x%lx", (ulong)c->pin, (ulong)c->proc, (ulong)c->proc2, (ulong)c->exit,
       (ulong)c->entry);
  info("MISC 0x%lx CR0_FIXED 0x%lx/0x%lx CR4_FIXED 0x%lx/0x%lx VMCS_ENUM 0x%lx EPT_VPID_CAP 0x%lx", (ulong)c->misc, (ulong)c->cr0_fixed0,
       (ulong)c->cr0_fixed1, (ulong)c->cr4_fixed0, (ulong)c->cr4_fixed1, (ulong)c->vmcs_enum, (ulong)c->ept_vpid);
  /* A.1: bit 31 of IA32_VMX_BASIC is always 0; bits 44:32 the VMCS size (at most 4 KiB). */
  check_eq("IA32_VMX_BASIC: bit 31 is 0", (c->basic >> 31) & 1, 0);
  u32 size = BASIC_VMCS_SIZE(c->basic);
  check_true("IA32_VMX_BASIC: VMCS region size between 1 and 4096 bytes", size > 0 && size <= 4096, "size out of range");
  check_eq("IA32_VMX_BASIC: reserved bits 47:45 and 63:57 are 0", c->basic & ((7ull << 45) | (0x7full << 57)), 0);
  u32 mt = (u32)(c->basic >> 50) & 0xf;
  check_true("IA32_VMX_BASIC: VMCS memory type is UC (0) or WB (6)", mt == 0 || mt == 6, "another memory type");
  /* A.2: the default1 controls are reported as 1 in the non-TRUE MSRs. */
  check_eq("IA32_VMX_PINBASED_CTLS: default1 bits 1, 2, 4 must be 1", c->pin_legacy & 0x16, 0x16);
  check_eq("IA32_VMX_PROCBASED_CTLS: default1 bits 1, 4-6, 8, 13-16, 26 must be 1", c->proc_legacy & 0x0401e172u, 0x0401e172u);
  check_eq("IA32_VMX_EXIT_CTLS: default1 bits 0-8, 10, 11, 13, 14, 16, 17 must be 1", c->exit_legacy & 0x00036dffu, 0x00036dffu);
  check_eq("IA32_VMX_ENTRY_CTLS: default1 bits 0-8, 12 must be 1", c->entry_legacy & 0x11ffu, 0x11ffu);
  /* A.3-A.5: a control that must be 1 may be 1; the TRUE MSRs have the same allowed-1 settings. */
  const u64 msrs[] = {c->pin, c->proc, c->exit, c->entry, c->proc2};
  const char *const names[] = {"pin-based", "primary processor-based", "VM-exit", "VM-entry", "secondary processor-based"};
  for (int i = 0; i < 5; i++) {
    char n[120];
    snprintf(n, sizeof n, "%s controls: every allowed-0 setting of 1 is also allowed to be 1", names[i]);
    check_eq(n, (u32)msrs[i] & ~(u32)(msrs[i] >> 32), 0);
  }
  if (c->basic & BASIC_TRUE_CTLS) {
    check_eq("IA32_VMX_TRUE_PINBASED_CTLS: allowed-1 settings = IA32_VMX_PINBASED_CTLS's", c->pin >> 32, c->pin_legacy >> 32);
    check_eq("IA32_VMX_TRUE_PROCBASED_CTLS: allowed-1 settings = IA32_VMX_PROCBASED_CTLS's", c->proc >> 32, c->proc_legacy >> 32);
    check_eq("IA32_VMX_TRUE_EXIT_CTLS: allowed-1 settings = IA32_VMX_EXIT_CTLS's", c->exit >> 32, c->exit_legacy >> 32);
    check_eq("IA32_VMX_TRUE_ENTRY_CTLS: allowed-1 settings = IA32_VMX_ENTRY_CTLS's", c->entry >> 32, c->entry_legacy >> 32);
    check_eq("TRUE_ control MSRs: allowed-0 settings are a subset of the non-TRUE ones",
             ((u32)c->pin & ~(u32)c->pin_legacy) | ((u32)c->proc & ~(u32)c->proc_legacy) | ((u32)c->exit & ~(u32)c->exit_legacy) |
                 ((u32)c->entry & ~(u32)c->entry_legacy),
             0);
  } else {
    u64 v;
    check_trap("IA32_VMX_BASIC[55] = 0: RDMSR of IA32_VMX_TRUE_PINBASED_CTLS raises #GP", vmx_rdmsr_safe(MSR_IA32_VMX_TRUE_PINBASED_CTLS, &v), GP_VECTOR,
               0, ANY_VALUE);
  }
  if (!ctl_allowed1(c->proc_legacy, CPU_SECONDARY)) {
    u64 v;
    check_trap("no secondary controls: RDMSR of IA32_VMX_PROCBASED_CTLS2 raises #GP", vmx_rdmsr_safe(MSR_IA32_VMX_PROCBASED_CTLS2, &v), GP_VECTOR, 0,
               ANY_VALUE);
  }
  /* A.7/A.8: PE, NE, PG are fixed to 1 in VMX operation; CR4.VMXE too; fixed-1 bits may be 1. */
  check_eq("IA32_VMX_CR0_FIXED0: PE, NE and PG are fixed to 1", c->cr0_fixed0 & (CR0_PE | CR0_NE | CR0_PG), CR0_PE | CR0_NE | CR0_PG);
  check_eq("IA32_VMX_CR0_FIXED0 bits are allowed by IA32_VMX_CR0_FIXED1", c->cr0_fixed0 & ~c->cr0_fixed1, 0);
  check_eq("IA32_VMX_CR4_FIXED0: VMXE is fixed to 1", c->cr4_fixed0 & CR4_VMXE, CR4_VMXE);
  check_eq("IA32_VMX_CR4_FIXED0 bits are allowed by IA32_VMX_CR4_FIXED1", c->cr4_fixed0 & ~c->cr4_fixed1, 0);
  /* A.9: bits 9:1 of IA32_VMX_VMCS_ENUM give the highest index; bits 0 and 63:10 are 0. */
  check_eq("IA32_VMX_VMCS_ENUM: bit 0 and bits 63:10 are 0", c->vmcs_enum & ~0x3feull, 0);
  check_true("IA32_VMX_VMCS_ENUM: highest index at least 0x0B (HOST_RIP is index 11)", ((c->vmcs_enum >> 1) & 0x1ff) >= 0xb, "too small");
  /* A.6: activity states and the MSR-list limit are reported in IA32_VMX_MISC. */
  info("MISC: preemption-timer rate %u, CR3 targets %u, MSR-list maximum %u", MISC_TIMER_RATE(c->misc), MISC_CR3_TARGETS(c->misc),
       MISC_MSR_LIST_MAX(c->misc));
  check_true("IA32_VMX_MISC: CR3-target count at most 256 (bits 24:16)", MISC_CR3_TARGETS(c->misc) <= 256, "more than 256");
  if (c->ept_vpid) info("EPT_VPID_CAP 0x%lx", (ulong)c->ept_vpid);
}

/* ---- IA32_FEATURE_CONTROL and CR4.VMXE (§23.7, §23.8, VMXON pseudocode) ------------------- */

static int feature_control(void) {
  u64 fc;
  if (vmx_rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &fc) != NO_TRAP) {
    fail("RDMSR IA32_FEATURE_CONTROL", "raised an exception");
    return 0;
  }
  info("IA32_FEATURE_CONTROL at start: 0x%lx", (ulong)fc);
  write_cr4(read_cr4() | CR4_VMXE);
  vmx_init_region(vmxon_region);
  int out;
  if (!(fc & FC_LOCK)) {
    wrmsr(MSR_IA32_FEATURE_CONTROL, 0);
    int got = vmx_try(I_VMXON, pa(vmxon_region), 0, &out);
    check_gp0("VMXON with IA32_FEATURE_CONTROL.lock = 0 raises #GP(0)", got);
    if (got == NO_TRAP && out == VMX_OK) vmxoff();
    wrmsr(MSR_IA32_FEATURE_CONTROL, FC_VMX_OUTSIDE_SMX);
    got = vmx_try(I_VMXON, pa(vmxon_region), 0, &out);
    check_gp0("VMXON with lock = 0 and VMX-outside-SMX = 1 raises #GP(0)", got);
    if (got == NO_TRAP && out == VMX_OK) vmxoff();
    skip("VMXON with lock = 1 and VMX-outside-SMX = 0 raises #GP(0)", "locking IA32_FEATURE_CONTROL without VMX would disable VMX until reset");
    check_trap("WRMSR IA32_FEATURE_CONTROL = lock | VMX outside SMX succeeds", vmx_wrmsr_safe(MSR_IA32_FEATURE_CONTROL, FC_LOCK | FC_VMX_OUTSIDE_SMX),
               NO_TRAP, 0, 0);
  } else {
    skip("VMXON with IA32_FEATURE_CONTROL.lock = 0 raises #GP(0)", "IA32_FEATURE_CONTROL was locked at power-on");
    if (!(fc & FC_VMX_OUTSIDE_SMX)) {
      int got = vmx_try(I_VMXON, pa(vmxon_region), 0, &out);
      check_gp0("VMXON with lock = 1 and VMX-outside-SMX = 0 raises #GP(0)", got);
      return 0;
    }
  }
  fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
  check_eq("IA32_FEATURE_CONTROL reads lock | VMX outside SMX", fc & (FC_LOCK | FC_VMX_OUTSIDE_SMX), FC_LOCK | FC_VMX_OUTSIDE_SMX);
  check_gp0("WRMSR to a locked IA32_FEATURE_CONTROL raises #GP(0) (same value)", vmx_wrmsr_safe(MSR_IA32_FEATURE_CONTROL, fc));
  check_gp0("WRMSR to a locked IA32_FEATURE_CONTROL raises #GP(0) (lock cleared)", vmx_wrmsr_safe(MSR_IA32_FEATURE_CONTROL, 0));
  check_eq("a locked IA32_FEATURE_CONTROL keeps its value", rdmsr(MSR_IA32_FEATURE_CONTROL), fc);
  return 1;
}

/* Compatibility mode at CPL 3: VMXOFF (0F 01 C4); a 32-bit RET comes back. */
__asm__(".text\n.code32\n.global compat_vmxoff\ncompat_vmxoff:\n .byte 0x0f, 0x01, 0xc4\n ret\n.code64\n");
extern char compat_vmxoff[];

static volatile ulong new_cr;
static NOINLINE void set_cr4_fn(void) { write_cr4(new_cr); }
static NOINLINE void set_cr0_fn(void) { write_cr0(new_cr); }
static NOINLINE void vmfunc_fn(void) { vmfunc(0, 0); }

static void test_outside(void) {
  int out;
  /* Outside VMX operation with CR4.VMXE = 0: VMXON is #UD. */
  write_cr4(read_cr4() & ~(ulong)CR4_VMXE);
  check_ud("VMXON with CR4.VMXE = 0 raises #UD", vmx_try(I_VMXON, pa(vmxon_region), 0, &out));
  write_cr4(read_cr4() | CR4_VMXE);
  check_eq("CR4.VMXE can be set (CPUID.01H:ECX.VMX = 1)", read_cr4() & CR4_VMXE, CR4_VMXE);
  /* The other instructions are #UD outside VMX operation (chapter 30: "not in VMX operation"). */
  static const struct {
    enum vmx_insn insn;
    const char *check;
  } ud[] = {
      {I_VMXOFF, "VMXOFF outside VMX operation raises #UD"},
      {I_VMCLEAR, "VMCLEAR outside VMX operation raises #UD"},
      {I_VMPTRLD, "VMPTRLD outside VMX operation raises #UD"},
      {I_VMPTRST, "VMPTRST outside VMX operation raises #UD"},
      {I_VMREAD, "VMREAD outside VMX operation raises #UD"},
      {I_VMWRITE, "VMWRITE outside VMX operation raises #UD"},
      {I_VMLAUNCH, "VMLAUNCH outside VMX operation raises #UD"},
      {I_VMRESUME, "VMRESUME outside VMX operation raises #UD"},
      {I_VMCALL, "VMCALL outside VMX operation raises #UD"},
      {I_INVEPT, "INVEPT outside VMX operation raises #UD"},
      {I_INVVPID, "INVVPID outside VMX operation raises #UD"},
  };
  for (u32 i = 0; i < ARRAY_SIZE(ud); i++) check_ud(ud[i].check, vmx_try(ud[i].insn, pa(region_a), 2, &out));
  check_ud("VMFUNC outside VMX non-root operation raises #UD", trap_catch(vmfunc_fn));
  /* #GP(0) at CPL > 0 (checked after #UD). */
  check_gp0("VMXON at CPL 3 raises #GP(0)", vmx_try_user(I_VMXON, pa(vmxon_region), 0));
  /* §23.8: CR0 must satisfy IA32_VMX_CR0_FIXED0 (NE fixed to 1) for VMXON. */
  if (vmx_caps.cr0_fixed0 & CR0_NE) {
    write_cr0(read_cr0() & ~(ulong)CR0_NE);
    int got = vmx_try(I_VMXON, pa(vmxon_region), 0, &out);
    write_cr0(read_cr0() | CR0_NE);
    check_gp0("VMXON with CR0.NE = 0 (fixed to 1 by IA32_VMX_CR0_FIXED0) raises #GP(0)", got);
    if (got == NO_TRAP && out == VMX_OK) vmxoff();
  } else {
    skip("VMXON with CR0.NE = 0 (fixed to 1 by IA32_VMX_CR0_FIXED0) raises #GP(0)", "CR0.NE is not fixed to 1");
  }
  /* VMfailInvalid for a bad VMXON pointer (no current VMCS: VMfailInvalid, §30.2). */
  vmx_init_region(vmxon_region);
  check_try("VMXON with a pointer that is not 4 KiB aligned: VMfailInvalid", I_VMXON, pa(vmxon_region) + 0x800, 0, VMX_FAIL_INVALID);
  check_try("VMXON with a pointer beyond the physical-address width: VMfailInvalid", I_VMXON, pa(vmxon_region) | (1ull << vmx_caps.phys_bits), 0, VMX_FAIL_INVALID);
  *(u32 *)vmxon_region = vmx_caps.revision + 1;
  check_try("VMXON with a wrong revision identifier: VMfailInvalid", I_VMXON, pa(vmxon_region), 0, VMX_FAIL_INVALID);
  check_eq("VMfailInvalid: CF = 1, PF = AF = ZF = SF = OF = 0", vmx_last_flags & FLAGS_ARITH, FL_CF);
  *(u32 *)vmxon_region = vmx_caps.revision | BIT(31);
  check_try("VMXON with bit 31 set in the revision identifier: VMfailInvalid", I_VMXON, pa(vmxon_region), 0, VMX_FAIL_INVALID);
}

static void test_root(void) {
  int out;
  vmx_init_region(vmxon_region);
  int got = vmx_try(I_VMXON, pa(vmxon_region), 0, &out);
  if (got != NO_TRAP) check_trap("VMXON: VMsucceed", got, NO_TRAP, 0, 0);
  else check_vmx("VMXON: VMsucceed", out, VMX_OK);
  if (got != NO_TRAP || out != VMX_OK) panic("cannot enter VMX operation");
  check_eq("VMsucceed: CF = PF = AF = ZF = SF = OF = 0", vmx_last_flags & FLAGS_ARITH, 0);
  u64 ptr = 0;
  check_vmx("VMPTRST after VMXON: VMsucceed", vmptrst(&ptr), VMX_OK);
  check_eq("VMPTRST after VMXON stores FFFFFFFF_FFFFFFFFH (no current VMCS)", ptr, ~0ull);
  /* In VMX root operation. */
  check_try("VMXON in VMX root operation without a current VMCS: VMfailInvalid", I_VMXON, pa(vmxon_region), 0, VMX_FAIL_INVALID);
  check_gp0("VMXON in VMX root operation at CPL 3 raises #GP(0)", vmx_try_user(I_VMXON, pa(vmxon_region), 0));
  check_gp0("VMXOFF at CPL 3 raises #GP(0)", vmx_try_user(I_VMXOFF, 0, 0));
  check_gp0("VMPTRST at CPL 3 raises #GP(0)", vmx_try_user(I_VMPTRST, 0, 0));
  check_gp0("VMREAD at CPL 3 raises #GP(0)", vmx_try_user(I_VMREAD, GUEST_RIP, 0));
  check_gp0("VMCALL at CPL 3 in VMX root operation raises #GP(0)", vmx_try_user(I_VMCALL, 0, 0));
  check_trap("VMXOFF in compatibility mode at CPL 3 raises #UD (before the CPL check)", run_user32((ulong)compat_vmxoff, 0), UD_VECTOR, ANY_VALUE,
             (ulong)compat_vmxoff);
  check_vmx("VMCALL in VMX root operation without a current VMCS: VMfailInvalid", vmcall(), VMX_FAIL_INVALID);
  check_vmx("VMREAD without a current VMCS: VMfailInvalid", vmread(GUEST_RIP, 0), VMX_FAIL_INVALID);
  check_vmx("VMWRITE without a current VMCS: VMfailInvalid", vmwrite(GUEST_RIP, 0), VMX_FAIL_INVALID);
  check_vmx("VMCLEAR of the VMXON pointer without a current VMCS: VMfailInvalid", vmclear(pa(vmxon_region)), VMX_FAIL_INVALID);
  /* §23.8: CR4.VMXE cannot be cleared and fixed CR0 bits cannot change in VMX operation. */
  new_cr = read_cr4() & ~(ulong)CR4_VMXE;
  check_gp0("MOV to CR4 clearing VMXE in VMX operation raises #GP(0)", trap_catch(set_cr4_fn));
  check_eq("CR4.VMXE is still 1", read_cr4() & CR4_VMXE, CR4_VMXE);
  write_cr4(read_cr4() | CR4_VMXE); /* go on if the rule was not enforced */
  if (vmx_caps.cr0_fixed0 & CR0_NE) {
    new_cr = read_cr0() & ~(ulong)CR0_NE;
    check_gp0("MOV to CR0 clearing NE (fixed to 1) in VMX operation raises #GP(0)", trap_catch(set_cr0_fn));
    check_eq("CR0.NE is still 1", read_cr0() & CR0_NE, CR0_NE);
    write_cr0(read_cr0() | CR0_NE);
  }

  /* VMCLEAR and VMPTRLD (chapter 30 pseudocode); with a current VMCS, VMfail is VMfailValid. */
  vmx_init_region(region_a);
  vmx_init_region(region_b);
  check_vmx("VMCLEAR of a VMCS region: VMsucceed", vmclear(pa(region_a)), VMX_OK);
  check_vmx("VMPTRLD of a cleared VMCS region: VMsucceed", vmptrld(pa(region_a)), VMX_OK);
  vmptrst(&ptr);
  check_eq("VMPTRST stores the current-VMCS pointer", ptr, pa(region_a));
  check_vmx("VMXON in VMX root operation with a current VMCS: VMfailValid(15)", vmxon(pa(vmxon_region)), VMXERR_VMXON_IN_ROOT);
  check_eq("VMfailValid: ZF = 1, CF = PF = AF = SF = OF = 0", vmx_last_flags & FLAGS_ARITH, BIT(6));
  check_vmx("VMCALL in VMX root operation: VMfailValid(1)", vmcall(), VMXERR_VMCALL_IN_ROOT);
  check_vmx("VMCLEAR with an address that is not 4 KiB aligned: VMfailValid(2)", vmclear(pa(region_b) + 8), VMXERR_VMCLEAR_INVALID_ADDR);
  check_vmx("VMCLEAR with an address beyond the physical-address width: VMfailValid(2)", vmclear(pa(region_b) | (1ull << vmx_caps.phys_bits)),
            VMXERR_VMCLEAR_INVALID_ADDR);
  check_vmx("VMCLEAR of the VMXON pointer: VMfailValid(3)", vmclear(pa(vmxon_region)), VMXERR_VMCLEAR_VMXON_PTR);
  check_vmx("VMPTRLD with an address that is not 4 KiB aligned: VMfailValid(9)", vmptrld(pa(region_b) + 0x10), VMXERR_VMPTRLD_INVALID_ADDR);
  check_vmx("VMPTRLD with an address beyond the physical-address width: VMfailValid(9)", vmptrld(pa(region_b) | (1ull << vmx_caps.phys_bits)),
            VMXERR_VMPTRLD_INVALID_ADDR);
  check_vmx("VMPTRLD of the VMXON pointer: VMfailValid(10)", vmptrld(pa(vmxon_region)), VMXERR_VMPTRLD_VMXON_PTR);
  memset(region_bad, 0, sizeof region_bad);
  *(u32 *)region_bad = vmx_caps.revision ^ 1;
  check_vmx("VMPTRLD of a region with a wrong revision identifier: VMfailValid(11)", vmptrld(pa(region_bad)), VMXERR_VMPTRLD_BAD_REVISION);
  if (!HAS_PROC2(CPU2_SHADOW_VMCS)) {
    *(u32 *)region_bad = vmx_caps.revision | BIT(31);
    check_vmx("VMPTRLD of a shadow-VMCS region (bit 31) without VMCS shadowing: VMfailValid(11)", vmptrld(pa(region_bad)), VMXERR_VMPTRLD_BAD_REVISION);
  } else {
    skip("VMPTRLD of a shadow-VMCS region (bit 31) without VMCS shadowing: VMfailValid(11)", "VMCS shadowing is supported");
  }
  vmptrst(&ptr);
  check_eq("failed VMPTRLDs leave the current VMCS", ptr, pa(region_a));

  /* VMREAD/VMWRITE (§24.11.2, §30.3): widths, high accesses, unsupported and read-only fields. */
  u64 v = 0;
  check_vmx("VMWRITE of a 16-bit field: VMsucceed", vmwrite(GUEST_ES_SELECTOR, 0xdead1234ull), VMX_OK);
  vmread(GUEST_ES_SELECTOR, &v);
  check_eq("16-bit field: VMWRITE ignores bits beyond 15, VMREAD returns 0x1234", v, 0x1234);
  vmwrite(GUEST_ES_LIMIT, 0xffffffff12345678ull);
  vmread(GUEST_ES_LIMIT, &v);
  check_eq("32-bit field: VMWRITE ignores bits 63:32", v, 0x12345678);
  vmwrite(GUEST_ES_BASE, 0x123456789abcdef0ull);
  vmread(GUEST_ES_BASE, &v);
  check_eq("natural-width field: 64 bits in 64-bit mode", v, 0x123456789abcdef0ull);
  vmwrite(TSC_OFFSET, 0x1122334455667788ull);
  vmread(TSC_OFFSET, &v);
  check_eq("64-bit field: full access", v, 0x1122334455667788ull);
  check_vmx("VMREAD of the high half of a 64-bit field: VMsucceed", vmread(VMCS_HIGH(TSC_OFFSET), &v), VMX_OK);
  check_eq("64-bit field: high access reads bits 63:32", v, 0x11223344);
  check_vmx("VMWRITE of the high half of a 64-bit field: VMsucceed", vmwrite(VMCS_HIGH(TSC_OFFSET), 0xffffffffaabbccddull), VMX_OK);
  vmread(TSC_OFFSET, &v);
  check_eq("64-bit field: high access writes bits 63:32 only", v, 0xaabbccdd55667788ull);
  u64 dest = ~0ull;
  __asm__ volatile("vmread %1, %0" : "+r"(dest) : "r"((u64)GUEST_ES_SELECTOR) : "cc");
  check_eq("VMREAD of a 16-bit field into a 64-bit register clears bits 63:16", dest, 0x1234);
  check_vmx("VMREAD of the high half of a 32-bit field: VMfailValid(12)", vmread(VMCS_HIGH(GUEST_ES_LIMIT), &v), VMXERR_UNSUPPORTED_COMPONENT);
  check_vmx("VMWRITE of the high half of a natural-width field: VMfailValid(12)", vmwrite(VMCS_HIGH(GUEST_RIP), 0), VMXERR_UNSUPPORTED_COMPONENT);
  check_vmx("VMREAD with reserved bit 12 in the encoding: VMfailValid(12)", vmread(GUEST_RIP | BIT(12), &v), VMXERR_UNSUPPORTED_COMPONENT);
  check_vmx("VMWRITE with reserved bit 15 in the encoding: VMfailValid(12)", vmwrite(GUEST_RIP | BIT(15), 0), VMXERR_UNSUPPORTED_COMPONENT);
  {
    u64 f, val = 0;
    __asm__ volatile("vmread %2, %1; pushfq; popq %0" : "=r"(f), "+r"(val) : "r"((u64)GUEST_RIP | (1ull << 32)) : "cc");
    int o = (f & FL_CF) ? VMX_FAIL_INVALID : (f & BIT(6)) ? (int)vmcs_read(VM_INSTRUCTION_ERROR) : VMX_OK;
    check_vmx("VMREAD with bits 63:32 of the encoding register set: VMfailValid(12)", o, VMXERR_UNSUPPORTED_COMPONENT);
  }
  u32 max_index = (u32)(vmx_caps.vmcs_enum >> 1) & 0x1ff;
  if (max_index < 0x1ff) {
    u32 enc = (3u << 13) | (3u << 10) | ((max_index + 1) << 1);
    check_vmx("VMREAD of an index above IA32_VMX_VMCS_ENUM's highest: VMfailValid(12)", vmread(enc, &v), VMXERR_UNSUPPORTED_COMPONENT);
  }
  if (!(vmx_caps.misc & MISC_VMWRITE_ALL)) {
    check_vmx("VMWRITE of the exit reason (read-only): VMfailValid(13)", vmwrite(VM_EXIT_REASON, 1), VMXERR_VMWRITE_READ_ONLY);
    check_vmx("VMWRITE of the exit qualification (read-only): VMfailValid(13)", vmwrite(EXIT_QUALIFICATION, 1), VMXERR_VMWRITE_READ_ONLY);
  } else {
    check_vmx("VMWRITE of the exit qualification with IA32_VMX_MISC[29] = 1: VMsucceed", vmwrite(EXIT_QUALIFICATION, 1), VMX_OK);
    skip("VMWRITE of the exit reason (read-only): VMfailValid(13)", "IA32_VMX_MISC[29] = 1");
  }
  vmread(VM_INSTRUCTION_ERROR, &v);
  check_vmx("VMREAD of the VM-instruction error field: VMsucceed", vmread(VM_INSTRUCTION_ERROR, &v), VMX_OK);

  /* VMCS data lives in the region: VMCLEAR writes it back, VMPTRLD brings it back (§24.11.1). */
  vmwrite(GUEST_RIP, 0x1111);
  vmwrite(GUEST_CR3, 0xa000);
  check_vmx("VMPTRLD of a second VMCS: VMsucceed", vmptrld(pa(region_b)), VMX_OK);
  vmwrite(GUEST_RIP, 0x2222);
  vmptrld(pa(region_a));
  check_eq("switching VMCS by VMPTRLD keeps each one's data", vmcs_read(GUEST_RIP), 0x1111);
  check_vmx("VMCLEAR of the current VMCS: VMsucceed", vmclear(pa(region_a)), VMX_OK);
  vmptrst(&ptr);
  check_eq("VMCLEAR of the current VMCS makes the current-VMCS pointer FFFFFFFF_FFFFFFFFH", ptr, ~0ull);
  check_vmx("VMREAD after VMCLEAR of the current VMCS: VMfailInvalid", vmread(GUEST_RIP, &v), VMX_FAIL_INVALID);
  check_eq("VMCLEAR does not change the revision identifier (never written by the processor)", *(u32 *)region_a, vmx_caps.revision);
  vmclear(pa(region_b));
  vmptrld(pa(region_a));
  check_eq("VMCS data persists across VMCLEAR and VMPTRLD (natural-width)", vmcs_read(GUEST_RIP), 0x1111);
  check_eq("VMCS data persists across VMCLEAR and VMPTRLD (another field)", vmcs_read(GUEST_CR3), 0xa000);
  check_eq("VMCS data persists across VMCLEAR and VMPTRLD (64-bit)", vmcs_read(TSC_OFFSET), 0xaabbccdd55667788ull);
  vmptrld(pa(region_b));
  check_eq("the other VMCS's data persists too", vmcs_read(GUEST_RIP), 0x2222);
}

/* ---- launch state (VMLAUNCH/VMRESUME pseudocode) ------------------------------------------- */

static void guest_nop(void) {}

static void test_launch(void) {
  vmcs_init_guest64(guest_nop);
  struct vmx_exit e = vmx_enter_with(0);
  check_guest_done("VMLAUNCH of a clear VMCS enters the guest", &e);
  e = vmx_enter_with(0);
  check_entry_fail("VMLAUNCH of a launched VMCS: VMfailValid(4)", &e, VMXERR_VMLAUNCH_NONCLEAR);
  vmx_set_guest(guest_nop);
  e = vmx_enter_with(1);
  check_guest_done("VMRESUME of a launched VMCS enters the guest", &e);
  /* MOV SS blocking is checked before the launch state. */
  {
    u64 f;
    __asm__ volatile("mov %%ss, %%ax; mov %%ax, %%ss; vmlaunch; pushfq; popq %0" : "=r"(f) : : "rax", "cc", "memory");
    int o = (f & FL_CF) ? VMX_FAIL_INVALID : (f & BIT(6)) ? (int)vmcs_read(VM_INSTRUCTION_ERROR) : VMX_OK;
    check_vmx("VMLAUNCH right after MOV SS: VMfailValid(26) (events blocked by MOV SS)", o, VMXERR_ENTRY_MOV_SS);
  }
  vmx_relaunch();
  vmx_set_guest(guest_nop);
  e = vmx_enter_with(1);
  check_entry_fail("VMRESUME of a clear VMCS: VMfailValid(5)", &e, VMXERR_VMRESUME_NONLAUNCHED);
  e = vmx_enter_with(0);
  check_guest_done("VMLAUNCH after VMCLEAR enters the guest again", &e);
  u64 cur;
  vmptrst(&cur);
  vmclear(cur);
  check_try("VMLAUNCH without a current VMCS: VMfailInvalid", I_VMLAUNCH, 0, 0, VMX_FAIL_INVALID);
  check_try("VMRESUME without a current VMCS: VMfailInvalid", I_VMRESUME, 0, 0, VMX_FAIL_INVALID);
  check_gp0("VMLAUNCH at CPL 3 raises #GP(0)", vmx_try_user(I_VMLAUNCH, 0, 0));
  vmptrld(cur);
}

/* ---- INVEPT and INVVPID (§30.3; types in IA32_VMX_EPT_VPID_CAP, A.10) ------------------------ */

static void test_inv(void) {
  u64 cap = vmx_caps.ept_vpid;
  int out;
  if (HAS_PROC2(CPU2_EPT) && (cap & EPT_CAP_INVEPT)) {
    u64 eptp = ept_identity();
    check_vmx("INVEPT type 0 (not defined): VMfailValid(28)", invept(0, eptp), VMXERR_INVALID_OPERAND);
    check_vmx("INVEPT type 3 (not defined): VMfailValid(28)", invept(3, eptp), VMXERR_INVALID_OPERAND);
    if (cap & EPT_CAP_INVEPT_ALL) check_vmx("INVEPT all-context (type 2): VMsucceed", invept(2, 0), VMX_OK);
    else check_vmx("INVEPT all-context (type 2) not advertised: VMfailValid(28)", invept(2, 0), VMXERR_INVALID_OPERAND);
    if (cap & EPT_CAP_INVEPT_SINGLE) {
      check_vmx("INVEPT single-context (type 1) with a valid EPTP: VMsucceed", invept(1, eptp), VMX_OK);
      check_vmx("INVEPT single-context with a reserved EPT memory type (2): VMfailValid(28)", invept(1, (eptp & ~7ull) | 2), VMXERR_INVALID_OPERAND);
      check_vmx("INVEPT single-context with page-walk length 1: VMfailValid(28)", invept(1, eptp & ~(7ull << 3)), VMXERR_INVALID_OPERAND);
    } else {
      check_vmx("INVEPT single-context (type 1) not advertised: VMfailValid(28)", invept(1, eptp), VMXERR_INVALID_OPERAND);
    }
    check_gp0("INVEPT at CPL 3 raises #GP(0)", vmx_try_user(I_INVEPT, 2, 0));
  } else {
    check_ud("INVEPT without EPT/INVEPT support raises #UD", vmx_try(I_INVEPT, 2, 0, &out));
  }
  if (HAS_PROC2(CPU2_VPID) && (cap & VPID_CAP_INVVPID)) {
    check_vmx("INVVPID type 4 (not defined): VMfailValid(28)", invvpid(4, 1, 0), VMXERR_INVALID_OPERAND);
    if (cap & VPID_CAP_ALL) check_vmx("INVVPID all-context (type 2): VMsucceed", invvpid(2, 0, 0), VMX_OK);
    if (cap & VPID_CAP_SINGLE) {
      check_vmx("INVVPID single-context with VPID 1: VMsucceed", invvpid(1, 1, 0), VMX_OK);
      check_vmx("INVVPID single-context with VPID 0: VMfailValid(28)", invvpid(1, 0, 0), VMXERR_INVALID_OPERAND);
    }
    if (cap & VPID_CAP_INDIV) {
      check_vmx("INVVPID individual-address: VMsucceed", invvpid(0, 1, 0x100000), VMX_OK);
      check_vmx("INVVPID individual-address with a non-canonical address: VMfailValid(28)", invvpid(0, 1, 0x4000000000000000ull),
                VMXERR_INVALID_OPERAND);
    }
    check_vmx("INVVPID with descriptor bits 63:16 set: VMfailValid(28)", invvpid_desc((cap & VPID_CAP_ALL) ? 2 : 1, 1ull << 16 | 1, 0),
              VMXERR_INVALID_OPERAND);
  } else {
    check_ud("INVVPID without VPID/INVVPID support raises #UD", vmx_try(I_INVVPID, 2, 0, &out));
  }
}

void test_main(void) {
  vmx_read_caps();
  if (!check_true("CPUID.01H:ECX.VMX[5] = 1", vmx_caps.supported, "VMX is not reported")) return;
  test_caps();
  if (!feature_control()) return;
  test_outside();
  test_root();
  test_launch();
  test_inv();
  int out;
  check_try("VMXOFF: VMsucceed", I_VMXOFF, 0, 0, VMX_OK);
  check_ud("VMREAD after VMXOFF raises #UD", vmx_try(I_VMREAD, GUEST_RIP, 0, &out));
  write_cr4(read_cr4() & ~(ulong)CR4_VMXE);
  check_eq("CR4.VMXE can be cleared after VMXOFF", read_cr4() & CR4_VMXE, 0);
  check_eq("after VMXOFF: VMXON again succeeds", (u64)(u32)vmx_on(), VMX_OK);
  vmx_off();
}
