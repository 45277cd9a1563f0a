/*
 * Native oracle for test/fpu-state-native.test.ts: runs FXRSTOR/FXSAVE, XRSTOR/XSAVE/XSAVEOPT
 * and LDMXCSR/STMXCSR on this host's CPU for images read from stdin, and writes what the save
 * instruction stored (or the signal the restore raised).
 *
 * stdin:  u32 count, then per case: u32 kind, u32 rfbm, u32 offset, u32 0, u8 image[1024]
 * stdout: per case: i32 signal (0 = none), u32 0, u8 out[1024] (prefilled with 0xAA)
 *
 * kinds: 0 FXRSTOR+FXSAVE, 1 FXRSTOR64+FXSAVE64, 2 XRSTOR+XSAVE, 3 XRSTOR64+XSAVE64,
 * 4 XRSTOR+XSAVEOPT, 5 LDMXCSR+STMXCSR (image dword 0 -> out dword 0), 6 FXRSTOR64, FINCSTP,
 * FXSAVE64 (the register slots are in stack order: TOP matters).
 * Before every case x87/SSE state is put in its initial configuration with XRSTOR (XSTATE_BV = 0),
 * and the process's own extended state is saved and restored around the case.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint8_t own[16384] __attribute__((aligned(64)));
static uint8_t init_img[1024] __attribute__((aligned(64)));
static uint8_t img[2048] __attribute__((aligned(64)));
static uint8_t out[1024] __attribute__((aligned(64)));
static sigjmp_buf jb;
static volatile int sig;

static void handler(int s) {
  sig = s;
  siglongjmp(jb, 1);
}

static int readall(void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = read(0, b, n);
    if (r <= 0) return 0;
    b += r;
    n -= (size_t)r;
  }
  return 1;
}

static void writeall(const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t r = write(1, b, n);
    if (r <= 0) return;
    b += r;
    n -= (size_t)r;
  }
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGILL, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
  sigaction(SIGFPE, &sa, 0);
  memset(init_img, 0, sizeof init_img);
  *(uint32_t *)(init_img + 24) = 0x1f80;
  uint32_t count;
  if (!readall(&count, 4)) return 1;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t hdr[4];
    if (!readall(hdr, 16)) return 1;
    uint32_t kind = hdr[0], rfbm = hdr[1], off = hdr[2];
    memset(img, 0, sizeof img);
    if (!readall(img + off, 1024)) return 1;
    memset(out, 0xaa, sizeof out);
    uint8_t *src = img + off;
    sig = 0;
    __asm__ volatile("xsave (%0)" ::"r"(own), "a"(-1), "d"(-1) : "memory");
    if (sigsetjmp(jb, 1) == 0) {
      __asm__ volatile("xrstor (%0)" ::"r"(init_img), "a"(3), "d"(0) : "memory");
      switch (kind) {
      case 0: __asm__ volatile("fxrstor (%0); fxsave (%1)" ::"r"(src), "r"(out) : "memory"); break;
      case 1: __asm__ volatile("fxrstor64 (%0); fxsave64 (%1)" ::"r"(src), "r"(out) : "memory"); break;
      case 2: __asm__ volatile("xrstor (%0); xsave (%1)" ::"r"(src), "r"(out), "a"(rfbm), "d"(0) : "memory"); break;
      case 3: __asm__ volatile("xrstor64 (%0); xsave64 (%1)" ::"r"(src), "r"(out), "a"(rfbm), "d"(0) : "memory"); break;
      case 4: __asm__ volatile("xrstor (%0); xsaveopt (%1)" ::"r"(src), "r"(out), "a"(rfbm), "d"(0) : "memory"); break;
      case 5: __asm__ volatile("ldmxcsr (%0); stmxcsr (%1)" ::"r"(src), "r"(out) : "memory"); break;
      case 6: __asm__ volatile("fxrstor64 (%0); fincstp; fxsave64 (%1)" ::"r"(src), "r"(out) : "memory"); break;
      }
    }
    __asm__ volatile("xrstor (%0)" ::"r"(own), "a"(-1), "d"(-1) : "memory");
    int32_t res[2] = {sig, 0};
    writeall(res, 8);
    writeall(out, 1024);
  }
  return 0;
}
