/* @guest bits=32 timeout=120 -- CPU-bound benchmark: CRC-32, SHA-256 rounds, sorting, a bytecode interpreter (32-bit protected mode only) */
/*
 * A mixed integer workload for comparing emulators (hvkit, v86, QEMU TCG): table-driven
 * CRC-32, the SHA-256 compression function, an in-place quicksort plus heapsort, and a
 * switch-dispatched bytecode interpreter running a prime sieve. It stays in 32-bit protected
 * mode with paging off (v86 has no long mode) and uses no 64-bit division (no 32-bit libgcc).
 *
 * Each kernel checks its own result, and the combined checksum must equal the reference value
 * below, so a wrong ALU result shows up as a failure rather than as a fast time. Output:
 * one `ok` line per kernel, `# bench checksum 0x...`, and PASS.
 */
#include "guest.h"

const char test_name[] = "bench";

/* Scale: about 1-2 s on QEMU TCG. */
#define CRC_PASSES 96
#define SHA_BLOCKS 24000
#define SORT_ROUNDS 24
#define SORT_N 32768
#define VM_RUNS 48
#define REFERENCE_CHECKSUM 0x74a1f606u /* every correct x86 CPU computes this */

static u32 rng = 0x2545f491;
static u32 next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* ---- CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) -------------------------------- */

static u32 crc_table[256];
static u8 buffer[65536];

static void crc_init(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static u32 crc32(const u8 *p, size_t n, u32 crc) {
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---- SHA-256 compression (FIPS 180-4 §6.2.2) ---------------------------------------------- */

static const u32 K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
    0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
    0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
    0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
    0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline u32 ror(u32 x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(u32 h[8], const u8 *p) {
  u32 w[64];
  for (int i = 0; i < 16; i++) w[i] = (u32)p[4 * i] << 24 | (u32)p[4 * i + 1] << 16 | (u32)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    u32 s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    u32 s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  u32 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    u32 t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
    u32 t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

static void sha256_init(u32 h[8]) {
  static const u32 iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(h, iv, sizeof iv);
}

/* SHA-256 of "abc" (one padded block): ba7816bf ... (FIPS 180-4 example). */
static u32 sha256_abc_first_word(void) {
  u8 block[64] = {'a', 'b', 'c', 0x80};
  block[63] = 24;
  u32 h[8];
  sha256_init(h);
  sha256_block(h, block);
  return h[0];
}

/* ---- sorting ------------------------------------------------------------------------------ */

static u32 keys[SORT_N];

static void quicksort(u32 *a, int lo, int hi) {
  while (lo < hi) {
    u32 pivot = a[lo + ((hi - lo) >> 1)];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        u32 t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}

static void sift_down(u32 *a, int start, int end) {
  int root = start;
  while (2 * root + 1 <= end) {
    int child = 2 * root + 1, swap = root;
    if (a[swap] < a[child]) swap = child;
    if (child + 1 <= end && a[swap] < a[child + 1]) swap = child + 1;
    if (swap == root) return;
    u32 t = a[root];
    a[root] = a[swap];
    a[swap] = t;
    root = swap;
  }
}

static void heapsort(u32 *a, int n) {
  for (int start = (n - 2) / 2; start >= 0; start--) sift_down(a, start, n - 1);
  for (int end = n - 1; end > 0; end--) {
    u32 t = a[end];
    a[end] = a[0];
    a[0] = t;
    sift_down(a, 0, end - 1);
  }
}

static int sorted(const u32 *a, int n) {
  for (int i = 1; i < n; i++)
    if (a[i - 1] > a[i]) return 0;
  return 1;
}

/* ---- a bytecode interpreter --------------------------------------------------------------- */

enum { OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_LT, OP_JZ, OP_JMP, OP_LOADI, OP_STOREI, OP_DUP, OP_POP, OP_HALT };

/*
 * The program counts the primes below N with a sieve in the VM's memory: mem[0] = N,
 * mem[1] = the count, mem[2] = i, mem[3] = j, flags at mem[16 + k]. vm_init assembles it with
 * labels.
 */
static s32 program[128];
static s32 vm_mem[16 + 20000];

static void vm_init(void) {
  /* Assemble with labels so that the targets are exact. */
  int pc = 0, l_loop_i, l_next_i, l_loop_j, l_done, fix_done, fix_next1, fix_next2, fix_count, fix_loopj;
#define EMIT(x) (program[pc++] = (x))
  EMIT(OP_PUSH), EMIT(2), EMIT(OP_STORE), EMIT(2);
  l_loop_i = pc;
  EMIT(OP_LOAD), EMIT(2), EMIT(OP_LOAD), EMIT(0), EMIT(OP_LT), EMIT(OP_JZ), fix_done = pc, EMIT(0);
  EMIT(OP_LOAD), EMIT(2), EMIT(OP_PUSH), EMIT(16), EMIT(OP_ADD), EMIT(OP_LOADI), EMIT(OP_JZ), fix_count = pc, EMIT(0);
  EMIT(OP_JMP), fix_next1 = pc, EMIT(0);
  program[fix_count] = pc;
  EMIT(OP_LOAD), EMIT(1), EMIT(OP_PUSH), EMIT(1), EMIT(OP_ADD), EMIT(OP_STORE), EMIT(1);
  EMIT(OP_LOAD), EMIT(2), EMIT(OP_LOAD), EMIT(2), EMIT(OP_MUL), EMIT(OP_STORE), EMIT(3);
  l_loop_j = pc;
  EMIT(OP_LOAD), EMIT(3), EMIT(OP_LOAD), EMIT(0), EMIT(OP_LT), EMIT(OP_JZ), fix_next2 = pc, EMIT(0);
  EMIT(OP_PUSH), EMIT(1), EMIT(OP_LOAD), EMIT(3), EMIT(OP_PUSH), EMIT(16), EMIT(OP_ADD), EMIT(OP_STOREI);
  EMIT(OP_LOAD), EMIT(3), EMIT(OP_LOAD), EMIT(2), EMIT(OP_ADD), EMIT(OP_STORE), EMIT(3), EMIT(OP_JMP), fix_loopj = pc, EMIT(0);
  program[fix_loopj] = l_loop_j;
  l_next_i = pc;
  program[fix_next1] = l_next_i;
  program[fix_next2] = l_next_i;
  EMIT(OP_LOAD), EMIT(2), EMIT(OP_PUSH), EMIT(1), EMIT(OP_ADD), EMIT(OP_STORE), EMIT(2), EMIT(OP_JMP), EMIT(l_loop_i);
  l_done = pc;
  program[fix_done] = l_done;
  EMIT(OP_HALT);
#undef EMIT
}

static s32 vm_run(s32 n) {
  s32 stack[64];
  int sp = 0, pc = 0;
  memset(vm_mem, 0, sizeof vm_mem);
  vm_mem[0] = n;
  for (;;) {
    s32 op = program[pc++];
    switch (op) {
      case OP_PUSH: stack[sp++] = program[pc++]; break;
      case OP_LOAD: stack[sp++] = vm_mem[program[pc++]]; break;
      case OP_STORE: vm_mem[program[pc++]] = stack[--sp]; break;
      case OP_ADD: sp--, stack[sp - 1] += stack[sp]; break;
      case OP_SUB: sp--, stack[sp - 1] -= stack[sp]; break;
      case OP_MUL: sp--, stack[sp - 1] *= stack[sp]; break;
      case OP_LT: sp--, stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
      case OP_JZ: {
        s32 target = program[pc++];
        if (stack[--sp] == 0) pc = target;
        break;
      }
      case OP_JMP: pc = program[pc]; break;
      case OP_LOADI: stack[sp - 1] = vm_mem[stack[sp - 1]]; break;
      case OP_STOREI: sp -= 2, vm_mem[stack[sp + 1]] = stack[sp]; break;
      case OP_DUP: stack[sp] = stack[sp - 1], sp++; break;
      case OP_POP: sp--; break;
      default: return vm_mem[1];
    }
  }
}

void test_main(void) {
  u32 checksum = 0;

  crc_init();
  check_eq("CRC-32 of \"123456789\" is 0xCBF43926", crc32((const u8 *)"123456789", 9, 0), 0xcbf43926u);
  for (size_t i = 0; i < sizeof buffer; i++) buffer[i] = (u8)next_rand();
  u32 crc = 0;
  for (int pass = 0; pass < CRC_PASSES; pass++) crc = crc32(buffer, sizeof buffer, crc);
  info("crc32 0x%08x", crc);
  checksum = crc;

  check_eq("SHA-256(\"abc\") starts with 0xBA7816BF", sha256_abc_first_word(), 0xba7816bfu);
  u32 h[8];
  sha256_init(h);
  for (int blk = 0; blk < SHA_BLOCKS; blk++) sha256_block(h, buffer + (blk & 1023) * 64);
  info("sha256 0x%08x%08x", h[0], h[1]);
  checksum = ror(checksum, 5) ^ h[0] ^ h[7];

  int all_sorted = 1;
  for (int round = 0; round < SORT_ROUNDS; round++) {
    for (int i = 0; i < SORT_N; i++) keys[i] = next_rand();
    if (round & 1) heapsort(keys, SORT_N);
    else quicksort(keys, 0, SORT_N - 1);
    all_sorted &= sorted(keys, SORT_N);
    checksum = ror(checksum, 3) ^ keys[0] ^ keys[SORT_N / 2] ^ keys[SORT_N - 1];
  }
  check_true("quicksort and heapsort leave the keys in order", all_sorted, "an array is not sorted");

  vm_init();
  s32 primes = 0;
  for (int run = 0; run < VM_RUNS; run++) primes = vm_run(20000);
  check_eq("the interpreter's sieve finds 2262 primes below 20000", (u32)primes, 2262);
  checksum = ror(checksum, 7) ^ (u32)primes;

  info("bench checksum 0x%08x", checksum);
  check_eq("the checksum matches the reference", checksum, REFERENCE_CHECKSUM);
}
