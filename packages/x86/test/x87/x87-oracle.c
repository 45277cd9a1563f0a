/*
 * Native x87 oracle for test/x87-native.test.ts: runs one x87 instruction on this host CPU.
 * Each stdin line: "<code hex> <rflags hex> <108-byte FNSAVE image hex> <16-byte memory hex>".
 * The instruction runs as: push rflags; popfq; frstor [rdi]; <code>; fnsave [rdi]; pushfq; pop rax
 * with rdi = the image and rsi = the memory operand. Output line: "<image hex> <memory hex> <rflags hex>"
 * then the addresses of the instruction and of the image (for FIP/FDP), or "SIG <n>" when the
 * instruction faulted. A code string starting with F1 runs without the final FNSAVE (the F1 is
 * dropped): for instructions that store the environment themselves.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf jb;
static void on_sig(int s) { siglongjmp(jb, s); }

static int unhex(const char *h, uint8_t *out, int max) {
  int n = 0;
  while (h[0] && h[1] && n < max) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[n++] = (uint8_t)v;
    h += 2;
  }
  return n;
}

int main(void) {
  uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  signal(SIGFPE, on_sig);
  signal(SIGSEGV, on_sig);
  signal(SIGILL, on_sig);
  signal(SIGBUS, on_sig);
  static char line[4096], c[256], f[64], img[512], mem[64];
  static uint8_t buf[128] __attribute__((aligned(16)));
  while (fgets(line, sizeof line, stdin)) {
    if (sscanf(line, "%255s %63s %511s %63s", c, f, img, mem) != 4) continue;
    uint8_t code[64];
    int n = unhex(c, code, 64);
    uint64_t fl = strtoull(f, NULL, 16);
    memset(buf, 0, sizeof buf);
    unhex(img, buf, 108);
    unhex(mem, buf + 108, 16);
    int k = 0;
    int nosave = n > 0 && code[0] == 0xf1;
    page[k++] = 0x52;              /* push rdx */
    page[k++] = 0x9d;              /* popfq */
    page[k++] = 0xdd; page[k++] = 0x27; /* frstor [rdi] */
    int at = k;
    memcpy(page + k, code + nosave, n - nosave); k += n - nosave;
    if (!nosave) { page[k++] = 0xdd; page[k++] = 0x37; } /* fnsave [rdi] */
    page[k++] = 0x9c; page[k++] = 0x58; /* pushfq; pop rax */
    page[k++] = 0xc3;
    uint64_t (*fn)(uint8_t *, uint8_t *, uint64_t) = (void *)page;
    int s = sigsetjmp(jb, 1);
    if (s != 0) {
      printf("SIG %d\n", s);
      fflush(stdout);
      continue;
    }
    uint64_t r = fn(buf, buf + 108, fl);
    for (int i = 0; i < 108; i++) printf("%02x", buf[i]);
    printf(" ");
    for (int i = 108; i < 124; i++) printf("%02x", buf[i]);
    printf(" %llx %llx %llx\n", (unsigned long long)r, (unsigned long long)(uintptr_t)(page + at), (unsigned long long)(uintptr_t)buf);
    fflush(stdout);
  }
  return 0;
}
