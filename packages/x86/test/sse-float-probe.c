/* Host-CPU oracle for the SSE floating-point engine tests (test/sse-float-native.test.ts).
 * Reads lines "OP MXCSR A B IMM" (hex; A, B 64-bit) and prints "RES MXCSR FAULT EFL" (hex):
 * RES is the low 64 bits of the destination (XMM lane 0..1 or the GPR), MXCSR after the
 * instruction (from the signal context when an unmasked exception faulted). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

static sigjmp_buf jb;
static volatile uint32_t fault_mxcsr;
static void onfpe(int sig, siginfo_t *si, void *ctx) {
  (void)sig; (void)si;
  ucontext_t *uc = ctx;
  fault_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
  siglongjmp(jb, 1);
}

#define BIN(insn) __asm__ volatile("ldmxcsr %3\n\t" insn " %2, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "x"(y), "m"(mxin))
#define IMM(insn, n) __asm__ volatile("ldmxcsr %3\n\t" insn " $" #n ", %2, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "x"(y), "m"(mxin))

typedef long long v2 __attribute__((vector_size(16)));
/* DPPS/DPPD need the imm8 in the instruction: one case per value. */
#define DP1(op, n) case n: __asm__ volatile("ldmxcsr %3\n\t" op " $" #n ", %2, %0\n\tstmxcsr %1" : "+x"(*x), "=m"(*mx) : "x"(y), "m"(mxin)); break;
#define DP16(op, h) DP1(op, 0x##h##0) DP1(op, 0x##h##1) DP1(op, 0x##h##2) DP1(op, 0x##h##3) DP1(op, 0x##h##4) DP1(op, 0x##h##5) \
  DP1(op, 0x##h##6) DP1(op, 0x##h##7) DP1(op, 0x##h##8) DP1(op, 0x##h##9) DP1(op, 0x##h##a) DP1(op, 0x##h##b) DP1(op, 0x##h##c) \
  DP1(op, 0x##h##d) DP1(op, 0x##h##e) DP1(op, 0x##h##f)
#define DP256(op) DP16(op, 0) DP16(op, 1) DP16(op, 2) DP16(op, 3) DP16(op, 4) DP16(op, 5) DP16(op, 6) DP16(op, 7) DP16(op, 8) \
  DP16(op, 9) DP16(op, a) DP16(op, b) DP16(op, c) DP16(op, d) DP16(op, e) DP16(op, f)
static void do_dpps(unsigned imm, v2 *x, v2 y, volatile unsigned *mx, unsigned mxin) {
  switch (imm) { DP256("dpps") }
}
static void do_dppd(unsigned imm, v2 *x, v2 y, volatile unsigned *mx, unsigned mxin) {
  switch (imm) { DP256("dppd") }
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = onfpe;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGFPE, &sa, 0);
  char op[32];
  unsigned mxin;
  unsigned long long a, b;
  unsigned imm;
  while (scanf("%31s %x %llx %llx %x", op, &mxin, &a, &b, &imm) == 5) {
    v2 x = {(long long)a, 0x1234567}, y = {(long long)b, 0x7654321};
    unsigned long long a1 = 0, b1 = 0;
    int dp = !strcmp(op, "dpps") || !strcmp(op, "dppd");
    if (dp) {
      if (scanf("%llx %llx", &a1, &b1) != 2) return 1;
      x[1] = (long long)a1;
      y[1] = (long long)b1;
    }
    volatile unsigned mx = 0;
    unsigned long long r = 0, efl = 0;
    int fault = 0;
    if (sigsetjmp(jb, 1)) {
      fault = 1;
      mx = fault_mxcsr;
      __asm__ volatile("ldmxcsr %0" ::"m"(mxin));
      unsigned d = 0x1f80;
      __asm__ volatile("ldmxcsr %0" ::"m"(d));
    } else {
      if (!strcmp(op, "addss")) BIN("addss");
      else if (!strcmp(op, "subss")) BIN("subss");
      else if (!strcmp(op, "mulss")) BIN("mulss");
      else if (!strcmp(op, "divss")) BIN("divss");
      else if (!strcmp(op, "minss")) BIN("minss");
      else if (!strcmp(op, "maxss")) BIN("maxss");
      else if (!strcmp(op, "sqrtss")) BIN("sqrtss");
      else if (!strcmp(op, "addsd")) BIN("addsd");
      else if (!strcmp(op, "subsd")) BIN("subsd");
      else if (!strcmp(op, "mulsd")) BIN("mulsd");
      else if (!strcmp(op, "divsd")) BIN("divsd");
      else if (!strcmp(op, "minsd")) BIN("minsd");
      else if (!strcmp(op, "maxsd")) BIN("maxsd");
      else if (!strcmp(op, "sqrtsd")) BIN("sqrtsd");
      else if (!strcmp(op, "cvtss2sd")) BIN("cvtss2sd");
      else if (!strcmp(op, "cvtsd2ss")) BIN("cvtsd2ss");
      else if (!strcmp(op, "rcpss")) BIN("rcpss");
      else if (!strcmp(op, "rsqrtss")) BIN("rsqrtss");
      else if (!strcmp(op, "cmpss") || !strcmp(op, "cmpsd") || !strcmp(op, "roundss") || !strcmp(op, "roundsd")) {
        int sd = op[3] == 's' && op[4] == 'd', rs = op[0] == 'r';
        int rd = !strcmp(op, "roundsd");
        switch (imm) {
#define C(n) case n: if (rs) { if (rd) IMM("roundsd", n); else IMM("roundss", n); } else if (sd) IMM("cmpsd", n); else IMM("cmpss", n); break;
          C(0) C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12) C(13) C(14) C(15)
        }
      } else if (!strcmp(op, "comiss") || !strcmp(op, "ucomiss") || !strcmp(op, "comisd") || !strcmp(op, "ucomisd")) {
        if (!strcmp(op, "comiss")) __asm__ volatile("ldmxcsr %4\n\tcomiss %3, %0\n\tpushfq\n\tpopq %2\n\tstmxcsr %1" : "+x"(x), "=m"(mx), "=&r"(efl) : "x"(y), "m"(mxin) : "cc");
        if (!strcmp(op, "ucomiss")) __asm__ volatile("ldmxcsr %4\n\tucomiss %3, %0\n\tpushfq\n\tpopq %2\n\tstmxcsr %1" : "+x"(x), "=m"(mx), "=&r"(efl) : "x"(y), "m"(mxin) : "cc");
        if (!strcmp(op, "comisd")) __asm__ volatile("ldmxcsr %4\n\tcomisd %3, %0\n\tpushfq\n\tpopq %2\n\tstmxcsr %1" : "+x"(x), "=m"(mx), "=&r"(efl) : "x"(y), "m"(mxin) : "cc");
        if (!strcmp(op, "ucomisd")) __asm__ volatile("ldmxcsr %4\n\tucomisd %3, %0\n\tpushfq\n\tpopq %2\n\tstmxcsr %1" : "+x"(x), "=m"(mx), "=&r"(efl) : "x"(y), "m"(mxin) : "cc");
      } else if (!strcmp(op, "cvtss2si")) __asm__ volatile("ldmxcsr %2\n\tcvtss2si %3, %k0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvtss2siq")) __asm__ volatile("ldmxcsr %2\n\tcvtss2si %3, %0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvttss2si")) __asm__ volatile("ldmxcsr %2\n\tcvttss2si %3, %k0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvttss2siq")) __asm__ volatile("ldmxcsr %2\n\tcvttss2si %3, %0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvtsd2si")) __asm__ volatile("ldmxcsr %2\n\tcvtsd2si %3, %k0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvtsd2siq")) __asm__ volatile("ldmxcsr %2\n\tcvtsd2si %3, %0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvttsd2si")) __asm__ volatile("ldmxcsr %2\n\tcvttsd2si %3, %k0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "cvttsd2siq")) __asm__ volatile("ldmxcsr %2\n\tcvttsd2si %3, %0\n\tstmxcsr %1" : "=r"(r), "=m"(mx) : "m"(mxin), "x"(y));
      else if (!strcmp(op, "dpps")) do_dpps(imm, &x, y, &mx, mxin);
      else if (!strcmp(op, "dppd")) do_dppd(imm, &x, y, &mx, mxin);
      else if (!strcmp(op, "cvtsi2ss")) __asm__ volatile("ldmxcsr %2\n\tcvtsi2ssl %k3, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "m"(mxin), "r"(b));
      else if (!strcmp(op, "cvtsi2ssq")) __asm__ volatile("ldmxcsr %2\n\tcvtsi2ssq %3, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "m"(mxin), "r"(b));
      else if (!strcmp(op, "cvtsi2sd")) __asm__ volatile("ldmxcsr %2\n\tcvtsi2sdl %k3, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "m"(mxin), "r"(b));
      else if (!strcmp(op, "cvtsi2sdq")) __asm__ volatile("ldmxcsr %2\n\tcvtsi2sdq %3, %0\n\tstmxcsr %1" : "+x"(x), "=m"(mx) : "m"(mxin), "r"(b));
      else { printf("? %s\n", op); continue; }
    }
    if (!fault && r == 0 && strncmp(op, "cvtss2si", 8) && strncmp(op, "cvttss2si", 9) && strncmp(op, "cvtsd2si", 8) && strncmp(op, "cvttsd2si", 9))
      r = (unsigned long long)x[0];
    if (fault) r = (unsigned long long)x[0];
    if (dp) printf("%llx:%llx %x %d %llx\n", (unsigned long long)x[1], (unsigned long long)x[0], mx, fault, efl & 0x8d5);
    else printf("%llx %x %d %llx\n", r, mx, fault, efl & 0x8d5);
    fflush(stdout);
  }
  return 0;
}
