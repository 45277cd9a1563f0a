/* @guest bits=32 machine=pc devices=pc-testdev timeout=20 -- QEMU's pc-testdev: the 0xE0 scratch register and its byte lanes, the 0xE8 byte-wise alias, 0xE4, the IRQ lines at 0x2000 + n, the MMIO scratch at 0xFF000000 */
/*
 * QEMU's ISA test device (hw/misc/pc-testdev.c, used by kvm-unit-tests):
 *
 * - 0xE0-0xE3: a 32-bit scratch register; an access of N bytes at 0xE0 + k reads or writes
 *   bytes k..k+N-1 of it.
 * - 0xE4: "flush page": a 4-byte write of a physical address makes the host drop and re-map
 *   the page; nothing the guest sees changes, and a read returns 0.
 * - 0xE8-0xEB: the same scratch register, accessed one byte at a time (QEMU splits wider
 *   accesses into bytes). Port 0xE9 is therefore this register's byte 1, not Bochs's debug
 *   console: with pc-testdev present there is no isa-debugcon at 0xE9.
 * - 0x2000 + n (n < 16 here): a byte write sets ISA IRQ n to the written level (non-zero =
 *   high); reads return 0. The levels are observed in the 8259A's IRR (8259A datasheet, OCW3),
 *   with the line level-triggered through the ELCR (PIIX3 ELCR1/ELCR2) so the IRR follows it.
 * - 0xFF000000: 64 KiB of scratch memory-mapped I/O that keeps what is written.
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "pctestdev";

static void test_scratch(void) {
  outl(0xe0, 0x12345678);
  check_eq("0xE0: a dword reads back 0x12345678", inl(0xe0), 0x12345678);
  check_eq("0xE1: a byte read returns bits 15-8 (0x56)", inb(0xe1), 0x56);
  check_eq("0xE2: a word read returns bits 31-16 (0x1234)", inw(0xe2), 0x1234);
  check_eq("0xE0: a word read returns bits 15-0 (0x5678)", inw(0xe0), 0x5678);
  outb(0xe3, 0xab);
  check_eq("0xE3: a byte write replaces bits 31-24 only", inl(0xe0), 0xab345678);
  outw(0xe0, 0xcdef);
  check_eq("0xE0: a word write replaces bits 15-0 only", inl(0xe0), 0xab34cdef);
  outw(0xe2, 0x0102);
  check_eq("0xE2: a word write replaces bits 31-16 only", inl(0xe0), 0x0102cdef);

  /* 0xE8: the same register, byte by byte. */
  check_eq("0xE8: a dword read sees the 0xE0 register", inl(0xe8), 0x0102cdef);
  outl(0xe8, 0xcafef00d);
  check_eq("0xE8: a dword write reaches the 0xE0 register", inl(0xe0), 0xcafef00d);
  check_eq("0xEA: a word read returns bits 31-16 (0xCAFE)", inw(0xea), 0xcafe);
  outb(0xe9, 0x5a);
  check_eq("0xE9 (no debug console here): a byte write sets bits 15-8", inl(0xe0), 0xcafe5a0d);

  /* 0xE4: reads return 0; a flush of a page leaves its contents alone. */
  check_eq("0xE4: a dword read returns 0", inl(0xe4), 0);
  static volatile u32 page[1024] ALIGNED(4096);
  for (int i = 0; i < 1024; i++) page[i] = 0x9e3779b9u * (u32)i;
  outl(0xe4, (u32)(ulong)page);
  u32 bad = 0;
  for (int i = 0; i < 1024; i++)
    if (page[i] != 0x9e3779b9u * (u32)i) bad++;
  check_eq("0xE4: flushing a page keeps its contents", bad, 0);
  check_eq("0xE4: the flush did not touch the scratch register", inl(0xe0), 0xcafe5a0d);
}

static void test_irq_lines(void) {
  /* Level-triggered through the ELCR, so the IRR shows the line's level. */
  outb(ELCR1, BIT(5) | BIT(7));
  outb(ELCR2, BIT(10 - 8) | BIT(11 - 8));
  dev_pic_set_mask(0xffff);
  u32 ok_up = 1, ok_down = 1;
  static const int lines[] = {5, 7, 10, 11};
  for (unsigned i = 0; i < ARRAY_SIZE(lines); i++) {
    int n = lines[i];
    outb(TESTDEV_IRQ(n), 1);
    u16 irr = (u16)(dev_pic_irr(0) | (dev_pic_irr(1) << 8));
    if (!(irr & BIT(n))) ok_up = 0;
    outb(TESTDEV_IRQ(n), 0);
    irr = (u16)(dev_pic_irr(0) | (dev_pic_irr(1) << 8));
    if (irr & BIT(n)) ok_down = 0;
  }
  check_eq("0x2000 + n, write 1: IRQ n (5, 7, 10, 11) shows in the IRR", ok_up, 1);
  check_eq("0x2000 + n, write 0: IRQ n leaves the IRR (level-triggered)", ok_down, 1);
  outb(TESTDEV_IRQ(5), 0x80);
  check_eq("0x2005: any non-zero value raises the line", dev_pic_irr(0) & BIT(5), BIT(5));
  check_eq("0x2005: a read returns 0", inb(TESTDEV_IRQ(5)), 0);
  outb(TESTDEV_IRQ(5), 0);
  outb(TESTDEV_IRQ(7), 1);
  check_eq("raising IRQ 7 leaves IRQ 5 low", dev_pic_irr(0) & (BIT(5) | BIT(7)), BIT(7));
  outb(TESTDEV_IRQ(7), 0);

  /* A raised line interrupts the CPU through the PIC (edge-triggered again). */
  outb(ELCR1, 0);
  outb(ELCR2, 0);
  dev_irq_reset();
  dev_pic_unmask(11);
  outb(TESTDEV_IRQ(11), 1);
  dev_sti();
  (void)DEV_WAIT(dev_irq_logged != 0, 50);
  dev_cli();
  outb(TESTDEV_IRQ(11), 0);
  dev_pic_set_mask(0xffff);
  check_eq("IRQ 11 raised through 0x200B is delivered as vector 0x2B", dev_irq_logged >= 1 ? dev_irq_log[0] : 0, 0x2b);
  dev_pic_clear_isr();
}

static void test_iomem(void) {
  volatile u32 *m = (volatile u32 *)0xff000000;
  volatile u8 *b = (volatile u8 *)0xff000000;
  m[0] = 0x11223344;
  m[0x3fff] = 0xa5a5a5a5;
  check_eq("0xFF000000: a dword reads back", m[0], 0x11223344);
  check_eq("0xFF000000: byte 1 of it reads 0x33", b[1], 0x33);
  b[2] = 0x77;
  check_eq("0xFF000002: a byte write changes that byte only", m[0], 0x11773344);
  check_eq("0xFF00FFFC, the last dword of the 64 KiB, reads back", m[0x3fff], 0xa5a5a5a5);
}

void test_main(void) {
  dev_pc_init();
  test_scratch();
  test_irq_lines();
  test_iomem();
}
