/* @guest bits=64 cpu=max,+svm machine=pc timeout=60 -- SVM events: GIF, physical interrupt and NMI intercepts with V_INTR_MASKING, virtual interrupts (V_IRQ, V_TPR, V_IGN_TPR, VINTR, CR8), vNMI, vGIF, EXITINTINFO and reinjection, INIT intercept */
/*
 * Interrupts and events under SVM (AMD64 APM Vol. 2):
 * - §15.17 GIF: CLGI holds INTR and NMI pending (also with RFLAGS.IF = 1) until STGI;
 * - §15.13.1/§15.21.1 the INTR intercept (#VMEXIT 60h, the interrupt not acknowledged: still
 *   requested in the local APIC) and V_INTR_MASKING: without it the guest's RFLAGS.IF masks
 *   physical interrupts; with it the host's IF at VMRUN does, and the guest's IF does not;
 * - §15.21.4 virtual interrupts: V_IRQ with V_INTR_VECTOR delivered through the guest IDT when
 *   the guest's IF = 1 and V_INTR_PRIO > V_TPR (or V_IGN_TPR), V_IRQ cleared on delivery; the
 *   VINTR intercept (#VMEXIT 64h) instead of delivery; §15.21.2 MOV CR8 reads and writes
 *   V_TPR with V_INTR_MASKING, not the local APIC's TPR;
 * - §15.21.5 vNMI (V_NMI_ENABLE): V_NMI delivered as an NMI, V_NMI_MASK set while it is
 *   serviced and cleared by IRET;
 * - §15.33 vGIF (V_GIF_ENABLE): CLGI/STGI in the guest change V_GIF; V_GIF = 0 holds V_IRQ;
 * - §15.7.2 EXITINTINFO: an intercepted #PF, and a #NPF on the stack or on the IDT gate, raised
 *   while an injected event is delivered give the event in EXITINTINFO; EVENTINJ = EXITINTINFO delivers it again (§15.20);
 * - §15.13.2 the NMI intercept (#VMEXIT 61h) and §15.13.3 the INIT intercept (#VMEXIT 63h,
 *   a self-INIT through the local APIC's ICR).
 */
#include "guest.h"
#include "guest64.h"
#include "svm.h"
#include "apic_hw.h"

const char test_name[] = "svm_events";

static struct vmcb *const V = &vmcbs[0];
#define V_EXT 0x50 /* physical vector (self IPI) */
#define V_VIRT 0x41 /* virtual interrupt vector */
static u32 apic_id;
static volatile int ext_count, virt_count, nmi_count, bp_count;
static volatile u64 guest_val;

static int h_ext(struct frame *f) {
  ext_count++;
  apic_eoi();
  return 1;
}
static int h_virt(struct frame *f) {
  virt_count++;
  return 1;
}
static int h_nmi(struct frame *f) {
  nmi_count++;
  return 1;
}
static int h_bp(struct frame *f) {
  bp_count++;
  return 1;
}

static void pause_a_while(void) {
  for (int i = 0; i < 200; i++) cpu_pause();
}
static NOINLINE void g_nothing(void) {}
static NOINLINE void g_ipi_if1(void) {
  __asm__ volatile("sti" ::: "memory");
  apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT);
  pause_a_while();
  __asm__ volatile("cli" ::: "memory");
}
static NOINLINE void g_ipi_if0(void) {
  apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT);
  pause_a_while();
}
static NOINLINE void g_if_window(void) { __asm__ volatile("sti; nop; nop; nop; cli" ::: "memory"); }
static NOINLINE void g_nmi_self(void) {
  apic_icr(apic_id, ICR_NMI | ICR_ASSERT);
  pause_a_while();
}
static NOINLINE void g_init_self(void) {
  apic_icr(apic_id, ICR_INIT | ICR_ASSERT);
  pause_a_while();
}
static NOINLINE void g_cr8_write7(void) { __asm__ volatile("mov %0, %%cr8" : : "r"(7ull) : "memory"); }
static NOINLINE void g_cr8_read(void) {
  u64 v;
  __asm__ volatile("mov %%cr8, %0" : "=r"(v));
  guest_val = v;
}
static NOINLINE void g_clgi(void) { clgi(); }
static NOINLINE void g_stgi(void) { stgi(); }
static NOINLINE void g_clgi_window(void) { __asm__ volatile("clgi; sti; nop; nop; nop; cli" ::: "memory"); }

static void host_irq_window(void) { __asm__ volatile("sti; nop; nop; nop; cli" ::: "memory"); }

static void fresh(svm_guest_fn fn) {
  svm_vmcb_init_fn(V, fn);
}

/* ---- GIF (§15.17) ---------------------------------------------------------------------------- */

static void test_gif(void) {
  ext_count = 0;
  clgi();
  __asm__ volatile("sti" ::: "memory");
  apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT);
  pause_a_while();
  int held = ext_count;
  stgi();
  __asm__ volatile("nop; nop; cli" ::: "memory");
  check_eq("GIF = 0 (CLGI) holds INTR with RFLAGS.IF = 1", (u64)held, 0);
  check_eq("STGI lets the held INTR in", (u64)ext_count, 1);
  nmi_count = 0;
  clgi();
  apic_icr(apic_id, ICR_NMI | ICR_ASSERT);
  pause_a_while();
  held = nmi_count;
  stgi();
  __asm__ volatile("nop; nop" ::: "memory");
  check_eq("GIF = 0 (CLGI) holds NMI", (u64)held, 0);
  check_eq("STGI lets the held NMI in", (u64)nmi_count, 1);
}

/* ---- physical interrupts (§15.13.1, §15.21.1) ------------------------------------------------- */

/* svm_run with the host's RFLAGS.IF = if_host at VMRUN (GIF = 0 from CLGI keeps the host safe). */
static u64 run_hif(int if_host) {
  if (if_host) __asm__ volatile("sti" ::: "memory");
  u64 code = svm_run(V); /* CLGI; VMRUN; ... STGI: with IF = 1 a held interrupt arrives right after STGI */
  __asm__ volatile("cli" ::: "memory");
  return code;
}

static void test_physical_interrupts(void) {
  fresh(g_ipi_if1);
  V->control.intercept_misc1 |= INTERCEPT_INTR;
  ext_count = 0;
  run_hif(0);
  check_exitcode("INTR intercept, V_INTR_MASKING = 0, guest IF = 1: a self IPI exits (60h)", V, SVM_EXIT_INTR);
  check_eq("INTR intercept: the interrupt is not acknowledged (still in IRR)", (u64)apic_vec_bit(APIC_IRR, V_EXT), 1);
  check_eq("INTR intercept: the guest did not take it", (u64)ext_count, 0);
  host_irq_window();
  check_eq("INTR intercept: the host takes it when it sets IF", (u64)ext_count, 1);

  fresh(g_ipi_if0);
  V->control.intercept_misc1 |= INTERCEPT_INTR;
  ext_count = 0;
  run_hif(0);
  check_guest_done("INTR intercept, V_INTR_MASKING = 0, guest IF = 0: no exit (the guest's IF masks it)", V);
  host_irq_window();
  check_eq("INTR intercept, V_INTR_MASKING = 0, guest IF = 0: the interrupt stays pending for the host", (u64)ext_count, 1);

  fresh(g_ipi_if1);
  V->control.intercept_misc1 |= INTERCEPT_INTR;
  V->control.v_intr = V_INTR_MASKING;
  ext_count = 0;
  run_hif(0);
  check_guest_done("INTR intercept, V_INTR_MASKING = 1, host IF = 0: no exit (the host's IF masks it)", V);
  check_eq("... and the guest with IF = 1 does not take it either", (u64)ext_count, 0);
  host_irq_window();
  check_eq("INTR intercept, V_INTR_MASKING = 1, host IF = 0: the interrupt stays pending for the host", (u64)ext_count, 1);

  fresh(g_ipi_if0);
  V->control.intercept_misc1 |= INTERCEPT_INTR;
  V->control.v_intr = V_INTR_MASKING;
  ext_count = 0;
  run_hif(1);
  check_exitcode("INTR intercept, V_INTR_MASKING = 1, host IF = 1, guest IF = 0: exit 60h (the guest's IF does not mask it)", V, SVM_EXIT_INTR);
  check_eq("... taken by the host after STGI (its IF = 1)", (u64)ext_count, 1);

  fresh(g_ipi_if1);
  ext_count = 0;
  run_hif(0);
  check_guest_done("no INTR intercept, guest IF = 1: the guest takes the interrupt through its IDT", V);
  check_eq("... once", (u64)ext_count, 1);
}

/* ---- virtual interrupts (§15.21.4) ------------------------------------------------------------ */

static void virq(svm_guest_fn fn, u64 v_intr) {
  fresh(fn);
  V->control.v_intr = V_INTR_MASKING | V_IRQ | V_INTR_VECTOR(V_VIRT) | v_intr;
  virt_count = 0;
  svm_run(V);
}

static void test_virtual_interrupts(void) {
  virq(g_if_window, V_INTR_PRIO(4));
  if (check_guest_done("V_IRQ, guest IF = 1, V_TPR 0 < V_INTR_PRIO 4: the guest runs", V)) {
    check_eq("V_IRQ: V_INTR_VECTOR delivered through the guest IDT once", (u64)virt_count, 1);
    check_eq("V_IRQ: cleared when the interrupt is taken", V->control.v_intr & V_IRQ, 0);
  }
  virq(g_nothing, V_INTR_PRIO(4));
  check_eq("V_IRQ with guest IF = 0: not delivered", (u64)virt_count, 0);
  check_eq("V_IRQ with guest IF = 0: stays set", V->control.v_intr & V_IRQ, V_IRQ);
  virq(g_if_window, V_INTR_PRIO(4) | 5);
  check_eq("V_IRQ with V_INTR_PRIO 4 <= V_TPR 5: not delivered", (u64)virt_count, 0);
  check_eq("V_IRQ with V_INTR_PRIO 4 <= V_TPR 5: stays set", V->control.v_intr & V_IRQ, V_IRQ);
  virq(g_if_window, V_INTR_PRIO(6) | 5);
  check_eq("V_IRQ with V_INTR_PRIO 6 > V_TPR 5: delivered", (u64)virt_count, 1);
  virq(g_if_window, V_INTR_PRIO(4) | 5 | V_IGN_TPR);
  check_eq("V_IRQ with V_IGN_TPR: delivered whatever V_TPR", (u64)virt_count, 1);

  fresh(g_if_window);
  V->control.v_intr = V_INTR_MASKING | V_IRQ | V_INTR_VECTOR(V_VIRT) | V_INTR_PRIO(4);
  V->control.intercept_misc1 |= INTERCEPT_VINTR;
  virt_count = 0;
  svm_run(V);
  check_exitcode("VINTR intercept: #VMEXIT 64h when the virtual interrupt would be taken", V, SVM_EXIT_VINTR);
  check_eq("VINTR intercept: nothing delivered", (u64)virt_count, 0);
  check_eq("VINTR intercept: V_IRQ still set", V->control.v_intr & V_IRQ, V_IRQ);

  /* §15.21.2: with V_INTR_MASKING, CR8 is V_TPR. */
  apic_write(APIC_TPR, 0);
  fresh(g_cr8_write7);
  V->control.v_intr = V_INTR_MASKING;
  svm_run(V);
  check_guest_done("MOV CR8 write with V_INTR_MASKING: the guest runs", V);
  check_eq("MOV CR8 write with V_INTR_MASKING: V_TPR = 7", V->control.v_intr & V_TPR_MASK, 7);
  check_eq("MOV CR8 write with V_INTR_MASKING: the local APIC's TPR is unchanged", apic_read(APIC_TPR), 0);
  fresh(g_cr8_read);
  V->control.v_intr = V_INTR_MASKING | 3;
  guest_val = 99;
  svm_run(V);
  check_eq("MOV CR8 read with V_INTR_MASKING: V_TPR (3)", guest_val, 3);
}

/* ---- vNMI and vGIF ---------------------------------------------------------------------------- */

static void test_vnmi_vgif(void) {
  if (SVM_HAS(SVM_FEAT_VNMI)) {
    fresh(g_nothing);
    V->control.v_intr = V_NMI_ENABLE | V_NMI;
    nmi_count = 0;
    svm_run(V);
    if (check_guest_done("vNMI: the guest runs", V)) {
      check_eq("vNMI: V_NMI delivered as an NMI through the guest IDT", (u64)nmi_count, 1);
      check_eq("vNMI: V_NMI cleared, V_NMI_MASK cleared again by the handler's IRET", V->control.v_intr & (V_NMI | V_NMI_MASK), 0);
    }
    fresh(g_nothing);
    V->control.v_intr = V_NMI_ENABLE | V_NMI | V_NMI_MASK;
    nmi_count = 0;
    svm_run(V);
    check_eq("vNMI: V_NMI_MASK = 1 holds V_NMI", (u64)nmi_count, 0);
    check_eq("vNMI: V_NMI stays pending", V->control.v_intr & V_NMI, V_NMI);
  } else {
    skip("vNMI", "CPUID 8000_000Ah EDX[25] (vNMI) = 0");
  }
  if (SVM_HAS(SVM_FEAT_VGIF)) {
    fresh(g_clgi);
    V->control.v_intr = V_GIF_ENABLE | V_GIF;
    svm_run(V);
    if (check_guest_done("vGIF: CLGI in the guest runs without an exit", V)) check_eq("vGIF: CLGI clears V_GIF", V->control.v_intr & V_GIF, 0);
    fresh(g_stgi);
    V->control.v_intr = V_GIF_ENABLE;
    svm_run(V);
    if (check_guest_done("vGIF: STGI in the guest runs without an exit", V)) check_eq("vGIF: STGI sets V_GIF", V->control.v_intr & V_GIF, V_GIF);
    fresh(g_clgi_window);
    V->control.v_intr = V_GIF_ENABLE | V_GIF | V_INTR_MASKING | V_IRQ | V_INTR_VECTOR(V_VIRT) | V_INTR_PRIO(4);
    virt_count = 0;
    svm_run(V);
    check_eq("vGIF: V_GIF = 0 holds V_IRQ", (u64)virt_count, 0);
  } else {
    skip("vGIF", "CPUID 8000_000Ah EDX[16] (vGIF) = 0");
  }
}

/* ---- EXITINTINFO (§15.7.2) and reinjection (§15.20) -------------------------------------------- */

static void test_exitintinfo(void) {
  /* #PF while an injected #BP is delivered: the guest stack is in an unmapped window page. */
  u64 guest_cr3 = paging_build(PG_4L);
  window_set(0, 0);
  fresh(g_nothing);
  V->save.cr3 = guest_cr3;
  V->save.rsp = WINDOW_BASE + 4096;
  V->control.intercept_exceptions = BIT(14);
  V->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | 3;
  V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
  bp_count = 0;
  svm_run(V);
  V->control.tlb_control = 0;
  check_exit_info("intercepted #PF during delivery of an injected #BP: EXITCODE 4Eh, error code W, CR2", V, SVM_EXIT_EXCP_BASE + 14, PFERR_W, WINDOW_BASE + 4096 - 8);
  check_eq("... EXITINTINFO = the injected #BP (V, type 3, vector 3)", V->control.exitintinfo, SVM_EVTINJ_V | SVM_EVTINJ_TYPE_EXEPT | 3);
  check_eq("... EVENTINJ.V cleared by #VMEXIT", V->control.eventinj & SVM_EVTINJ_V, 0);
  check_eq("... the guest did not see the #BP", (u64)bp_count, 0);
  window_set(0, window_phys(0) | PTE_P | PTE_W);
  V->control.eventinj = V->control.exitintinfo;
  V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
  svm_run(V);
  V->control.tlb_control = 0;
  check_guest_done("EVENTINJ = EXITINTINFO with the stack mapped: the guest runs to its end", V);
  check_eq("... the #BP was delivered once", (u64)bp_count, 1);

  /* #NPF on the guest stack while an injected external interrupt is delivered. */
  if (SVM_HAS(SVM_FEAT_NP)) {
    static u8 npf_stack[4096] ALIGNED(4096);
    npt_identity();
    fresh(g_nothing);
    V->save.rsp = pa(npf_stack) + 4096;
    svm_enable_npt(V);
    npt_set_perms(pa(npf_stack), 0, PTE_P);
    V->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | V_VIRT;
    V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
    virt_count = 0;
    svm_run(V);
    V->control.tlb_control = 0;
    check_exit_info("#NPF on the stack during delivery of an injected interrupt: EXITCODE 400h, GPA", V, SVM_EXIT_NPF, ANY_VALUE, pa(npf_stack) + 4096 - 8);
    check_eq("... EXITINFO1 = W, U, final translation", V->control.exitinfo1, NPF_FINAL | NPF_U | NPF_W);
    check_eq("... EXITINTINFO = the injected interrupt (V, type 0, vector 41h)", V->control.exitintinfo, SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | V_VIRT);
    npt_set_perms(pa(npf_stack), PTE_P, 0);
    V->control.eventinj = V->control.exitintinfo;
    V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
    svm_run(V);
    V->control.tlb_control = 0;
    check_guest_done("reinjected interrupt: the guest runs to its end", V);
    check_eq("reinjected interrupt: delivered once", (u64)virt_count, 1);

    /* #NPF on the guest IDT (its gate for the vector) while an injected interrupt is delivered. */
    struct PACKED {
      u16 limit;
      u64 base;
    } idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    u64 gate = idtr.base + V_VIRT * 16;
    npt_identity();
    fresh(g_nothing);
    svm_enable_npt(V);
    npt_set_perms(gate & ~0xfffull, 0, PTE_P);
    V->control.eventinj = SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | V_VIRT;
    V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
    virt_count = 0;
    svm_run(V);
    V->control.tlb_control = 0;
    if (check_exitcode("#NPF on the guest IDT during delivery of an injected interrupt: EXITCODE 400h", V, SVM_EXIT_NPF)) {
      check_eq("... EXITINFO2 = GPA of the IDT gate", V->control.exitinfo2 & ~7ull, gate);
      check_eq("... EXITINFO1: not present, final translation", V->control.exitinfo1 & (NPF_P | NPF_FINAL | NPF_WALK), NPF_FINAL);
      check_eq("... EXITINTINFO = the injected interrupt", V->control.exitintinfo, SVM_EVTINJ_V | SVM_EVTINJ_TYPE_INTR | V_VIRT);
    }
    npt_set_perms(gate & ~0xfffull, PTE_P, 0);
    V->control.eventinj = V->control.exitintinfo;
    V->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
    svm_run(V);
    V->control.tlb_control = 0;
    check_guest_done("reinjected after the IDT #NPF: the guest runs to its end", V);
    check_eq("reinjected after the IDT #NPF: the interrupt was delivered once", (u64)virt_count, 1);
  } else {
    skip("#NPF during event delivery", "no nested paging");
  }
}

/* ---- NMI and INIT intercepts (§15.13.2, §15.13.3) ---------------------------------------------- */

static void test_nmi_init(void) {
  fresh(g_nmi_self);
  V->control.intercept_misc1 |= INTERCEPT_NMI;
  nmi_count = 0;
  svm_run(V);
  check_exitcode("NMI intercept: a self NMI in the guest exits (61h)", V, SVM_EXIT_NMI);
  pause_a_while();
  check_eq("NMI intercept: the guest did not take it; the host takes it after STGI", (u64)nmi_count, 1);

  /* Last: a held INIT would reset this CPU once GIF = 1, so GIF stays 0 after this exit. */
  if (tcg_skip("INIT intercept: a self INIT through the ICR exits (63h)", "resets the CPU on the guest's INIT although the INIT intercept is set")) return;
  fresh(g_init_self);
  V->control.intercept_misc1 |= INTERCEPT_INIT;
  svm_keep_gif0 = 1;
  svm_run(V);
  check_exitcode("INIT intercept: a self INIT through the ICR exits (63h)", V, SVM_EXIT_INIT);
}

void test_main(void) {
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("svm_events", "CPUID 8000_0001h ECX[2] = 0: no SVM (hvkit needs -cpu max,+svm)");
    return;
  }
  info("SVM features 0x%x", svm_caps.features);
  if (!check_eq("svm_enable", (u64)(s64)svm_enable(), (u64)(s64)NO_TRAP)) return;
  svm_maps_clear();
  apic_setup_xapic(1);
  apic_id = apic_read(APIC_ID) >> 24;
  set_trap_handler(V_EXT, h_ext);
  set_trap_handler(V_VIRT, h_virt);
  set_trap_handler(2, h_nmi);
  set_trap_handler(3, h_bp);
  test_gif();
  test_physical_interrupts();
  test_virtual_interrupts();
  test_vnmi_vgif();
  test_exitintinfo();
  test_nmi_init();
}
