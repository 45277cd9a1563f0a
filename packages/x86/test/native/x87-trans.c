/*
 * Native oracle for the x87 transcendental instructions (test/transcendental.test.ts).
 * Reads lines "op rc se1 sig1 [se2 sig2]" (hex; op: 0 fsin, 1 fcos, 2 fsincos, 3 fptan,
 * 4 f2xm1, 5 fpatan, 6 fyl2x, 7 fyl2xp1; the two-operand forms take ST(1) = first operand,
 * ST(0) = second) and prints "se sig se2 sig2 fsw" for each: the results (ST(0) after the
 * instruction, and ST(1) for FSINCOS/FPTAN) and the status word. All exceptions are masked,
 * precision control is 64 bits, rounding control = rc.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint64_t sig; uint16_t se; uint8_t pad[6]; } __attribute__((packed)) f80;

int main(void) {
  char line[256];
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);
  while (fgets(line, sizeof line, stdin)) {
    unsigned op, rc, se1, se2 = 0;
    unsigned long long s1, s2 = 0;
    int n = sscanf(line, "%x %x %x %llx %x %llx", &op, &rc, &se1, &s1, &se2, &s2);
    if (n < 4) continue;
    f80 a = { s1, (uint16_t)se1, {0} }, b = { s2, (uint16_t)se2, {0} }, r0, r1;
    memset(&r0, 0, sizeof r0); memset(&r1, 0, sizeof r1);
    uint16_t cw = (uint16_t)(0x037f | (rc & 3) << 10), sw = 0;
    switch (op) {
#define ONE(ins) __asm__ volatile("fninit\n fldcw %4\n fldt %3\n " ins "\n fnstsw %%ax\n fstpt %0\n fstpt %1\n" \
      : "=m"(r0), "=m"(r1), "=a"(sw) : "m"(a), "m"(cw) : "memory", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)")
#define TWO(ins) __asm__ volatile("fninit\n fldcw %5\n fldt %3\n fldt %4\n " ins "\n fnstsw %%ax\n fstpt %0\n fstpt %1\n" \
      : "=m"(r0), "=m"(r1), "=a"(sw) : "m"(a), "m"(b), "m"(cw) : "memory", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)")
      case 0: ONE("fsin"); break;
      case 1: ONE("fcos"); break;
      case 2: ONE("fsincos"); break;
      case 3: ONE("fptan"); break;
      case 4: ONE("f2xm1"); break;
      case 5: TWO("fpatan"); break;
      case 6: TWO("fyl2x"); break;
      case 7: TWO("fyl2xp1"); break;
      default: continue;
    }
    printf("%04x %016llx %04x %016llx %04x\n", r0.se, (unsigned long long)r0.sig, r1.se,
           (unsigned long long)r1.sig, sw);
  }
  return 0;
}
