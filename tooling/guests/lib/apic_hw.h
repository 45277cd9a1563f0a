/*
 * PC platform helpers for the interrupt-controller and firmware-table guests (ioapic, lapic,
 * x2apic, smp, acpi): the local APIC (xAPIC MMIO or x2APIC MSRs), the I/O APIC, the 8259
 * pair, the 8254 PIT (channel 0 as an interrupt source, channel 2 as a stopwatch), PCI
 * configuration mechanism 1, QEMU's fw_cfg and pc-testdev, interrupt bookkeeping, and MSR
 * accesses that may fault.
 *
 * Nothing here relies on state a BIOS left behind: every program initialises each device it
 * uses (the hvkit PC starts the kernel directly, with every device in its reset state; QEMU
 * runs SeaBIOS first). Header-only, so it needs no change to the build: every function is
 * `static inline` or marked unused, and each program is a single translation unit.
 */
#ifndef HVKIT_APIC_HW_H
#define HVKIT_APIC_HW_H

#include "guest.h"

#define APIC_UNUSED __attribute__((unused))

static inline u32 mmio_read32(ulong addr) { return *(volatile u32 *)addr; }
static inline void mmio_write32(ulong addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u8 mmio_read8(ulong addr) { return *(volatile u8 *)addr; }
static inline void cpu_sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cpu_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
/* STI; NOP; CLI: exactly one interrupt window (SDM Vol. 3 §6.8.3: STI delays by one instruction). */
static inline void irq_window(void) { __asm__ volatile("sti; nop; cli" ::: "memory"); }
static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

/*
 * check_eq for a rule QEMU 7.2's TCG does not emulate: on TCG, its known wrong outcome
 * `tcg_got` is reported as SKIP with `why` (as check_trap_tcg does for exceptions); anything
 * else is checked as usual.
 */
static inline int check_eq_tcg(const char *check, u64 got, u64 want, u64 tcg_got, const char *why) {
  if (cpu.is_qemu_tcg && got == tcg_got && got != want) {
    skip(check, "QEMU TCG %s", why);
    return 1;
  }
  return check_eq(check, got, want);
}

/* n / d without libgcc (there is no 32-bit libgcc for __udivdi3): two 64-by-32 DIVs. */
static inline u64 udiv64(u64 n, u32 d) {
#ifdef __x86_64__
  return n / d;
#else
  u32 hi = (u32)(n >> 32), lo = (u32)n, qhi = hi / d, r = hi % d, qlo;
  __asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
  return ((u64)qhi << 32) | qlo;
#endif
}

/* ---- the local APIC (SDM Vol. 3 chapter 11, Table 11-1 for the xAPIC offsets) ------------ */

#define MSR_APIC_BASE 0x1bu
#define APIC_BASE_BSP BIT(8)
#define APIC_BASE_EXTD BIT(10)
#define APIC_BASE_EN BIT(11)
#define APIC_DEFAULT_BASE 0xfee00000ul
#define MSR_TSC_DEADLINE 0x6e0u
#define MSR_X2APIC_BASE 0x800u

#define APIC_ID 0x20
#define APIC_VERSION 0x30
#define APIC_TPR 0x80
#define APIC_APR 0x90
#define APIC_PPR 0xa0
#define APIC_EOI 0xb0
#define APIC_LDR 0xd0
#define APIC_DFR 0xe0
#define APIC_SVR 0xf0
#define APIC_ISR 0x100
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_ICR 0x380
#define APIC_TIMER_CCR 0x390
#define APIC_TIMER_DCR 0x3e0
#define APIC_SELF_IPI 0x3f0 /* x2APIC only (MSR 0x83F) */

#define APIC_SVR_ENABLE BIT(8)
#define APIC_SVR_EOI_SUPPRESS BIT(12)
#define APIC_LVT_MASKED BIT(16)
#define APIC_LVT_LEVEL BIT(15)
#define APIC_TIMER_ONESHOT (0u << 17)
#define APIC_TIMER_PERIODIC (1u << 17)
#define APIC_TIMER_DEADLINE (2u << 17)
/* ICR fields (SDM Vol. 3 §11.6.1, Figure 11-12). */
#define ICR_FIXED (0u << 8)
#define ICR_LOWEST (1u << 8)
#define ICR_NMI (4u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_LOGICAL BIT(11)
#define ICR_BUSY BIT(12)
#define ICR_ASSERT BIT(14)
#define ICR_LEVEL BIT(15)
#define ICR_SELF (1u << 18)
#define ICR_ALL (2u << 18)
#define ICR_ALL_BUT_SELF (3u << 18)
/* ESR bits (SDM Vol. 3 §11.5.3, Figure 11-9). */
#define ESR_SEND_ILLEGAL_VECTOR BIT(5)
#define ESR_RECV_ILLEGAL_VECTOR BIT(6)
#define ESR_ILLEGAL_REGISTER BIT(7)

/* Where the xAPIC registers are, and whether the APIC is in x2APIC mode (then MSRs are used). */
static ulong apic_mmio_base APIC_UNUSED = APIC_DEFAULT_BASE;
static int apic_x2 APIC_UNUSED;

/* One register: `off` is the xAPIC offset; in x2APIC mode MSR 0x800 + off / 16 (§11.12.1.2). */
static inline u32 apic_read(u32 off) {
  if (apic_x2) return (u32)rdmsr(MSR_X2APIC_BASE + (off >> 4));
  return mmio_read32(apic_mmio_base + off);
}
static inline void apic_write(u32 off, u32 v) {
  if (apic_x2) wrmsr(MSR_X2APIC_BASE + (off >> 4), v);
  else mmio_write32(apic_mmio_base + off, v);
}
/* Bit `vector` of one of the 256-bit registers ISR, TMR or IRR (eight 32-bit words, 16 bytes apart). */
static inline int apic_vec_bit(u32 reg, u32 vector) { return (int)((apic_read(reg + (vector >> 5) * 0x10) >> (vector & 31)) & 1); }
static inline void apic_eoi(void) { apic_write(APIC_EOI, 0); }
/* Whether any bit of ISR or IRR is set. */
static inline int apic_any(u32 reg) {
  u32 any = 0;
  for (u32 i = 0; i < 8; i++) any |= apic_read(reg + i * 0x10);
  return any != 0;
}
/*
 * Sends an IPI: ICR high (destination) first, then ICR low, which sends (§11.6.1). In x2APIC
 * mode the ICR is the single 64-bit MSR 0x830 with a 32-bit destination in bits 63:32.
 */
static inline void apic_icr(u32 dest, u32 low) {
  if (apic_x2) {
    wrmsr(MSR_X2APIC_BASE + 0x30, ((u64)dest << 32) | low);
    return;
  }
  apic_write(APIC_ICR_HI, dest << 24);
  apic_write(APIC_ICR_LO, low);
  for (int spin = 0; spin < 1000000 && (apic_read(APIC_ICR_LO) & ICR_BUSY); spin++) cpu_pause();
}
/* ESR: a write latches the errors seen since the last write; then a read returns them (§11.5.3). */
static inline u32 apic_esr(void) {
  apic_write(APIC_ESR, 0);
  return apic_read(APIC_ESR);
}
/* The initial APIC ID, CPUID.01H:EBX[31:24] (§11.4.6). */
static inline u32 cpuid_initial_apic_id(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  return b >> 24;
}
/* The x2APIC ID, CPUID.0BH:EDX when leaf 0BH exists, else the initial APIC ID (§11.12.8). */
static inline u32 cpuid_x2apic_id(void) {
  u32 a, b, c, d;
  cpuid(0, 0, &a, &b, &c, &d);
  if (a >= 0xb) {
    cpuid(0xb, 0, &a, &b, &c, &d);
    if (b != 0) return d;
  }
  return cpuid_initial_apic_id();
}
#define HAS_X2APIC() ((cpu.l1_ecx >> 21) & 1)
#define HAS_TSC_DEADLINE() ((cpu.l1_ecx >> 24) & 1)

/*
 * Brings the local APIC to a known state without trusting a BIOS: xAPIC mode at the default
 * base, software-enabled with spurious vector 0xFF (§11.4.7.1, §11.9), TPR 0, flat logical
 * model with logical ID `ldr_bits` (§11.6.2.2), every LVT entry masked, the timer stopped,
 * the ESR cleared and nothing left in service.
 */
static inline void apic_setup_xapic(u32 ldr_bits) {
  apic_x2 = 0;
  apic_mmio_base = APIC_DEFAULT_BASE;
  u64 base = rdmsr(MSR_APIC_BASE);
  if ((base & 0xfffff000ull) != APIC_DEFAULT_BASE || !(base & APIC_BASE_EN))
    wrmsr(MSR_APIC_BASE, (base & APIC_BASE_BSP) | APIC_DEFAULT_BASE | APIC_BASE_EN);
  apic_write(APIC_SVR, APIC_SVR_ENABLE | 0xff);
  apic_write(APIC_TPR, 0);
  apic_write(APIC_DFR, 0xffffffffu);
  apic_write(APIC_LDR, ldr_bits << 24);
  apic_write(APIC_TIMER_ICR, 0);
  apic_write(APIC_TIMER_DCR, 0xb);
  apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | 0xef);
  apic_write(APIC_LVT_THERMAL, APIC_LVT_MASKED);
  apic_write(APIC_LVT_PERF, APIC_LVT_MASKED);
  apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
  apic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
  apic_write(APIC_LVT_ERROR, APIC_LVT_MASKED | 0xfe);
  (void)apic_esr();
  for (int i = 0; i < 256 && apic_any(APIC_ISR); i++) apic_eoi();
}

/* ---- the I/O APIC (Intel 82093AA datasheet §3: IOREGSEL at +0, IOWIN at +0x10) ------------ */

#define IOAPIC_BASE 0xfec00000ul
#define IOAPIC_EOI_REG 0x40 /* version 0x20 parts */
#define IOAPIC_PINS 24
#define REDIR_LEVEL BIT(15)
#define REDIR_MASKED BIT(16)
#define REDIR_REMOTE_IRR BIT(14)
#define REDIR_DELIVS BIT(12)
#define REDIR_LOGICAL BIT(11)
#define REDIR_ACTIVE_LOW BIT(13)
#define REDIR_FIXED (0u << 8)
#define REDIR_LOWEST (1u << 8)
#define REDIR_NMI (4u << 8)

static inline u32 ioapic_read(u32 reg) {
  mmio_write32(IOAPIC_BASE, reg);
  return mmio_read32(IOAPIC_BASE + 0x10);
}
static inline void ioapic_write(u32 reg, u32 v) {
  mmio_write32(IOAPIC_BASE, reg);
  mmio_write32(IOAPIC_BASE + 0x10, v);
}
static inline u32 ioapic_redir_lo(int pin) { return ioapic_read(0x10 + 2 * (u32)pin); }
static inline u32 ioapic_redir_hi(int pin) { return ioapic_read(0x11 + 2 * (u32)pin); }
/* Writes an entry: the destination (high dword) first, so an unmasked low dword sends correctly. */
static inline void ioapic_redir(int pin, u32 low, u32 dest) {
  ioapic_write(0x11 + 2 * (u32)pin, dest << 24);
  ioapic_write(0x10 + 2 * (u32)pin, low);
}
static inline void ioapic_mask_all(void) {
  for (int pin = 0; pin < IOAPIC_PINS; pin++) ioapic_redir(pin, REDIR_MASKED, 0);
}

/* ---- the 8259A pair and the 8254 PIT ------------------------------------------------------- */

/* ICW1-ICW4 (8259A datasheet: edge, cascade, vectors 0x20/0x28, 8086 mode), then every line masked. */
static inline void pic_init_masked(void) {
  outb(0x20, 0x11);
  outb(0xa0, 0x11);
  outb(0x21, 0x20);
  outb(0xa1, 0x28);
  outb(0x21, 0x04);
  outb(0xa1, 0x02);
  outb(0x21, 0x01);
  outb(0xa1, 0x01);
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
}

#define PIT_HZ 1193182u
/* Channel 0 in mode 2 (rate generator) with `divisor`: IRQ0 edges at PIT_HZ / divisor (8254 datasheet). */
static inline void pit0_rate(u16 divisor) {
  outb(0x43, 0x34);
  outb(0x40, (u8)divisor);
  outb(0x40, (u8)(divisor >> 8));
}
/* Channel 0 in mode 0 with the longest count: OUT0 stays low for 55 ms, no further edges. */
static inline void pit0_quiet(void) {
  outb(0x43, 0x30);
  outb(0x40, 0xff);
  outb(0x40, 0xff);
}
/*
 * Channel 2 as a stopwatch: mode 0 (interrupt on terminal count), gated by port 0x61 bit 0,
 * OUT2 read back in port 0x61 bit 5 (the PC/AT "port B"). pit2_start() loads `count`;
 * pit2_done() says when OUT2 has gone high (count reached 0).
 */
static inline void pit2_start(u16 count) {
  u8 b = inb(0x61) & 0x0c;
  outb(0x61, b);          /* gate low, speaker data off */
  outb(0x43, 0xb0);       /* channel 2, lobyte/hibyte, mode 0, binary */
  outb(0x42, (u8)count);
  outb(0x42, (u8)(count >> 8));
  outb(0x61, b | 0x01);   /* gate high: count */
}
static inline int pit2_done(void) { return (inb(0x61) & 0x20) != 0; }
/* Busy-waits `us` microseconds (at most 54 ms) on PIT channel 2; `spins` bounds it if the PIT never finishes. */
static inline void pit2_wait_us(u32 us) {
  pit2_start((u16)((u64)us * PIT_HZ / 1000000u));
  for (u32 spin = 0; spin < 200000000u && !pit2_done(); spin++) {
  }
}

/* Channel 2's current count (counter latch command, then low and high byte). */
static inline u16 pit2_read(void) {
  outb(0x43, 0x80);
  u8 lo = inb(0x42);
  u8 hi = inb(0x42);
  return (u16)(lo | (hi << 8));
}
/*
 * Measures another counter against PIT channel 2: `read` is sampled between two PIT reads,
 * and a sample whose PIT reads lie more than 16 PIT ticks (13 us) apart (the vCPU was
 * preempted in between) is taken again; a measurement the PIT wrapped in is repeated. So
 * host scheduling does not skew the result. Returns the counts of `read` (decreasing if
 * `down`, masked with `value_mask`) over at least `pit_ticks` PIT ticks, scaled to exactly
 * `pit_ticks` ticks; 0 if no measurement succeeded.
 */
struct pit_sample {
  u32 pit, value;
  int ok;
};
static inline struct pit_sample pit2_sample(u32 (*read)(void)) {
  struct pit_sample s = {0, 0, 0};
  for (int tries = 0; tries < 100 && !s.ok; tries++) {
    u16 p1 = pit2_read();
    s.value = read();
    u16 p2 = pit2_read();
    s.pit = ((u32)p1 + p2) / 2;
    s.ok = p1 >= p2 && p1 - p2 <= 16;
  }
  return s;
}
static inline u64 pit2_measure(u32 (*read)(void), int down, u32 value_mask, u32 pit_ticks) {
  for (int attempt = 0; attempt < 20; attempt++) {
    pit2_start(0xffff);
    for (u32 spin = 0; spin < 1000000u && pit2_read() > 0xfff0; spin++) {
    }
    struct pit_sample a = pit2_sample(read), b;
    do {
      b = pit2_sample(read);
    } while (b.pit <= a.pit && a.pit - b.pit < pit_ticks && !pit2_done());
    if (!a.ok || !b.ok || pit2_done() || b.pit > a.pit || a.pit - b.pit < pit_ticks) continue;
    u32 counts = (down ? a.value - b.value : b.value - a.value) & value_mask;
    return udiv64((u64)counts * pit_ticks, a.pit - b.pit);
  }
  return 0;
}

/*
 * Waits until `*counter` reaches `target` or `ms` milliseconds have passed (with IF as the caller
 * set it). Returns whether the target was reached.
 */
static inline int wait_count(volatile u32 *counter, u32 target, u32 ms) {
  for (u32 slice = 0; slice <= ms / 5; slice++) {
    if (*counter >= target) return 1;
    pit2_start((u16)(PIT_HZ / 200));
    for (u32 spin = 0; spin < 20000000u && !pit2_done(); spin++) {
      if (*counter >= target) return 1;
      cpu_pause();
    }
  }
  return *counter >= target;
}

/* ---- PCI configuration mechanism 1 (PCI Local Bus Spec 3.0 §3.2.2.3.2) --------------------- */

static inline u32 pci_addr(int bus, int dev, int fn, int reg) {
  return 0x80000000u | ((u32)bus << 16) | ((u32)dev << 11) | ((u32)fn << 8) | ((u32)reg & 0xfc);
}
static inline u32 pci_read32(int bus, int dev, int fn, int reg) {
  outl(0xcf8, pci_addr(bus, dev, fn, reg));
  return inl(0xcfc);
}
static inline void pci_write32(int bus, int dev, int fn, int reg, u32 v) {
  outl(0xcf8, pci_addr(bus, dev, fn, reg));
  outl(0xcfc, v);
}
static inline u8 pci_read8(int bus, int dev, int fn, int reg) {
  outl(0xcf8, pci_addr(bus, dev, fn, reg));
  return inb((u16)(0xcfc + (reg & 3)));
}
static inline void pci_write8(int bus, int dev, int fn, int reg, u8 v) {
  outl(0xcf8, pci_addr(bus, dev, fn, reg));
  outb((u16)(0xcfc + (reg & 3)), v);
}

/* ---- QEMU fw_cfg (docs/specs/fw_cfg.rst: selector 0x510, data 0x511) and pc-testdev -------- */

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
static inline void fw_cfg_read(u16 key, void *buf, u32 len) {
  outw(0x510, key);
  u8 *p = buf;
  for (u32 i = 0; i < len; i++) p[i] = inb(0x511);
}
/* Whether fw_cfg answers with its signature "QEMU". */
static inline int fw_cfg_present(void) {
  char sig[4];
  fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
  return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}
static inline u16 fw_cfg_u16(u16 key) {
  u16 v = 0;
  fw_cfg_read(key, &v, 2);
  return v;
}
/* pc-testdev (QEMU hw/misc/pc-testdev.c): a byte write to 0x2000 + n drives ISA IRQ line n. */
static inline void testdev_irq(int line, int level) { outb((u16)(0x2000 + line), (u8)(level ? 1 : 0)); }

/* ---- interrupt bookkeeping ----------------------------------------------------------------- */

/*
 * apic_irq_handler, installed with set_trap_handler for each vector a test expects, counts the
 * interrupt, logs the order, samples ISR/TMR/IRR/PPR as the handler saw them and sends an EOI
 * unless `irq_no_eoi` is set. `irq_hook`, when set, runs first (inside the handler).
 */
#define IRQ_LOG 32
static volatile u32 irq_count[256] APIC_UNUSED;
static volatile u32 irq_total APIC_UNUSED;
static volatile u8 irq_log[IRQ_LOG] APIC_UNUSED;
static volatile u32 irq_log_n APIC_UNUSED;
static volatile int irq_no_eoi APIC_UNUSED;
struct irq_seen {
  u8 isr, tmr, irr;
  u32 ppr;
};
static volatile struct irq_seen irq_seen[256] APIC_UNUSED;
static void (*volatile irq_hook)(u32 vector) APIC_UNUSED;

static APIC_UNUSED int apic_irq_handler(struct frame *f) {
  u32 v = (u32)f->vector & 0xff;
  irq_count[v]++;
  irq_total++;
  if (irq_log_n < IRQ_LOG) irq_log[irq_log_n] = (u8)v;
  irq_log_n++;
  irq_seen[v].isr = (u8)apic_vec_bit(APIC_ISR, v);
  irq_seen[v].tmr = (u8)apic_vec_bit(APIC_TMR, v);
  irq_seen[v].irr = (u8)apic_vec_bit(APIC_IRR, v);
  irq_seen[v].ppr = apic_read(APIC_PPR);
  if (irq_hook) irq_hook(v);
  /* Vectors below 16 reach the APIC only where it fails to reject them (QEMU TCG): EOI those too. */
  if (!irq_no_eoi && (v >= 16 || apic_vec_bit(APIC_ISR, v))) apic_eoi();
  return 1;
}
static inline void irq_reset(void) {
  for (int i = 0; i < 256; i++) {
    irq_count[i] = 0;
    irq_seen[i].isr = irq_seen[i].tmr = irq_seen[i].irr = 0;
    irq_seen[i].ppr = 0;
  }
  irq_total = 0;
  irq_log_n = 0;
  irq_no_eoi = 0;
  irq_hook = 0;
}
static inline void irq_handle(u32 vector) { set_trap_handler((int)vector, apic_irq_handler); }

/* ---- MSR accesses that may fault ------------------------------------------------------------ */

static volatile u32 msr_index APIC_UNUSED;
static volatile u64 msr_value APIC_UNUSED;
static APIC_UNUSED NOINLINE void msr_read_fn(void) { msr_value = rdmsr(msr_index); }
static APIC_UNUSED NOINLINE void msr_write_fn(void) { wrmsr(msr_index, msr_value); }
/* RDMSR under trap_catch: NO_TRAP (value in *v) or the vector it raised. */
static inline int rdmsr_catch(u32 msr, u64 *v) {
  msr_index = msr;
  msr_value = 0;
  int got = trap_catch(msr_read_fn);
  if (v) *v = msr_value;
  return got;
}
static inline int wrmsr_catch(u32 msr, u64 v) {
  msr_index = msr;
  msr_value = v;
  return trap_catch(msr_write_fn);
}

#endif
