/* @guest bits=64 cpu=max,+svm machine=pc timeout=30 -- SVM capabilities, EFER.SVME, VM_CR, VM_HSAVE_PA, the SVM instructions' #UD/#GP rules, GIF with STGI/CLGI, VMLOAD/VMSAVE, INVLPGA */
/*
 * AMD APM Vol. 2 §15.4 "Enabling SVM", §15.30 "SVM Related MSRs" (VM_CR, VM_HSAVE_PA), §15.17
 * "Global Interrupt Flag, STGI and CLGI Instructions", §15.18 "VMMCALL Instruction", §15.5.2
 * "VMSAVE and VMLOAD Instructions", §15.16.3 "Invalidate Page, Alternate ASID"; Vol. 3 the
 * pages of VMRUN, VMLOAD, VMSAVE, STGI, CLGI, VMMCALL, INVLPGA and SKINIT (their #UD/#GP
 * conditions); CPUID Fn8000_0001_ECX[SVM] and Fn8000_000A (Vol. 3 Appendix E).
 */
#include "svm.h"
#include "apic_hw.h"

const char test_name[] = "svm_insn";

static int check_ud(const char *check, int got) { return check_trap(check, got, UD_VECTOR, ANY_VALUE, ANY_VALUE); }
static int check_gp0(const char *check, int got) { return check_trap(check, got, GP_VECTOR, 0, ANY_VALUE); }
static int check_none(const char *check, int got) { return check_trap(check, got, NO_TRAP, 0, 0); }

static u8 scratch_vmcb[3][4096] ALIGNED(4096);

/* ---- CPUID ------------------------------------------------------------------------------------ */

static void test_cpuid(void) {
  check_eq("CPUID Fn8000_0001_ECX[SVM] (bit 2) is 1", (cpu.e1_ecx >> 2) & 1, 1);
  info("Fn8000_000A: SvmRev %u NASID %u EDX 0x%x", svm_caps.revision, svm_caps.nasid, svm_caps.features);
  check_true("CPUID Fn8000_000A exists (max extended leaf >= 8000_000Ah)", cpu.max_ext_leaf >= 0x8000000au, "max extended leaf too small");
  check_eq("Fn8000_000A_EAX[7:0] SvmRev is 1", svm_caps.revision, 1);
  u32 a, b, c, d;
  cpuid(0x8000000au, 0, &a, &b, &c, &d);
  check_eq("Fn8000_000A_EAX[31:8] reserved, 0", a >> 8, 0);
  check_true("Fn8000_000A_EBX NASID: more than one ASID (ASID 0 is the host's)", svm_caps.nasid >= 2, "NASID < 2");
  static const struct {
    u32 bit;
    const char *name;
  } feats[] = {
      {SVM_FEAT_NP, "NP (nested paging)"},
      {SVM_FEAT_LBRV, "LbrVirt"},
      {SVM_FEAT_NRIPS, "NRIPS"},
      {SVM_FEAT_VMCB_CLEAN, "VmcbClean"},
      {SVM_FEAT_FLUSH_BY_ASID, "FlushByAsid"},
      {SVM_FEAT_DECODE_ASSISTS, "DecodeAssists"},
      {SVM_FEAT_PAUSE_FILTER, "PauseFilter"},
      {SVM_FEAT_PAUSE_FILTER_THRESHOLD, "PauseFilterThreshold"},
      {SVM_FEAT_VGIF, "vGIF"},
      {SVM_FEAT_VNMI, "vNMI"},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(feats); i++) {
    char n[80];
    snprintf(n, sizeof n, "Fn8000_000A_EDX: %s", feats[i].name);
    if (svm_caps.features & feats[i].bit) pass(n);
    else skip(n, "not advertised by this CPU");
  }
}

/* ---- EFER.SVME, VM_CR, VM_HSAVE_PA ------------------------------------------------------------ */

static void test_msrs(void) {
  u64 efer = rdmsr(MSR_EFER);
  check_eq("EFER.SVME is 0 after reset", efer & EFER_SVME, 0);
  check_none("WRMSR EFER with SVME = 1", svm_wrmsr_safe(MSR_EFER, efer | EFER_SVME));
  check_eq("EFER.SVME reads back 1", rdmsr(MSR_EFER) & EFER_SVME, EFER_SVME);
  check_none("WRMSR EFER with SVME = 0", svm_wrmsr_safe(MSR_EFER, efer & ~(u64)EFER_SVME));
  check_eq("EFER.SVME reads back 0", rdmsr(MSR_EFER) & EFER_SVME, 0);

  u64 vmcr = 0;
  check_none("RDMSR VM_CR", svm_rdmsr_safe(MSR_VM_CR, &vmcr));
  info("VM_CR 0x%lx", (ulong)vmcr);
  check_eq("VM_CR.SVMDIS and LOCK are 0 after reset", vmcr & (VM_CR_SVMDIS | VM_CR_LOCK), 0);
  static const char vmcr_why[] = "treats VM_CR as a plain read/write-ignored MSR";
  check_trap_tcg("WRMSR VM_CR with a reserved bit (bit 5) set: #GP(0)", svm_wrmsr_safe(MSR_VM_CR, vmcr | BIT64(5)), GP_VECTOR, 0, ANY_VALUE, NO_TRAP,
                 vmcr_why);
  check_trap_tcg("WRMSR VM_CR with a reserved bit (bit 32) set: #GP(0)", svm_wrmsr_safe(MSR_VM_CR, vmcr | BIT64(32)), GP_VECTOR, 0, ANY_VALUE, NO_TRAP,
                 vmcr_why);
  /* §15.30.1: with SVMDIS set, EFER.SVME is MBZ. */
  check_none("WRMSR VM_CR.SVMDIS = 1 (LOCK = 0)", svm_wrmsr_safe(MSR_VM_CR, vmcr | VM_CR_SVMDIS));
  u64 v = 0;
  svm_rdmsr_safe(MSR_VM_CR, &v);
  check_eq_tcg("VM_CR.SVMDIS reads back 1", v & VM_CR_SVMDIS, VM_CR_SVMDIS, 0, vmcr_why);
  check_trap_tcg("VM_CR.SVMDIS = 1: WRMSR EFER with SVME = 1 raises #GP(0)", svm_wrmsr_safe(MSR_EFER, efer | EFER_SVME), GP_VECTOR, 0, ANY_VALUE, NO_TRAP,
                 vmcr_why);
  check_eq_tcg("VM_CR.SVMDIS = 1: EFER.SVME stays 0", rdmsr(MSR_EFER) & EFER_SVME, 0, EFER_SVME, vmcr_why);
  check_none("WRMSR VM_CR.SVMDIS = 0 (LOCK = 0: writable)", svm_wrmsr_safe(MSR_VM_CR, vmcr & ~VM_CR_SVMDIS));
  check_none("VM_CR.SVMDIS = 0: EFER.SVME can be set again", svm_wrmsr_safe(MSR_EFER, efer | EFER_SVME));
  check_trap_tcg("EFER.SVME = 1: setting VM_CR.SVMDIS raises #GP(0)", svm_wrmsr_safe(MSR_VM_CR, vmcr | VM_CR_SVMDIS), GP_VECTOR, 0, ANY_VALUE, NO_TRAP,
                 vmcr_why);
  svm_rdmsr_safe(MSR_VM_CR, &v);
  check_eq("EFER.SVME = 1: VM_CR.SVMDIS stays 0", v & VM_CR_SVMDIS, 0);

  /* VM_HSAVE_PA: a 4 KiB-aligned physical address below MAXPHYADDR (§15.30.4). */
  check_none("WRMSR VM_HSAVE_PA, 4 KiB aligned", svm_wrmsr_safe(MSR_VM_HSAVE_PA, pa(svm_hsave)));
  svm_rdmsr_safe(MSR_VM_HSAVE_PA, &v);
  check_eq("VM_HSAVE_PA reads back", v, pa(svm_hsave));
  check_gp0("WRMSR VM_HSAVE_PA with bits 11:0 not 0: #GP(0)", svm_wrmsr_safe(MSR_VM_HSAVE_PA, pa(svm_hsave) | 0x800));
  check_gp0("WRMSR VM_HSAVE_PA at MAXPHYADDR: #GP(0)", svm_wrmsr_safe(MSR_VM_HSAVE_PA, 1ull << cpu.phys_bits));
  check_gp0("WRMSR VM_HSAVE_PA with bit 63 set: #GP(0)", svm_wrmsr_safe(MSR_VM_HSAVE_PA, BIT64(63) | pa(svm_hsave)));
  svm_rdmsr_safe(MSR_VM_HSAVE_PA, &v);
  check_eq("VM_HSAVE_PA keeps its value after the failed writes", v, pa(svm_hsave));
}

/* ---- #UD / #GP of the instructions ------------------------------------------------------------ */

static u8 vmsave67_area[4096] ALIGNED(4096);
u64 vmsave67_rax;
extern char vmsave67[];
__asm__(".text\nvmsave67:\n  mov vmsave67_rax(%rip), %rax\n  .byte 0x67\n  vmsave %rax\n  ret\n");
static void vmsave_eax(void) {
  vmsave67_rax = pa(vmsave67_area) | BIT64(40);
  ((void (*)(void))vmsave67)();
}

static void test_faults(void) {
  u64 efer = rdmsr(MSR_EFER);
  u64 good = pa(scratch_vmcb[0]);
  wrmsr(MSR_EFER, efer & ~(u64)EFER_SVME);
  char n[120];
  /* Vol. 3: every SVM instruction is #UD with EFER.SVME = 0 (STGI and SKINIT: unless SKINIT is
   * supported, Fn8000_0001_ECX[SKINIT], bit 12). */
  int skinit_feature = (cpu.e1_ecx >> 12) & 1;
  for (int i = S_VMRUN; i <= S_SKINIT; i++) {
    snprintf(n, sizeof n, "EFER.SVME = 0: %s raises #UD", svm_insn_name(i));
    if ((i == S_STGI || i == S_SKINIT) && skinit_feature) {
      skip(n, "SKINIT is supported (Fn8000_0001_ECX[SKINIT]): STGI/SKINIT are valid without SVME");
      /* SKINIT itself would reinitialise the processor: only STGI is run (GIF is 1, it stays 1). */
      if (i == S_STGI) check_none("EFER.SVME = 0 with Fn8000_0001_ECX[SKINIT] = 1: STGI executes", svm_try(S_STGI, good, 0));
      continue;
    }
    check_ud(n, svm_try(i, good, 0));
  }
  wrmsr(MSR_EFER, efer | EFER_SVME);
  /* #GP(0) at CPL 3 (not VMMCALL: §15.18 no CPL check; not intercepted in the host: #UD). */
  for (int i = S_VMRUN; i <= S_SKINIT; i++) {
    snprintf(n, sizeof n, "CPL 3: %s raises %s", svm_insn_name(i), i == S_VMMCALL ? "#UD" : "#GP(0)");
    int got = svm_try_user(i, good, 0);
    if (i == S_VMMCALL) check_ud(n, got);
    else if (i == S_SKINIT) check_trap_tcg(n, got, GP_VECTOR, 0, ANY_VALUE, UD_VECTOR, "raises #UD for SKINIT before the CPL check (SKINIT is not implemented)");
    else check_gp0(n, got);
  }
  check_ud("VMMCALL in the host (not intercepted) raises #UD", svm_try(S_VMMCALL, 0, 0));
  /* rAX: 4 KiB aligned, below MAXPHYADDR. */
  static const enum svm_insn rax_insns[] = {S_VMRUN, S_VMLOAD, S_VMSAVE};
  for (unsigned i = 0; i < ARRAY_SIZE(rax_insns); i++) {
    const char *in = svm_insn_name(rax_insns[i]);
    snprintf(n, sizeof n, "%s with rAX not 4 KiB aligned (+8): #GP(0)", in);
    check_gp0(n, svm_try(rax_insns[i], good + 8, 0));
    snprintf(n, sizeof n, "%s with rAX not 4 KiB aligned (+0x800): #GP(0)", in);
    check_gp0(n, svm_try(rax_insns[i], good + 0x800, 0));
    snprintf(n, sizeof n, "%s with rAX = 2^MAXPHYADDR: #GP(0)", in);
    check_gp0(n, svm_try(rax_insns[i], 1ull << cpu.phys_bits, 0));
    snprintf(n, sizeof n, "%s with rAX bit 63 set: #GP(0)", in);
    check_gp0(n, svm_try(rax_insns[i], good | BIT64(63), 0));
  }
  check_none("VMSAVE with an aligned rAX below MAXPHYADDR", svm_try(S_VMSAVE, good, 0));
  /* The address size picks AX/EAX/RAX: with a 67h prefix, RAX[63:32] are not part of the address. */
  check_none("VMSAVE with a 67h prefix uses EAX (RAX bit 40 set is ignored)", trap_catch(vmsave_eax));
  check_none("VMLOAD with an aligned rAX below MAXPHYADDR", svm_try(S_VMLOAD, good, 0));
  check_none("CLGI at CPL 0", svm_try(S_CLGI, 0, 0));
  check_none("STGI at CPL 0", svm_try(S_STGI, 0, 0));
  check_none("INVLPGA at CPL 0 (ASID 0)", svm_try(S_INVLPGA, 0x1000, 0));
  check_none("INVLPGA at CPL 0 (ASID 5, a non-canonical address)", svm_try(S_INVLPGA, 0x8000000000000000ull, 5));
}

/* ---- GIF (§15.17) ---------------------------------------------------------------------------- */

static volatile int nmi_count, intr_count;
static int nmi_handler(struct frame *f) {
  nmi_count++;
  return 1;
}
static int intr_handler(struct frame *f) {
  intr_count++;
  apic_eoi();
  return 1;
}
#define GIF_VECTOR 0x40

static void test_gif(void) {
  apic_setup_xapic(1);
  u32 me = cpuid_initial_apic_id();
  set_trap_handler(NMI_VECTOR, nmi_handler);
  set_trap_handler(GIF_VECTOR, intr_handler);

  /* An NMI sent while GIF = 0 is held pending and taken at STGI. */
  nmi_count = 0;
  clgi();
  apic_icr(me, ICR_NMI | ICR_ASSERT);
  for (volatile int i = 0; i < 1000; i++) {
  }
  int held = nmi_count;
  stgi();
  __asm__ volatile("nop; nop" ::: "memory");
  int after = nmi_count;
  check_eq("GIF = 0 (CLGI): a self NMI is held pending", held, 0);
  check_eq("STGI: the held NMI is taken", after, 1);

  /* An external (fixed) interrupt while GIF = 0 and RFLAGS.IF = 1 is held pending. */
  intr_count = 0;
  clgi();
  apic_icr(me, ICR_FIXED | ICR_ASSERT | GIF_VECTOR);
  __asm__ volatile("sti; nop; nop; nop" ::: "memory");
  held = intr_count;
  int irr = apic_vec_bit(APIC_IRR, GIF_VECTOR);
  stgi();
  __asm__ volatile("nop; nop; cli" ::: "memory");
  after = intr_count;
  check_eq("GIF = 0, IF = 1: a self IPI is not taken", held, 0);
  check_eq("GIF = 0: the self IPI waits in the IRR", irr, 1);
  check_eq("STGI (IF = 1): the self IPI is taken", after, 1);

  /* GIF = 1 and IF = 1: taken at once (the control case). */
  intr_count = 0;
  apic_icr(me, ICR_FIXED | ICR_ASSERT | GIF_VECTOR);
  __asm__ volatile("sti; nop; nop; cli" ::: "memory");
  check_eq("GIF = 1, IF = 1: a self IPI is taken", intr_count, 1);
  /* STGI with IF = 0: the interrupt waits for IF. */
  intr_count = 0;
  clgi();
  apic_icr(me, ICR_FIXED | ICR_ASSERT | GIF_VECTOR);
  stgi();
  __asm__ volatile("nop; nop" ::: "memory");
  held = intr_count;
  __asm__ volatile("sti; nop; nop; cli" ::: "memory");
  check_eq("STGI with IF = 0: the interrupt is not taken", held, 0);
  check_eq("then STI: the interrupt is taken", intr_count, 1);
  set_trap_handler(NMI_VECTOR, 0);
  set_trap_handler(GIF_VECTOR, 0);
}

/* ---- VMLOAD / VMSAVE (§15.5.2) ----------------------------------------------------------------- */

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
static u64 ldt_space[4];

static void test_vmload_vmsave(void) {
  struct vmcb *a = (struct vmcb *)scratch_vmcb[0], *b = (struct vmcb *)scratch_vmcb[1], *c = (struct vmcb *)scratch_vmcb[2];
  memset(a, 0xcc, 4096);
  svm_vmsave(pa(a));
  struct vmcb_save *s = &a->save;
  check_eq("VMSAVE: FS selector", s->fs.selector, read_fs());
  check_eq("VMSAVE: FS base = IA32_FS_BASE", s->fs.base, rdmsr(MSR_FS_BASE));
  check_eq("VMSAVE: GS selector", s->gs.selector, read_gs());
  check_eq("VMSAVE: GS base = IA32_GS_BASE", s->gs.base, rdmsr(MSR_GS_BASE));
  check_eq("VMSAVE: TR selector", s->tr.selector, read_tr());
  check_eq("VMSAVE: TR base = the TSS", s->tr.base, pa(&main_tss));
  check_eq("VMSAVE: TR attrib = present 64-bit TSS (type 9 or 11)", s->tr.attrib & 0xfd, 0x89);
  check_eq("VMSAVE: TR limit", s->tr.limit, sizeof main_tss - 1);
  check_eq("VMSAVE: LDTR selector", s->ldtr.selector, read_ldtr());
  check_eq("VMSAVE: KernelGsBase", s->kernel_gs_base, rdmsr(MSR_KERNEL_GS_BASE));
  check_eq("VMSAVE: STAR", s->star, rdmsr(MSR_STAR));
  check_eq("VMSAVE: LSTAR", s->lstar, rdmsr(MSR_LSTAR));
  check_eq("VMSAVE: CSTAR", s->cstar, rdmsr(MSR_CSTAR));
  check_eq("VMSAVE: SFMASK", s->sfmask, rdmsr(MSR_FMASK));
  check_eq("VMSAVE: SYSENTER_CS", s->sysenter_cs, rdmsr(MSR_SYSENTER_CS));
  check_eq("VMSAVE: SYSENTER_ESP", s->sysenter_esp, rdmsr(MSR_SYSENTER_ESP));
  check_eq("VMSAVE: SYSENTER_EIP", s->sysenter_eip, rdmsr(MSR_SYSENTER_EIP));
  check_eq("VMSAVE: leaves the rest of the VMCB alone (RIP field)", s->rip, 0xccccccccccccccccull);
  check_eq("VMSAVE: leaves the control area alone (EXITCODE)", a->control.exitcode, 0xccccccccccccccccull);

  /* VMLOAD of other values, seen through the MSRs and selectors, then VMSAVE'd back. */
  memcpy(b, a, 4096);
  struct vmcb_save *t = &b->save;
  t->fs.base = 0x12345000ull;
  t->gs.base = 0xffff800000067000ull;
  t->kernel_gs_base = 0xffff800000089000ull;
  t->star = 0x0023001000000000ull;
  t->lstar = 0xffff8000000a0000ull;
  t->cstar = 0xffff8000000b0000ull;
  t->sfmask = 0x47700;
  t->sysenter_cs = 0x1234;
  t->sysenter_esp = 0xffff8000000c0000ull;
  t->sysenter_eip = 0xffff8000000d0000ull;
  t->ldtr.selector = (GDT_FREE + 2) << 3;
  t->ldtr.attrib = 0x82; /* present LDT */
  t->ldtr.limit = sizeof ldt_space - 1;
  t->ldtr.base = pa(ldt_space);
  t->tr.limit = 0x1067;
  svm_vmload(pa(b));
  u64 got_fs = rdmsr(MSR_FS_BASE), got_gs = rdmsr(MSR_GS_BASE), got_kgs = rdmsr(MSR_KERNEL_GS_BASE), got_star = rdmsr(MSR_STAR),
      got_lstar = rdmsr(MSR_LSTAR), got_cstar = rdmsr(MSR_CSTAR), got_sfmask = rdmsr(MSR_FMASK), got_secs = rdmsr(MSR_SYSENTER_CS),
      got_seesp = rdmsr(MSR_SYSENTER_ESP), got_seeip = rdmsr(MSR_SYSENTER_EIP);
  u16 got_ldtr = read_ldtr();
  memset(c, 0, 4096);
  svm_vmsave(pa(c));
  svm_vmload(pa(a)); /* back to the program's own state */
  check_eq("VMLOAD: IA32_FS_BASE", got_fs, t->fs.base);
  check_eq("VMLOAD: IA32_GS_BASE", got_gs, t->gs.base);
  check_eq("VMLOAD: KernelGsBase", got_kgs, t->kernel_gs_base);
  check_eq("VMLOAD: STAR", got_star, t->star);
  check_eq("VMLOAD: LSTAR", got_lstar, t->lstar);
  check_eq("VMLOAD: CSTAR", got_cstar, t->cstar);
  check_eq("VMLOAD: SFMASK", got_sfmask, t->sfmask);
  check_eq("VMLOAD: SYSENTER_CS", got_secs, t->sysenter_cs);
  check_eq("VMLOAD: SYSENTER_ESP", got_seesp, t->sysenter_esp);
  check_eq("VMLOAD: SYSENTER_EIP", got_seeip, t->sysenter_eip);
  check_eq("VMLOAD: LDTR selector (SLDT)", got_ldtr, t->ldtr.selector);
  check_eq("VMLOAD then VMSAVE: LDTR hidden base", c->save.ldtr.base, t->ldtr.base);
  check_eq("VMLOAD then VMSAVE: LDTR hidden limit", c->save.ldtr.limit, t->ldtr.limit);
  check_eq("VMLOAD then VMSAVE: LDTR attrib", c->save.ldtr.attrib & 0xff, 0x82);
  check_eq("VMLOAD then VMSAVE: TR hidden limit", c->save.tr.limit, 0x1067);
  check_eq("VMLOAD then VMSAVE: TR base", c->save.tr.base, t->tr.base);
  check_eq("VMLOAD then VMSAVE: FS base", c->save.fs.base, t->fs.base);
  check_eq("VMLOAD then VMSAVE: GS base", c->save.gs.base, t->gs.base);
  check_eq("VMLOAD then VMSAVE: STAR", c->save.star, t->star);
  check_eq("VMLOAD then VMSAVE: SYSENTER_CS", c->save.sysenter_cs, t->sysenter_cs);
  check_eq("VMLOAD of the first VMSAVE restores IA32_FS_BASE", rdmsr(MSR_FS_BASE), s->fs.base);
  check_eq("VMLOAD of the first VMSAVE restores STAR", rdmsr(MSR_STAR), s->star);
  check_eq("VMLOAD of the first VMSAVE restores LDTR", read_ldtr(), s->ldtr.selector);
}

/* ---- INVLPGA (§15.16.3) ---------------------------------------------------------------------- */

static void test_invlpga(void) {
  write_cr3(paging_build(PG_4L));
  volatile u32 *w = (volatile u32 *)WINDOW_BASE;
  *(volatile u32 *)window_frames[0] = 0x1111;
  *(volatile u32 *)window_frames[1] = 0x2222;
  window_set(0, window_phys(0) | PTE_P | PTE_W);
  u32 first = *w;
  /* Change the mapping without INVLPG; INVLPGA with ASID 0 (the host) invalidates it. */
  *paging_entry(1) = window_phys(1) | PTE_P | PTE_W;
  invlpga(WINDOW_BASE, 0);
  u32 second = *w;
  write_cr3(boot_cr3);
  check_eq("INVLPGA: the page read through the first mapping", first, 0x1111);
  check_eq("INVLPGA (ASID 0): the new mapping of the page is used", second, 0x2222);
}

/* ---- VM_CR.LOCK (§15.30.1), last: SVM stays disabled until reset ---------------------------------- */

static void test_lock(void) {
  static const char why[] = "treats VM_CR as a plain read/write-ignored MSR";
  u64 efer = rdmsr(MSR_EFER);
  wrmsr(MSR_EFER, efer & ~(u64)EFER_SVME);
  check_none("WRMSR VM_CR = LOCK | SVMDIS (EFER.SVME = 0)", svm_wrmsr_safe(MSR_VM_CR, VM_CR_LOCK | VM_CR_SVMDIS));
  u64 v = 0;
  svm_rdmsr_safe(MSR_VM_CR, &v);
  check_eq_tcg("VM_CR reads LOCK | SVMDIS", v & (VM_CR_LOCK | VM_CR_SVMDIS), VM_CR_LOCK | VM_CR_SVMDIS, 0, why);
  check_none("VM_CR.LOCK = 1: a write clearing SVMDIS and LOCK does not fault", svm_wrmsr_safe(MSR_VM_CR, 0));
  svm_rdmsr_safe(MSR_VM_CR, &v);
  check_eq_tcg("VM_CR.LOCK = 1: the write to LOCK and SVMDIS was ignored", v & (VM_CR_LOCK | VM_CR_SVMDIS), VM_CR_LOCK | VM_CR_SVMDIS, 0, why);
  check_trap_tcg("VM_CR.LOCK = 1, SVMDIS = 1: WRMSR EFER with SVME = 1 raises #GP(0)", svm_wrmsr_safe(MSR_EFER, efer | EFER_SVME), GP_VECTOR, 0, ANY_VALUE,
                 NO_TRAP, why);
  wrmsr(MSR_EFER, efer & ~(u64)EFER_SVME);
}

void test_main(void) {
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("SVM", "CPUID Fn8000_0001_ECX[SVM] = 0");
    return;
  }
  test_cpuid();
  test_msrs();
  check_none("svm_enable: EFER.SVME = 1 and VM_HSAVE_PA", svm_enable());
  test_faults();
  test_gif();
  test_vmload_vmsave();
  test_invlpga();
  test_lock();
}
