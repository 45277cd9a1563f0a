/* @guest bits=32 -- the smallest guest: boot, COM1, one exception, one trip to ring 3, PASS */
/*
 * The first program a new CPU core should run: it needs the Multiboot entry state, port I/O
 * (COM1 and isa-debug-exit), LGDT/LIDT/LTR, one fault through the IDT and an IRET to ring 3.
 */
#include "guest.h"

const char test_name[] = "smoke";

DECLARE_SITE(smoke_ud);
static NOINLINE void ud_fn(void) { __asm__ volatile(SITE(smoke_ud) "ud2"); }
static volatile u32 user_ran;
static NOINLINE void user_fn(void) { user_ran = 1; }

void test_main(void) {
  check_eq("CR0.PE = 1 at the Multiboot entry", read_cr0() & CR0_PE, CR0_PE);
  check_trap("UD2 raises #UD with EIP at the UD2", trap_catch(ud_fn), UD_VECTOR, 0, (ulong)smoke_ud);
  check_trap("a function runs at CPL 3 and returns", run_user(user_fn, 0), NO_TRAP, 0, 0);
  check_eq("the CPL-3 function ran", user_ran, 1);
}
