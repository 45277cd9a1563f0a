/*
 * The page-fault checks, shared by the 32-bit program (32-bit and PAE paging) and the 64-bit
 * program (4-level and 5-level paging). Included by one program only; the caller builds the
 * tables (paging_build), turns paging on, runs paging_suite() and turns paging off again.
 *
 * SDM Vol. 3 §4.6 ("Access Rights"), §4.7 ("Page-Fault Exceptions"), §4.8 ("Accessed and
 * Dirty Flags"). Every check compares the error code, the pushed instruction pointer and CR2.
 */
#ifndef HVKIT_PFSUITE_H
#define HVKIT_PFSUITE_H

#include "guest.h"

static volatile ulong pf_addr;

DECLARE_SITE(pfs_read_site);
static NOINLINE void pfs_read(void) { __asm__ volatile(SITE(pfs_read_site) "movb (%0), %%al" : : "r"(pf_addr) : "eax", "memory"); }
DECLARE_SITE(pfs_write_site);
static NOINLINE void pfs_write(void) { __asm__ volatile(SITE(pfs_write_site) "movb $0x5a, (%0)" : : "r"(pf_addr) : "memory"); }
static NOINLINE void pfs_exec(void) { ((void (*)(void))pf_addr)(); }
DECLARE_SITE(pfs_uread_site);
static NOINLINE void pfs_uread(void) { __asm__ volatile(SITE(pfs_uread_site) "movb (%0), %%al" : : "r"(pf_addr) : "eax", "memory"); }
DECLARE_SITE(pfs_uwrite_site);
static NOINLINE void pfs_uwrite(void) { __asm__ volatile(SITE(pfs_uwrite_site) "movb $0x5a, (%0)" : : "r"(pf_addr) : "memory"); }
static NOINLINE void pfs_uexec(void) { ((void (*)(void))pf_addr)(); }
static NOINLINE void pfs_read_ac(void) {
  /* A supervisor read with EFLAGS.AC = 1 (what STAC does), for SMAP. */
  write_flags(read_flags() | FL_AC);
  __asm__ volatile("movb (%0), %%al" : : "r"(pf_addr) : "eax", "memory");
  write_flags(read_flags() & ~(ulong)FL_AC);
}

static const char *pfs_prefix;
static char pfs_name[200];
static const char *pfs(const char *what) {
  snprintf(pfs_name, sizeof pfs_name, "%s: %s", pfs_prefix, what);
  return pfs_name;
}

/* Window page i mapped to its frame with `flags`; the accesses go to offset 0x20 (a RET for fetches). */
static ulong pfs_page(int i, u64 flags) {
  window_frames[i][0x20] = 0xc3;
  window_set(i, window_phys(i) | flags);
  return WINDOW_BASE + (ulong)i * 4096 + 0x20;
}

static void set_wp(int on) { write_cr0(on ? read_cr0() | CR0_WP : read_cr0() & ~CR0_WP); }

/*
 * A reserved-bit fault: RSVD implies P in the error code (SDM §4.7: "bit 3 of the error code
 * can be set only if bit 0 is also set"). QEMU 7.2 TCG reports RSVD without P: SKIP there.
 */
static void pfs_check_rsvd(const char *name, int got, u32 error, u64 ip, u64 cr2) {
  if (cpu.is_qemu_tcg && got == PF_VECTOR && trap.error == (error & ~PFERR_P) && trap.ip == (ulong)ip && trap.cr2 == (ulong)cr2) {
    skip(name, "QEMU TCG reports reserved-bit page faults without the P bit (error 0x%x)", trap.error);
    return;
  }
  check_pf(name, got, error, ip, cr2);
}

/* One reserved-bit check at paging-structure `level` (64-bit entries), through its alias. */
static void pfs_reserved(int level, u64 bit, const char *what) {
  u64 *e = paging_entry(level);
  u64 saved = *e;
  pfs_page(0, PTE_P | PTE_W | PTE_U);
  *e |= bit;
  paging_flush();
  pf_addr = paging_alias(level) + 8;
  pfs_check_rsvd(pfs(what), trap_catch(pfs_read), PFERR_P | PFERR_RSVD, (ulong)pfs_read_site, pf_addr);
  *e = saved;
  paging_flush();
}

/*
 * `nx`: EFER.NXE is on (PAE and 4/5-level paging on a CPU with NX), so the XD bit exists and
 * instruction fetches report I/D.
 */
static void paging_suite(enum paging_mode mode, const char *prefix, int nx) {
  pfs_prefix = prefix;
  const u32 fetch_id = nx ? PFERR_ID : 0;
  const u64 pwu = PTE_P | PTE_W | PTE_U;
  set_wp(1);

  /* ---- present pages, accessed and dirty flags (§4.8) ---- */
  pf_addr = pfs_page(0, pwu);
  window_pde_set(0, PTE_A);
  window_frames[0][0x20] = 0xc3;
  check_trap(pfs("CPL-0 read of a present page"), trap_catch(pfs_read), NO_TRAP, 0, 0);
  check_eq(pfs("a read sets A, not D, in the PTE"), window_get(0) & (PTE_A | PTE_D), PTE_A);
  check_eq(pfs("a read sets A in the PDE that maps it"), window_pde_get() & PTE_A, PTE_A);
  check_trap(pfs("CPL-0 write to a present writable page"), trap_catch(pfs_write), NO_TRAP, 0, 0);
  check_eq(pfs("a write sets D in the PTE"), window_get(0) & (PTE_A | PTE_D), PTE_A | PTE_D);
  check_eq(pfs("the write reached the frame"), window_frames[0][0x20], 0x5a);

  /* ---- P (§4.7: bit 0 of the error code is 0 for a not-present page) ---- */
  pf_addr = pfs_page(1, 0) + 0x5;
  check_pf(pfs("not-present read: error 0"), trap_catch(pfs_read), 0, (ulong)pfs_read_site, pf_addr);
  check_pf(pfs("not-present write: error W"), trap_catch(pfs_write), PFERR_W, (ulong)pfs_write_site, pf_addr);
  pf_addr = pfs_page(1, 0);
  check_pf(pfs(nx ? "not-present fetch: error I/D (NXE = 1)" : "not-present fetch: error 0 (no I/D without NXE or SMEP)"), trap_catch(pfs_exec),
           fetch_id, pf_addr, pf_addr);
  pf_addr = pfs_page(1, 0) + 0x7;
  check_pf(pfs("CPL-3 not-present read: error U"), run_user(pfs_uread, 0), PFERR_U, (ulong)pfs_uread_site, pf_addr);
  check_pf(pfs("CPL-3 not-present write: error W|U"), run_user(pfs_uwrite, 0), PFERR_W | PFERR_U, (ulong)pfs_uwrite_site, pf_addr);
  /* A not-present PDE: the walk stops there. */
  pf_addr = pfs_page(1, pwu);
  window_pde_set(0, PTE_P);
  check_pf(pfs("not-present PDE: error 0"), trap_catch(pfs_read), 0, (ulong)pfs_read_site, pf_addr);
  window_pde_set(PTE_P, 0);

  /* ---- R/W and CR0.WP (§4.6) ---- */
  pf_addr = pfs_page(2, PTE_P | PTE_U);
  window_frames[2][0x20] = 0x11;
  check_pf(pfs("CPL-0 write to a read-only page with CR0.WP = 1: error P|W"), trap_catch(pfs_write), PFERR_P | PFERR_W,
           (ulong)pfs_write_site, pf_addr);
  check_eq(pfs("the faulting write changed nothing"), window_frames[2][0x20], 0x11);
  set_wp(0);
  check_trap(pfs("CPL-0 write to a read-only page with CR0.WP = 0 succeeds"), trap_catch(pfs_write), NO_TRAP, 0, 0);
  check_eq(pfs("the CR0.WP = 0 write reached the frame"), window_frames[2][0x20], 0x5a);
  check_pf(pfs("CPL-3 write to a read-only page faults even with CR0.WP = 0: error P|W|U"), run_user(pfs_uwrite, 0),
           PFERR_P | PFERR_W | PFERR_U, (ulong)pfs_uwrite_site, pf_addr);
  set_wp(1);
  pf_addr = pfs_page(2, pwu);
  window_pde_set(0, PTE_W);
  check_pf(pfs("R/W = 0 in the PDE makes a writable PTE read-only: error P|W"), trap_catch(pfs_write), PFERR_P | PFERR_W,
           (ulong)pfs_write_site, pf_addr);
  window_pde_set(PTE_W, 0);

  /* ---- U/S (§4.6) ---- */
  pf_addr = pfs_page(3, PTE_P | PTE_W);
  check_pf(pfs("CPL-3 read of a supervisor page: error P|U"), run_user(pfs_uread, 0), PFERR_P | PFERR_U, (ulong)pfs_uread_site, pf_addr);
  check_pf(pfs("CPL-3 write to a supervisor page: error P|W|U"), run_user(pfs_uwrite, 0), PFERR_P | PFERR_W | PFERR_U,
           (ulong)pfs_uwrite_site, pf_addr);
  check_pf(pfs("CPL-3 fetch from a supervisor page: error P|U"), run_user(pfs_uexec, 0), PFERR_P | PFERR_U | fetch_id, pf_addr, pf_addr);
  check_trap(pfs("CPL-0 read of a supervisor page"), trap_catch(pfs_read), NO_TRAP, 0, 0);
  pf_addr = pfs_page(3, pwu);
  check_trap(pfs("CPL-3 read of a user page"), run_user(pfs_uread, 0), NO_TRAP, 0, 0);
  check_trap(pfs("CPL-3 fetch from a user page"), run_user(pfs_uexec, 0), NO_TRAP, 0, 0);
  check_trap(pfs("CPL-3 write to a user page"), run_user(pfs_uwrite, 0), NO_TRAP, 0, 0);
  window_pde_set(0, PTE_U);
  check_pf(pfs("U/S = 0 in the PDE makes a user PTE supervisor: error P|U"), run_user(pfs_uread, 0), PFERR_P | PFERR_U,
           (ulong)pfs_uread_site, pf_addr);
  window_pde_set(PTE_U, 0);

  /* ---- XD (§4.6, IA32_EFER.NXE) ---- */
  if (mode != PG_32) {
    if (nx) {
      pf_addr = pfs_page(4, pwu | PTE_NX);
      check_pf(pfs("CPL-0 fetch from an XD page: error P|I/D"), trap_catch(pfs_exec), PFERR_P | PFERR_ID, pf_addr, pf_addr);
      check_pf(pfs("CPL-3 fetch from an XD page: error P|U|I/D"), run_user(pfs_uexec, 0), PFERR_P | PFERR_U | PFERR_ID, pf_addr, pf_addr);
      check_trap(pfs("CPL-0 read of an XD page"), trap_catch(pfs_read), NO_TRAP, 0, 0);
      pf_addr = pfs_page(4, pwu);
      window_pde_set(PTE_NX, 0);
      check_pf(pfs("XD in the PDE forbids fetches from the pages below it"), trap_catch(pfs_exec), PFERR_P | PFERR_ID, pf_addr, pf_addr);
      window_pde_set(0, PTE_NX);
      check_trap(pfs("fetch from a page without XD"), trap_catch(pfs_exec), NO_TRAP, 0, 0);
      /* With EFER.NXE = 0, bit 63 is reserved (§4.4.2, §4.5.4). */
      wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_NXE);
      pf_addr = pfs_page(4, pwu | PTE_NX);
      pfs_check_rsvd(pfs("XD set with EFER.NXE = 0 is a reserved bit: error P|RSVD"), trap_catch(pfs_read), PFERR_P | PFERR_RSVD,
               (ulong)pfs_read_site, pf_addr);
      wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
      pfs_page(4, pwu);
    } else {
      skip(pfs("XD checks"), "CPUID.80000001H:EDX.NX = 0");
    }
  }

  /* ---- reserved bits (§4.7: RSVD, error code bit 3) ---- */
  if (mode == PG_32) {
    /* A 4 MiB page (CR4.PSE = 1): bit 21 of the PDE is reserved (§4.3, Table 4-4). */
    u32 *pde = paging_pde32((int)(WINDOW_BASE >> 22) + 1);
    *pde = 0x00000000u | (u32)(PTE_P | PTE_W | PTE_U | PTE_PS) | (1u << 21);
    paging_flush();
    pf_addr = WINDOW_BASE + (4ul << 20) + 0x30;
    pfs_check_rsvd(pfs("4 MiB PDE with reserved bit 21 set: error P|RSVD"), trap_catch(pfs_read), PFERR_P | PFERR_RSVD, (ulong)pfs_read_site,
                   pf_addr);
    pfs_check_rsvd(pfs("CPL-3 write through it: error P|W|U|RSVD"), run_user(pfs_uwrite, 0), PFERR_P | PFERR_W | PFERR_U | PFERR_RSVD,
             (ulong)pfs_uwrite_site, pf_addr);
    *pde = 0;
    paging_flush();
  } else if (cpu.phys_bits < 52) {
    /* Check names do not name the bit, so that runs on CPUs with other MAXPHYADDRs compare. */
    u64 bit = BIT64(cpu.phys_bits);
    info("%s: the reserved-bit checks set bit %u (MAXPHYADDR)", prefix, cpu.phys_bits);
    pfs_reserved(1, bit, "PTE with bit MAXPHYADDR set: error P|RSVD");
    pfs_reserved(2, bit, "PDE with bit MAXPHYADDR set: error P|RSVD");
    if (mode != PG_PAE) {
      pfs_reserved(3, bit, "PDPTE with bit MAXPHYADDR set: error P|RSVD");
      pfs_reserved(4, bit, "PML4E with bit MAXPHYADDR set: error P|RSVD");
      pfs_reserved(4, PTE_PS, "PML4E with PS (bit 7) set: error P|RSVD");
      if (mode == PG_5L) pfs_reserved(5, bit, "PML5E with bit MAXPHYADDR set: error P|RSVD");
    }
  } else {
    skip(pfs("reserved physical-address bits"), "MAXPHYADDR is 52");
  }

  /* ---- SMEP and SMAP (§4.6.1) ---- */
  if (HAS_SMEP()) {
    identity_user(0); /* the kernel runs from supervisor pages */
    write_cr4(read_cr4() | CR4_SMEP);
    pf_addr = pfs_page(5, pwu);
    check_pf(pfs("SMEP: CPL-0 fetch from a user page: error P|I/D"), trap_catch(pfs_exec), PFERR_P | PFERR_ID, pf_addr, pf_addr);
    check_trap(pfs("SMEP: CPL-0 read of a user page"), trap_catch(pfs_read), NO_TRAP, 0, 0);
    pf_addr = pfs_page(5, PTE_P | PTE_W);
    check_trap(pfs("SMEP: CPL-0 fetch from a supervisor page"), trap_catch(pfs_exec), NO_TRAP, 0, 0);
    write_cr4(read_cr4() & ~CR4_SMEP);
    identity_user(1);
  } else {
    skip(pfs("SMEP checks"), "CPUID.(EAX=7,ECX=0):EBX.SMEP = 0");
  }
  if (HAS_SMAP()) {
    identity_user(0);
    write_cr4(read_cr4() | CR4_SMAP);
    pf_addr = pfs_page(6, pwu);
    check_pf(pfs("SMAP: CPL-0 read of a user page with EFLAGS.AC = 0: error P"), trap_catch(pfs_read), PFERR_P, (ulong)pfs_read_site, pf_addr);
    check_pf(pfs("SMAP: CPL-0 write to a user page with EFLAGS.AC = 0: error P|W"), trap_catch(pfs_write), PFERR_P | PFERR_W,
             (ulong)pfs_write_site, pf_addr);
    check_trap(pfs("SMAP: CPL-0 read of a user page with EFLAGS.AC = 1"), trap_catch(pfs_read_ac), NO_TRAP, 0, 0);
    check_trap(pfs("SMAP: CPL-0 fetch from a user page (not an SMAP matter)"), trap_catch(pfs_exec), NO_TRAP, 0, 0);
    write_cr4(read_cr4() & ~CR4_SMAP);
    identity_user(1);
  } else {
    skip(pfs("SMAP checks"), "CPUID.(EAX=7,ECX=0):EBX.SMAP = 0");
  }
}

#endif
