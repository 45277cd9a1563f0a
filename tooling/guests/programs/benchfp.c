/* @guest bits=32 timeout=120 -- floating-point benchmark for pnpm bench: SSE2 Mandelbrot and n-body in doubles, SSE single-precision matrices, x87 series (32-bit protected mode only) */
/*
 * The floating-point workload of `pnpm bench` (tooling/bench), next to the integer `bench`
 * program: a Mandelbrot set and a five-body simulation in SSE2 doubles (MULSD, ADDSD, SQRTSD,
 * COMISD, CVTTSD2SI), 8x8 single-precision matrix products (MULPS, ADDPS, SHUFPS), and three
 * x87 series in extended precision (FDIV, FADD, FMUL, FSQRT, FILD, FSTP m80). Like `bench` it
 * stays in 32-bit protected mode with paging off, so v86 could run it as well.
 *
 * The guests are compiled with -mgeneral-regs-only; the SSE code is enabled by the target
 * pragma below after test_main has set CR4.OSFXSR (SDM Vol. 3 §13.1), and the x87 code is
 * inline assembly. Every kernel folds its result bits into the checksum, which must equal the
 * reference (computed by this file built natively on an x86-64 host with `-DBENCHFP_NATIVE`;
 * add, multiply, divide and square root are exactly rounded, so every correct CPU agrees).
 * Output: `# benchfp checksum 0x...`, one `ok` line, and PASS.
 */
#ifdef BENCHFP_NATIVE
#include <stdint.h>
#include <stdio.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#define NOINLINE __attribute__((noinline))
#else
#include "guest.h"

const char test_name[] = "benchfp";
static u32 run_all(void);
#define REFERENCE_CHECKSUM 0x2a0dd3c5u /* every correct x86 CPU computes this */

static void enable_sse(void) { write_cr4(read_cr4() | BIT(9) | BIT(10)); /* OSFXSR, OSXMMEXCPT */ }

void test_main(void) {
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(ulong)(CR0_EM | CR0_TS));
  int v = trap_catch(enable_sse);
  if (v != NO_TRAP) panic("setting CR4.OSFXSR raised vector %d (no FXSR/SSE?)", v);
  u32 checksum = run_all();
  info("benchfp checksum 0x%08x", checksum);
  check_eq("the checksum matches the reference", checksum, REFERENCE_CHECKSUM);
}
#endif

#pragma GCC target("sse2,fpmath=sse")
/* xmmintrin.h includes mm_malloc.h, which needs the C library's stdlib.h: not for a kernel. */
#define _MM_MALLOC_H_INCLUDED
#include <emmintrin.h>

/* Scale: a few hundred million instructions. */
#define MANDEL_W 192
#define MANDEL_H 128
#define MANDEL_ITER 300
#define NBODY_STEPS 40000
#define MATRIX_ROUNDS 30000
#define SERIES_TERMS 2000000

static u32 checksum;
static void mix(u32 v) { checksum = (checksum << 5 | checksum >> 27) ^ v; }
static void mix64(u64 v) {
  mix((u32)v);
  mix((u32)(v >> 32));
}
static u64 dbits(double x) {
  u64 b;
  __builtin_memcpy(&b, &x, 8);
  return b;
}
static u32 fbits(float x) {
  u32 b;
  __builtin_memcpy(&b, &x, 4);
  return b;
}
static volatile double seed_one = 1.0;

static NOINLINE void mandelbrot(void) {
  double one = seed_one;
  u32 total = 0;
  double last = 0;
  for (int y = 0; y < MANDEL_H; y++) {
    double ci = -1.2 * one + y * (2.4 / MANDEL_H);
    for (int x = 0; x < MANDEL_W; x++) {
      double cr = -2.1 * one + x * (3.0 / MANDEL_W);
      double zr = 0, zi = 0;
      int n = 0;
      while (n < MANDEL_ITER) {
        double zr2 = zr * zr, zi2 = zi * zi;
        if (zr2 + zi2 > 4.0) break;
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        n++;
      }
      total += (u32)n;
      last += zr * 0.001 + (double)n;
    }
  }
  mix(total);
  mix64(dbits(last));
}

#define BODIES 5
static NOINLINE void nbody(void) {
  double one = seed_one;
  double x[BODIES], y[BODIES], z[BODIES], vx[BODIES], vy[BODIES], vz[BODIES], m[BODIES];
  for (int i = 0; i < BODIES; i++) {
    x[i] = one * (i * 1.5 - 3.0);
    y[i] = one * (i * 0.7 - 1.1) * (i & 1 ? 1 : -1);
    z[i] = one * 0.1 * i;
    vx[i] = 0.01 * (BODIES - i);
    vy[i] = 0.02 * i;
    vz[i] = -0.005 * i;
    m[i] = one * (1.0 + 0.25 * i);
  }
  const double dt = 0.001;
  for (int step = 0; step < NBODY_STEPS; step++) {
    for (int i = 0; i < BODIES; i++) {
      for (int j = i + 1; j < BODIES; j++) {
        double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
        double d2 = dx * dx + dy * dy + dz * dz + 1e-3;
        double d = _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(d2)));
        double mag = dt / (d2 * d);
        vx[i] -= dx * m[j] * mag;
        vy[i] -= dy * m[j] * mag;
        vz[i] -= dz * m[j] * mag;
        vx[j] += dx * m[i] * mag;
        vy[j] += dy * m[i] * mag;
        vz[j] += dz * m[i] * mag;
      }
    }
    for (int i = 0; i < BODIES; i++) {
      x[i] += dt * vx[i];
      y[i] += dt * vy[i];
      z[i] += dt * vz[i];
    }
  }
  double e = 0;
  for (int i = 0; i < BODIES; i++) e += 0.5 * m[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
  mix64(dbits(e));
  mix64(dbits(x[0]));
  mix((u32)_mm_cvttsd_si32(_mm_set_sd(e * 1e6)));
}

static float ma[64] __attribute__((aligned(16))), mb[64] __attribute__((aligned(16))), mc[64] __attribute__((aligned(16)));
static NOINLINE void matrices(void) {
  float one = (float)seed_one;
  for (int i = 0; i < 64; i++) {
    ma[i] = one * (float)((i * 7) % 13) * 0.125f - 0.5f;
    mb[i] = one * (float)((i * 5) % 11) * 0.0625f + 0.25f;
  }
  for (int round = 0; round < MATRIX_ROUNDS; round++) {
    for (int r = 0; r < 8; r++) {
      __m128 lo = _mm_setzero_ps(), hi = _mm_setzero_ps();
      for (int k = 0; k < 8; k++) {
        __m128 a = _mm_set1_ps(ma[r * 8 + k]);
        lo = _mm_add_ps(lo, _mm_mul_ps(a, _mm_load_ps(&mb[k * 8])));
        hi = _mm_add_ps(hi, _mm_mul_ps(a, _mm_load_ps(&mb[k * 8 + 4])));
      }
      _mm_store_ps(&mc[r * 8], lo);
      _mm_store_ps(&mc[r * 8 + 4], hi);
    }
    /* Feed back a scaled copy so the values stay bounded and every round differs. */
    __m128 s = _mm_set1_ps(0.125f);
    for (int i = 0; i < 64; i += 4) _mm_store_ps(&mb[i], _mm_add_ps(_mm_mul_ps(_mm_load_ps(&mc[i]), s), _mm_shuffle_ps(_mm_load_ps(&ma[i]), _mm_load_ps(&ma[i]), 0x1b)));
  }
  for (int i = 0; i < 64; i++) mix(fbits(mb[i]));
}

/* x87, extended precision: sum 1/k^2, the Leibniz series for pi/4, and sum sqrt(k)/k^2. */
static NOINLINE void x87_series(void) {
  struct {
    u64 m;
    u16 se;
  } __attribute__((packed)) basel, leibniz, roots;
  __asm__ volatile("fninit" ::: "memory");
  __asm__ volatile("fldz; fldz; fldz" ::: "memory"); /* ST0 basel, ST1 leibniz, ST2 roots */
  for (int k = 1; k <= SERIES_TERMS; k++) {
    int sk = k & 1 ? 2 * k - 1 : -(2 * k - 1);
    __asm__ volatile(
        "fildl %0\n\t"          /* k */
        "fld %%st(0)\n\t"       /* k, k */
        "fmul %%st(0), %%st\n\t" /* k^2, k */
        "fld1\n\t"
        "fdiv %%st(1), %%st\n\t" /* 1/k^2, k^2, k */
        "faddp %%st, %%st(3)\n\t" /* k^2, k; basel += */
        "fxch\n\t"               /* k, k^2 */
        "fsqrt\n\t"
        "fdivp %%st, %%st(1)\n\t" /* the quotient of sqrt(k) and k^2 (GNU as AT&T operand order) */
        "faddp %%st, %%st(3)\n\t" /* roots += */
        "fildl %1\n\t"
        "fld1\n\t"
        "fdivp %%st, %%st(1)\n\t"
        "faddp %%st, %%st(2)\n\t" /* leibniz += */
        :
        : "m"(k), "m"(sk)
        : "memory");
  }
  __asm__ volatile("fstpt %0; fstpt %1; fstpt %2" : "=m"(basel), "=m"(leibniz), "=m"(roots) : : "memory");
  mix64(basel.m);
  mix(basel.se);
  mix64(leibniz.m);
  mix(leibniz.se);
  mix64(roots.m);
  mix(roots.se);
}

static NOINLINE u32 run_all(void) {
  _mm_setcsr(0x1f80);
  checksum = 0x9e3779b9u;
  mandelbrot();
  nbody();
  matrices();
  x87_series();
  return checksum;
}

#ifdef BENCHFP_NATIVE
int main(void) {
  printf("benchfp checksum 0x%08x\n", run_all());
  return 0;
}
#endif
