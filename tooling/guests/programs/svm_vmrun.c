/* @guest bits=64 cpu=max,+svm machine=pc timeout=30 -- VMRUN: the consistency checks of §15.5.1 (VMEXIT_INVALID), guest state loaded, host state restored, GIF after #VMEXIT, EVENTINJ, interrupt shadow, TSC_OFFSET, clean bits, paged real mode, ASID, TLB_CONTROL */
/*
 * AMD APM Vol. 2 §15.5 "VMRUN Instruction" (§15.5.1 "Basic Operation", the consistency checks
 * listed under "Canonicalization and Consistency Checks"), §15.6 "#VMEXIT" (host state
 * reloaded from the host save area, GIF = 0), §15.15 "VMCB State Caching", §15.16 "TLB
 * Control", §15.17 "Global Interrupt Flag", §15.19 "Paged Real Mode", §15.20 "Event
 * Injection", §15.21 "Interrupt and Local APIC Support" (V_IRQ, interrupt shadow), §15.30.4
 * (VM_HSAVE_PA); Appendix B (VMCB), Appendix C (VMEXIT_INVALID = -1).
 */
#include "svm.h"
#include "apic_hw.h"

const char test_name[] = "svm_vmrun";
extern char svm_vmrun_site[]; /* the VMRUN in lib/svm.c */

static struct vmcb *vmcb = &vmcbs[0];

static void guest_nothing(void) {}

/* A fresh guest that runs to its end. */
static void fresh(void) {
  svm_vmcb_init_fn(vmcb, guest_nothing);
  vmcb->control.intercept_misc1 |= INTERCEPT_SHUTDOWN;
}

/* One consistency check: the VMCB edited by `bad` gives VMEXIT_INVALID; the one edited by
 * `good` (or the unedited one) runs to its end. */
typedef void (*vmcb_edit)(struct vmcb *v);
static void consistency(const char *what, vmcb_edit bad, vmcb_edit good) {
  char n[160];
  fresh();
  if (good) good(vmcb);
  svm_run(vmcb);
  snprintf(n, sizeof n, "%s: the legal case runs", what);
  check_guest_done(n, vmcb);
  fresh();
  bad(vmcb);
  u64 rip = vmcb->save.rip;
  svm_run(vmcb);
  snprintf(n, sizeof n, "%s: VMEXIT_INVALID", what);
  if (!(cpu.is_qemu_tcg && vmcb->control.exitcode == 0xffffffffull && tcg_skip(n, "writes VMEXIT_INVALID as a 32-bit -1 (EXITCODE FFFFFFFFh)")))
    check_exitcode(n, vmcb, SVM_EXIT_INVALID);
  snprintf(n, sizeof n, "%s: the guest did not run (RIP unchanged)", what);
  check_eq_tcg(n, vmcb->save.rip, rip, (u64)(ulong)svm_vmrun_site, "writes the host RIP of the VMRUN into the VMCB on VMEXIT_INVALID");
}

static void e_svme0(struct vmcb *v) { v->save.efer &= ~(u64)EFER_SVME; }
static void e_cd0_nw1(struct vmcb *v) { v->save.cr0 = (v->save.cr0 & ~(u64)BIT(30)) | BIT(29); }
static void e_cd1_nw1(struct vmcb *v) { v->save.cr0 |= BIT(30) | BIT(29); }
static void e_cd1_nw0(struct vmcb *v) { v->save.cr0 = (v->save.cr0 & ~(u64)BIT(29)) | BIT(30); }
static void e_cr0_hi(struct vmcb *v) { v->save.cr0 |= BIT64(32); }
static void e_cr0_hi63(struct vmcb *v) { v->save.cr0 |= BIT64(63); }
static void e_cr3_mbz(struct vmcb *v) { v->save.cr3 |= BIT64(62); }
static void e_cr3_pwt_pcd(struct vmcb *v) { v->save.cr3 |= 0x18; }
static void e_cr4_mbz(struct vmcb *v) { v->save.cr4 |= BIT64(40); }
static void e_cr4_bit15(struct vmcb *v) { v->save.cr4 |= BIT64(15); }
static void e_dr6_hi(struct vmcb *v) { v->save.dr6 |= BIT64(32); }
static void e_dr7_hi(struct vmcb *v) { v->save.dr7 |= BIT64(40); }
static void e_dr7_lo(struct vmcb *v) { v->save.dr7 = 0x400 | BIT(1); }
static void e_efer_mbz(struct vmcb *v) { v->save.efer |= BIT64(40); }
static void e_efer_bit9(struct vmcb *v) { v->save.efer |= BIT64(9); }
static void e_nopae(struct vmcb *v) { v->save.cr4 &= ~(u64)CR4_PAE; }
static void e_nope(struct vmcb *v) { v->save.cr0 &= ~(u64)CR0_PE; }
static void e_csld(struct vmcb *v) { v->save.cs.attrib |= 0x400; }
static void e_novmrun(struct vmcb *v) { v->control.intercept_misc2 &= ~INTERCEPT_VMRUN; }
static void e_msrpm_far(struct vmcb *v) { v->control.msrpm_base_pa = (1ull << svm_caps.phys_bits) - 0x1000; }
static void e_iopm_far(struct vmcb *v) { v->control.iopm_base_pa = (1ull << svm_caps.phys_bits) - 0x2000; }
static void e_asid0(struct vmcb *v) { v->control.guest_asid = 0; }
static void e_asid_max(struct vmcb *v) { v->control.guest_asid = svm_caps.nasid - 1; }
static void e_inj_type1(struct vmcb *v) { v->control.eventinj = SVM_EVTINJ_V | (1ull << 8) | 0x20; }
static void e_inj_type5(struct vmcb *v) { v->control.eventinj = SVM_EVTINJ_V | (5ull << 8) | 0x20; }
static void e_inj_type7(struct vmcb *v) { v->control.eventinj = SVM_EVTINJ_V | (7ull << 8) | 0x20; }
static void e_inj_exc_nmi(struct vmcb *v) { v->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | NMI_VECTOR; }
static void e_inj_exc_32(struct vmcb *v) { v->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | 0x20; }
static void e_gpat_bad_np(struct vmcb *v) {
  svm_enable_npt(v);
  v->save.g_pat = 0x0007040600070402ull; /* type 2 is reserved */
}
static void e_gpat_bad_no_np(struct vmcb *v) { v->save.g_pat = 0x0007040600070402ull; }
static void e_np(struct vmcb *v) { svm_enable_npt(v); }
static void e_inj_not_valid(struct vmcb *v) { v->control.eventinj = (1ull << 8) | 0x20; }

static void test_consistency(void) {
  consistency("EFER.SVME = 0 in the guest", e_svme0, 0);
  consistency("CR0.CD = 0 with CR0.NW = 1", e_cd0_nw1, e_cd1_nw0);
  consistency("CR0.CD = 1 with CR0.NW = 1 is legal; CD = 0 NW = 1", e_cd0_nw1, e_cd1_nw1);
  consistency("CR0[63:32] not 0 (bit 32)", e_cr0_hi, 0);
  consistency("CR0[63:32] not 0 (bit 63)", e_cr0_hi63, 0);
  consistency("CR3 MBZ bit 62 (long mode)", e_cr3_mbz, e_cr3_pwt_pcd);
  consistency("CR4 MBZ bit 40", e_cr4_mbz, 0);
  consistency("CR4 reserved bit 15", e_cr4_bit15, 0);
  consistency("DR6[63:32] not 0", e_dr6_hi, 0);
  consistency("DR7[63:32] not 0", e_dr7_hi, e_dr7_lo);
  consistency("EFER MBZ bit 40", e_efer_mbz, 0);
  consistency("EFER reserved bit 9", e_efer_bit9, 0);
  consistency("EFER.LME = CR0.PG = 1 with CR4.PAE = 0", e_nopae, 0);
  consistency("EFER.LME = CR0.PG = 1 with CR0.PE = 0", e_nope, 0);
  consistency("EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all 1", e_csld, 0);
  consistency("the VMRUN intercept bit clear", e_novmrun, 0);
  consistency("MSRPM reaching MAXPHYADDR", e_msrpm_far, 0);
  consistency("IOPM reaching MAXPHYADDR", e_iopm_far, 0);
  consistency("guest ASID 0 (the host's)", e_asid0, e_asid_max);
  consistency("EVENTINJ TYPE 1 (reserved)", e_inj_type1, e_inj_not_valid);
  consistency("EVENTINJ TYPE 5 (reserved)", e_inj_type5, 0);
  consistency("EVENTINJ TYPE 7 (reserved)", e_inj_type7, 0);
  consistency("EVENTINJ exception (TYPE 3) with vector 2", e_inj_exc_nmi, 0);
  consistency("EVENTINJ exception (TYPE 3) with vector 32 (not an exception)", e_inj_exc_32, 0);
  if (SVM_HAS(SVM_FEAT_NP)) {
    if (!tcg_skip("NP_ENABLE with a reserved G_PAT memory type (2): VMEXIT_INVALID", "does not check G_PAT on VMRUN"))
      consistency("NP_ENABLE with a reserved G_PAT memory type (2)", e_gpat_bad_np, e_np);
    fresh();
    e_gpat_bad_no_np(vmcb);
    svm_run(vmcb);
    check_guest_done("NP_ENABLE = 0: G_PAT is not checked (reserved type 2 runs)", vmcb);
  } else {
    skip("NP_ENABLE with a reserved G_PAT memory type (2): VMEXIT_INVALID", "nested paging not advertised");
  }
  skip("EFER.LME or EFER.LMA set without long mode support: VMEXIT_INVALID", "this processor supports long mode");
}

/* ---- guest state in, host state back ------------------------------------------------------------ */

struct seen {
  u64 rax, rsp, rflags, cr0, cr4, cr2, efer;
  u16 cs, ds, ss, es;
  struct PACKED { u16 limit; u64 base; } gdtr, idtr;
};
static volatile struct seen seen;
volatile u64 seen_cr3;
extern char guest_regs_entry[];
__asm__(".text\n"
        "guest_regs_entry:\n"
        "  mov %rax, seen(%rip)\n"
        "  mov %rsp, seen+8(%rip)\n"
        "  pushfq\n  popq seen+16(%rip)\n"
        "  mov %cr0, %rax\n  mov %rax, seen+24(%rip)\n"
        "  mov %cr4, %rax\n  mov %rax, seen+32(%rip)\n"
        "  mov %cr2, %rax\n  mov %rax, seen+40(%rip)\n"
        "  mov $0xc0000080, %ecx\n  rdmsr\n  mov %eax, seen+48(%rip)\n  mov %edx, seen+52(%rip)\n"
        "  mov %cs, seen+56(%rip)\n  mov %ds, seen+58(%rip)\n  mov %ss, seen+60(%rip)\n  mov %es, seen+62(%rip)\n"
        "  sgdt seen+64(%rip)\n  sidt seen+74(%rip)\n"
        "  mov %cr3, %rax\n  mov %rax, seen_cr3(%rip)\n"
        "  mov $0x600d, %eax\n"
        "guest_regs_vmmcall:\n"
        "  vmmcall\n"
        "  ud2\n");
extern char guest_regs_vmmcall[];

static void test_state(void) {
  fresh();
  struct vmcb_save *s = &vmcb->save;
  s->rip = (u64)(ulong)guest_regs_entry;
  s->rax = 0x1122334455667788ull;
  s->rsp = SVM_GUEST_STACK_TOP - 0x40;
  s->rflags = FL_FIXED | BIT(21) | FL_CF; /* ID, CF */
  s->cr0 |= CR0_TS;
  s->cr2 = 0xdeadb000;
  s->efer |= EFER_NXE;
  s->ds.selector = 0;
  s->ds.attrib = 0;
  s->es.selector = 0;
  s->es.attrib = 0;
  s->gdtr.limit = 0x1ff;
  /* Page tables of its own (an identity map of the first 1 GiB, where the program lives). */
  s->cr3 = paging_build(PG_4L);
  s->idtr.limit = 0xfff;
  u64 host_cr0 = read_cr0(), host_cr4 = read_cr4(), host_efer = rdmsr(MSR_EFER);
  struct PACKED { u16 limit; u64 base; } hg, hi;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(hg), "=m"(hi));
  u64 code = svm_run(vmcb);
  check_eq("guest state: the guest ran to its VMMCALL", code, SVM_EXIT_VMMCALL);
  check_eq("guest state: RAX from the VMCB", seen.rax, 0x1122334455667788ull);
  check_eq("guest state: RSP from the VMCB", seen.rsp, SVM_GUEST_STACK_TOP - 0x40);
  check_eq("guest state: RFLAGS from the VMCB (ID, CF)", seen.rflags & (BIT(21) | FL_CF | FL_IF), BIT(21) | FL_CF);
  check_eq("guest state: CR0 from the VMCB (TS)", seen.cr0, s->cr0);
  check_eq("guest state: CR4 from the VMCB", seen.cr4, s->cr4);
  check_eq("guest state: CR2 from the VMCB", seen.cr2, 0xdeadb000);
  check_eq("guest state: EFER from the VMCB (NXE, SVME, LMA)", seen.efer, s->efer);
  check_eq("guest state: CR3 from the VMCB", seen_cr3, s->cr3);
  check_eq("guest state: CS selector", seen.cs, s->cs.selector);
  check_eq("guest state: DS selector 0 from the VMCB", seen.ds, 0);
  check_eq("guest state: ES selector 0 from the VMCB", seen.es, 0);
  check_eq("guest state: GDTR limit from the VMCB", seen.gdtr.limit, 0x1ff);
  check_eq("guest state: IDTR limit from the VMCB", seen.idtr.limit, 0xfff);
  check_eq("#VMEXIT saves the guest RAX", s->rax, 0x600d);
  check_eq("#VMEXIT saves the guest RSP", s->rsp, SVM_GUEST_STACK_TOP - 0x40);
  check_eq("#VMEXIT saves the guest RIP (of the VMMCALL)", s->rip, (u64)(ulong)guest_regs_vmmcall);
  check_eq("#VMEXIT saves the guest CR0", s->cr0 & CR0_TS, CR0_TS);
  /* Host state (§15.6: reloaded from the host save area). */
  struct svm_host_after *h = &svm_after_exit;
  check_eq("host after #VMEXIT: RSP as at VMRUN", h->rsp, svm_before_vmrun.rsp);
  check_eq("host after #VMEXIT: RFLAGS as at VMRUN", h->rflags & ~(u64)0x8d5, svm_before_vmrun.rflags & ~(u64)0x8d5);
  check_eq("host after #VMEXIT: CR0 (TS not the guest's)", h->cr0, host_cr0);
  check_eq("host after #VMEXIT: CR3 (not the guest's)", h->cr3, boot_cr3);
  check_eq("#VMEXIT saves the guest CR3", s->cr3, seen_cr3);
  check_eq("host after #VMEXIT: CR4", h->cr4, host_cr4);
  check_eq("host after #VMEXIT: EFER (NXE not the guest's)", h->efer, host_efer);
  check_eq("host after #VMEXIT: CS", h->cs, KCODE);
  check_eq("host after #VMEXIT: SS", h->ss, read_ss());
  check_eq("host after #VMEXIT: DS (not the guest's 0)", h->ds, read_ds());
  check_eq("host after #VMEXIT: ES (not the guest's 0)", h->es, read_es());
  check_eq("host after #VMEXIT: GDTR base", h->gdtr.base, hg.base);
  check_eq("host after #VMEXIT: GDTR limit (not the guest's)", h->gdtr.limit, hg.limit);
  check_eq("host after #VMEXIT: IDTR base", h->idtr.base, hi.base);
  check_eq("host after #VMEXIT: IDTR limit", h->idtr.limit, hi.limit);
}

/* ---- GIF = 0 after #VMEXIT (§15.17) ----------------------------------------------------------- */

static volatile int nmi_count;
static int nmi_handler(struct frame *f) {
  nmi_count++;
  return 1;
}

static void test_gif(void) {
  apic_setup_xapic(1);
  set_trap_handler(NMI_VECTOR, nmi_handler);
  fresh();
  svm_keep_gif0 = 1;
  svm_run(vmcb);
  svm_keep_gif0 = 0;
  nmi_count = 0;
  apic_icr(cpuid_initial_apic_id(), ICR_NMI | ICR_ASSERT);
  for (volatile int i = 0; i < 1000; i++) {
  }
  int held = nmi_count;
  stgi();
  __asm__ volatile("nop; nop" ::: "memory");
  check_eq("GIF = 0 after #VMEXIT: a self NMI is held", held, 0);
  check_eq("GIF = 0 after #VMEXIT: STGI lets the NMI in", nmi_count, 1);
  set_trap_handler(NMI_VECTOR, 0);
}

/* ---- EVENTINJ (§15.20) ------------------------------------------------------------------------ */

static volatile int ev_count, ev_vector;
static volatile u64 ev_error, ev_ip;
static int ev_handler(struct frame *f) {
  ev_count++;
  ev_vector = (int)f->vector;
  ev_error = f->error;
  ev_ip = f->ip;
  return 1;
}

static void inject(const char *what, u64 eventinj, int vector, int has_error, u32 error) {
  char n[160];
  fresh();
  set_trap_handler(vector, ev_handler);
  ev_count = 0;
  ev_vector = -1;
  ev_error = 0;
  u64 rip = vmcb->save.rip;
  vmcb->control.eventinj = eventinj;
  svm_run(vmcb);
  set_trap_handler(vector, 0);
  snprintf(n, sizeof n, "EVENTINJ %s: delivered once through the guest IDT, then the guest ran on", what);
  if (check_guest_done(n, vmcb)) {
    snprintf(n, sizeof n, "EVENTINJ %s: vector", what);
    check_eq(n, ev_count == 1 ? (u64)ev_vector : ~0ull, (u64)vector);
    if (has_error) {
      snprintf(n, sizeof n, "EVENTINJ %s: error code pushed", what);
      check_eq(n, ev_error, error);
    }
    snprintf(n, sizeof n, "EVENTINJ %s: pushed RIP = the VMCB RIP", what);
    check_eq(n, ev_ip, rip);
  }
  snprintf(n, sizeof n, "EVENTINJ %s: EVENTINJ.V is clear after #VMEXIT", what);
  check_eq(n, vmcb->control.eventinj & SVM_EVTINJ_V, 0);
}

static void test_eventinj(void) {
  inject("INTR vector 0x41", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | 0x41, 0x41, 0, 0);
  inject("NMI", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_NMI | NMI_VECTOR, NMI_VECTOR, 0, 0);
  inject("exception #UD", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | UD_VECTOR, UD_VECTOR, 0, 0);
  inject("exception #GP with error code 0x1234", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_EV | SVM_EVTINJ_ERR(0x1234) | GP_VECTOR, GP_VECTOR, 1,
         0x1234);
  inject("exception #PF with error code 0x15", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_EV | SVM_EVTINJ_ERR(0x15) | PF_VECTOR, PF_VECTOR, 1, 0x15);
  inject("INTR with RFLAGS.IF = 0 (EVENTINJ ignores IF)", SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | 0x43, 0x43, 0, 0);
  /* Software interrupt (TYPE 4): delivered; the return address is nRIP (with NRIPS) or RIP. */
  fresh();
  set_trap_handler(0x42, ev_handler);
  ev_count = 0;
  vmcb->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_SOFT | 0x42;
  vmcb->control.nrip = vmcb->save.rip;
  svm_run(vmcb);
  set_trap_handler(0x42, 0);
  check_guest_done("EVENTINJ software interrupt (TYPE 4) 0x42: delivered, the guest ran on", vmcb);
  check_eq("EVENTINJ software interrupt 0x42: vector", ev_count == 1 ? (u64)ev_vector : ~0ull, 0x42);
}

/* ---- interrupt shadow (INTERRUPT_SHADOW, §15.21.5) with V_IRQ and the VINTR intercept ----------- */

extern char shadow_guest[], shadow_guest_2[];
__asm__(".text\n"
        "shadow_guest:\n  nop\n"
        "shadow_guest_2:\n  nop\n  nop\n  mov $0x600d, %eax\n  vmmcall\n  ud2\n");

static void test_shadow(void) {
  for (int sh = 0; sh < 2; sh++) {
    fresh();
    vmcb->save.rip = (u64)(ulong)shadow_guest;
    vmcb->save.rflags = FL_FIXED | FL_IF;
    vmcb->control.intercept_misc1 |= INTERCEPT_VINTR;
    vmcb->control.v_intr = V_IRQ | V_INTR_PRIO(0xf) | V_IGN_TPR | V_INTR_MASKING | V_INTR_VECTOR(0x44);
    vmcb->control.interrupt_shadow = sh ? INTERRUPT_SHADOW : 0;
    svm_run(vmcb);
    check_exitcode(sh ? "INTERRUPT_SHADOW = 1: V_IRQ with the VINTR intercept exits" : "V_IRQ with the VINTR intercept exits (no shadow)", vmcb, SVM_EXIT_VINTR);
    if (sh)
      check_eq_tcg("INTERRUPT_SHADOW = 1: the VINTR exit comes after the first instruction", vmcb->save.rip, (u64)(ulong)shadow_guest_2,
                   (u64)(ulong)shadow_guest, "ignores INTERRUPT_SHADOW for V_IRQ (the VINTR exit comes before the first instruction)");
    else check_eq("no shadow: the VINTR exit comes before the first instruction", vmcb->save.rip, (u64)(ulong)shadow_guest);
  }
}

/* ---- TSC_OFFSET (§15.8.4 / Table B-1) ------------------------------------------------------------ */

static volatile u64 guest_tsc;
static void guest_rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  guest_tsc = ((u64)hi << 32) | lo;
}

static void test_tsc(void) {
  static const u64 offsets[] = {1ull << 40, (u64)-(s64)(1ull << 20)};
  for (int i = 0; i < 2; i++) {
    svm_vmcb_init_fn(vmcb, guest_rdtsc);
    vmcb->control.tsc_offset = offsets[i];
    u64 before = rdtsc();
    svm_run(vmcb);
    u64 after = rdtsc();
    u64 rel = guest_tsc - offsets[i];
    check_true(i ? "TSC_OFFSET negative: guest RDTSC = host TSC + offset (wrapping)" : "TSC_OFFSET 2^40: guest RDTSC = host TSC + offset",
               svm_guest_done(vmcb) && rel >= before && rel <= after, "guest TSC outside [before + offset, after + offset]");
  }
}

/* ---- VMCB clean bits (§15.15) ------------------------------------------------------------------- */

static void guest_cpuid(void) {
  u32 a, b, c, d;
  cpuid(0, 0, &a, &b, &c, &d);
}

static void test_clean(void) {
  /* A VMCB run for the first time is loaded whole, whatever its clean bits say. */
  struct vmcb *other = &vmcbs[2];
  svm_vmcb_init_fn(other, guest_cpuid);
  other->control.intercept_misc1 |= INTERCEPT_CPUID;
  other->control.vmcb_clean = 0xffffffffu;
  svm_run(other);
  check_exitcode("clean bits all 1 on a VMCB's first VMRUN: its intercepts are used (CPUID)", other, SVM_EXIT_CPUID);
  /* RIP, RSP, RAX, RFLAGS and EVENTINJ are never cached: a change is seen with every clean bit set. */
  svm_vmcb_init_fn(vmcb, guest_nothing);
  svm_run(vmcb);
  vmcb->save.rip = (u64)(ulong)guest_regs_entry;
  vmcb->save.rax = 0x5555;
  vmcb->save.rsp = SVM_GUEST_STACK_TOP - 0x80;
  vmcb->control.vmcb_clean = 0xffffffffu;
  svm_run(vmcb);
  check_eq("clean bits all 1: the new RIP and RAX are used", seen.rax, 0x5555);
  check_eq("clean bits all 1: the new RSP is used", seen.rsp, SVM_GUEST_STACK_TOP - 0x80);
  /* A cleared bit makes the processor reload its group: the CPUID intercept (I) is seen. */
  svm_set_guest(vmcb, guest_cpuid);
  vmcb->control.intercept_misc1 |= INTERCEPT_CPUID;
  vmcb->control.vmcb_clean = 0xffffffffu & ~VMCB_CLEAN_I;
  check_eq("clean bit I = 0: a new intercept (CPUID) is used", svm_run(vmcb), SVM_EXIT_CPUID);
  /* Another VMCB was run in between: the processor must reload this one. */
  svm_run(other);
  vmcb->control.intercept_misc1 &= ~INTERCEPT_CPUID;
  vmcb->control.vmcb_clean = 0xffffffffu;
  svm_set_guest(vmcb, guest_cpuid);
  u64 code = svm_run(vmcb);
  info("clean bits all 1 after a change of the CPUID intercept on the same VMCB (another VMCB ran in between): EXITCODE 0x%lx", (ulong)code);
  check_true("clean bits after another VMCB ran: the VMCB is reloaded (no CPUID exit)", svm_guest_done(vmcb), "stale intercepts were used");
}

/* ---- paged real mode (§15.19) ------------------------------------------------------------------ */

static u32 prm_pd[1024] ALIGNED(4096);
static volatile u32 prm_data = 0x5a5aa5a5;
extern char prm_code[];
__asm__(".text\n"
        ".code16\n"
        "prm_code:\n"
        "  movl (%si), %eax\n"
        "  vmmcall\n"
        "  ud2\n"
        ".code64\n");

static void test_paged_real_mode(void) {
  fresh();
  /* 32-bit paging, 4 MiB pages: linear 4-8 MiB -> physical 0-4 MiB; the rest unmapped but 0-4 MiB identity. */
  memset(prm_pd, 0, sizeof prm_pd);
  prm_pd[0] = 0x00000000u | 0x87u; /* P, W, U, PS */
  prm_pd[1] = 0x00000000u | 0x87u;
  u64 data = pa((const void *)&prm_data), code = pa(prm_code);
  struct vmcb_save *s = &vmcb->save;
  s->cr0 = CR0_PG | BIT(4) | CR0_NE; /* PG = 1, PE = 0 */
  s->cr3 = pa(prm_pd);
  s->cr4 = CR4_PSE;
  s->efer = EFER_SVME;
  s->cs.selector = (u16)((code & ~0xffffull) >> 4);
  s->cs.base = code & ~0xffffull;
  s->cs.limit = 0xffff;
  s->cs.attrib = 0x09b;
  s->rip = code & 0xffff;
  /* DS base in the 4-8 MiB window: through paging it reaches prm_data below 4 MiB. */
  u64 ds_base = 0x400000 + (data & ~0xffffull);
  struct vmcb_seg *segs[] = {&s->ds, &s->es, &s->ss};
  for (int i = 0; i < 3; i++) {
    segs[i]->selector = (u16)(ds_base >> 4);
    segs[i]->base = ds_base;
    segs[i]->limit = 0xffff;
    segs[i]->attrib = 0x093;
  }
  s->rsp = 0;
  s->rflags = FL_FIXED;
  svm_guest_regs.rsi = data & 0xffff;
  vmcb->control.intercept_exceptions = 0xffffffffu;
  if (data >= 0x400000 || code >= 0x400000 || (code & 0xffff) > 0xfff0) {
    skip("paged real mode (CR0.PG = 1, CR0.PE = 0): VMRUN accepts it", "the program is not below 4 MiB");
    return;
  }
  u64 exit = svm_run(vmcb);
  check_eq("paged real mode (CR0.PG = 1, CR0.PE = 0): VMRUN accepts it and the guest reaches VMMCALL", exit, SVM_EXIT_VMMCALL);
  check_eq("paged real mode: a data read goes through the guest's page tables", (u32)vmcb->save.rax, 0x5a5aa5a5);
  svm_guest_regs.rsi = 0;
}

/* ---- ASID and TLB_CONTROL (§15.16) -------------------------------------------------------------- */

static void test_tlb_control(void) {
  static const u8 values[] = {TLB_CONTROL_DO_NOTHING, TLB_CONTROL_FLUSH_ALL, TLB_CONTROL_FLUSH_ASID, TLB_CONTROL_FLUSH_ASID_NONGLOBAL};
  static const char *const names[] = {"TLB_CONTROL 0 (do nothing)", "TLB_CONTROL 1 (flush all)", "TLB_CONTROL 3 (flush this ASID)",
                                      "TLB_CONTROL 7 (flush this ASID's non-global entries)"};
  for (int i = 0; i < 4; i++) {
    fresh();
    vmcb->control.tlb_control = values[i];
    if (values[i] >= 3 && !SVM_HAS(SVM_FEAT_FLUSH_BY_ASID)) {
      skip(names[i], "FlushByAsid not advertised");
      continue;
    }
    svm_run(vmcb);
    check_guest_done(names[i], vmcb);
  }
  fresh();
  vmcb->control.guest_asid = 7;
  svm_run(vmcb);
  check_guest_done("ASID 7 runs", vmcb);
}

/* TLB_CONTROL (§15.16.1) and ASIDs: a guest PTE changed by the host between two VMRUNs. */
static volatile u32 window_seen;
static void guest_read_window(void) { window_seen = *(volatile u32 *)WINDOW_BASE; }

static void tlb_step(const char *check, int frame, u8 tlb_control, u32 asid) {
  *paging_entry(1) = window_phys(frame) | PTE_P | PTE_W; /* no INVLPG: only TLB_CONTROL or a new ASID may flush */
  svm_set_guest(vmcb, guest_read_window);
  vmcb->control.tlb_control = tlb_control;
  vmcb->control.guest_asid = asid;
  window_seen = 0;
  svm_run(vmcb);
  if (check) check_eq(check, svm_guest_done(vmcb) ? window_seen : 0, frame ? 0xbbbb0000u : 0xaaaa0000u);
}

static void test_tlb_flush(void) {
  ulong cr3 = paging_build(PG_4L);
  *(volatile u32 *)window_frames[0] = 0xaaaa0000u;
  *(volatile u32 *)window_frames[1] = 0xbbbb0000u;
  svm_vmcb_init_fn(vmcb, guest_read_window);
  vmcb->save.cr3 = cr3;
  tlb_step("TLB_CONTROL: the guest reads the page through its own page tables", 0, TLB_CONTROL_DO_NOTHING, 3);
  tlb_step("TLB_CONTROL 1 (flush all): a PTE changed between two VMRUNs is seen", 1, TLB_CONTROL_FLUSH_ALL, 3);
  if (SVM_HAS(SVM_FEAT_FLUSH_BY_ASID)) {
    tlb_step("TLB_CONTROL 3 (flush this ASID): a PTE changed between two VMRUNs is seen", 0, TLB_CONTROL_FLUSH_ASID, 3);
    tlb_step("TLB_CONTROL 7 (flush this ASID's non-global entries): a changed non-global PTE is seen", 1, TLB_CONTROL_FLUSH_ASID_NONGLOBAL, 3);
  } else {
    skip("TLB_CONTROL 3 (flush this ASID): a PTE changed between two VMRUNs is seen", "FlushByAsid not advertised");
  }
  tlb_step("an ASID never used before starts without translations (TLB_CONTROL 0)", 0, TLB_CONTROL_DO_NOTHING, 12);
}

void test_main(void) {
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("SVM", "CPUID Fn8000_0001_ECX[SVM] = 0");
    return;
  }
  if (svm_enable() != NO_TRAP) panic("cannot set EFER.SVME");
  svm_maps_clear();
  test_consistency();
  test_state();
  test_gif();
  test_eventinj();
  test_shadow();
  test_tsc();
  test_clean();
  test_paged_real_mode();
  test_tlb_control();
  test_tlb_flush();
}
