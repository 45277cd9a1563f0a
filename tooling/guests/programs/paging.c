/* @guest bits=32 cpu=max -- page faults under 32-bit and PAE paging: P, R/W with WP, U/S, XD, SMEP/SMAP, reserved bits, A/D */
/*
 * SDM Vol. 3 §4.3 (32-bit paging) and §4.4 (PAE paging); the checks are in lib/pfsuite.h.
 */
#include "guest.h"
#include "guest32.h"
#include "pfsuite.h"

const char test_name[] = "paging";

void test_main(void) {
  info("MAXPHYADDR %u, NX %d, SMEP %d, SMAP %d", cpu.phys_bits, (int)HAS_NX(), (int)HAS_SMEP(), (int)HAS_SMAP());

  /* 32-bit paging: CR4.PAE = 0, CR4.PSE = 1 for the 4 MiB identity pages. */
  ulong cr3 = paging_build(PG_32);
  write_cr3(cr3);
  write_cr4((read_cr4() & ~CR4_PAE) | CR4_PSE);
  write_cr0(read_cr0() | CR0_PG);
  check_eq("32-bit paging: enabled with CR0.PG (CR4.PAE = 0)", read_cr0() & CR0_PG, CR0_PG);
  paging_suite(PG_32, "32-bit paging", 0);
  write_cr0(read_cr0() & ~CR0_PG);

  if (!HAS_PAE()) {
    skip("PAE paging", "CPUID.1:EDX.PAE = 0");
    return;
  }
  /* PAE paging with EFER.NXE when the CPU has NX. */
  cr3 = paging_build(PG_PAE);
  int nx = (int)HAS_NX();
  if (nx) wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  write_cr3(cr3);
  write_cr4(read_cr4() | CR4_PAE);
  write_cr0(read_cr0() | CR0_PG);
  check_eq("PAE paging: enabled with CR4.PAE = 1, EFER.LMA stays 0", rdmsr(MSR_EFER) & EFER_LMA, 0);
  paging_suite(PG_PAE, "PAE paging", nx);
  write_cr0(read_cr0() & ~CR0_PG);
  write_cr4(read_cr4() & ~CR4_PAE);
  if (nx) wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_NXE);
}
