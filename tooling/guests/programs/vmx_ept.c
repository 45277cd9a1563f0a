/* @guest bits=64 cpu=max,+vmx timeout=60 -- EPT: identity map, violations and their qualification, misconfigurations, INVEPT, A/D flags, VPID/INVVPID, unrestricted real-mode guest, VMFUNC EPTP switching, APIC-access page */
/*
 * VMX support for address translation (SDM Vol. 3C chapter 28): EPT translation (§28.3.2),
 * EPT violations (§28.3.3.2) with the exit qualification of Table 27-7 and the guest-physical
 * and guest-linear address fields, EPT misconfigurations (§28.3.3.1), accessed and dirty flags
 * (§28.3.5), INVEPT and INVVPID (§28.4.3, chapter 30), VPIDs (§28.1); unrestricted guests
 * (§26.3.1.1, §25.4) running real-mode code; EPTP switching (§25.5.6.3, exit reason 59 for
 * a VMFUNC that fails); APIC-access VM exits (§29.4.4 "APIC Accesses That Cause VM Exits",
 * qualification in Table 27-6). Features IA32_VMX_EPT_VPID_CAP or the control MSRs do not
 * advertise are skipped.
 */
#include "vmx.h"

const char test_name[] = "vmx_ept";

static u8 ept_page[4096] ALIGNED(4096);
static u8 alt_page[4096] ALIGNED(4096);
static u8 apic_page[4096] ALIGNED(4096);
static u8 eptp_list[4096] ALIGNED(4096);
static volatile u64 g_val, g_val2, g_val3;
static int adv_info;

DECLARE_SITE(s_read);
static NOINLINE void g_read(void) {
  u64 v;
  __asm__ volatile(SITE(s_read) "movq (%1), %0" : "=r"(v) : "r"(ept_page) : "memory");
  g_val = v;
}
DECLARE_SITE(s_write);
static NOINLINE void g_write(void) { __asm__ volatile(SITE(s_write) "movq %0, (%1)" : : "r"(0x5a5aull), "r"(ept_page + 8) : "memory"); }
static NOINLINE void g_fetch(void) { ((void (*)(void))(ulong)ept_page)(); }

static void flush_ept(void) {
  if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE) invept(1, vmcs_read(EPT_POINTER));
  else if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_ALL) invept(2, 0);
}

/* The qualification without bits 11:9, which only the advanced information of EPT_VPID_CAP[22] defines. */
static u64 qual_bits(u64 q) { return adv_info ? q & ~0xe00ull : q; }

static struct vmx_exit ept_start(vmx_guest_fn fn) {
  vmcs_init_guest64(fn);
  vmx_enable_ept();
  vmcs_write(EPT_POINTER, ept_eptp);
  flush_ept();
  return vmx_enter();
}

static void violation(const char *name, vmx_guest_fn fn, u64 perms, u64 want_qual, u64 want_rip) {
  char c[160];
  ept_set_perms(pa(ept_page), perms);
  struct vmx_exit e = ept_start(fn);
  snprintf(c, sizeof c, "%s: EPT violation (exit 48)", name);
  check_exit(c, &e, EXIT_REASON_EPT_VIOLATION);
  snprintf(c, sizeof c, "%s: qualification 0x%lx", name, (ulong)want_qual);
  check_eq(c, qual_bits(e.qual), want_qual);
  snprintf(c, sizeof c, "%s: guest-physical address", name);
  check_eq(c, e.gpa & ~7ull, pa(ept_page) + (fn == g_write ? 8 : 0));
  snprintf(c, sizeof c, "%s: guest-linear address", name);
  check_eq(c, e.gla & ~7ull, pa(ept_page) + (fn == g_write ? 8 : 0));
  snprintf(c, sizeof c, "%s: guest RIP is the accessing instruction", name);
  check_eq(c, e.guest_rip, want_rip);
  ept_set_perms(pa(ept_page), EPT_RWX);
  flush_ept();
  e = vmx_enter();
  snprintf(c, sizeof c, "%s: with the permission restored and INVEPT the instruction completes", name);
  check_guest_done(c, &e);
}

static void test_violations(void) {
  ept_page[0] = 0xc3; /* RET, for the fetch */
  struct vmx_exit e = ept_start(g_read);
  check_guest_done("EPT identity map (0-4 GiB): the guest runs", &e);
  u64 *pte = ept_pte(pa(ept_page));
  info("EPTP 0x%lx, test page leaf 0x%lx", (ulong)ept_eptp, (ulong)*pte);
  /* Table 27-7: bits 0-2 the access, 3-5 the permissions, 7 GLA valid, 8 translation of a linear address. */
  violation("read of a not-present page", g_read, 0, 0x181, (ulong)s_read);
  violation("write to a read-only page", g_write, EPT_R, 0x18a, (ulong)s_write);
  violation("fetch from a read/write page", g_fetch, EPT_R | EPT_W, 0x19c, (ulong)ept_page);
  violation("write to a read/execute page", g_write, EPT_R | EPT_X, 0x1aa, (ulong)s_write);
  if (vmx_caps.ept_vpid & EPT_CAP_EXEC_ONLY) violation("read of an execute-only page", g_read, EPT_X, 0x1a1, (ulong)s_read);
  else skip("read of an execute-only page: EPT violation (exit 48)", "execute-only translations not advertised (EPT_VPID_CAP[0])");
  /* A guest paging-structure access (bit 8 = 0): the PML4 page without permissions. */
  u64 pml4 = read_cr3() & ~0xfffull;
  ept_set_perms(pml4, 0);
  e = ept_start(g_read);
  check_exit("a guest page walk through a not-present EPT page: EPT violation", &e, EXIT_REASON_EPT_VIOLATION);
  check_eq("page-walk violation: qualification read, GLA valid, bit 8 = 0 (paging-structure access)", e.qual & 0x187, 0x81);
  check_eq("page-walk violation: the guest-physical address is in the PML4 page", e.gpa >> 12, pml4 >> 12);
  ept_set_perms(pml4, EPT_RWX);
  flush_ept();
}

static void test_misconfig(void) {
  ept_misconfigure(pa(ept_page));
  struct vmx_exit e = ept_start(g_read);
  check_exit("EPT entry with write but not read permission: EPT misconfiguration (exit 49)", &e, EXIT_REASON_EPT_MISCONFIG);
  check_eq("EPT misconfiguration: the guest-physical address", e.gpa, pa(ept_page));
  u64 *pte = ept_pte(pa(ept_page));
  *pte = (*pte & ~(7ull << EPT_MT_SHIFT)) | EPT_RWX | (2ull << EPT_MT_SHIFT);
  e = ept_start(g_read);
  check_exit("EPT leaf with memory type 2 (reserved): EPT misconfiguration", &e, EXIT_REASON_EPT_MISCONFIG);
  *pte = (*pte & ~(7ull << EPT_MT_SHIFT)) | (6ull << EPT_MT_SHIFT) | (1ull << (vmx_caps.phys_bits < 52 ? vmx_caps.phys_bits : 51));
  e = ept_start(g_read);
  check_exit("EPT leaf with an address bit beyond the physical-address width: EPT misconfiguration", &e, EXIT_REASON_EPT_MISCONFIG);
  *pte = pa(ept_page) | EPT_RWX | (6ull << EPT_MT_SHIFT);
  flush_ept();
  e = ept_start(g_read);
  check_guest_done("EPT entry repaired: the guest runs", &e);
}

static void test_invept_ad(void) {
  u64 cap = vmx_caps.ept_vpid;
  /* INVEPT makes a permission change visible (the translation may be cached before it). */
  ept_set_perms(pa(ept_page), EPT_RWX);
  struct vmx_exit e = ept_start(g_read);
  ept_set_perms(pa(ept_page), EPT_R);
  vmx_set_guest(g_write);
  if (cap & EPT_CAP_INVEPT_SINGLE) check_vmx("INVEPT single-context of the current EPTP: VMsucceed", invept(1, ept_eptp), VMX_OK);
  else if (cap & EPT_CAP_INVEPT_ALL) check_vmx("INVEPT all-context: VMsucceed", invept(2, 0), VMX_OK);
  e = vmx_enter();
  check_exit("after INVEPT a write to the now read-only page is an EPT violation", &e, EXIT_REASON_EPT_VIOLATION);
  ept_set_perms(pa(ept_page), EPT_RWX);
  flush_ept();
  /* Accessed and dirty flags (§28.3.5). */
  if (!(cap & EPT_CAP_AD)) {
    skip("EPT accessed flag set by a guest read", "EPT A/D flags not advertised (EPT_VPID_CAP[21])");
    return;
  }
  u64 *pte = ept_pte(pa(ept_page));
  u64 pml4 = read_cr3() & ~0xfffull;
  u64 *pml4_pte = ept_pte(pml4);
  *pte &= ~(EPT_ACCESSED | EPT_DIRTY);
  *pml4_pte &= ~(EPT_ACCESSED | EPT_DIRTY);
  vmcs_init_guest64(g_read);
  vmx_enable_ept();
  vmcs_write(EPT_POINTER, ept_eptp | EPTP_AD);
  invept(2, 0);
  e = vmx_enter();
  check_guest_done("EPTP with A/D enabled: the guest runs", &e);
  check_eq("a guest read sets the accessed flag (bit 8) of the EPT leaf", *pte & EPT_ACCESSED, EPT_ACCESSED);
  check_eq("a guest read leaves the dirty flag (bit 9) clear", *pte & EPT_DIRTY, 0);
  check_eq("guest paging-structure accesses count as writes: the PML4 page's leaf is dirty", *pml4_pte & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED | EPT_DIRTY);
  vmx_set_guest(g_write);
  e = vmx_enter();
  check_eq("a guest write sets the dirty flag of the EPT leaf", *pte & EPT_DIRTY, EPT_DIRTY);
}

/* ---- VPID (§28.1) --------------------------------------------------------------------------- */

static void test_vpid(void) {
  if (!HAS_PROC2(CPU2_VPID)) {
    skip("enable VPID: the guest runs with VPID 1", "VPID not supported");
    return;
  }
  vmcs_init_guest64(g_read);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_VPID);
  vmcs_write(VIRTUAL_PROCESSOR_ID, 1);
  struct vmx_exit e = vmx_enter();
  check_guest_done("enable VPID: the guest runs with VPID 1", &e);
  u64 cap = vmx_caps.ept_vpid;
  if (!(cap & VPID_CAP_INVVPID)) return;
  if (cap & VPID_CAP_INDIV) check_vmx("INVVPID individual-address for VPID 1: VMsucceed", invvpid(0, 1, (u64)(ulong)ept_page), VMX_OK);
  if (cap & VPID_CAP_SINGLE) check_vmx("INVVPID single-context for VPID 1: VMsucceed", invvpid(1, 1, 0), VMX_OK);
  if (cap & VPID_CAP_ALL) check_vmx("INVVPID all-context: VMsucceed", invvpid(2, 0, 0), VMX_OK);
  if (cap & VPID_CAP_SINGLE_GLOBALS) check_vmx("INVVPID single-context retaining globals: VMsucceed", invvpid(3, 1, 0), VMX_OK);
  vmx_set_guest(g_read);
  e = vmx_enter();
  check_guest_done("after INVVPID the guest runs again", &e);
  /* With EPT and VPID together, a changed EPT permission after INVEPT still applies. */
  if (HAS_PROC2(CPU2_EPT)) {
    vmcs_init_guest64(g_write);
    vmx_enable_ept();
    vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_VPID);
    vmcs_write(VIRTUAL_PROCESSOR_ID, 2);
    ept_set_perms(pa(ept_page), EPT_R);
    flush_ept();
    e = vmx_enter();
    check_exit("EPT and VPID: a write to a read-only EPT page is an EPT violation", &e, EXIT_REASON_EPT_VIOLATION);
    ept_set_perms(pa(ept_page), EPT_RWX);
    flush_ept();
  }
}

/* ---- unrestricted guest in real mode ---------------------------------------------------------- */

DECLARE_SITE(rm_blob);
DECLARE_SITE(rm_blob_end);
__asm__(".text\n.code16\n" SITE(rm_blob) "mov $0x1234, %ax\n out %ax, $0x80\n cpuid\n hlt\n" SITE(rm_blob_end) ".code64\n");
#define RM_BASE 0x7000ul

static void test_unrestricted(void) {
  const char *c = "unrestricted guest: real-mode code enters (CR0.PE = PG = 0)";
  if (!HAS_PROC2(CPU2_UNRESTRICTED) || !HAS_PROC2(CPU2_EPT) || !HAS_PROC(CPU_IO)) {
    skip(c, "unrestricted guest, EPT or unconditional I/O exiting not supported");
    return;
  }
  memcpy((void *)RM_BASE, rm_blob, (size_t)(rm_blob_end - rm_blob));
  vmcs_init_guest64(0);
  vmx_enable_ept();
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_UNRESTRICTED);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_IO);
  vmcs_clear_bits(VM_ENTRY_CONTROLS, ENTRY_IA32E);
  if (HAS_ENTRY(ENTRY_LOAD_EFER)) {
    vmcs_set_bits(VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER);
    vmcs_write(GUEST_IA32_EFER, 0);
  }
  vmcs_write(GUEST_CR0, (vmx_caps.cr0_fixed0 & ~(u64)(CR0_PE | CR0_PG)) | CR0_NE | BIT(4));
  vmcs_write(GUEST_CR4, vmx_caps.cr4_fixed0);
  vmcs_write(GUEST_CR3, 0);
  for (u32 i = 0; i < 6; i++) {
    u32 f = 2 * i;
    int cs = GUEST_ES_SELECTOR + f == GUEST_CS_SELECTOR;
    vmcs_write(GUEST_ES_SELECTOR + f, cs ? RM_BASE >> 4 : 0);
    vmcs_write(GUEST_ES_BASE + f, cs ? RM_BASE : 0);
    vmcs_write(GUEST_ES_LIMIT + f, 0xffff);
    vmcs_write(GUEST_ES_AR_BYTES + f, cs ? 0x9b : 0x93);
  }
  vmcs_write(GUEST_TR_SELECTOR, 0);
  vmcs_write(GUEST_TR_BASE, 0);
  vmcs_write(GUEST_TR_LIMIT, 0xffff);
  vmcs_write(GUEST_TR_AR_BYTES, 0x8b);
  vmcs_write(GUEST_GDTR_BASE, 0);
  vmcs_write(GUEST_GDTR_LIMIT, 0xffff);
  vmcs_write(GUEST_IDTR_BASE, 0);
  vmcs_write(GUEST_IDTR_LIMIT, 0x3ff);
  vmcs_write(GUEST_RIP, 0);
  vmcs_write(GUEST_RSP, 0x6ff0);
  vmcs_write(GUEST_RFLAGS, FL_FIXED);
  struct vmx_exit e = vmx_enter();
  check_exit(c, &e, EXIT_REASON_IO_INSTRUCTION);
  check_eq("real-mode OUT imm8 0x80 of AX: qualification 2 bytes, OUT, immediate, port 0x80", e.qual, 0x00800041);
  check_eq("real-mode guest: RIP is the 16-bit offset of the OUT (3)", e.guest_rip, 3);
  check_eq("real-mode guest: AX = 0x1234 set by real-mode MOV", vmx_guest_regs.rax & 0xffff, 0x1234);
  check_eq("real-mode guest: OUT instruction length 2", e.insn_len, 2);
  vmx_skip_insn();
  e = vmx_enter();
  check_exit("real-mode guest resumes: CPUID exits (reason 10)", &e, EXIT_REASON_CPUID);
  check_eq("real-mode guest: CPUID at offset 5", e.guest_rip, 5);
  check_eq("real-mode guest: CS base 0x7000 saved", vmcs_read(GUEST_CS_BASE), RM_BASE);
  check_eq("real-mode guest: CR0.PE = 0 saved", vmcs_read(GUEST_CR0) & CR0_PE, 0);
}

/* ---- VMFUNC EPTP switching (§25.5.6.3) ------------------------------------------------------ */

static NOINLINE void g_switch(void) {
  g_val = *(volatile u64 *)ept_page;
  vmfunc(0, 1);
  g_val2 = *(volatile u64 *)ept_page;
  vmfunc(0, 0);
  g_val3 = *(volatile u64 *)ept_page;
}
DECLARE_SITE(s_vmfunc_bad);
static NOINLINE void g_vmfunc_bad(void) { __asm__ volatile(SITE(s_vmfunc_bad) "vmfunc" : : "a"(0), "c"(512) : "memory"); }
static NOINLINE void g_vmfunc_leaf1(void) { vmfunc(1, 0); }

static void test_vmfunc(void) {
  const char *c = "VMFUNC EPTP switching: EPTP list entry 1 maps the page elsewhere";
  if (!HAS_PROC2(CPU2_VMFUNC) || !HAS_PROC2(CPU2_EPT) || !(vmx_caps.vmfunc & 1)) {
    skip(c, "EPTP switching not advertised (IA32_VMX_VMFUNC[0])");
    return;
  }
  *(u64 *)ept_page = 0xaaaa;
  *(u64 *)alt_page = 0xbbbb;
  u64 alt = ept_identity_alt();
  u64 *apte = ept_pte_alt(pa(ept_page));
  *apte = pa(alt_page) | EPT_RWX | (6ull << EPT_MT_SHIFT);
  memset(eptp_list, 0, sizeof eptp_list);
  ((u64 *)eptp_list)[0] = ept_eptp;
  ((u64 *)eptp_list)[1] = alt;
  vmcs_init_guest64(g_switch);
  vmx_enable_ept();
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_VMFUNC);
  vmcs_write(VM_FUNCTION_CONTROL, 1);
  vmcs_write(EPTP_LIST_ADDR, pa(eptp_list));
  invept(2, 0);
  struct vmx_exit e = vmx_enter();
  check_guest_done("VMFUNC EPTP switching: no VM exit", &e);
  check_true(c, g_val == 0xaaaa && g_val2 == 0xbbbb && g_val3 == 0xaaaa, "the guest read the same page after switching");
  check_eq("VMFUNC EPTP switching: the EPT pointer field follows the switch back (entry 0)", vmcs_read(EPT_POINTER), ept_eptp);
  vmx_set_guest(g_vmfunc_bad);
  e = vmx_enter();
  check_exit("VMFUNC EPTP switching with ECX = 512: exit 59", &e, EXIT_REASON_VMFUNC);
  check_eq("VMFUNC exit: guest RIP is VMFUNC", e.guest_rip, (u64)(ulong)s_vmfunc_bad);
  vmx_set_guest(g_vmfunc_leaf1);
  e = vmx_enter();
  check_exit("VMFUNC leaf 1 (not enabled in the VM-function controls): exit 59", &e, EXIT_REASON_VMFUNC);
}

/* ---- APIC-access page (§29.4) ------------------------------------------------------------------ */

DECLARE_SITE(s_apic_read);
static NOINLINE void g_apic_read(void) {
  u32 v;
  __asm__ volatile(SITE(s_apic_read) "movl 0x80(%1), %0" : "=r"(v) : "r"(apic_page) : "memory");
}
static NOINLINE void g_apic_write(void) { *(volatile u32 *)(apic_page + 0x300) = 0; }

static void test_apic_access(void) {
  const char *c = "virtualize APIC accesses: a read of the APIC-access page exits (reason 44)";
  if (!HAS_PROC2(CPU2_VIRT_APIC_ACCESS)) {
    skip(c, "virtualize APIC accesses not supported");
    return;
  }
  vmcs_init_guest64(g_apic_read);
  if (HAS_PROC2(CPU2_EPT)) vmx_enable_ept();
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_TPR_SHADOW);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_VIRT_APIC_ACCESS);
  vmcs_write(APIC_ACCESS_ADDR, pa(apic_page));
  struct vmx_exit e = vmx_enter();
  check_exit(c, &e, EXIT_REASON_APIC_ACCESS);
  check_eq("APIC-access exit for a read: qualification offset 0x80, access type 0 (linear read)", e.qual, 0x080);
  check_eq("APIC-access exit: guest RIP is the access", e.guest_rip, (u64)(ulong)s_apic_read);
  vmx_set_guest(g_apic_write);
  e = vmx_enter();
  check_exit("virtualize APIC accesses: a write exits (reason 44)", &e, EXIT_REASON_APIC_ACCESS);
  check_eq("APIC-access exit for a write: qualification offset 0x300, access type 1 (linear write)", e.qual, 0x1300);
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("EPT and VPID", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  int out = vmx_on();
  if (out != VMX_OK) panic("VMXON: %s", vmx_outcome_name(out));
  adv_info = (vmx_caps.ept_vpid & EPT_CAP_ADV_INFO) != 0;
  if (HAS_PROC2(CPU2_EPT)) {
    ept_identity();
    test_violations();
    test_misconfig();
    test_invept_ad();
  } else {
    skip("EPT identity map (0-4 GiB): the guest runs", "EPT not supported");
  }
  test_vpid();
  test_unrestricted();
  test_vmfunc();
  test_apic_access();
  vmx_off();
}
