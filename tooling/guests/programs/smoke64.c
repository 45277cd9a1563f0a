/* @guest bits=64 -- the smallest 64-bit guest: the long-mode boot stub, one exception, one trip to ring 3 */
#include "guest.h"
#include "guest64.h"

const char test_name[] = "smoke64";

DECLARE_SITE(smoke64_ud);
static NOINLINE void ud_fn(void) { __asm__ volatile(SITE(smoke64_ud) "ud2"); }
static volatile u32 user_ran;
static NOINLINE void user_fn(void) { user_ran = 1; }

void test_main(void) {
  check_eq("IA32_EFER.LMA = 1 after the boot stub", rdmsr(MSR_EFER) & EFER_LMA, EFER_LMA);
  check_trap("UD2 raises #UD with RIP at the UD2", trap_catch(ud_fn), UD_VECTOR, 0, (ulong)smoke64_ud);
  check_trap("a function runs at CPL 3 in 64-bit mode and returns", run_user(user_fn, 0), NO_TRAP, 0, 0);
  check_eq("the CPL-3 function ran", user_ran, 1);
}
