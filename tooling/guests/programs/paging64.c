/* @guest bits=64 cpu=max -- page faults under 4-level and 5-level paging, canonical addresses */
/*
 * SDM Vol. 3 §4.5 (4-level and 5-level paging), §3.3.7.1 (canonical addressing); the page
 * fault checks are in lib/pfsuite.h. 5-level paging needs CPUID.(EAX=7,ECX=0):ECX.LA57, and
 * CR4.LA57 can change only outside IA-32e mode, which set_paging() handles.
 */
#include "guest.h"
#include "guest64.h"
#include "pfsuite.h"

const char test_name[] = "paging64";

DECLARE_SITE(nc_site);
static NOINLINE void noncanonical_read(void) { __asm__ volatile(SITE(nc_site) "movb (%0), %%al" : : "r"(pf_addr) : "rax", "memory"); }
DECLARE_SITE(nc_stack_site);
static NOINLINE void noncanonical_stack(void) {
  __asm__ volatile("mov %%rsp, %%rcx; mov %0, %%rsp\n" SITE(nc_stack_site) "pushq $0\n mov %%rcx, %%rsp" : : "r"(pf_addr) : "rcx", "memory");
}

void test_main(void) {
  info("MAXPHYADDR %u, NX %d, SMEP %d, SMAP %d, LA57 %d", cpu.phys_bits, (int)HAS_NX(), (int)HAS_SMEP(), (int)HAS_SMAP(), (int)HAS_LA57());
  int nx = (int)HAS_NX();
  if (nx) wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  u64 cr4 = read_cr4() & ~(u64)CR4_LA57;

  set_paging(paging_build(PG_4L), cr4);
  check_eq("4-level paging: CR4.LA57 = 0", read_cr4() & CR4_LA57, 0);
  paging_suite(PG_4L, "4-level paging", nx);
  pf_addr = 0x0000800000000000ul;
  check_trap("4-level paging: a read at 0x0000800000000000 (bit 47 set, not sign-extended) is #GP(0)", trap_catch(noncanonical_read), GP_VECTOR, 0,
             (ulong)nc_site);
  pf_addr = 0xffff7ffffffff000ul;
  check_trap("4-level paging: a read at 0xFFFF7FFFFFFFF000 is #GP(0)", trap_catch(noncanonical_read), GP_VECTOR, 0, (ulong)nc_site);
  /* The handler cannot push onto the bad stack: deliver #SS (and #GP) on IST1 (SDM §6.14.5). */
  idt_set_ist(SS_VECTOR, 1);
  idt_set_ist(GP_VECTOR, 1);
  pf_addr = 0x0000800000000010ul;
  check_trap_tcg("4-level paging: a stack push to a non-canonical address is #SS(0)", trap_catch(noncanonical_stack), SS_VECTOR, 0,
                 (ulong)nc_stack_site, GP_VECTOR, "raises #GP, not #SS, for non-canonical stack accesses");
  idt_set_ist(SS_VECTOR, 0);
  idt_set_ist(GP_VECTOR, 0);

  if (!HAS_LA57()) {
    skip("5-level paging", "CPUID.(EAX=7,ECX=0):ECX.LA57 = 0");
  } else {
    set_paging(boot_cr3, cr4); /* off the tables paging_build rewrites */
    set_paging(paging_build(PG_5L), cr4 | CR4_LA57);
    check_eq("5-level paging: CR4.LA57 = 1 in IA-32e mode", read_cr4() & CR4_LA57, CR4_LA57);
    paging_suite(PG_5L, "5-level paging", nx);
    pf_addr = 0x0000800000000000ul;
    check_pf("5-level paging: 0x0000800000000000 is canonical (57-bit): #PF not #GP", trap_catch(noncanonical_read), 0, (ulong)nc_site, pf_addr);
    pf_addr = 0x0100000000000000ul;
    check_trap("5-level paging: a read at 0x0100000000000000 (bit 56 set, not sign-extended) is #GP(0)", trap_catch(noncanonical_read),
               GP_VECTOR, 0, (ulong)nc_site);
    set_paging(boot_cr3, cr4);
    check_eq("back to 4-level paging: CR4.LA57 = 0", read_cr4() & CR4_LA57, 0);
  }
}
