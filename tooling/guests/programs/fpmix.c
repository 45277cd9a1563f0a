/* @guest bits=64 cpu=max timeout=60 -- x87, SSE/SSE2, SSE3, SSSE3, SSE4.1, SSE4.2: every result printed as exact hex, compared with the same file built natively (test/fpmix.test.ts) */
/*
 * One computation, two builds. Built as a guest (the default), this file is a 64-bit Multiboot
 * kernel on the guests library; built with -DFPMIX_NATIVE it is a Linux program (see
 * test/fpmix.test.ts, which compiles it with the host gcc). Both print the same lines:
 *
 *     = <name> <hex>          a result, bit for bit (compared between the two builds)
 *     ok <check>              (guest only) a result checked against a known architectural value
 *
 * so hvkit running the guest must print exactly what this machine's CPU prints natively.
 *
 * The guests are compiled with -mgeneral-regs-only, so C never touches the x87 or XMM registers
 * on its own: the x87 work is inline assembly on memory operands (the x87 stack belongs to this
 * file between the asm statements), and the SSE work is enabled below by a target pragma
 * (SSE4.2, POPCNT, fpmath=sse), after test_main has set CR4.OSFXSR/OSXMMEXCPT (SDM Vol. 3
 * §2.5, §13.1; AMD APM Vol. 2 §11.3). Every input comes from a volatile object so that gcc
 * cannot fold a result at compile time, and operations that depend on MXCSR.RC sit between
 * asm barriers so that gcc cannot move them across the LDMXCSR.
 */
#ifdef FPMIX_NATIVE
#include <stdint.h>
#include <stdio.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;
#define NOINLINE __attribute__((noinline))
static void emit(const char *s) { fputs(s, stdout); }
static void check_value(const char *check, u64 got, u64 want) { (void)check; (void)got; (void)want; }
#else
#include "guest.h"
#include "guest64.h"

const char test_name[] = "fpmix";
static void emit(const char *s) { printf("%s", s); }
/* Known architectural values: these are checks on the guest (hvkit and QEMU alike). */
static void check_value(const char *check, u64 got, u64 want) { check_eq(check, got, want); }
static void fpmix_run(void);

#define CR4_OSFXSR BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define CR4_OSXSAVE BIT(18)

static void enable_sse(void) { write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT); }
static void xsetbv_3(void) { __asm__ volatile("xsetbv" : : "c"(0), "a"(3), "d"(0)); }

/* Compiled without SSE (this part is above the target pragma): sets up the FPU, then runs
 * fpmix_run under trap_catch so an unexpected exception ends the run with its vector and RIP. */
void test_main(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  info("CPUID.01H:EDX %08x ECX %08x", d, c);
  /* CR0.MP = 1, EM = 0, TS = 0, NE = 1: x87 present, native error reporting (SDM Vol. 3 §9.2.1, Table 9-3). */
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(ulong)(CR0_EM | CR0_TS));
  int v = trap_catch(enable_sse);
  if (v != NO_TRAP) panic("setting CR4.OSFXSR|OSXMMEXCPT raised vector %d at RIP %lx (no FXSR/SSE?)", v, (ulong)trap.ip);
  if (c & BIT(26)) {
    /* XSAVE: CR4.OSXSAVE, then XCR0 = x87 | SSE (SDM Vol. 1 §13.3). */
    write_cr4(read_cr4() | CR4_OSXSAVE);
    v = trap_catch(xsetbv_3);
    if (v != NO_TRAP) info("XSETBV raised vector %d", v);
  }
  v = trap_catch(fpmix_run);
  if (v != NO_TRAP) panic("unexpected exception in the FP code: vector %d, error code %x, at RIP %lx", v, trap.error, (ulong)trap.ip);
}
#endif

#pragma GCC target("sse4.2,popcnt,fpmath=sse")
/* xmmintrin.h includes mm_malloc.h, which needs the C library's stdlib.h: not for a kernel. */
#define _MM_MALLOC_H_INCLUDED
#include <nmmintrin.h>
#include <pmmintrin.h>
#include <smmintrin.h>
#include <tmmintrin.h>

/* ---- output -------------------------------------------------------------------------- */

static char line_buf[160];

static char *put_str(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}
static char *put_hex(char *p, u64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) *p++ = "0123456789abcdef"[(v >> (i * 4)) & 15];
  return p;
}
/* "= name hex" with `digits` hex digits. */
static void out(const char *name, u64 v, int digits) {
  char *p = put_str(line_buf, "= ");
  p = put_str(p, name);
  *p++ = ' ';
  p = put_hex(p, v, digits);
  *p++ = '\n';
  *p = 0;
  emit(line_buf);
}
static void out64(const char *name, u64 v) { out(name, v, 16); }
static void out32(const char *name, u32 v) { out(name, v, 8); }
static void out16(const char *name, u16 v) { out(name, v, 4); }
static void out128(const char *name, __m128i x) {
  u64 q[2];
  _mm_storeu_si128((__m128i *)q, x);
  char *p = put_str(line_buf, "= ");
  p = put_str(p, name);
  *p++ = ' ';
  p = put_hex(p, q[1], 16);
  *p++ = ':';
  p = put_hex(p, q[0], 16);
  *p++ = '\n';
  *p = 0;
  emit(line_buf);
}
/* Names built from a prefix and an index: "name.3". */
static char name_buf[64];
static const char *nm(const char *base, int i) {
  char *p = put_str(name_buf, base);
  *p++ = '.';
  if (i >= 10) *p++ = (char)('0' + i / 10 % 10);
  *p++ = (char)('0' + i % 10);
  *p = 0;
  return name_buf;
}

static u64 dbits(double x) {
  u64 b;
  __builtin_memcpy(&b, &x, 8);
  return b;
}
static double bitsd(u64 b) {
  double x;
  __builtin_memcpy(&x, &b, 8);
  return x;
}
static u32 fbits(float x) {
  u32 b;
  __builtin_memcpy(&b, &x, 4);
  return b;
}
static float bitsf(u32 b) {
  float x;
  __builtin_memcpy(&x, &b, 4);
  return x;
}

/* ---- x87 primitives (SDM Vol. 1 ch. 8; Vol. 2 instruction pages) ---------------------- */

/* The 80-bit extended format in memory: 64-bit significand, then sign and exponent. */
typedef struct {
  u64 m;
  u16 se;
} __attribute__((packed)) f80;
typedef struct {
  u8 b[10];
} bcd80;

#define X(ins) __asm__ volatile(ins ::: "memory")
static inline void ld80(const f80 *p) { __asm__ volatile("fldt %0" : : "m"(*p) : "memory"); }
static inline void st80(f80 *p) { __asm__ volatile("fstpt %0" : "=m"(*p) : : "memory"); }
static inline void ldd(u64 bits) { __asm__ volatile("fldl %0" : : "m"(bits) : "memory"); }
static inline u64 std_(void) {
  u64 v;
  __asm__ volatile("fstpl %0" : "=m"(v) : : "memory");
  return v;
}
static inline u32 sts_(void) {
  u32 v;
  __asm__ volatile("fstps %0" : "=m"(v) : : "memory");
  return v;
}
static inline void ldf(u32 bits) { __asm__ volatile("flds %0" : : "m"(bits) : "memory"); }
static inline void ildq(s64 v) { __asm__ volatile("fildll %0" : : "m"(v) : "memory"); }
static inline void ildl(s32 v) { __asm__ volatile("fildl %0" : : "m"(v) : "memory"); }
static inline u64 istq(void) {
  u64 v;
  __asm__ volatile("fistpll %0" : "=m"(v) : : "memory");
  return v;
}
static inline u32 istl(void) {
  u32 v;
  __asm__ volatile("fistpl %0" : "=m"(v) : : "memory");
  return v;
}
static inline u16 ists(void) {
  u16 v;
  __asm__ volatile("fistps %0" : "=m"(v) : : "memory");
  return v;
}
static inline u64 isttq(void) {
  u64 v;
  __asm__ volatile("fisttpll %0" : "=m"(v) : : "memory");
  return v;
}
static inline u16 fsw(void) {
  u16 v;
  __asm__ volatile("fnstsw %0" : "=m"(v) : : "memory");
  return v;
}
static inline void fcw(u16 v) { __asm__ volatile("fldcw %0" : : "m"(v) : "memory"); }
static inline u16 get_fcw(void) {
  u16 v;
  __asm__ volatile("fnstcw %0" : "=m"(v) : : "memory");
  return v;
}

static volatile u64 vin_d[] = {
  0x3ff0000000000000ull, /* 1 */
  0x4000000000000000ull, /* 2 */
  0x4008000000000000ull, /* 3 */
  0x3fe0000000000000ull, /* 0.5 */
  0x4024000000000000ull, /* 10 */
  0x400921fb54442d18ull, /* pi (double) */
  0xc004000000000000ull, /* -2.5 */
  0x4004000000000000ull, /* 2.5 */
  0x3fe6666666666666ull, /* 0.7 */
  0x3fd3333333333333ull, /* 0.3 */
  0xbfe6666666666666ull, /* -0.7 */
  0x3f50624dd2f1a9fcull, /* 0.001 */
  0x4202a05f20000000ull, /* 1e10 */
  0x46293e5939a08ceaull, /* 1e30 */
  0x408f400000000000ull, /* 1000 */
  0x0000000000000001ull, /* the smallest denormal */
  0x7fefffffffffffffull, /* DBL_MAX */
  0x0000000000000000ull, /* +0 */
  0xbff0000000000000ull, /* -1 */
  0x43abc16d674ec800ull, /* 1e18 */
  0x7ff8000000000123ull, /* a quiet NaN with a payload */
  0x7ff0000000000001ull, /* a signalling NaN */
  0x7ff0000000000000ull, /* +inf */
  0x3ff8000000000000ull, /* 1.5 */
  0x4025666666666666ull, /* 10.7 */
};
enum { D1, D2, D3, DHALF, D10, DPI, DM25, D25, D07, D03, DM07, D0001, D1E10, D1E30, D1000, DDEN, DMAX, DZERO, DM1, D1E18, DQNAN, DSNAN, DINF, D15, D107 };
#define VD(i) ((u64)vin_d[i])

static void out80(const char *name, const f80 *v) {
  char *p = put_str(line_buf, "= ");
  p = put_str(p, name);
  *p++ = ' ';
  p = put_hex(p, v->se, 4);
  *p++ = ':';
  p = put_hex(p, v->m, 16);
  *p++ = '\n';
  *p = 0;
  emit(line_buf);
}
/* Pops ST(0) into `name` as an 80-bit value. */
static void pop80(const char *name) {
  f80 r;
  st80(&r);
  out80(name, &r);
}
/* Prints FSW (exception flags, condition codes, TOP) and clears the exception flags. */
static void fsw_out(const char *name) {
  out16(name, fsw());
  X("fnclex");
}

/* Rounding control in FCW bits 11:10 (SDM Vol. 1 §8.1.5.3), all exceptions masked. */
static const u16 fcw_rc[4] = { 0x037f, 0x077f, 0x0b7f, 0x0f7f };

static NOINLINE void x87_arith(void) {
  X("fninit");
  check_value("FNINIT sets FCW to 0x037F", get_fcw(), 0x037f);
  /* The harmonic series 1 + 1/2 + ... + 1/60 in extended precision. */
  X("fldz");
  for (int k = 1; k <= 60; k++) {
    ildl(k);
    X("fld1; fdivp %%st, %%st(1); faddp");
  }
  pop80("x87.harmonic60");
  fsw_out("x87.harmonic60.fsw");
  /* A product: prod (1 + 1/k^2), k = 1..40. */
  X("fld1");
  for (int k = 1; k <= 40; k++) {
    ildl(k * k);
    X("fld1; fdivp %%st, %%st(1); fld1; faddp; fmulp");
  }
  pop80("x87.product40");
  /* Division and square roots in each rounding mode. */
  for (int rc = 0; rc < 4; rc++) {
    fcw(fcw_rc[rc]);
    ldd(VD(D1));
    ldd(VD(D3));
    X("fdivrp");
    pop80(nm("x87.div1by3.rc", rc));
    ldd(VD(D2));
    X("fsqrt");
    pop80(nm("x87.sqrt2.rc", rc));
    ldd(VD(D10));
    X("fsqrt");
    pop80(nm("x87.sqrt10.rc", rc));
    /* Precision control 53 and 24 bits (FCW bits 9:8). */
    fcw((u16)(fcw_rc[rc] & ~0x0300) | 0x0200);
    ldd(VD(D2));
    X("fsqrt");
    pop80(nm("x87.sqrt2.pc53.rc", rc));
    fcw((u16)(fcw_rc[rc] & ~0x0300));
    ldd(VD(D1));
    ldd(VD(D3));
    X("fdivrp");
    pop80(nm("x87.div1by3.pc24.rc", rc));
    fcw(fcw_rc[rc]);
    X("fldpi");
    pop80(nm("x87.fldpi.rc", rc));
    X("fldl2e");
    pop80(nm("x87.fldl2e.rc", rc));
    X("fldlg2");
    pop80(nm("x87.fldlg2.rc", rc));
    X("fldln2");
    pop80(nm("x87.fldln2.rc", rc));
    X("fldl2t");
    pop80(nm("x87.fldl2t.rc", rc));
    fsw_out(nm("x87.consts.fsw.rc", rc));
  }
  fcw(0x037f);
  {
    f80 pi;
    X("fldpi");
    st80(&pi);
    check_value("FLDPI gives 0x4000:C90FDAA22168C235 (round to nearest)", pi.m, 0xc90fdaa22168c235ull);
  }
}

static NOINLINE void x87_convert(void) {
  X("fninit");
  static const int ins[] = { D25, DM25, D15, D07, DM07, D1E18, D1E30, DQNAN, DINF };
  for (int rc = 0; rc < 4; rc++) {
    fcw(fcw_rc[rc]);
    for (unsigned i = 0; i < sizeof ins / sizeof ins[0]; i++) {
      int idx = (int)(rc * 10 + i);
      ldd(VD(ins[i]));
      out64(nm("x87.fistp64", idx), istq());
      ldd(VD(ins[i]));
      out32(nm("x87.fistp32", idx), istl());
      ldd(VD(ins[i]));
      out16(nm("x87.fistp16", idx), ists());
      ldd(VD(ins[i]));
      out64(nm("x87.fisttp64", idx), isttq());
      ldd(VD(ins[i]));
      X("frndint");
      pop80(nm("x87.frndint", idx));
      fsw_out(nm("x87.convert.fsw", idx));
    }
    /* 1/3 to double and single, and an int64 that does not fit in a double. */
    ldd(VD(D1));
    ldd(VD(D3));
    X("fdivrp");
    X("fld %%st(0)");
    out64(nm("x87.third.fstpl.rc", rc), std_());
    out32(nm("x87.third.fstps.rc", rc), sts_());
    ildq(0x7fffffffffffffffll);
    X("fld %%st(0)");
    pop80(nm("x87.fild.int64max.rc", rc));
    out64(nm("x87.int64max.fstpl.rc", rc), std_());
    ildq(-0x123456789abcdefll);
    out32(nm("x87.int64.fstps.rc", rc), sts_());
    ldd(VD(DMAX));
    out32(nm("x87.dblmax.fstps.rc", rc), sts_());
    ldd(VD(DDEN));
    out32(nm("x87.denormal.fstps.rc", rc), sts_());
    fsw_out(nm("x87.store.fsw.rc", rc));
  }
  fcw(0x037f);
  ldf(0x3eaaaaab);
  pop80("x87.flds.third");
  ldf(0x00000001);
  pop80("x87.flds.denormal");
  ldf(0x7f800001);
  pop80("x87.flds.snan");
  fsw_out("x87.flds.fsw");
  /* BCD (FBLD/FBSTP): 18 digits and a sign byte. */
  {
    static volatile bcd80 in = { { 0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80 } };
    bcd80 b = in, o;
    __asm__ volatile("fbld %0" : : "m"(b) : "memory");
    X("fld %%st(0)");
    pop80("x87.fbld");
    __asm__ volatile("fbstp %0" : "=m"(o) : : "memory");
    u64 lo;
    __builtin_memcpy(&lo, o.b, 8);
    out64("x87.fbstp.lo", lo);
    out16("x87.fbstp.hi", (u16)(o.b[8] | o.b[9] << 8));
    ildq(123456789012345678ll);
    __asm__ volatile("fbstp %0" : "=m"(o) : : "memory");
    __builtin_memcpy(&lo, o.b, 8);
    check_value("FBSTP 123456789012345678 gives the packed BCD digits", lo, 0x3456789012345678ull);
    for (int rc = 0; rc < 4; rc++) {
      fcw(fcw_rc[rc]);
      ldd(VD(DM25));
      __asm__ volatile("fbstp %0" : "=m"(o) : : "memory");
      __builtin_memcpy(&lo, o.b, 8);
      out64(nm("x87.fbstp.m2.5.rc", rc), lo);
      out16(nm("x87.fbstp.m2.5.hi.rc", rc), (u16)(o.b[8] | o.b[9] << 8));
    }
    fcw(0x037f);
    ldd(VD(D1E30));
    __asm__ volatile("fbstp %0" : "=m"(o) : : "memory");
    __builtin_memcpy(&lo, o.b, 8);
    out64("x87.fbstp.1e30", lo);
    out16("x87.fbstp.1e30.hi", (u16)(o.b[8] | o.b[9] << 8));
    fsw_out("x87.fbstp.fsw");
  }
}

static NOINLINE void x87_transcendental(void) {
  X("fninit");
  static const int trig[] = { DHALF, D1, D3, D1E10, DPI, DM07, D0001, D1E30 };
  for (unsigned i = 0; i < sizeof trig / sizeof trig[0]; i++) {
    ldd(VD(trig[i]));
    X("fsin");
    pop80(nm("x87.fsin", (int)i));
    fsw_out(nm("x87.fsin.fsw", (int)i));
    ldd(VD(trig[i]));
    X("fcos");
    pop80(nm("x87.fcos", (int)i));
    ldd(VD(trig[i]));
    X("fsincos");
    pop80(nm("x87.fsincos.cos", (int)i));
    pop80(nm("x87.fsincos.sin", (int)i));
    ldd(VD(trig[i]));
    X("fptan");
    pop80(nm("x87.fptan.one", (int)i));
    pop80(nm("x87.fptan", (int)i));
    fsw_out(nm("x87.trig.fsw", (int)i));
  }
  /* FPATAN: ST(1) = y, ST(0) = x. */
  ldd(VD(D1));
  ldd(VD(D3));
  X("fpatan");
  pop80("x87.fpatan.1.3");
  ldd(VD(DM1));
  ldd(VD(DM07));
  X("fpatan");
  pop80("x87.fpatan.m1.m0.7");
  /* FYL2X: ST(1) * log2(ST(0)). */
  ldd(VD(D1));
  ldd(VD(D10));
  X("fyl2x");
  pop80("x87.fyl2x.10");
  ldd(VD(D3));
  ldd(VD(D07));
  X("fyl2x");
  pop80("x87.fyl2x.3.0.7");
  ldd(VD(D1));
  ldd(VD(D0001));
  X("fyl2xp1");
  pop80("x87.fyl2xp1.0.001");
  ldd(VD(D03));
  X("f2xm1");
  pop80("x87.f2xm1.0.3");
  ldd(VD(DM07));
  X("f2xm1");
  pop80("x87.f2xm1.m0.7");
  fsw_out("x87.log.fsw");
  /* FSCALE, FXTRACT, FPREM, FPREM1. */
  ldd(VD(D107));
  ldd(VD(D15));
  X("fscale");
  pop80("x87.fscale");
  X("fstp %%st(0)");
  ldd(VD(D1000));
  X("fxtract");
  pop80("x87.fxtract.sig");
  pop80("x87.fxtract.exp");
  static const int num[] = { D1E30, D1E10, D107, DM25 };
  for (unsigned i = 0; i < sizeof num / sizeof num[0]; i++) {
    ldd(VD(DPI));
    ldd(VD(num[i]));
    u16 sw;
    int rounds = 0;
    do {
      X("fprem");
      sw = fsw();
      rounds++;
    } while ((sw & 0x0400) && rounds < 100);
    out16(nm("x87.fprem.fsw", (int)i), sw);
    out16(nm("x87.fprem.rounds", (int)i), (u16)rounds);
    pop80(nm("x87.fprem", (int)i));
    ldd(VD(num[i]));
    rounds = 0;
    do {
      X("fprem1");
      sw = fsw();
      rounds++;
    } while ((sw & 0x0400) && rounds < 100);
    out16(nm("x87.fprem1.fsw", (int)i), sw);
    pop80(nm("x87.fprem1", (int)i));
    X("fstp %%st(0)");
  }
  fsw_out("x87.fprem.end.fsw");
}

/* A sweep of the transcendental instructions over x = k * 0.37 - 4.4, k = 0..23, and the
 * ranges each one takes (F2XM1: |x| <= 1; FYL2XP1: |x| < 1 - sqrt(2)/2). */
static NOINLINE void x87_sweep(void) {
  X("fninit");
  static volatile u64 step = 0x3fd7ae147ae147aeull; /* 0.37 */
  static volatile u64 base = 0x401199999999999aull; /* 4.4 */
  for (int k = 0; k < 24; k++) {
    f80 x;
    ildl(k);
    ldd(step);
    X("fmulp");
    ldd(base);
    X("fsubrp");
    st80(&x);
    ld80(&x);
    X("fsin");
    pop80(nm("x87.sweep.fsin", k));
    ld80(&x);
    X("fcos");
    pop80(nm("x87.sweep.fcos", k));
    ld80(&x);
    X("fptan; fstp %%st(0)");
    pop80(nm("x87.sweep.fptan", k));
    ld80(&x);
    ldd(VD(D15));
    X("fpatan");
    pop80(nm("x87.sweep.fpatan", k));
    ld80(&x);
    ildl(8);
    X("fdivrp");
    X("f2xm1");
    pop80(nm("x87.sweep.f2xm1", k));
    ld80(&x);
    ld80(&x);
    X("fabs");
    X("fyl2x");
    pop80(nm("x87.sweep.fyl2x", k));
    ld80(&x);
    ld80(&x);
    ildl(16);
    X("fdivrp");
    X("fyl2xp1");
    pop80(nm("x87.sweep.fyl2xp1", k));
    ld80(&x);
    X("fabs; fsqrt");
    pop80(nm("x87.sweep.fsqrt", k));
    fsw_out(nm("x87.sweep.fsw", k));
  }
}

static NOINLINE void x87_special(void) {
  X("fninit");
  /* Masked exceptions and their results (SDM Vol. 1 §8.5). */
  X("fldz; fldz; fdivrp");
  pop80("x87.0div0");
  fsw_out("x87.0div0.fsw");
  X("fld1; fldz; fdivrp");
  pop80("x87.1div0");
  fsw_out("x87.1div0.fsw");
  ldd(VD(DM1));
  X("fsqrt");
  pop80("x87.sqrt.m1");
  fsw_out("x87.sqrt.m1.fsw");
  ldd(VD(DMAX));
  ldd(VD(DMAX));
  X("fmulp");
  out64("x87.overflow.fstpl", std_());
  fsw_out("x87.overflow.fsw");
  ldd(VD(DDEN));
  ldd(VD(DHALF));
  X("fmulp");
  out64("x87.underflow.fstpl", std_());
  fsw_out("x87.underflow.fsw");
  ldd(VD(DQNAN));
  ldd(VD(DSNAN));
  X("faddp");
  pop80("x87.nan.add");
  fsw_out("x87.nan.add.fsw");
  /* Stack overflow: nine pushes (invalid operation with SF and C1). */
  for (int i = 0; i < 9; i++) X("fld1");
  out16("x87.stack.overflow.fsw", fsw());
  pop80("x87.stack.overflow.value");
  X("fninit");
  /* FXAM on each class, FCOM/FUCOM condition codes, FCOMI/FUCOMI flags. */
  static const int cls[] = { D1, DM1, DZERO, DDEN, DINF, DQNAN, DM25 };
  for (unsigned i = 0; i < sizeof cls / sizeof cls[0]; i++) {
    ldd(VD(cls[i]));
    X("fxam");
    out16(nm("x87.fxam", (int)i), fsw() & 0x4700);
    ldd(VD(D1));
    X("fcomp");
    out16(nm("x87.fcomp", (int)i), fsw());
    X("fnclex");
    ldd(VD(D1));
    X("fucomp");
    out16(nm("x87.fucomp", (int)i), fsw());
    X("fnclex");
    ldd(VD(D1));
    u64 fl;
    __asm__ volatile("fucomip %%st(1), %%st; pushfq; popq %0" : "=r"(fl) : : "memory", "cc");
    out16(nm("x87.fucomip.flags", (int)i), (u16)(fl & 0x8d5));
    X("fstp %%st(0)");
    fsw_out(nm("x87.cmp.fsw", (int)i));
  }
  X("fld1; fchs; fabs");
  pop80("x87.fabs.fchs");
  /* FXCH, FFREE and the tag word through FNSTENV (only FCW, FSW and FTW are printed). */
  X("fld1; fldpi; fxch; fldz; ffree %%st(1)");
  {
    u32 env[7];
    __asm__ volatile("fnstenv %0" : "=m"(env) : : "memory");
    out16("x87.fnstenv.fcw", (u16)env[0]);
    out16("x87.fnstenv.fsw", (u16)env[1]);
    out16("x87.fnstenv.ftw", (u16)env[2]);
    __asm__ volatile("fldenv %0" : : "m"(env) : "memory");
  }
  X("fninit");
}

/* ---- SSE/SSE2 floating point (SDM Vol. 1 ch. 10-11) ----------------------------------- */

static inline void set_mxcsr(u32 v) { _mm_setcsr(v); }
static inline u32 get_mxcsr(void) { return _mm_getcsr(); }
#define BARRIER(x) __asm__ volatile("" : "+x"(x))

/* Prints MXCSR and restores the default (all masked, round to nearest). */
static void mxcsr_out(const char *name) {
  out32(name, get_mxcsr());
  set_mxcsr(0x1f80);
}

static NOINLINE void sse_float(void) {
  set_mxcsr(0x1f80);
  /* A small n-body style loop in doubles: positions, velocities, 1/r^3 with SQRTSD. */
  double px[3] = { bitsd(VD(D1)), -bitsd(VD(DHALF)), bitsd(VD(D03)) };
  double py[3] = { bitsd(VD(DZERO)), bitsd(VD(D07)), -bitsd(VD(D15)) };
  double vx[3] = { 0, 0, 0 }, vy[3] = { 0, 0, 0 };
  double dt = bitsd(VD(D0001)) * 10.0;
  for (int step = 0; step < 200; step++) {
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        if (i == j) continue;
        double dx = px[j] - px[i], dy = py[j] - py[i];
        double r2 = dx * dx + dy * dy + 0.01;
        __m128d s = _mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(r2));
        double inv = 1.0 / (r2 * _mm_cvtsd_f64(s));
        vx[i] += dx * inv * dt;
        vy[i] += dy * inv * dt;
      }
    }
    for (int i = 0; i < 3; i++) {
      px[i] += vx[i] * dt;
      py[i] += vy[i] * dt;
    }
  }
  for (int i = 0; i < 3; i++) {
    out64(nm("sse.nbody.px", i), dbits(px[i]));
    out64(nm("sse.nbody.vy", i), dbits(vy[i]));
  }
  mxcsr_out("sse.nbody.mxcsr");
  /* Mandelbrot iteration counts in single precision. */
  u32 total = 0, hash = 0;
  float x0 = bitsf(0xc0000000), y0 = bitsf(0xbf800000);
  for (int yi = 0; yi < 16; yi++) {
    for (int xi = 0; xi < 16; xi++) {
      float cr = x0 + (float)xi * 0.15f, ci = y0 + (float)yi * 0.125f;
      float zr = 0, zi = 0;
      int n = 0;
      while (n < 64 && zr * zr + zi * zi <= 4.0f) {
        float t = zr * zr - zi * zi + cr;
        zi = 2.0f * zr * zi + ci;
        zr = t;
        n++;
      }
      total += (u32)n;
      hash = hash * 31 + fbits(zr) + fbits(zi);
    }
  }
  out32("sse.mandel.total", total);
  out32("sse.mandel.hash", hash);
  /* 1/3 and conversions in each MXCSR rounding mode (MXCSR bits 14:13). */
  for (int rc = 0; rc < 4; rc++) {
    double one = bitsd(VD(D1)), three = bitsd(VD(D3)), big = bitsd(VD(D1E30)), m25 = bitsd(VD(DM25));
    float onef = (float)bitsd(VD(D1)), threef = (float)bitsd(VD(D3));
    s64 i64 = (s64)0x7ffffffffffffc01ll;
    set_mxcsr(0x1f80 | (u32)rc << 13);
    BARRIER(one);
    BARRIER(three);
    BARRIER(big);
    BARRIER(m25);
    BARRIER(onef);
    BARRIER(threef);
    double q = one / three;
    float qf = onef / threef;
    __m128d sq = _mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(three));
    float nf = (float)big;
    float third_f = (float)q;
    s64 cv = _mm_cvtsd_si64(_mm_set_sd(m25));
    s64 cvt = _mm_cvttsd_si64(_mm_set_sd(m25));
    __m128d fromi = _mm_cvtsi64_sd(_mm_setzero_pd(), i64);
    __m128 fromi_s = _mm_cvtsi64_ss(_mm_setzero_ps(), i64);
    __m128i pi32 = _mm_cvtpd_epi32(_mm_set_pd(m25, -m25 + 1.0));
    BARRIER(q);
    BARRIER(qf);
    BARRIER(sq);
    BARRIER(nf);
    BARRIER(third_f);
    BARRIER(fromi);
    BARRIER(fromi_s);
    BARRIER(pi32);
    u32 csr = get_mxcsr();
    set_mxcsr(0x1f80);
    out64(nm("sse.div1by3.rc", rc), dbits(q));
    out32(nm("sse.divss1by3.rc", rc), fbits(qf));
    out64(nm("sse.sqrt3.rc", rc), dbits(_mm_cvtsd_f64(sq)));
    out32(nm("sse.cvtsd2ss.1e30.rc", rc), fbits(nf));
    out32(nm("sse.cvtsd2ss.third.rc", rc), fbits(third_f));
    out64(nm("sse.cvtsd2si.m2.5.rc", rc), (u64)cv);
    out64(nm("sse.cvttsd2si.m2.5.rc", rc), (u64)cvt);
    out64(nm("sse.cvtsi2sd.rc", rc), dbits(_mm_cvtsd_f64(fromi)));
    out32(nm("sse.cvtsi2ss.rc", rc), fbits(_mm_cvtss_f32(fromi_s)));
    out128(nm("sse.cvtpd2dq.rc", rc), pi32);
    out32(nm("sse.rc.mxcsr", rc), csr);
  }
  check_value("SQRTSD of 2.0 is 0x3FF6A09E667F3BCD", dbits(_mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(bitsd(VD(D2)))))),
              0x3ff6a09e667f3bcdull);
  /* Exceptions (masked): results and MXCSR flags. */
  {
    double z = bitsd(VD(DZERO)), one = bitsd(VD(D1)), mx = bitsd(VD(DMAX)), den = bitsd(VD(DDEN));
    double qn = bitsd(VD(DQNAN)), sn = bitsd(VD(DSNAN)), inf = bitsd(VD(DINF));
    set_mxcsr(0x1f80);
    BARRIER(z);
    double r = one / z;
    BARRIER(r);
    out64("sse.1div0", dbits(r));
    mxcsr_out("sse.1div0.mxcsr");
    BARRIER(z);
    r = z / z;
    BARRIER(r);
    out64("sse.0div0", dbits(r));
    mxcsr_out("sse.0div0.mxcsr");
    BARRIER(mx);
    r = mx * 2.0;
    BARRIER(r);
    out64("sse.overflow", dbits(r));
    mxcsr_out("sse.overflow.mxcsr");
    BARRIER(den);
    r = den * 0.5;
    BARRIER(r);
    out64("sse.underflow", dbits(r));
    mxcsr_out("sse.underflow.mxcsr");
    BARRIER(qn);
    BARRIER(sn);
    r = qn + sn;
    BARRIER(r);
    out64("sse.qnan.plus.snan", dbits(r));
    mxcsr_out("sse.nan.mxcsr");
    r = sn + qn;
    BARRIER(r);
    out64("sse.snan.plus.qnan", dbits(r));
    mxcsr_out("sse.nan2.mxcsr");
    BARRIER(inf);
    r = inf - inf;
    BARRIER(r);
    out64("sse.inf.minus.inf", dbits(r));
    mxcsr_out("sse.inf.mxcsr");
    __m128d mn = _mm_min_sd(_mm_set_sd(qn), _mm_set_sd(one));
    __m128d mxx = _mm_max_sd(_mm_set_sd(one), _mm_set_sd(qn));
    __m128d mz = _mm_min_sd(_mm_set_sd(-0.0 * one), _mm_set_sd(z));
    out64("sse.minsd.nan", dbits(_mm_cvtsd_f64(mn)));
    out64("sse.maxsd.nan", dbits(_mm_cvtsd_f64(mxx)));
    out64("sse.minsd.zeros", dbits(_mm_cvtsd_f64(mz)));
    mxcsr_out("sse.minmax.mxcsr");
    out64("sse.cvttsd2si.nan", (u64)_mm_cvttsd_si64(_mm_set_sd(qn)));
    out32("sse.cvttsd2si32.big", (u32)_mm_cvttsd_si32(_mm_set_sd(bitsd(VD(D1E10)))));
    mxcsr_out("sse.cvt.invalid.mxcsr");
    /* FTZ and DAZ (MXCSR bits 15 and 6). */
    set_mxcsr(0x1f80 | 0x8000 | 0x0040);
    BARRIER(den);
    r = den * 0.5;
    double r2 = den + den;
    BARRIER(r);
    BARRIER(r2);
    out64("sse.ftz.daz.mul", dbits(r));
    out64("sse.ftz.daz.add", dbits(r2));
    mxcsr_out("sse.ftz.daz.mxcsr");
    /* Comparisons: COMISD/UCOMISD flags and CMPPD masks. */
    out32("sse.comisd.lt", (u32)_mm_comilt_sd(_mm_set_sd(one), _mm_set_sd(2 * one)));
    out32("sse.ucomisd.eq.nan", (u32)_mm_ucomieq_sd(_mm_set_sd(qn), _mm_set_sd(qn)));
    mxcsr_out("sse.ucomisd.mxcsr");
    out32("sse.comisd.eq.nan", (u32)_mm_comieq_sd(_mm_set_sd(qn), _mm_set_sd(one)));
    mxcsr_out("sse.comisd.mxcsr");
    out128("sse.cmpunordpd", _mm_castpd_si128(_mm_cmpunord_pd(_mm_set_pd(qn, one), _mm_set_pd(one, one))));
    out128("sse.cmpltps", _mm_castps_si128(_mm_cmplt_ps(_mm_set_ps(1, 2, 3, (float)qn), _mm_set_ps(2, 2, 2, 2))));
    mxcsr_out("sse.cmp.mxcsr");
    /* Packed float math: RCPPS/RSQRTPS are approximations, so their bits are the host's. */
    __m128 v4 = _mm_set_ps((float)one * 3, (float)one * 0.7f, (float)one * 1e-3f, (float)one * 12345.0f);
    out128("sse.rcpps", _mm_castps_si128(_mm_rcp_ps(v4)));
    out128("sse.rsqrtps", _mm_castps_si128(_mm_rsqrt_ps(v4)));
    out128("sse.sqrtps", _mm_castps_si128(_mm_sqrt_ps(v4)));
    out128("sse.mulps", _mm_castps_si128(_mm_mul_ps(v4, v4)));
    out128("sse.cvtps2pd", _mm_castpd_si128(_mm_cvtps_pd(v4)));
    out128("sse.cvtps2dq", _mm_cvtps_epi32(v4));
    /* SSE3: ADDSUBPD, HADDPS, MOVDDUP. */
    out128("sse3.addsubpd", _mm_castpd_si128(_mm_addsub_pd(_mm_set_pd(one, 3 * one), _mm_set_pd(0.1 * one, 0.7 * one))));
    out128("sse3.haddps", _mm_castps_si128(_mm_hadd_ps(v4, _mm_mul_ps(v4, v4))));
    out128("sse3.hsubpd", _mm_castpd_si128(_mm_hsub_pd(_mm_set_pd(one, 3 * one), _mm_set_pd(0.1 * one, 0.7 * one))));
    out128("sse3.movddup", _mm_castpd_si128(_mm_movedup_pd(_mm_set_sd(0.1 * one))));
    mxcsr_out("sse.packed.mxcsr");
  }
}

/* ---- SSE2 integer and logical ---------------------------------------------------------- */

static NOINLINE void sse2_int(void) {
  u32 seed = (u32)VD(D1E30);
  u32 w[12];
  for (int i = 0; i < 12; i++) {
    seed = seed * 1664525u + 1013904223u;
    w[i] = seed;
  }
  __m128i a = _mm_loadu_si128((const __m128i *)&w[0]), b = _mm_loadu_si128((const __m128i *)&w[4]), c = _mm_loadu_si128((const __m128i *)&w[8]);
  out128("sse2.paddsw", _mm_adds_epi16(a, b));
  out128("sse2.psubusb", _mm_subs_epu8(a, b));
  out128("sse2.pmulhw", _mm_mulhi_epi16(a, b));
  out128("sse2.pmulhuw", _mm_mulhi_epu16(a, c));
  out128("sse2.pmuludq", _mm_mul_epu32(a, b));
  out128("sse2.pmaddwd", _mm_madd_epi16(a, b));
  out128("sse2.psadbw", _mm_sad_epu8(a, b));
  out128("sse2.packsswb", _mm_packs_epi16(a, b));
  out128("sse2.packuswb", _mm_packus_epi16(a, c));
  out128("sse2.packssdw", _mm_packs_epi32(b, c));
  out128("sse2.punpckhbw", _mm_unpackhi_epi8(a, b));
  out128("sse2.punpcklqdq", _mm_unpacklo_epi64(b, c));
  out128("sse2.pshufd", _mm_shuffle_epi32(a, 0x4e));
  out128("sse2.pshufhw", _mm_shufflehi_epi16(b, 0xb1));
  out128("sse2.pshuflw", _mm_shufflelo_epi16(c, 0x1b));
  out128("sse2.psllq", _mm_slli_epi64(a, 13));
  out128("sse2.psrad", _mm_srai_epi32(b, 7));
  out128("sse2.psraw.reg", _mm_sra_epi16(c, _mm_cvtsi32_si128(20)));
  out128("sse2.psrldq", _mm_srli_si128(a, 5));
  out128("sse2.pslldq", _mm_slli_si128(b, 11));
  out128("sse2.pcmpgtb", _mm_cmpgt_epi8(a, b));
  out32("sse2.pmovmskb", (u32)_mm_movemask_epi8(c));
  out128("sse2.pavgb", _mm_avg_epu8(a, c));
  out128("sse2.pminub", _mm_min_epu8(a, b));
  out128("sse2.pmaxsw", _mm_max_epi16(b, c));
  out128("sse2.pandn", _mm_andnot_si128(a, c));
  out128("sse2.cvtdq2ps", _mm_castps_si128(_mm_cvtepi32_ps(a)));
  out128("sse2.cvtdq2pd", _mm_castpd_si128(_mm_cvtepi32_pd(b)));
  __m128 fa = _mm_mul_ps(_mm_cvtepi32_ps(c), _mm_set1_ps(1e-6f));
  out128("sse2.cvtps2dq", _mm_cvtps_epi32(fa));
  out128("sse2.cvttps2dq", _mm_cvttps_epi32(fa));
  out128("sse2.cvttps2dq.big", _mm_cvttps_epi32(_mm_cvtepi32_ps(a)));
  __m128d da = _mm_cvtepi32_pd(a), db = _mm_cvtepi32_pd(b);
  out32("sse2.movmskpd", (u32)_mm_movemask_pd(_mm_sub_pd(da, db)));
  out32("sse2.movmskps", (u32)_mm_movemask_ps(fa));
  out128("sse2.shufpd", _mm_castpd_si128(_mm_shuffle_pd(da, db, 1)));
  out128("sse2.unpckhpd", _mm_castpd_si128(_mm_unpackhi_pd(da, db)));
  out128("sse2.divpd", _mm_castpd_si128(_mm_div_pd(da, db)));
  out128("sse2.sqrtpd", _mm_castpd_si128(_mm_sqrt_pd(_mm_mul_pd(da, da))));
  out128("sse2.cvtpd2ps", _mm_castps_si128(_mm_cvtpd_ps(_mm_div_pd(da, db))));
  out128("sse2.andnpd", _mm_castpd_si128(_mm_andnot_pd(da, db)));
  mxcsr_out("sse2.int.mxcsr");
}

/* ---- SSE4.1 (ROUNDSD, PMULLD, PBLENDVB, PTEST, ...) ------------------------------------ */

static NOINLINE void sse41(void) {
  static const int vals[] = { D25, DM25, D15, D07, DM07, D1E10, DQNAN };
  for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    __m128d x = _mm_set_sd(bitsd(VD(vals[i])));
    out64(nm("sse41.roundsd.near", (int)i), dbits(_mm_cvtsd_f64(_mm_round_sd(x, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))));
    out64(nm("sse41.roundsd.down", (int)i), dbits(_mm_cvtsd_f64(_mm_round_sd(x, x, _MM_FROUND_TO_NEG_INF))));
    out64(nm("sse41.roundsd.up", (int)i), dbits(_mm_cvtsd_f64(_mm_round_sd(x, x, _MM_FROUND_TO_POS_INF))));
    out64(nm("sse41.roundsd.zero", (int)i), dbits(_mm_cvtsd_f64(_mm_round_sd(x, x, _MM_FROUND_TO_ZERO))));
    set_mxcsr(0x1f80 | 1u << 13);
    BARRIER(x);
    __m128d r = _mm_round_sd(x, x, _MM_FROUND_CUR_DIRECTION);
    BARRIER(r);
    set_mxcsr(0x1f80);
    out64(nm("sse41.roundsd.mxcsr.down", (int)i), dbits(_mm_cvtsd_f64(r)));
    __m128 xs = _mm_set_ss((float)bitsd(VD(vals[i])));
    out32(nm("sse41.roundss.near", (int)i), fbits(_mm_cvtss_f32(_mm_round_ss(xs, xs, _MM_FROUND_TO_NEAREST_INT))));
  }
  mxcsr_out("sse41.round.mxcsr");
  u32 seed = (u32)VD(D1E18);
  u32 w[16];
  for (int i = 0; i < 16; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    w[i] = seed;
  }
  __m128i a = _mm_loadu_si128((const __m128i *)&w[0]), b = _mm_loadu_si128((const __m128i *)&w[4]);
  __m128i c = _mm_loadu_si128((const __m128i *)&w[8]), d = _mm_loadu_si128((const __m128i *)&w[12]);
  out128("sse41.pmulld", _mm_mullo_epi32(a, b));
  out128("sse41.pmuldq", _mm_mul_epi32(a, b));
  out128("sse41.pblendvb", _mm_blendv_epi8(a, b, c));
  out128("sse41.blendvps", _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), _mm_castsi128_ps(d))));
  out128("sse41.pblendw", _mm_blend_epi16(a, b, 0xa5));
  out128("sse41.pminsd", _mm_min_epi32(a, b));
  out128("sse41.pmaxud", _mm_max_epu32(a, b));
  out128("sse41.pminuw", _mm_min_epu16(c, d));
  out128("sse41.packusdw", _mm_packus_epi32(a, c));
  out128("sse41.pmovsxbw", _mm_cvtepi8_epi16(a));
  out128("sse41.pmovzxwq", _mm_cvtepu16_epi64(b));
  out128("sse41.pcmpeqq", _mm_cmpeq_epi64(a, _mm_unpacklo_epi64(a, b)));
  out128("sse41.phminposuw", _mm_minpos_epu16(d));
  out128("sse41.mpsadbw", _mm_mpsadbw_epu8(a, b, 5));
  out128("sse41.insertps", _mm_castps_si128(_mm_insert_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), 0x9a)));
  out32("sse41.pextrd", (u32)_mm_extract_epi32(c, 2));
  out64("sse41.pextrq", (u64)_mm_extract_epi64(d, 1));
  out128("sse41.pinsrb", _mm_insert_epi8(a, (int)w[5], 11));
  out128("sse41.dppd", _mm_castpd_si128(_mm_dp_pd(_mm_set_pd(bitsd(VD(D07)), bitsd(VD(D3))), _mm_set_pd(bitsd(VD(D03)), bitsd(VD(D10))), 0x31)));
  out128("sse41.dpps", _mm_castps_si128(_mm_dp_ps(_mm_cvtepi32_ps(a), _mm_cvtepi32_ps(b), 0xf3)));
  out32("sse41.ptest.z", (u32)_mm_testz_si128(a, b));
  out32("sse41.ptest.c", (u32)_mm_testc_si128(a, _mm_and_si128(a, b)));
  out32("sse41.ptest.nzc", (u32)_mm_testnzc_si128(a, c));
  out32("sse41.ptest.z.disjoint", (u32)_mm_testz_si128(_mm_and_si128(a, b), _mm_andnot_si128(b, c)));
  mxcsr_out("sse41.mxcsr");
}

/* ---- SSSE3 and SSE4.2 ---------------------------------------------------------------- */

static u8 text[1024] __attribute__((aligned(16)));

static NOINLINE void sse42(void) {
  /* CRC32C (Castagnoli, the SSE4.2 polynomial) of "123456789": the check value 0xE3069283. */
  static volatile char check_str[] = "123456789";
  u32 crc = 0xffffffff;
  for (int i = 0; i < 9; i++) crc = _mm_crc32_u8(crc, (u8)check_str[i]);
  check_value("CRC32C of \"123456789\" is 0xE3069283", crc ^ 0xffffffff, 0xe3069283);
  u32 seed = (u32)(VD(D1E10) >> 32);
  for (int i = 0; i < 1024; i++) {
    seed = seed * 1103515245u + 12345u;
    text[i] = (u8)('a' + ((seed >> 16) % 26));
  }
  text[700] = 'Q';
  text[701] = 'X';
  text[1023] = 0;
  u32 c8 = 0xffffffff, c16 = 0, c32 = 0x12345678;
  u64 c64 = 0xffffffff;
  for (int i = 0; i < 1024; i++) c8 = _mm_crc32_u8(c8, text[i]);
  for (int i = 0; i < 1024; i += 2) c16 = _mm_crc32_u16(c16, (u16)(text[i] | text[i + 1] << 8));
  for (int i = 0; i < 1024; i += 4) c32 = _mm_crc32_u32(c32, *(const u32 *)&text[i]);
  for (int i = 0; i < 1024; i += 8) c64 = _mm_crc32_u64(c64, *(const u64 *)&text[i]);
  out32("sse42.crc32.u8", c8);
  out32("sse42.crc32.u16", c16);
  out32("sse42.crc32.u32", c32);
  out64("sse42.crc32.u64", c64);
  /* PCMPISTRI / PCMPESTRI / PCMPISTRM (SDM Vol. 2 §4.1, "Imm8 control byte"). */
  static volatile char hello[16] = "hello world";
  static volatile char lo_[16] = "lo";
  __m128i h = _mm_loadu_si128((const __m128i *)(const void *)hello), lo = _mm_loadu_si128((const __m128i *)(const void *)lo_);
  check_value("PCMPISTRI equal-ordered finds \"lo\" in \"hello world\" at 3", (u64)_mm_cmpistri(lo, h, _SIDD_CMP_EQUAL_ORDERED), 3);
  /* Search the text for "QX" 16 bytes at a time. */
  int found = -1;
  __m128i needle = _mm_setr_epi8('Q', 'X', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int i = 0; i < 1008 && found < 0; i += 15) {
    __m128i chunk = _mm_loadu_si128((const __m128i *)&text[i]);
    int idx = _mm_cmpistri(needle, chunk, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ORDERED);
    if (idx < 15) found = i + idx;
  }
  out32("sse42.search.QX", (u32)found);
  __m128i t0 = _mm_loadu_si128((const __m128i *)&text[96]);
  __m128i ranges = _mm_setr_epi8('a', 'f', 'x', 'z', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  __m128i set = _mm_setr_epi8('e', 'u', 'o', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  /* The immediate must be a constant: one block per mode. */
#define PCMP(k, M)                                                                          \
  do {                                                                                     \
    __m128i other = (k) & 1 ? ranges : set;                                                \
    out32(nm("sse42.pcmpistri", k), (u32)_mm_cmpistri(other, t0, M));                      \
    out32(nm("sse42.pcmpistri.cfzsoa", k),                                                 \
          (u32)(_mm_cmpistrc(other, t0, M) | _mm_cmpistrz(other, t0, M) << 1 |             \
                _mm_cmpistrs(other, t0, M) << 2 | _mm_cmpistro(other, t0, M) << 3 |        \
                _mm_cmpistra(other, t0, M) << 4));                                         \
    out128(nm("sse42.pcmpistrm", k), _mm_cmpistrm(other, t0, M));                          \
    out128(nm("sse42.pcmpistrm.unit", k), _mm_cmpistrm(other, t0, (M) | _SIDD_UNIT_MASK)); \
    out32(nm("sse42.pcmpestri", k), (u32)_mm_cmpestri(other, 3, t0, 9 + (k), M));          \
    out32(nm("sse42.pcmpestri.c", k), (u32)_mm_cmpestrc(other, 3, t0, 9 + (k), M));        \
    out128(nm("sse42.pcmpestrm", k), _mm_cmpestrm(other, 3, t0, -20 + (k), M));            \
  } while (0)
  PCMP(0, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY);
  PCMP(1, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY | _SIDD_MOST_SIGNIFICANT);
  PCMP(2, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES);
  PCMP(3, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_NEGATIVE_POLARITY);
  PCMP(4, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH);
  PCMP(5, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH | _SIDD_MASKED_NEGATIVE_POLARITY);
  PCMP(6, _SIDD_SBYTE_OPS | _SIDD_CMP_RANGES);
  PCMP(7, _SIDD_UWORD_OPS | _SIDD_CMP_EQUAL_ANY);
  PCMP(8, _SIDD_SWORD_OPS | _SIDD_CMP_EQUAL_ORDERED);
  /* PCMPGTQ and POPCNT. */
  __m128i q1 = _mm_set_epi64x((s64)VD(D1E30), -(s64)VD(D3)), q2 = _mm_set_epi64x(-(s64)VD(D1E30), (s64)VD(DDEN));
  out128("sse42.pcmpgtq", _mm_cmpgt_epi64(q1, q2));
  out128("sse42.pcmpgtq.rev", _mm_cmpgt_epi64(q2, q1));
  u64 pc = 0;
  for (int i = 0; i < 1024; i += 8) pc = pc * 7 + (u64)_mm_popcnt_u64(*(const u64 *)&text[i]);
  out64("sse42.popcnt.text", pc);
  out32("sse42.popcnt32", (u32)_mm_popcnt_u32((u32)VD(D1E18)));
  check_value("POPCNT of 0xF0F0F0F0F0F0F0F0 is 32", (u64)_mm_popcnt_u64(VD(DZERO) | 0xf0f0f0f0f0f0f0f0ull), 32);
}

static NOINLINE void ssse3(void) {
  __m128i a = _mm_loadu_si128((const __m128i *)&text[16]), b = _mm_loadu_si128((const __m128i *)&text[200]);
  __m128i rev = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m128i r = _mm_shuffle_epi8(a, rev);
  u8 ab[16], rb[16];
  _mm_storeu_si128((__m128i *)ab, a);
  _mm_storeu_si128((__m128i *)rb, r);
  int same = 1;
  for (int i = 0; i < 16; i++) same &= rb[i] == ab[15 - i];
  check_value("PSHUFB with 15..0 reverses the bytes", (u64)same, 1);
  __m128i sel = _mm_sub_epi8(b, _mm_set1_epi8(100)); /* some indexes with bit 7 set: zeros */
  out128("ssse3.pshufb", _mm_shuffle_epi8(a, sel));
  out128("ssse3.phaddd", _mm_hadd_epi32(a, b));
  out128("ssse3.phaddsw", _mm_hadds_epi16(_mm_slli_epi16(a, 7), b));
  out128("ssse3.phsubw", _mm_hsub_epi16(a, b));
  out128("ssse3.pabsw", _mm_abs_epi16(_mm_sub_epi16(a, _mm_slli_epi16(b, 8))));
  out128("ssse3.palignr", _mm_alignr_epi8(a, b, 5));
  out128("ssse3.pmaddubsw", _mm_maddubs_epi16(_mm_slli_epi16(a, 1), b));
  out128("ssse3.pmulhrsw", _mm_mulhrs_epi16(_mm_slli_epi16(a, 6), _mm_slli_epi16(b, 7)));
  out128("ssse3.psignb", _mm_sign_epi8(a, _mm_sub_epi8(b, _mm_set1_epi8(110))));
  /* MMX (one block, then EMMS): PADDUSB, PMADDWD, PSHUFW; the x87 tag word after EMMS. */
  u64 m0 = *(const u64 *)&text[300], m1 = *(const u64 *)&text[308], o1, o2, o3;
  __asm__ volatile(
      "movq %3, %%mm0\n\tmovq %4, %%mm1\n\t"
      "movq %%mm0, %%mm2\n\tpaddusb %%mm1, %%mm2\n\tmovq %%mm2, %0\n\t"
      "movq %%mm0, %%mm3\n\tpmaddwd %%mm1, %%mm3\n\tmovq %%mm3, %1\n\t"
      "pshufw $0x1b, %%mm1, %%mm4\n\tpsadbw %%mm0, %%mm4\n\tmovq %%mm4, %2\n\t"
      : "=m"(o1), "=m"(o2), "=m"(o3)
      : "m"(m0), "m"(m1)
      : "memory");
  u32 env[7];
  __asm__ volatile("fnstenv %0" : "=m"(env) : : "memory");
  X("emms");
  out64("mmx.paddusb", o1);
  out64("mmx.pmaddwd", o2);
  out64("mmx.pshufw.psadbw", o3);
  out16("mmx.ftw.before.emms", (u16)env[2]);
  out16("mmx.fsw.before.emms", (u16)env[1]);
  __asm__ volatile("fnstenv %0" : "=m"(env) : : "memory");
  out16("mmx.ftw.after.emms", (u16)env[2]);
}

/* FXSAVE image: FCW, FSW, the abridged FTW, MXCSR, the registers (SDM Vol. 1 §10.5.1,
 * Table 10-2). FOP/FIP/FDP differ between the two builds (addresses), so they are not printed. */
static u8 fx[512] __attribute__((aligned(16)));

static NOINLINE void fxsave_image(void) {
  X("fninit");
  X("fld1; fldpi; fldl2e");
  set_mxcsr(0x1f80 | 0x6000 | 0x0001);
  __m128i x = _mm_set_epi32(0x11223344, 0x55667788, (int)0x99aabbcc, (int)0xddeeff00);
  __asm__ volatile("movdqa %0, %%xmm7" : : "x"(x) : "xmm7");
  __asm__ volatile("fxsave %0" : "=m"(fx) : : "memory");
  set_mxcsr(0x1f80);
  out16("fxsave.fcw", (u16)(fx[0] | fx[1] << 8));
  out16("fxsave.fsw", (u16)(fx[2] | fx[3] << 8));
  out16("fxsave.ftw", fx[4]);
  out32("fxsave.mxcsr", *(const u32 *)&fx[24]);
  out64("fxsave.st0.m", *(const u64 *)&fx[32]);
  out16("fxsave.st0.se", *(const u16 *)&fx[40]);
  out64("fxsave.st2.m", *(const u64 *)&fx[64]);
  out16("fxsave.st2.se", *(const u16 *)&fx[72]);
  out64("fxsave.xmm7.lo", *(const u64 *)&fx[160 + 7 * 16]);
  out64("fxsave.xmm7.hi", *(const u64 *)&fx[160 + 7 * 16 + 8]);
  /* Change the state, restore the image, and read it back. */
  X("fninit");
  __asm__ volatile("fxrstor %0" : : "m"(fx) : "memory");
  pop80("fxrstor.st0");
  pop80("fxrstor.st1");
  out32("fxrstor.mxcsr", get_mxcsr());
  set_mxcsr(0x1f80);
  X("fninit");
}

static __attribute__((force_align_arg_pointer)) NOINLINE void fpmix_run(void) {
  X("fninit");
  set_mxcsr(0x1f80);
  emit("= begin fpmix\n");
  x87_arith();
  x87_convert();
  x87_transcendental();
  x87_sweep();
  x87_special();
  sse_float();
  sse2_int();
  sse41();
  sse42();
  ssse3();
  fxsave_image();
  emit("= end fpmix\n");
}

#ifdef FPMIX_NATIVE
int main(void) {
  fpmix_run();
  return 0;
}
#endif
