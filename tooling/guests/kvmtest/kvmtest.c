/*
 * kvmtest: a small user-space hypervisor that drives the Linux KVM API (/dev/kvm) and runs
 * nested guests, for hvkit's "a real hypervisor runs on it" end-to-end test.
 *
 * It is built statically (`gcc -static -O2`) by tooling/guests/linux.mjs and installed as
 * /bin/kvmtest in the KVM initramfs. It uses only the kernel's UAPI (<linux/kvm.h>) as
 * documented in the kernel's Documentation/virt/kvm/api.rst. Each guest is a few instructions
 * assembled here by the host assembler (real mode or 64-bit long mode); it talks to us only
 * through VM exits: port I/O (KVM_EXIT_IO), HLT (KVM_EXIT_HLT) and accesses to guest-physical
 * addresses that no memory slot backs (KVM_EXIT_MMIO). CPUID is handled inside KVM from the
 * table we hand it with KVM_SET_CPUID2, and the guest reports what it saw through port I/O.
 *
 * Output, one line per check:
 *   kvmtest: ok <check>
 *   kvmtest: FAIL <check> -- <what was seen>
 *   kvmtest: # <information>
 * then `kvmtest: PASS` (exit status 0) or `kvmtest: FAIL` (exit status 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- the guests (real mode unless noted; each is copied to GUEST_CODE and entered there) ---- */

#define GUEST_CODE 0x1000u   /* where every guest's code is loaded (CS base 0, IP 0x1000) */
#define GUEST_STACK 0x8000u
#define GUEST_DATA 0x2000u   /* the data area the checksum guests read */
#define GUEST_SHARED 0x5000u /* the byte vCPUs / VMs exchange */
#define GUEST_MEM 0x80000u   /* 512 KiB of RAM in slot 0, from guest-physical 0 */
#define MMIO_REAL 0x90000u   /* unbacked: DS = 0x9000 in the real-mode MMIO guest */
#define MMIO_LONG 0x30000000u
#define PML4_ADDR 0x10000u

#define GUEST(name, body)                                                                      \
  extern const unsigned char name[], name##_end[];                                             \
  __asm__(".pushsection .rodata\n.globl " #name "\n.globl " #name "_end\n" #name ":\n" body   \
          "\n" #name "_end:\n.code64\n.popsection\n")

/* (a) OUT of a byte, a word and a doubleword to port 0x1234; IN of a doubleword from 0x1235,
 * sent back with OUT; REP OUTSB of four bytes to 0x1237; HLT. */
GUEST(g_io, ".code16\n"
            "mov $0x5a, %al\n mov $0x1234, %dx\n out %al, (%dx)\n"
            "mov $0xbeef, %ax\n out %ax, (%dx)\n"
            "mov $0xcafef00d, %eax\n out %eax, (%dx)\n"
            "mov $0x1235, %dx\n in (%dx), %eax\n mov $0x1234, %dx\n out %eax, (%dx)\n"
            "cld\n mov $0x2000, %si\n mov $4, %cx\n mov $0x1237, %dx\n rep outsb\n"
            "hlt\n");

/* (b) CPUID leaf 0 and leaf 0x40000000, each reported as EAX, EBX, ECX, EDX on port 0xe0. */
GUEST(g_cpuid, ".code16\n"
               "xor %eax, %eax\n xor %ecx, %ecx\n cpuid\n"
               "out %eax, $0xe0\n mov %ebx, %eax\n out %eax, $0xe0\n mov %ecx, %eax\n out %eax, $0xe0\n"
               "mov %edx, %eax\n out %eax, $0xe0\n"
               "mov $0x40000000, %eax\n xor %ecx, %ecx\n cpuid\n"
               "out %eax, $0xe0\n mov %ebx, %eax\n out %eax, $0xe0\n mov %ecx, %eax\n out %eax, $0xe0\n"
               "mov %edx, %eax\n out %eax, $0xe0\n"
               "hlt\n");

/* (c) HLT straight away, with a known EAX that must survive the exit. */
GUEST(g_hlt, ".code16\n mov $0x1badb002, %eax\n hlt\n out %eax, $0xe0\n hlt\n");

/* (d) MMIO at 0x90000 (DS = 0x9000): write a byte and a doubleword, read a doubleword and a
 * byte, send the values read back through port 0x1234. */
GUEST(g_mmio, ".code16\n"
              "mov $0x9000, %ax\n mov %ax, %ds\n"
              "movb $0xab, 0x10\n movl $0xdeadbeef, 0x20\n"
              "mov 0x30, %eax\n mov $0x1234, %dx\n out %eax, (%dx)\n"
              "mov 0x41, %al\n out %al, (%dx)\n"
              "hlt\n");

/* (e) b = rol(b, 5) ^ byte over the 4096 bytes at 0x2000, reported on port 0x1238. */
GUEST(g_sum16, ".code16\n"
               "cld\n mov $0x2000, %si\n mov $0x1000, %cx\n xor %ebx, %ebx\n xor %eax, %eax\n"
               "1: lodsb\n rol $5, %ebx\n xor %eax, %ebx\n loop 1b\n"
               "mov %ebx, %eax\n mov $0x1238, %dx\n out %eax, (%dx)\n hlt\n");

/* (f) two vCPUs of one VM: vCPU 0 stores 0x42 at 0x5000 and says 0x10; vCPU 1 reads the byte
 * vCPU 0 stored and reports it. Both on port 0xe1. */
GUEST(g_vcpu0, ".code16\n movb $0x42, 0x5000\n mov $0x10, %al\n out %al, $0xe1\n hlt\n");
GUEST(g_vcpu1, ".code16\n mov 0x5000, %al\n out %al, $0xe1\n hlt\n");

/* (f) two VMs: report the bytes at 0x5000 and 0x5001 of this VM's memory on port 0xe2. */
GUEST(g_twovm, ".code16\n mov 0x5000, %al\n out %al, $0xe2\n mov 0x5001, %al\n out %al, $0xe2\n hlt\n");

/* (g) 64-bit long mode with 4-level paging (2 MiB pages): q = rol(q + qword, 7) over the 512
 * qwords at 0x2000; write q to MMIO at 0x30000000 (8 bytes); read 8 bytes at 0x30000008 and
 * report them on port 0x1240 as two doublewords (low, high); HLT. */
GUEST(g_long, ".code64\n"
              "mov $0x2000, %rsi\n mov $512, %ecx\n xor %eax, %eax\n"
              "1: add (%rsi), %rax\n rol $7, %rax\n add $8, %rsi\n dec %ecx\n jnz 1b\n"
              "mov $0x30000000, %edi\n mov %rax, (%rdi)\n mov 8(%rdi), %rax\n"
              "mov $0x1240, %dx\n out %eax, (%dx)\n shr $32, %rax\n out %eax, (%dx)\n hlt\n");

/* ---- plumbing ---- */

static int kvm = -1;
static int run_size;
static int failures;
static struct kvm_cpuid2 *cpuid_table; /* from KVM_GET_SUPPORTED_CPUID, with leaf 0x40000000 ours */
static char why[512];                   /* the current check's failure, if any */
static volatile sig_atomic_t alarmed;

static void on_alarm(int sig) {
  (void)sig;
  alarmed = 1;
}

static void report(const char *name, int ok) {
  if (ok) {
    printf("kvmtest: ok %s\n", name);
  } else {
    printf("kvmtest: FAIL %s -- %s\n", name, why[0] ? why : "failed");
    failures++;
  }
  fflush(stdout);
  why[0] = 0;
}

/* Records the first failure of the current check; returns 0 so callers can `return fail(...)`. */
static int fail(const char *fmt, ...) {
  if (why[0]) return 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return 0;
}

struct vm {
  int fd;
  uint8_t *mem;
};

struct vcpu {
  int fd;
  struct kvm_run *run;
};

static const char *exit_name(uint32_t r) {
  switch (r) {
    case KVM_EXIT_UNKNOWN: return "UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "EXCEPTION";
    case KVM_EXIT_IO: return "IO";
    case KVM_EXIT_HLT: return "HLT";
    case KVM_EXIT_MMIO: return "MMIO";
    case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
    case KVM_EXIT_INTR: return "INTR";
    case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
    default: return "?";
  }
}

static int vm_create(struct vm *vm) {
  memset(vm, 0, sizeof *vm);
  vm->fd = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm->fd < 0) return fail("KVM_CREATE_VM: %s", strerror(errno));
  /* Intel without unrestricted guest runs real mode through virtual-8086 mode and needs a TSS
   * (three pages) somewhere in guest-physical space; elsewhere this is a no-op. */
  if (ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) return fail("KVM_SET_TSS_ADDR: %s", strerror(errno));
  vm->mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm->mem == MAP_FAILED) return fail("mmap guest memory: %s", strerror(errno));
  struct kvm_userspace_memory_region region = {
      .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM, .userspace_addr = (uintptr_t)vm->mem};
  if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
  return 1;
}

static void vm_destroy(struct vm *vm) {
  if (vm->mem && vm->mem != MAP_FAILED) munmap(vm->mem, GUEST_MEM);
  if (vm->fd >= 0) close(vm->fd);
  vm->fd = -1;
  vm->mem = NULL;
}

static void vm_load(struct vm *vm, uint32_t at, const unsigned char *start, const unsigned char *end) {
  memcpy(vm->mem + at, start, (size_t)(end - start));
}

static int vcpu_create(struct vm *vm, struct vcpu *cpu, int id) {
  cpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
  if (cpu->fd < 0) return fail("KVM_CREATE_VCPU %d: %s", id, strerror(errno));
  cpu->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu->fd, 0);
  if (cpu->run == MAP_FAILED) return fail("mmap kvm_run: %s", strerror(errno));
  if (cpuid_table && ioctl(cpu->fd, KVM_SET_CPUID2, cpuid_table) < 0) return fail("KVM_SET_CPUID2: %s", strerror(errno));
  return 1;
}

static void vcpu_destroy(struct vcpu *cpu) {
  if (cpu->run && cpu->run != MAP_FAILED) munmap(cpu->run, (size_t)run_size);
  if (cpu->fd >= 0) close(cpu->fd);
  cpu->fd = -1;
  cpu->run = NULL;
}

/* Real mode at 0000:ip, every segment base 0. */
static int vcpu_real_mode(struct vcpu *cpu, uint32_t ip) {
  struct kvm_sregs s;
  if (ioctl(cpu->fd, KVM_GET_SREGS, &s) < 0) return fail("KVM_GET_SREGS: %s", strerror(errno));
  struct kvm_segment *segs[] = {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss};
  for (unsigned i = 0; i < 6; i++) {
    segs[i]->base = 0;
    segs[i]->selector = 0;
  }
  if (ioctl(cpu->fd, KVM_SET_SREGS, &s) < 0) return fail("KVM_SET_SREGS: %s", strerror(errno));
  struct kvm_regs r;
  memset(&r, 0, sizeof r);
  r.rip = ip;
  r.rsp = GUEST_STACK;
  r.rflags = 2;
  if (ioctl(cpu->fd, KVM_SET_REGS, &r) < 0) return fail("KVM_SET_REGS: %s", strerror(errno));
  return 1;
}

/* 64-bit mode at rip: identity-mapped first GiB (2 MiB pages) from page tables at PML4_ADDR. */
static int vcpu_long_mode(struct vm *vm, struct vcpu *cpu, uint64_t rip) {
  uint64_t *pml4 = (uint64_t *)(vm->mem + PML4_ADDR);
  uint64_t *pdpt = (uint64_t *)(vm->mem + PML4_ADDR + 0x1000);
  uint64_t *pd = (uint64_t *)(vm->mem + PML4_ADDR + 0x2000);
  memset(pml4, 0, 0x3000);
  pml4[0] = (PML4_ADDR + 0x1000) | 3;  /* present, writable */
  pdpt[0] = (PML4_ADDR + 0x2000) | 3;
  for (uint64_t i = 0; i < 512; i++) pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
  struct kvm_sregs s;
  if (ioctl(cpu->fd, KVM_GET_SREGS, &s) < 0) return fail("KVM_GET_SREGS: %s", strerror(errno));
  struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1};
  struct kvm_segment data = {.base = 0, .limit = 0xffffffff, .selector = 16, .type = 3, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.cr3 = PML4_ADDR;
  s.cr4 = 1u << 5;                                  /* PAE */
  s.cr0 = 0x80000001u | 0x10u | 0x20u | 0x10000u;   /* PG, PE, ET, NE, WP */
  s.efer = (1u << 8) | (1u << 10);                  /* LME, LMA */
  if (ioctl(cpu->fd, KVM_SET_SREGS, &s) < 0) return fail("KVM_SET_SREGS (long mode): %s", strerror(errno));
  struct kvm_regs r;
  memset(&r, 0, sizeof r);
  r.rip = rip;
  r.rsp = GUEST_STACK;
  r.rflags = 2;
  if (ioctl(cpu->fd, KVM_SET_REGS, &r) < 0) return fail("KVM_SET_REGS: %s", strerror(errno));
  return 1;
}

/* One KVM_RUN (with a 60 s alarm against guests that never exit); returns the exit reason, or
 * -1 (with the failure recorded). */
static int vcpu_run(struct vcpu *cpu) {
  alarmed = 0;
  alarm(60);
  int rc = ioctl(cpu->fd, KVM_RUN, 0);
  int err = errno;
  alarm(0);
  if (rc < 0) {
    if (err == EINTR && alarmed) return fail("KVM_RUN: no exit within 60 s"), -1;
    return fail("KVM_RUN: %s", strerror(err)), -1;
  }
  return (int)cpu->run->exit_reason;
}

/* Describes an exit we did not expect, with the guest's RIP. */
static int unexpected(struct vcpu *cpu, uint32_t reason, const char *wanted) {
  struct kvm_regs r;
  uint64_t rip = ioctl(cpu->fd, KVM_GET_REGS, &r) == 0 ? r.rip : ~0ull;
  struct kvm_run *run = cpu->run;
  switch (reason) {
    case KVM_EXIT_IO:
      return fail("expected %s, got IO %s port 0x%x size %u count %u at rip 0x%llx", wanted,
                  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port, run->io.size, run->io.count,
                  (unsigned long long)rip);
    case KVM_EXIT_MMIO:
      return fail("expected %s, got MMIO %s 0x%llx len %u at rip 0x%llx", wanted, run->mmio.is_write ? "write" : "read",
                  (unsigned long long)run->mmio.phys_addr, run->mmio.len, (unsigned long long)rip);
    case KVM_EXIT_FAIL_ENTRY:
      return fail("expected %s, got FAIL_ENTRY reason 0x%llx cpu %u", wanted,
                  (unsigned long long)run->fail_entry.hardware_entry_failure_reason, run->fail_entry.cpu);
    case KVM_EXIT_INTERNAL_ERROR:
      return fail("expected %s, got INTERNAL_ERROR suberror %u (ndata %u, data0 0x%llx) at rip 0x%llx", wanted,
                  run->internal.suberror, run->internal.ndata,
                  (unsigned long long)(run->internal.ndata ? run->internal.data[0] : 0), (unsigned long long)rip);
    default:
      return fail("expected %s, got exit %u (%s) at rip 0x%llx", wanted, reason, exit_name(reason), (unsigned long long)rip);
  }
}

/* Runs until the next exit, which must be OUT to `port` of `size` bytes; stores its data. */
static int expect_out(struct vcpu *cpu, uint16_t port, unsigned size, uint32_t *value) {
  int reason = vcpu_run(cpu);
  if (reason < 0) return 0;
  struct kvm_run *run = cpu->run;
  char wanted[64];
  snprintf(wanted, sizeof wanted, "OUT to port 0x%x size %u", port, size);
  if (reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.port != port || run->io.size != size ||
      run->io.count != 1)
    return unexpected(cpu, (uint32_t)reason, wanted);
  uint32_t v = 0;
  memcpy(&v, (uint8_t *)run + run->io.data_offset, size);
  *value = v;
  return 1;
}

static int expect_hlt(struct vcpu *cpu) {
  int reason = vcpu_run(cpu);
  if (reason < 0) return 0;
  if (reason != KVM_EXIT_HLT) return unexpected(cpu, (uint32_t)reason, "HLT");
  return 1;
}

static int expect_value(const char *what, uint32_t got, uint32_t want) {
  if (got != want) return fail("%s: got 0x%x, expected 0x%x", what, got, want);
  return 1;
}

/* A fresh VM with one vCPU in real mode running `code` at GUEST_CODE. */
static int setup_real(struct vm *vm, struct vcpu *cpu, const unsigned char *code, const unsigned char *end) {
  cpu->fd = -1;
  cpu->run = NULL;
  if (!vm_create(vm)) return 0;
  vm_load(vm, GUEST_CODE, code, end);
  if (!vcpu_create(vm, cpu, 0)) return 0;
  return vcpu_real_mode(cpu, GUEST_CODE);
}

static void teardown(struct vm *vm, struct vcpu *cpu) {
  vcpu_destroy(cpu);
  vm_destroy(vm);
}

/* ---- the checks ---- */

static int check_io(void) {
  struct vm vm;
  struct vcpu cpu;
  int ok = setup_real(&vm, &cpu, g_io, g_io_end);
  uint32_t v;
  if (ok) memcpy(vm.mem + GUEST_DATA, "kvm!", 4);
  ok = ok && expect_out(&cpu, 0x1234, 1, &v) && expect_value("OUT byte", v, 0x5a);
  ok = ok && expect_out(&cpu, 0x1234, 2, &v) && expect_value("OUT word", v, 0xbeef);
  ok = ok && expect_out(&cpu, 0x1234, 4, &v) && expect_value("OUT doubleword", v, 0xcafef00d);
  if (ok) {
    int reason = vcpu_run(&cpu);
    struct kvm_run *run = cpu.run;
    if (reason < 0) ok = 0;
    else if (reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_IN || run->io.port != 0x1235 || run->io.size != 4 ||
             run->io.count != 1)
      ok = unexpected(&cpu, (uint32_t)reason, "IN from port 0x1235 size 4");
    else {
      uint32_t in = 0x600dcafe;
      memcpy((uint8_t *)run + run->io.data_offset, &in, 4);
    }
  }
  ok = ok && expect_out(&cpu, 0x1234, 4, &v) && expect_value("IN doubleword sent back", v, 0x600dcafe);
  /* REP OUTSB: KVM may report the four bytes in one exit (count 4) or in several. */
  char seen[8] = {0};
  unsigned got = 0;
  while (ok && got < 4) {
    int reason = vcpu_run(&cpu);
    struct kvm_run *run = cpu.run;
    if (reason < 0) ok = 0;
    else if (reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x1237 || run->io.size != 1 ||
             run->io.count == 0 || got + run->io.count > 4)
      ok = unexpected(&cpu, (uint32_t)reason, "REP OUTSB to port 0x1237");
    else {
      memcpy(seen + got, (uint8_t *)run + run->io.data_offset, run->io.count);
      got += run->io.count;
    }
  }
  if (ok && memcmp(seen, "kvm!", 4) != 0) ok = fail("REP OUTSB sent \"%.4s\", expected \"kvm!\"", seen);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  return ok;
}

static void vendor_of(uint32_t ebx, uint32_t ecx, uint32_t edx, char out[13]) {
  memcpy(out, &ebx, 4);
  memcpy(out + 4, &edx, 4);
  memcpy(out + 8, &ecx, 4);
  out[12] = 0;
}

static struct kvm_cpuid_entry2 *cpuid_entry(uint32_t function) {
  for (uint32_t i = 0; i < cpuid_table->nent; i++)
    if (cpuid_table->entries[i].function == function && cpuid_table->entries[i].index == 0) return &cpuid_table->entries[i];
  return NULL;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer while KVM says E2BIG; leaf 0x40000000 (the
 * hypervisor leaf) is replaced by our own signature, so the guest sees a value we chose. */
static int load_cpuid(void) {
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    struct kvm_cpuid2 *t = calloc(1, sizeof *t + n * sizeof(struct kvm_cpuid_entry2));
    if (!t) return fail("out of memory");
    t->nent = n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, t) == 0) {
      cpuid_table = t;
      break;
    }
    int err = errno;
    free(t);
    if (err != E2BIG) return fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
  }
  if (!cpuid_table) return fail("KVM_GET_SUPPORTED_CPUID: E2BIG up to 4096 entries");
  struct kvm_cpuid_entry2 *hv = cpuid_entry(0x40000000);
  if (!hv) {
    /* Append it (there is room: the buffer is larger than nent only if we made it so). */
    struct kvm_cpuid2 *t = realloc(cpuid_table, sizeof *t + (cpuid_table->nent + 1) * sizeof(struct kvm_cpuid_entry2));
    if (!t) return fail("out of memory");
    cpuid_table = t;
    hv = &t->entries[t->nent++];
    memset(hv, 0, sizeof *hv);
    hv->function = 0x40000000;
  }
  hv->eax = 0x40000000;
  memcpy(&hv->ebx, "hvki", 4);
  memcpy(&hv->ecx, "tKVM", 4);
  memcpy(&hv->edx, "test", 4);
  return 1;
}

/* (b) CPUID: leaf 0 as KVM_GET_SUPPORTED_CPUID reports it (this CPU's vendor), and the leaf
 * we set with KVM_SET_CPUID2. Reports cpuid-vendor and cpuid-set-leaf. */
static int check_cpuid_run(int *leaf_ok);
static void check_cpuid(void) {
  int leaf_ok = 0;
  if (!cpuid_table) fail("no CPUID table (see supported-cpuid)");
  report("cpuid-vendor", cpuid_table && check_cpuid_run(&leaf_ok));
  if (!leaf_ok) fail("the guest did not see the leaf 0x40000000 set with KVM_SET_CPUID2");
  report("cpuid-set-leaf", leaf_ok);
}

static int check_cpuid_run(int *leaf_ok) {
  struct vm vm;
  struct vcpu cpu;
  uint32_t v[8];
  int ok = setup_real(&vm, &cpu, g_cpuid, g_cpuid_end);
  for (int i = 0; i < 8 && ok; i++) ok = expect_out(&cpu, 0xe0, 4, &v[i]);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  if (!ok) return 0;
  struct kvm_cpuid_entry2 *l0 = cpuid_entry(0);
  if (!l0) return fail("KVM_GET_SUPPORTED_CPUID has no leaf 0");
  uint32_t a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  char host[13], table[13], guest[13];
  vendor_of(b, c, d, host);
  vendor_of(l0->ebx, l0->ecx, l0->edx, table);
  vendor_of(v[1], v[2], v[3], guest);
  printf("kvmtest: # guest CPUID.0: max leaf 0x%x vendor \"%s\" (this CPU: \"%s\")\n", v[0], guest, host);
  if (strcmp(table, host) != 0) return fail("KVM_GET_SUPPORTED_CPUID vendor \"%s\", this CPU's is \"%s\"", table, host);
  if (strcmp(guest, table) != 0 || v[0] != l0->eax)
    return fail("guest saw leaf 0 = 0x%x \"%s\", expected 0x%x \"%s\"", v[0], guest, l0->eax, table);
  char sig[13];
  vendor_of(v[5], v[7], v[6], sig); /* EBX, ECX, EDX in that order */
  *leaf_ok = v[4] == 0x40000000 && strcmp(sig, "hvkitKVMtest") == 0;
  if (!*leaf_ok) printf("kvmtest: # guest CPUID.40000000: 0x%x \"%s\", expected 0x40000000 \"hvkitKVMtest\"\n", v[4], sig);
  return 1;
}

/* (c) HLT exits to user space (no in-kernel irqchip) with EAX intact; KVM_RUN again resumes after it. */
static int check_hlt(void) {
  struct vm vm;
  struct vcpu cpu;
  uint32_t v;
  int ok = setup_real(&vm, &cpu, g_hlt, g_hlt_end);
  ok = ok && expect_hlt(&cpu);
  if (ok) {
    struct kvm_regs r;
    if (ioctl(cpu.fd, KVM_GET_REGS, &r) < 0) ok = fail("KVM_GET_REGS: %s", strerror(errno));
    else if ((uint32_t)r.rax != 0x1badb002) ok = fail("EAX after HLT 0x%llx", (unsigned long long)r.rax);
    else if (r.rip != GUEST_CODE + 7) ok = fail("RIP after HLT 0x%llx, expected 0x%x", (unsigned long long)r.rip, GUEST_CODE + 7);
  }
  ok = ok && expect_out(&cpu, 0xe0, 4, &v) && expect_value("EAX after resuming", v, 0x1badb002);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  return ok;
}

/* Runs to the next exit, which must be MMIO at `addr` of `len` bytes in the given direction. */
static int expect_mmio(struct vcpu *cpu, uint64_t addr, unsigned len, int is_write) {
  int reason = vcpu_run(cpu);
  if (reason < 0) return 0;
  struct kvm_run *run = cpu->run;
  char wanted[80];
  snprintf(wanted, sizeof wanted, "MMIO %s 0x%llx len %u", is_write ? "write" : "read", (unsigned long long)addr, len);
  if (reason != KVM_EXIT_MMIO || run->mmio.phys_addr != addr || run->mmio.len != len || !run->mmio.is_write != !is_write)
    return unexpected(cpu, (uint32_t)reason, wanted);
  return 1;
}

/* (d) MMIO writes report address, length and data; MMIO reads take the data we supply.
 * Reports mmio-write and mmio-read. */
static void check_mmio(void) {
  struct vm vm;
  struct vcpu cpu;
  uint32_t v;
  int ok = setup_real(&vm, &cpu, g_mmio, g_mmio_end);
  ok = ok && expect_mmio(&cpu, MMIO_REAL + 0x10, 1, 1) && expect_value("MMIO byte written", cpu.run->mmio.data[0], 0xab);
  if (ok) {
    ok = expect_mmio(&cpu, MMIO_REAL + 0x20, 4, 1);
    if (ok) {
      memcpy(&v, cpu.run->mmio.data, 4);
      ok = expect_value("MMIO doubleword written", v, 0xdeadbeef);
    }
  }
  report("mmio-write", ok);
  if (!ok) fail("not run: the writes before it failed");
  if (ok) {
    ok = expect_mmio(&cpu, MMIO_REAL + 0x30, 4, 0);
    if (ok) {
      uint32_t d = 0x13579bdf;
      memcpy(cpu.run->mmio.data, &d, 4);
    }
  }
  ok = ok && expect_out(&cpu, 0x1234, 4, &v) && expect_value("MMIO doubleword read", v, 0x13579bdf);
  if (ok) {
    ok = expect_mmio(&cpu, MMIO_REAL + 0x41, 1, 0);
    if (ok) cpu.run->mmio.data[0] = 0x77;
  }
  ok = ok && expect_out(&cpu, 0x1234, 1, &v) && expect_value("MMIO byte read", v, 0x77);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  report("mmio-read", ok);
}

static void fill_data(uint8_t *p, unsigned n, uint32_t seed) {
  uint32_t x = seed;
  for (unsigned i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 24);
  }
}

/* (e) a loop over guest memory, compared with the same computation here. */
static int check_checksum(void) {
  struct vm vm;
  struct vcpu cpu;
  uint32_t v;
  int ok = setup_real(&vm, &cpu, g_sum16, g_sum16_end);
  uint32_t want = 0;
  if (ok) {
    fill_data(vm.mem + GUEST_DATA, 4096, 0x2468ace);
    for (unsigned i = 0; i < 4096; i++) want = ((want << 5) | (want >> 27)) ^ vm.mem[GUEST_DATA + i];
  }
  ok = ok && expect_out(&cpu, 0x1238, 4, &v) && expect_value("checksum", v, want);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  return ok;
}

/* (g) 64-bit long mode with paging: a checksum loop, an 8-byte MMIO write and read. */
static int check_long_mode(void) {
  struct vm vm;
  struct vcpu cpu;
  uint32_t lo, hi;
  cpu.fd = -1;
  cpu.run = NULL;
  int ok = vm_create(&vm);
  uint64_t want = 0;
  if (ok) {
    vm_load(&vm, GUEST_CODE, g_long, g_long_end);
    fill_data(vm.mem + GUEST_DATA, 4096, 0x13572468);
    for (unsigned i = 0; i < 512; i++) {
      uint64_t q;
      memcpy(&q, vm.mem + GUEST_DATA + 8 * i, 8);
      want += q;
      want = (want << 7) | (want >> 57);
    }
  }
  ok = ok && vcpu_create(&vm, &cpu, 0) && vcpu_long_mode(&vm, &cpu, GUEST_CODE);
  if (ok) {
    ok = expect_mmio(&cpu, MMIO_LONG, 8, 1);
    uint64_t got;
    if (ok) {
      memcpy(&got, cpu.run->mmio.data, 8);
      if (got != want) ok = fail("64-bit checksum written to MMIO 0x%llx, expected 0x%llx", (unsigned long long)got, (unsigned long long)want);
    }
  }
  if (ok) {
    ok = expect_mmio(&cpu, MMIO_LONG + 8, 8, 0);
    uint64_t d = 0x0123456789abcdefull;
    if (ok) memcpy(cpu.run->mmio.data, &d, 8);
  }
  ok = ok && expect_out(&cpu, 0x1240, 4, &lo) && expect_value("MMIO qword read, low half", lo, 0x89abcdef);
  ok = ok && expect_out(&cpu, 0x1240, 4, &hi) && expect_value("MMIO qword read, high half", hi, 0x01234567);
  ok = ok && expect_hlt(&cpu);
  teardown(&vm, &cpu);
  return ok;
}

/* (f) two vCPUs of one VM, run one after the other, sharing memory. */
static int check_two_vcpus(void) {
  struct vm vm;
  struct vcpu c0 = {-1, NULL}, c1 = {-1, NULL};
  uint32_t v;
  int ok = vm_create(&vm);
  if (ok) {
    vm_load(&vm, GUEST_CODE, g_vcpu0, g_vcpu0_end);
    vm_load(&vm, GUEST_CODE + 0x100, g_vcpu1, g_vcpu1_end);
  }
  ok = ok && vcpu_create(&vm, &c0, 0) && vcpu_create(&vm, &c1, 1);
  ok = ok && vcpu_real_mode(&c0, GUEST_CODE) && vcpu_real_mode(&c1, GUEST_CODE + 0x100);
  ok = ok && expect_out(&c0, 0xe1, 1, &v) && expect_value("vCPU 0", v, 0x10);
  ok = ok && expect_hlt(&c0);
  if (ok && vm.mem[GUEST_SHARED] != 0x42) ok = fail("vCPU 0's store is not in guest memory (0x%x)", vm.mem[GUEST_SHARED]);
  ok = ok && expect_out(&c1, 0xe1, 1, &v) && expect_value("vCPU 1 reads vCPU 0's byte", v, 0x42);
  ok = ok && expect_hlt(&c1);
  vcpu_destroy(&c1);
  vcpu_destroy(&c0);
  vm_destroy(&vm);
  return ok;
}

/* (f) two VMs alive at once, their runs interleaved, each seeing only its own memory. */
static int check_two_vms(void) {
  struct vm a, b;
  struct vcpu ca = {-1, NULL}, cb = {-1, NULL};
  uint32_t v;
  int ok = setup_real(&a, &ca, g_twovm, g_twovm_end) && setup_real(&b, &cb, g_twovm, g_twovm_end);
  if (ok) {
    memcpy(a.mem + GUEST_SHARED, "Aa", 2);
    memcpy(b.mem + GUEST_SHARED, "Bb", 2);
  }
  ok = ok && expect_out(&ca, 0xe2, 1, &v) && expect_value("VM A first byte", v, 'A');
  ok = ok && expect_out(&cb, 0xe2, 1, &v) && expect_value("VM B first byte", v, 'B');
  ok = ok && expect_out(&ca, 0xe2, 1, &v) && expect_value("VM A second byte", v, 'a');
  ok = ok && expect_out(&cb, 0xe2, 1, &v) && expect_value("VM B second byte", v, 'b');
  ok = ok && expect_hlt(&ca) && expect_hlt(&cb);
  teardown(&b, &cb);
  teardown(&a, &ca);
  return ok;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
  sigaction(SIGALRM, &sa, NULL);

  kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("open /dev/kvm: %s", strerror(errno));
  report("open-dev-kvm", kvm >= 0);
  if (kvm < 0) {
    printf("kvmtest: FAIL\n");
    return 1;
  }
  int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) fail("KVM_GET_API_VERSION = %d, expected %d", api, KVM_API_VERSION);
  report("api-version", api == KVM_API_VERSION);
  run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE = %d", run_size);
  report("vcpu-mmap-size", run_size >= (int)sizeof(struct kvm_run));
  if (run_size < (int)sizeof(struct kvm_run)) {
    printf("kvmtest: FAIL\n");
    return 1;
  }
  {
    struct vm vm;
    struct vcpu cpu = {-1, NULL};
    int ok = vm_create(&vm) && vcpu_create(&vm, &cpu, 0);
    teardown(&vm, &cpu);
    report("create-vm-vcpu", ok);
  }
  report("supported-cpuid", load_cpuid());

  report("io", check_io());
  check_cpuid();
  report("hlt", check_hlt());
  check_mmio();
  report("checksum-real-mode", check_checksum());
  report("long-mode", check_long_mode());
  report("two-vcpus", check_two_vcpus());
  report("two-vms", check_two_vms());

  printf("kvmtest: %s\n", failures ? "FAIL" : "PASS");
  return failures ? 1 : 0;
}
