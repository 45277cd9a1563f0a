/* @guest bits=64 cpu=max,+svm timeout=60 -- SVM nested paging: identity and remapped NPT, #NPF EXITINFO1/EXITINFO2, A/D bits, ASIDs, TLB_CONTROL, INVLPGA, decode assists */
/*
 * Nested paging (AMD64 APM Vol. 2 §15.25) and the TLB controls (§15.16):
 * - a guest runs on an identity nested map, and on one where a guest-physical page is backed
 *   by another host-physical page (§15.25.4: every guest-physical address goes through nCR3);
 * - #NPF (EXITCODE 400h, §15.25.6): EXITINFO1 is a #PF-style error code (P, W, U, RSVD, I/D)
 *   with bit 32 set for a fault on the final guest-physical address and bit 33 for one during
 *   the guest's page-table walk; EXITINFO2 is the faulting guest-physical address; the guest
 *   RIP is the faulting instruction's, so fixing the entry and running again completes it;
 * - accessed and dirty bits set in the nested tables (§15.25.5);
 * - ASIDs (§15.16): two guests with their own nCR3 and ASID, alternating without flushes,
 *   each see their own mapping;
 * - TLB_CONTROL 1/3/7 (§15.16.1) and INVLPGA (Vol. 3): after the host changes a guest PTE
 *   the guest may still use the old translation (the APM allows it, so that is not checked),
 *   but after a VMRUN with a flush (or INVLPGA of the page in that ASID) it must not;
 * - decode assists (§15.35.2): the instruction bytes in the VMCB (0D0h, 0D1h) on #NPF.
 * Every #NPF check is made with TLB_CONTROL = 1 on the VMRUN after a nested entry changed.
 */
#include "guest.h"
#include "guest64.h"
#include "svm.h"

const char test_name[] = "svm_npt";

static u8 page_a[4096] ALIGNED(4096);
static u8 page_b[4096] ALIGNED(4096);
static volatile u64 guest_val;
static struct vmcb *const V = &vmcbs[0];
static u64 guest_cr3;

#define MAGIC_A 0xaaaa0000aaaa0001ull
#define MAGIC_B 0xbbbb0000bbbb0002ull

/* A page of code of its own, for the execute checks: returns 0x1234 in EAX. */
__asm__(".text\n"
        ".balign 4096\n"
        ".globl npt_code_page\n"
        "npt_code_page:\n"
        "  mov $0x1234, %eax\n"
        "  ret\n"
        ".balign 4096\n");
extern char npt_code_page[];
/* The instruction whose #NPF the decode-assist check looks at: MOV RAX, [RDI] (48 8B 07). */
__asm__(".text\n"
        ".globl npt_load_rdi\n"
        "npt_load_rdi:\n"
        "  mov (%rdi), %rax\n"
        "  ret\n");
u64 npt_load_rdi(const void *p);

static void g_read_a(void) { guest_val = *(volatile u64 *)page_a; }
static void g_write_a(void) { *(volatile u64 *)page_a = MAGIC_B ^ 0xff; }
static void g_fetch(void) { guest_val = ((u64(*)(void))(ulong)npt_code_page)(); }
static void g_load_insn(void) { guest_val = npt_load_rdi(page_a); }
static void g_read_window(void) { guest_val = *(volatile u64 *)WINDOW_BASE; }

/* Runs fn in the guest with TLB_CONTROL = tlb for this VMRUN. */
static u64 run_fn(svm_guest_fn fn, u8 tlb) {
  svm_set_guest(V, fn);
  V->control.tlb_control = tlb;
  u64 code = svm_run(V);
  V->control.tlb_control = TLB_CONTROL_DO_NOTHING;
  return code;
}
/* Runs the guest again from where it stopped (after a #NPF: the faulting instruction). */
static u64 resume(u8 tlb) {
  V->control.tlb_control = tlb;
  u64 code = svm_run(V);
  V->control.tlb_control = TLB_CONTROL_DO_NOTHING;
  return code;
}

static void fresh_npt(void) {
  npt_identity();
  V->control.n_cr3 = npt_ncr3;
}

static void test_identity_and_remap(void) {
  *(volatile u64 *)page_a = MAGIC_A;
  *(volatile u64 *)page_b = MAGIC_B;
  fresh_npt();
  guest_val = 0;
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  if (check_guest_done("identity NPT: the guest runs to its end", V)) check_eq("identity NPT: the guest reads the page at its GPA", guest_val, MAGIC_A);

  /* §15.25.4: GPA page_a translated by the nested tables to HPA page_b. */
  u64 *e = npt_pte(pa(page_a));
  *e = pa(page_b) | PTE_P | PTE_W | PTE_U;
  guest_val = 0;
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  if (check_guest_done("remapped GPA: the guest runs to its end", V)) check_eq("remapped GPA: a read of GPA page_a returns HPA page_b", guest_val, MAGIC_B);
  run_fn(g_write_a, TLB_CONTROL_DO_NOTHING);
  check_guest_done("remapped GPA: a write runs to its end", V);
  check_eq("remapped GPA: the write lands in HPA page_b", *(volatile u64 *)page_b, MAGIC_B ^ 0xff);
  check_eq("remapped GPA: HPA page_a is untouched", *(volatile u64 *)page_a, MAGIC_A);
  *(volatile u64 *)page_b = MAGIC_B;
}

/* One #NPF check: the nested entry of page_a changed by (set, clear), the guest runs fn. */
static void npf_case(const char *what, svm_guest_fn fn, u64 gpa, u64 set, u64 clear, u64 info1) {
  char c[128];
  fresh_npt();
  npt_set_perms(gpa, set, clear);
  run_fn(fn, TLB_CONTROL_FLUSH_ALL);
  snprintf(c, sizeof c, "#NPF %s: EXITCODE 400h, EXITINFO1, EXITINFO2 = GPA", what);
  /* QEMU TCG reports RSVD without P, as it does for #PF (RSVD implies P: the entry is present). */
  if ((info1 & NPF_RSVD) && cpu.is_qemu_tcg && V->control.exitcode == SVM_EXIT_NPF && V->control.exitinfo1 == (info1 & ~NPF_P)) skip(c, "QEMU TCG reports RSVD without P");
  else check_exit_info(c, V, SVM_EXIT_NPF, info1, gpa);
  /* The faulting instruction has not completed: fix the entry, run again, it completes. */
  npt_set_perms(gpa, clear, set);
  resume(TLB_CONTROL_FLUSH_ALL);
  snprintf(c, sizeof c, "#NPF %s: with the entry fixed the guest resumes at the faulting instruction", what);
  check_guest_done(c, V);
}

static void test_npf(void) {
  /* §15.25.6: nested accesses are user accesses, so U is set in every EXITINFO1. */
  npf_case("not present (read)", g_read_a, pa(page_a), 0, PTE_P, NPF_FINAL | NPF_U);
  npf_case("not present (write)", g_write_a, pa(page_a), 0, PTE_P, NPF_FINAL | NPF_U | NPF_W);
  npf_case("write to a read-only page", g_write_a, pa(page_a), 0, PTE_W, NPF_FINAL | NPF_U | NPF_W | NPF_P);
  if (rdmsr(MSR_EFER) & EFER_NXE) npf_case("fetch from a no-execute page", g_fetch, pa(npt_code_page), PTE_NX, 0, NPF_FINAL | NPF_U | NPF_ID | NPF_P);
  else skip("#NPF fetch from a no-execute page", "EFER.NXE = 0");
  if (cpu.phys_bits < 52) {
    u64 rsvd = 1ull << cpu.phys_bits;
    info("reserved bit %u (MAXPHYADDR %u)", cpu.phys_bits, cpu.phys_bits);
    npf_case("reserved bit beyond MAXPHYADDR (read)", g_read_a, pa(page_a), rsvd, 0, NPF_FINAL | NPF_U | NPF_RSVD | NPF_P);
  } else {
    skip("#NPF reserved bit", "MAXPHYADDR is 52: no reserved address bits");
  }

  /* §15.25.6 bit 33: the guest's own page-table walk hits a not-present nested entry. */
  V->save.cr3 = guest_cr3;
  window_set(0, window_phys(0) | PTE_P | PTE_W);
  fresh_npt();
  u64 pte_gpa = pa(paging_entry(1));
  npt_set_perms(pte_gpa & ~0xfffull, 0, PTE_P);
  run_fn(g_read_window, TLB_CONTROL_FLUSH_ALL);
  const struct vmcb_control *ctl = &V->control;
  if (check_exitcode("#NPF in the guest page-table walk: EXITCODE 400h", V, SVM_EXIT_NPF)) {
    check_eq("#NPF in the guest page-table walk: EXITINFO1 bit 33 set, bit 32 clear", ctl->exitinfo1 & (NPF_WALK | NPF_FINAL), NPF_WALK);
    check_eq("#NPF in the guest page-table walk: EXITINFO1.P = 0 (not present)", ctl->exitinfo1 & NPF_P, 0);
    check_eq("#NPF in the guest page-table walk: EXITINFO2 = GPA of the guest PTE", ctl->exitinfo2, pte_gpa);
  }
  npt_set_perms(pte_gpa & ~0xfffull, PTE_P, 0);
  resume(TLB_CONTROL_FLUSH_ALL);
  check_guest_done("#NPF in the guest page-table walk: resumes once the nested entry is present", V);
  V->save.cr3 = read_cr3();
}

static void test_ad_bits(void) {
  /* §15.25.5: the nested walk sets A in every nested entry it uses, D in the leaf on a write. */
  fresh_npt();
  u64 *e = npt_pte(pa(page_a));
  *e &= ~(PTE_A | PTE_D);
  *npt_pde(pa(page_a)) &= ~PTE_A;
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  check_guest_done("A/D: the guest reads the page", V);
  check_eq("A/D: a read sets A in the nested PTE", *e & PTE_A, PTE_A);
  check_eq("A/D: a read sets A in the nested PDE", *npt_pde(pa(page_a)) & PTE_A, PTE_A);
  check_eq("A/D: a read leaves D clear in the nested PTE", *e & PTE_D, 0);
  run_fn(g_write_a, TLB_CONTROL_FLUSH_ALL);
  check_guest_done("A/D: the guest writes the page", V);
  check_eq("A/D: a write sets D in the nested PTE", *e & PTE_D, PTE_D);
  *(volatile u64 *)page_a = MAGIC_A;
}

/* A second identity nested map of 0-4 GiB whose page_a is backed by page_b. */
static u64 npt2_pml4[512] ALIGNED(4096), npt2_pdpt[512] ALIGNED(4096), npt2_pd[4][512] ALIGNED(4096), npt2_pt[512] ALIGNED(4096);
static u64 npt2_build(void) {
  memset(npt2_pml4, 0, sizeof npt2_pml4);
  npt2_pml4[0] = pa(npt2_pdpt) | PTE_P | PTE_W | PTE_U;
  for (u64 g = 0; g < 4; g++) {
    npt2_pdpt[g] = pa(npt2_pd[g]) | PTE_P | PTE_W | PTE_U;
    for (u64 i = 0; i < 512; i++) npt2_pd[g][i] = ((g << 30) | (i << 21)) | PTE_P | PTE_W | PTE_U | PTE_PS;
  }
  u64 base = pa(page_a) & ~0x1fffffull;
  for (u64 i = 0; i < 512; i++) npt2_pt[i] = (base + (i << 12)) | PTE_P | PTE_W | PTE_U;
  npt2_pt[(pa(page_a) >> 12) & 511] = pa(page_b) | PTE_P | PTE_W | PTE_U;
  npt2_pd[(base >> 30) & 3][(base >> 21) & 511] = pa(npt2_pt) | PTE_P | PTE_W | PTE_U;
  return pa(npt2_pml4);
}

static void test_asids(void) {
  struct vmcb *W = &vmcbs[1];
  fresh_npt();
  svm_vmcb_init_fn(W, g_read_a);
  W->control.guest_asid = 2;
  W->control.np_enable = NP_ENABLE;
  W->control.n_cr3 = npt2_build();
  int ok = 1;
  for (int round = 0; round < 3 && ok; round++) {
    guest_val = 0;
    run_fn(g_read_a, round == 0 ? TLB_CONTROL_FLUSH_ALL : TLB_CONTROL_DO_NOTHING);
    ok &= svm_guest_done(V) && guest_val == MAGIC_A;
    guest_val = 0;
    svm_set_guest(W, g_read_a);
    svm_run(W);
    ok &= svm_guest_done(W) && guest_val == MAGIC_B;
  }
  check_true("ASIDs: guests with ASID 1 (identity) and ASID 2 (page_a -> page_b) alternate without flushes and see their own pages", ok,
             "a guest saw the other's translation");
}

/* A guest PTE changed by the host becomes visible after a VMRUN with TLB_CONTROL = tlb (or INVLPGA). */
static void tlb_case(const char *check, u8 tlb, int use_invlpga) {
  V->save.cr3 = guest_cr3;
  *(volatile u64 *)window_frames[1] = 0x1111;
  *(volatile u64 *)window_frames[2] = 0x2222;
  window_set(0, window_phys(1) | PTE_P | PTE_W);
  fresh_npt();
  run_fn(g_read_window, TLB_CONTROL_FLUSH_ALL);
  int ok = svm_guest_done(V) && guest_val == 0x1111;
  window_set(0, window_phys(2) | PTE_P | PTE_W);
  if (use_invlpga) invlpga(WINDOW_BASE, V->control.guest_asid);
  run_fn(g_read_window, tlb);
  ok = ok && svm_guest_done(V);
  if (ok) check_eq(check, guest_val, 0x2222);
  else fail(check, "the guest did not run to its end");
  V->save.cr3 = read_cr3();
}

static void test_tlb_control(void) {
  tlb_case("TLB_CONTROL 1 (flush all): a changed guest PTE is used", TLB_CONTROL_FLUSH_ALL, 0);
  if (SVM_HAS(SVM_FEAT_FLUSH_BY_ASID)) {
    tlb_case("TLB_CONTROL 3 (flush this ASID): a changed guest PTE is used", TLB_CONTROL_FLUSH_ASID, 0);
    tlb_case("TLB_CONTROL 7 (flush this ASID's non-global entries): a changed non-global guest PTE is used", TLB_CONTROL_FLUSH_ASID_NONGLOBAL, 0);
  } else {
    skip("TLB_CONTROL 3 and 7", "CPUID 8000_000Ah EDX[6] (FlushByAsid) = 0");
  }
  tlb_case("INVLPGA of the page in the guest's ASID: a changed guest PTE is used", TLB_CONTROL_DO_NOTHING, 1);
  /* A nested entry changed between runs: visible after TLB_CONTROL 1. */
  fresh_npt();
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  *npt_pte(pa(page_a)) = pa(page_b) | PTE_P | PTE_W | PTE_U;
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  if (check_guest_done("TLB_CONTROL 1 after a nested PTE change: the guest runs", V))
    check_eq("TLB_CONTROL 1 after a nested PTE change: the new backing page is used", guest_val, MAGIC_B);
  /* A different nCR3 for the same ASID (§15.16: software flushes; with TLB_CONTROL 3 it must take effect). */
  fresh_npt();
  run_fn(g_read_a, TLB_CONTROL_FLUSH_ALL);
  int first = svm_guest_done(V) && guest_val == MAGIC_A;
  V->control.n_cr3 = npt2_build();
  run_fn(g_read_a, SVM_HAS(SVM_FEAT_FLUSH_BY_ASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL);
  if (check_true("new nCR3 with a flush: the guest runs on both maps", first && svm_guest_done(V), "the guest did not run to its end"))
    check_eq("new nCR3 with a flush: the new nested map is used", guest_val, MAGIC_B);
  V->control.n_cr3 = npt_ncr3;
}

static void test_decode_assists(void) {
  if (!SVM_HAS(SVM_FEAT_DECODE_ASSISTS)) {
    skip("decode assists: instruction bytes on #NPF", "CPUID 8000_000Ah EDX[7] (DecodeAssists) = 0");
    return;
  }
  fresh_npt();
  npt_set_perms(pa(page_a), 0, PTE_P);
  run_fn(g_load_insn, TLB_CONTROL_FLUSH_ALL);
  if (!check_exit_info("decode assists: #NPF of MOV RAX, [RDI]", V, SVM_EXIT_NPF, NPF_FINAL | NPF_U, pa(page_a))) return;
  const struct vmcb_control *c = &V->control;
  u32 n = c->guest_insn_bytes_count;
  info("decode assists: %u bytes fetched", n);
  check_true("decode assists: 3 to 15 instruction bytes fetched (the MOV and what follows)", n >= 3 && n <= 15, "count out of range");
  int same = n <= 15;
  for (u32 i = 0; i < n && i < 15; i++) same &= c->guest_insn_bytes[i] == ((const u8 *)(ulong)npt_load_rdi)[i];
  check_true("decode assists: the bytes are those at the guest RIP (48 8B 07, C3...)", same && c->guest_insn_bytes[0] == 0x48 && c->guest_insn_bytes[1] == 0x8b && c->guest_insn_bytes[2] == 0x07,
             "different bytes");
  check_eq("decode assists: guest RIP = the MOV", V->save.rip, (u64)(ulong)npt_load_rdi);
  npt_set_perms(pa(page_a), PTE_P, 0);
  resume(TLB_CONTROL_FLUSH_ALL);
  check_guest_done("decode assists: the guest resumes", V);
}

void test_main(void) {
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("svm_npt", "CPUID 8000_0001h ECX[2] = 0: no SVM (hvkit needs -cpu max,+svm)");
    return;
  }
  if (!SVM_HAS(SVM_FEAT_NP)) {
    skip("svm_npt", "CPUID 8000_000Ah EDX[0] (NP) = 0: no nested paging");
    return;
  }
  info("SVM features 0x%x, %u ASIDs, MAXPHYADDR %u", svm_caps.features, svm_caps.nasid, cpu.phys_bits);
  if (HAS_NX()) wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  if (!check_eq("svm_enable", (u64)(s64)svm_enable(), (u64)(s64)NO_TRAP)) return;
  svm_maps_clear();
  guest_cr3 = paging_build(PG_4L);
  svm_vmcb_init_fn(V, g_read_a);
  V->control.np_enable = NP_ENABLE;
  fresh_npt();
  test_identity_and_remap();
  test_npf();
  test_ad_bits();
  test_asids();
  test_tlb_control();
  test_decode_assists();
  svm_disable();
}
