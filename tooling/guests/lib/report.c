/*
 * Check lines, the final PASS/FAIL line and the isa-debug-exit port; CPU identification.
 */
#include "guest.h"

int checks_failed;
static char first_failure[96];
struct cpu_features cpu;

void pass(const char *check) { printf("ok %s\n", check); }

void fail(const char *check, const char *fmt, ...) {
  va_list ap;
  printf("FAIL %s -- ", check);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (checks_failed++ == 0) snprintf(first_failure, sizeof first_failure, "%s", check);
}

void skip(const char *check, const char *fmt, ...) {
  va_list ap;
  printf("SKIP %s -- ", check);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

void info(const char *fmt, ...) {
  va_list ap;
  printf("# ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

int check_eq(const char *check, u64 got, u64 want) {
  if (got == want) {
    pass(check);
    return 1;
  }
  fail(check, "got 0x%llx, want 0x%llx", (unsigned long long)got, (unsigned long long)want);
  return 0;
}

int check_true(const char *check, int cond, const char *why) {
  if (cond) {
    pass(check);
    return 1;
  }
  fail(check, "%s", why);
  return 0;
}

static const char *vector_name(int v) {
  static const char *names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
                                "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
  if (v == NO_TRAP) return "no exception";
  if (v >= 0 && v < (int)ARRAY_SIZE(names)) return names[v];
  return "interrupt";
}

int check_trap(const char *check, int got, int vector, u64 error, u64 ip) {
  int ok = got == vector;
  if (ok && vector != NO_TRAP) {
    if (error != ANY_VALUE && trap.error != (u32)error) ok = 0;
    if (ip != ANY_VALUE && trap.ip != (ulong)ip) ok = 0;
  }
  if (ok) {
    pass(check);
    return 1;
  }
  char want[64], seen[80];
  if (vector == NO_TRAP) snprintf(want, sizeof want, "no exception");
  else if (error == ANY_VALUE) snprintf(want, sizeof want, "%s (%d) at 0x%llx", vector_name(vector), vector, (unsigned long long)ip);
  else snprintf(want, sizeof want, "%s (%d) error 0x%x at 0x%llx", vector_name(vector), vector, (u32)error, (unsigned long long)ip);
  if (got == NO_TRAP) snprintf(seen, sizeof seen, "no exception");
  else snprintf(seen, sizeof seen, "%s (%d) error 0x%x at 0x%lx", vector_name(got), got, trap.error, (ulong)trap.ip);
  fail(check, "got %s, want %s", seen, want);
  return 0;
}

int check_trap_tcg(const char *check, int got, int vector, u64 error, u64 ip, int tcg_got, const char *why) {
  if (cpu.is_qemu_tcg && got == tcg_got && got != vector) {
    skip(check, "QEMU TCG %s", why);
    return 1;
  }
  return check_trap(check, got, vector, error, ip);
}

int check_pf(const char *check, int got, u32 error, u64 ip, u64 cr2) {
  if (got == PF_VECTOR && trap.error == error && trap.ip == (ulong)ip && trap.cr2 == (ulong)cr2) {
    pass(check);
    return 1;
  }
  if (got == NO_TRAP) fail(check, "got no exception, want #PF error 0x%x at 0x%llx, CR2 0x%llx", error, (unsigned long long)ip, (unsigned long long)cr2);
  else
    fail(check, "got %s (%d) error 0x%x at 0x%lx CR2 0x%lx, want #PF error 0x%x at 0x%llx CR2 0x%llx", vector_name(got), got, trap.error,
         (ulong)trap.ip, (ulong)trap.cr2, error, (unsigned long long)ip, (unsigned long long)cr2);
  return 0;
}

int tcg_skip(const char *check, const char *why) {
  if (!cpu.is_qemu_tcg) return 0;
  skip(check, "QEMU TCG %s", why);
  return 1;
}

NORETURN void exit_code(u32 code) {
  /* QEMU's isa-debug-exit (iobase 0xF4): the run ends with status (code << 1) | 1. */
  outl(0xf4, code);
  /* No such device: stop with a triple fault (QEMU -no-reboot exits; hvkit stops). */
  static const struct PACKED {
    u16 limit;
    ulong base;
  } null_idt = {0, 0};
  __asm__ volatile("lidt %0; int3" : : "m"(null_idt));
  for (;;) __asm__ volatile("cli; hlt");
}

NORETURN void finish(void) {
  if (checks_failed == 0) {
    printf("PASS %s\n", test_name);
    exit_code(0);
  }
  printf("FAIL %s: %d check%s failed (first: %s)\n", test_name, checks_failed, checks_failed == 1 ? "" : "s", first_failure);
  exit_code(1);
}

NORETURN void panic(const char *fmt, ...) {
  va_list ap;
  printf("FAIL %s: ", test_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  exit_code(2);
}

void cpu_identify(void) {
  u32 a, b, c, d;
  cpuid(0, 0, &a, &b, &c, &d);
  cpu.max_leaf = a;
  memcpy(cpu.vendor, &b, 4);
  memcpy(cpu.vendor + 4, &d, 4);
  memcpy(cpu.vendor + 8, &c, 4);
  cpu.vendor[12] = 0;
  if (cpu.max_leaf >= 1) {
    cpuid(1, 0, &a, &b, &cpu.l1_ecx, &cpu.l1_edx);
  }
  if (cpu.max_leaf >= 7) {
    cpuid(7, 0, &a, &cpu.l7_ebx, &cpu.l7_ecx, &cpu.l7_edx);
  }
  cpuid(0x80000000u, 0, &a, &b, &c, &d);
  cpu.max_ext_leaf = a;
  if (cpu.max_ext_leaf >= 0x80000001u) cpuid(0x80000001u, 0, &a, &b, &cpu.e1_ecx, &cpu.e1_edx);
  cpu.phys_bits = 36;
  if (cpu.max_ext_leaf >= 0x80000008u) {
    cpuid(0x80000008u, 0, &a, &b, &c, &d);
    cpu.phys_bits = a & 0xff;
  }
  /* QEMU's TCG accelerator says so in the hypervisor leaf: "TCGTCGTCGTCG". */
  if (cpu.l1_ecx & BIT(31)) {
    cpuid(0x40000000u, 0, &a, &b, &c, &d);
    cpu.is_qemu_tcg = b == 0x54474354u && c == 0x43544743u && d == 0x47435447u;
  }
}
