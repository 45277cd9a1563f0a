/*
 * PC platform helpers for the device programs (pic, pit, rtc, i8042, pci, fwcfg, pctestdev,
 * uart): the 8259A pair, the ELCR, the local APIC's virtual-wire set-up, the 8254's counter 2
 * as a time base, an interrupt logger, CMOS, PCI configuration mechanism 1, fw_cfg and the
 * Multiboot information. Header-only (every function is static inline), 32-bit programs.
 *
 * Nothing here relies on what a BIOS left behind: on QEMU, SeaBIOS runs before a -kernel
 * image and programs the PICs, the PIT, the RTC, the LAPIC and the PCI BARs; hvkit's PC starts
 * the kernel with every device in its reset state. dev_pc_init() puts the interrupt path into
 * one known state on both.
 */
#ifndef HVKIT_DEV_PC_H
#define HVKIT_DEV_PC_H

#include "guest.h"

/* ---- port numbers (IBM PC/AT Technical Reference; PIIX3 datasheet, ISA-compatible registers) */

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define ELCR1 0x4d0
#define ELCR2 0x4d1
#define PIT_CH0 0x40
#define PIT_CH1 0x41
#define PIT_CH2 0x42
#define PIT_CTRL 0x43
#define PORT_61 0x61
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define TESTDEV_IRQ(n) (0x2000 + (n))

/* Vector bases the programs use (ICW2). */
#define DEV_MASTER_BASE 0x20
#define DEV_SLAVE_BASE 0x28
#define DEV_SPURIOUS_APIC_VECTOR 0xff

/* The PIT input clock, 1.193182 MHz (8254 datasheet; IBM PC/AT Technical Reference). */
#define PIT_HZ 1193182u
#define PIT_TICKS_PER_MS 1193u

/* ---- 8259A (Intel 8259A datasheet, "Programming the 8259A", ICW1-ICW4 and OCW1-OCW3) ------- */

/* The vector bases last programmed with dev_pic_init (for the default EOI). */
static volatile u8 dev_pic_base[2] = {DEV_MASTER_BASE, DEV_SLAVE_BASE};

/*
 * The full initialisation sequence on both controllers: ICW1 (edge, cascade, ICW4 needed),
 * ICW2 (vector base), ICW3 (master: slave on IR2; slave: identity 2), ICW4 (8086 mode, plus
 * `icw4_extra`, e.g. AEOI = 0x02), then OCW1 masks every line.
 */
static inline void dev_pic_init(u8 master_base, u8 slave_base, u8 icw4_extra) {
  outb(PIC1_CMD, 0x11);
  outb(PIC2_CMD, 0x11);
  outb(PIC1_DATA, master_base);
  outb(PIC2_DATA, slave_base);
  outb(PIC1_DATA, 0x04);
  outb(PIC2_DATA, 0x02);
  outb(PIC1_DATA, (u8)(0x01 | icw4_extra));
  outb(PIC2_DATA, (u8)(0x01 | icw4_extra));
  outb(PIC1_DATA, 0xff);
  outb(PIC2_DATA, 0xff);
  dev_pic_base[0] = (u8)(master_base & 0xf8);
  dev_pic_base[1] = (u8)(slave_base & 0xf8);
}

/* OCW3 read register commands. */
static inline u8 dev_pic_irr(int slave) {
  u16 cmd = slave ? PIC2_CMD : PIC1_CMD;
  outb(cmd, 0x0a);
  return inb(cmd);
}
static inline u8 dev_pic_isr(int slave) {
  u16 cmd = slave ? PIC2_CMD : PIC1_CMD;
  outb(cmd, 0x0b);
  u8 v = inb(cmd);
  outb(cmd, 0x0a);
  return v;
}
/* Both IMRs as one 16-bit mask (bit n = IRQ n). */
static inline void dev_pic_set_mask(u16 mask) {
  outb(PIC1_DATA, (u8)mask);
  outb(PIC2_DATA, (u8)(mask >> 8));
}
static inline u16 dev_pic_get_mask(void) { return (u16)(inb(PIC1_DATA) | (inb(PIC2_DATA) << 8)); }
/* Unmasks IRQ n (and IR2 on the master for a slave line). */
static inline void dev_pic_unmask(int irq) {
  u16 m = dev_pic_get_mask();
  m &= (u16)~(1u << irq);
  if (irq >= 8) m &= (u16)~(1u << 2);
  dev_pic_set_mask(m);
}
/* Non-specific EOI (OCW2 0x20) to the slave (for IRQ 8-15) and the master. */
static inline void dev_pic_eoi(int irq) {
  if (irq >= 8) outb(PIC2_CMD, 0x20);
  outb(PIC1_CMD, 0x20);
}
/* Clears every in-service bit on both controllers (specific EOI for each level). */
static inline void dev_pic_clear_isr(void) {
  for (int i = 0; i < 8; i++) {
    outb(PIC2_CMD, (u8)(0x60 | i));
    outb(PIC1_CMD, (u8)(0x60 | i));
  }
}

/* ---- local APIC: virtual wire mode (MP spec 1.4 §3.6.2.2; SDM Vol. 3, APIC chapter: "Local
 * Vector Table", "Spurious Interrupt", IA32_APIC_BASE and SVR) ---------------------------- */

#define LAPIC_DEFAULT_BASE 0xfee00000u
static inline int dev_has_lapic(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  return (d >> 9) & 1;
}
static inline volatile u32 *dev_lapic_reg(u32 offset) {
  u32 base = (u32)rdmsr(0x1b) & 0xfffff000u;
  return (volatile u32 *)(ulong)(base + offset);
}
static __attribute__((unused)) int dev_spurious_handler(struct frame *f) {
  (void)f;
  return 1; /* a spurious APIC interrupt needs no EOI (SDM Vol. 3, "Spurious Interrupt") */
}
/*
 * Lets the 8259A's INTR reach the CPU through the local APIC, as firmware does before an OS
 * takes over: APIC globally enabled (IA32_APIC_BASE bit 11), software enabled (SVR bit 8,
 * spurious vector 0xFF), TPR 0, LINT0 = ExtINT, LINT1 = NMI. Without an APIC the PIC's INTR
 * goes to the CPU directly and there is nothing to do.
 */
static inline void dev_lapic_virtual_wire(void) {
  set_trap_handler(DEV_SPURIOUS_APIC_VECTOR, dev_spurious_handler);
  if (!dev_has_lapic()) return;
  u64 base = rdmsr(0x1b);
  if (!(base & BIT(11))) wrmsr(0x1b, base | BIT(11));
  *dev_lapic_reg(0x80) = 0;                              /* TPR */
  *dev_lapic_reg(0xf0) = 0x100 | DEV_SPURIOUS_APIC_VECTOR; /* SVR: APIC enabled */
  *dev_lapic_reg(0x350) = 0x700;                         /* LVT LINT0: ExtINT, unmasked */
  *dev_lapic_reg(0x360) = 0x400;                         /* LVT LINT1: NMI, unmasked */
}

/* ---- 8254 counter 2 as a time base (8254 datasheet "Mode 0"; port 0x61 bits 0 and 5) ------- */

/* Starts counter 2 in mode 0 with `count` (binary, LSB then MSB) and its gate high, speaker off. */
static inline void dev_pit2_start(u16 count) {
  outb(PORT_61, (u8)((inb(PORT_61) & 0x0c) | 0x01));
  outb(PIT_CTRL, 0xb0);
  outb(PIT_CH2, (u8)count);
  outb(PIT_CH2, (u8)(count >> 8));
}
/* Whether counter 2 reached its terminal count (OUT2, port 0x61 bit 5). */
static inline int dev_pit2_done(void) { return (inb(PORT_61) >> 5) & 1; }

/*
 * Polls `cond` for up to `ms` milliseconds of counter-2 time, in 1 ms slices; each slice also
 * gives up after a number of polls no emulator gets through in a millisecond, so a counter
 * that never ends cannot hang the program. Evaluates to whether `cond` became true.
 */
#define DEV_WAIT(cond, ms)                                                      \
  ({                                                                            \
    int dev_ok_ = 0;                                                            \
    for (u32 dev_ms_ = 0; dev_ms_ < (u32)(ms) && !dev_ok_; dev_ms_++) {         \
      dev_pit2_start(PIT_TICKS_PER_MS);                                         \
      for (u32 dev_spin_ = 0; dev_spin_ < 200000u; dev_spin_++) {               \
        if (cond) {                                                             \
          dev_ok_ = 1;                                                          \
          break;                                                                \
        }                                                                       \
        if (dev_pit2_done()) break;                                             \
      }                                                                         \
    }                                                                           \
    dev_ok_ || (cond);                                                          \
  })
static inline void dev_delay_ms(u32 ms) { (void)DEV_WAIT(0, ms); }

/* Counter latch command for counter 2, then LSB and MSB (RW = 3). */
static inline u16 dev_pit2_latch(void) {
  outb(PIT_CTRL, 0x80);
  u8 lo = inb(PIT_CH2);
  u8 hi = inb(PIT_CH2);
  return (u16)(lo | (hi << 8));
}
/*
 * Counter 2 as a stopwatch: free-running in mode 2 with count 0x10000 (55 ms per turn);
 * dev_sw_sample() adds the clocks counted since the previous sample, so it must be called at
 * least every 55 ms. (DEV_WAIT reprograms counter 2: do not mix the two.)
 */
static volatile u32 dev_sw_elapsed;
static volatile u16 dev_sw_prev;
static inline void dev_sw_start(void) {
  outb(PORT_61, (u8)((inb(PORT_61) & 0x0c) | 0x01));
  outb(PIT_CTRL, 0xb4);
  outb(PIT_CH2, 0);
  outb(PIT_CH2, 0);
  dev_sw_prev = dev_pit2_latch();
  dev_sw_elapsed = 0;
}
static inline u32 dev_sw_sample(void) {
  u16 now = dev_pit2_latch();
  dev_sw_elapsed += (u16)(dev_sw_prev - now);
  dev_sw_prev = now;
  return dev_sw_elapsed;
}

/*
 * Stops counter 0's periodic IRQ 0: mode 0 with the longest count, so OUT0 rises once after
 * 55 ms and then stays high (the line is masked in the PIC anyway).
 */
static inline void dev_pit0_quiet(void) {
  outb(PIT_CTRL, 0x30);
  outb(PIT_CH0, 0xff);
  outb(PIT_CH0, 0xff);
}

/* ---- interrupt logger ---------------------------------------------------------------------- */

/* Called for a logged vector instead of the default EOI. */
typedef void (*dev_irq_hook_t)(int vector);
#define DEV_LOG_SIZE 64
static volatile u32 dev_irq_count[256];
static volatile u8 dev_irq_log[DEV_LOG_SIZE];
static volatile u32 dev_irq_logged;
static dev_irq_hook_t volatile dev_irq_hooks[256]; /* volatile: the handler reads them behind the compiler's back */

static inline void dev_irq_reset(void) {
  for (int i = 0; i < 256; i++) dev_irq_count[i] = 0;
  dev_irq_logged = 0;
}
/* The IRQ number behind `vector` for the current PIC bases, or -1. */
static inline int dev_vector_irq(int vector) {
  if (vector >= dev_pic_base[0] && vector < dev_pic_base[0] + 8) return vector - dev_pic_base[0];
  if (vector >= dev_pic_base[1] && vector < dev_pic_base[1] + 8) return 8 + vector - dev_pic_base[1];
  return -1;
}
static __attribute__((unused)) int dev_irq_entry(struct frame *f) {
  int v = (int)(f->vector & 0xff);
  dev_irq_count[v]++;
  if (dev_irq_logged < DEV_LOG_SIZE) dev_irq_log[dev_irq_logged] = (u8)v;
  dev_irq_logged++;
  if (dev_irq_hooks[v]) {
    dev_irq_hooks[v](v);
  } else {
    int irq = dev_vector_irq(v);
    if (irq >= 0) dev_pic_eoi(irq);
  }
  return 1;
}
/* Logs vectors first..first+n-1 (with the default EOI unless a hook is set). */
static inline void dev_irq_install(int first, int n) {
  for (int v = first; v < first + n; v++) set_trap_handler(v, dev_irq_entry);
}
static inline void dev_sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void dev_cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* Opens an interrupt window of a few instructions (STI's one-instruction shadow, then NOPs). */
static inline void dev_irq_window(void) { __asm__ volatile("sti; nop; nop; nop; nop; cli" ::: "memory"); }

/* ---- CMOS (MC146818A; port 0x70 bit 7 masks the NMI and stays set here) -------------------- */

static inline u8 dev_cmos_read(u8 index) {
  outb(CMOS_INDEX, (u8)(index | 0x80));
  return inb(CMOS_DATA);
}
static inline void dev_cmos_write(u8 index, u8 v) {
  outb(CMOS_INDEX, (u8)(index | 0x80));
  outb(CMOS_DATA, v);
}
/* RTC to a quiet state: no interrupt enables (register B keeps its format bits), flags read. */
static inline void dev_rtc_quiet(void) {
  dev_cmos_write(0x0b, (u8)(dev_cmos_read(0x0b) & 0x87));
  (void)dev_cmos_read(0x0c);
}

/* ---- PCI configuration mechanism 1 (PCI Local Bus Specification 3.0 §3.2.2.3.2) ------------ */

static inline u32 dev_pci_addr(int bus, int dev, int fn, int off) {
  return 0x80000000u | ((u32)bus << 16) | ((u32)dev << 11) | ((u32)fn << 8) | ((u32)off & 0xfc);
}
static inline u32 dev_pci_read32(int bus, int dev, int fn, int off) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  return inl(PCI_CONFIG_DATA);
}
static inline u16 dev_pci_read16(int bus, int dev, int fn, int off) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  return inw((u16)(PCI_CONFIG_DATA + (off & 2)));
}
static inline u8 dev_pci_read8(int bus, int dev, int fn, int off) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  return inb((u16)(PCI_CONFIG_DATA + (off & 3)));
}
static inline void dev_pci_write32(int bus, int dev, int fn, int off, u32 v) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  outl(PCI_CONFIG_DATA, v);
}
static inline void dev_pci_write16(int bus, int dev, int fn, int off, u16 v) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  outw((u16)(PCI_CONFIG_DATA + (off & 2)), v);
}
static inline void dev_pci_write8(int bus, int dev, int fn, int off, u8 v) {
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(bus, dev, fn, off));
  outb((u16)(PCI_CONFIG_DATA + (off & 3)), v);
}

/* ---- fw_cfg (QEMU docs/specs/fw_cfg.rst, "Selector register" and "Data register") ---------- */

static inline void dev_fwcfg_select(u16 key) { outw(FW_CFG_SELECTOR, key); }
static inline void dev_fwcfg_read(void *buf, u32 n) {
  u8 *p = buf;
  for (u32 i = 0; i < n; i++) p[i] = inb(FW_CFG_DATA);
}
static inline u64 dev_fwcfg_le(u16 key, u32 n) {
  u8 b[8] = {0};
  dev_fwcfg_select(key);
  dev_fwcfg_read(b, n > 8 ? 8 : n);
  u64 v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}
static inline u32 dev_be32(const u8 *p) { return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | p[3]; }
static inline u16 dev_be16(const u8 *p) { return (u16)((p[0] << 8) | p[1]); }
/* Whether fw_cfg answers: the signature item reads "QEMU". */
static inline int dev_fwcfg_present(void) {
  char sig[4];
  dev_fwcfg_select(0x0000);
  dev_fwcfg_read(sig, 4);
  return memcmp(sig, "QEMU", 4) == 0;
}
/* Looks `name` up in the file directory (key 0x19): 1 and its selector and size if found. */
static inline int dev_fwcfg_find(const char *name, u16 *select, u32 *size) {
  u8 hdr[4], ent[64];
  dev_fwcfg_select(0x0019);
  dev_fwcfg_read(hdr, 4);
  u32 count = dev_be32(hdr);
  for (u32 i = 0; i < count && i < 4096; i++) {
    dev_fwcfg_read(ent, 64);
    ent[63] = 0;
    if (strcmp((const char *)ent + 8, name) == 0) {
      *size = dev_be32(ent);
      *select = dev_be16(ent + 4);
      return 1;
    }
  }
  return 0;
}

/* ---- Multiboot information (Multiboot 0.6.96 §3.3) ----------------------------------------- */

extern u32 multiboot_magic, multiboot_info;
struct dev_multiboot_info {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  u32 syms[4];
  u32 mmap_length, mmap_addr;
} PACKED;
static inline const struct dev_multiboot_info *dev_mbi(void) {
  return multiboot_magic == 0x2badb002u ? (const struct dev_multiboot_info *)(ulong)multiboot_info : 0;
}

/* ---- the common starting state ------------------------------------------------------------- */

/*
 * Both PICs initialised to 0x20/0x28 with every line masked and every ELCR bit clear (edge),
 * the local APIC in virtual wire mode, counter 0 quiet, the RTC's interrupts off, the
 * interrupt logger on vectors 0x20-0x3F, IF = 0.
 */
static inline void dev_pc_init(void) {
  dev_cli();
  outb(ELCR1, 0);
  outb(ELCR2, 0);
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0);
  dev_lapic_virtual_wire();
  dev_pit0_quiet();
  dev_rtc_quiet();
  dev_irq_install(0x20, 0x20);
  dev_irq_reset();
}

#endif
