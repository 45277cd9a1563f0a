/*
 * Native oracle for test/f80-native.test.ts: one x87 arithmetic operation per record on this
 * host CPU. stdin: records of 24 bytes { u16 fcw; u8 op; u8 pad; u8 a[10]; u8 b[10] } (80-bit
 * values in memory format, little-endian). op: 0 FADD, 1 FMUL, 2 FSUB, 3 FDIV (ST0 = a op b),
 * 4 FSQRT (ST0 = sqrt a), 5 FST m32 a, 6 FST m64 a. Runs FNINIT; FLDCW; FLD b; FLD a; <op>;
 * FNSAVE and writes 12 bytes per record to stdout: { u8 st0[10]; u16 fsw }; for the stores the
 * first 4 or 8 bytes are the memory operand (zero when nothing was stored). FNSAVE does not
 * wait, so unmasked exceptions stay pending and are discarded by its re-initialization.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct in {
  uint16_t fcw;
  uint8_t op, pad;
  uint8_t a[10], b[10];
} __attribute__((packed));

struct out {
  uint8_t st0[10];
  uint16_t fsw;
} __attribute__((packed));

#define RUN(INSN)                                                                    \
  __asm__ volatile("fninit\n\tfldcw %2\n\tfldt %4\n\tfldt %3\n\t" INSN "\n\tfnsave %0" \
                   : "=m"(img), "+m"(mem)                                            \
                   : "m"(r.fcw), "m"(r.a), "m"(r.b)                                  \
                   : "memory", "st", "st(1)")

int main(void) {
  static struct in r;
  static struct out o;
  static uint8_t img[108];
  static uint64_t mem;
  while (fread(&r, sizeof r, 1, stdin) == 1) {
    mem = 0;
    switch (r.op) {
      case 0: RUN("fadd %%st(1), %%st"); break;
      case 1: RUN("fmul %%st(1), %%st"); break;
      case 2: RUN("fsub %%st(1), %%st"); break;
      case 3: RUN("fdiv %%st(1), %%st"); break;
      case 4: RUN("fsqrt"); break;
      case 5: RUN("fsts %1"); break;
      default: RUN("fstl %1"); break;
    }
    memcpy(o.st0, img + 28, 10);
    if (r.op >= 5) {
      memset(o.st0, 0, 10);
      memcpy(o.st0, &mem, 8);
    }
    memcpy(&o.fsw, img + 4, 2);
    fwrite(&o, sizeof o, 1, stdout);
  }
  return 0;
}
