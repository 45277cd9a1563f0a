/* @guest bits=32 machine=pc timeout=20 -- PCI configuration mechanism 1: CONFIG_ADDRESS, the i440FX host bridge, byte/word accesses, a bus 0 scan, BAR sizing */
/*
 * PCI configuration space through configuration mechanism 1 (PCI Local Bus Specification
 * 3.0 §3.2.2.3.2: CONFIG_ADDRESS at 0xCF8 with the enable bit 31, bus, device, function and
 * dword register; CONFIG_DATA at 0xCFC-0xCFF, where a byte or word access at 0xCFC + n reaches
 * byte n of the selected dword), the type 0 header (§6.1: vendor/device ID, class code,
 * header type with the multi-function bit 7, interrupt line read/write, interrupt pin
 * read-only), and the BAR sizing protocol (§6.2.5.1: write all ones, read back, the low bits
 * are the type and read-only, the writable bits give the size). The host bridge is the
 * i440FX PMC (82441FX PMC datasheet, configuration registers: vendor 0x8086, device 0x1237, class 0x060000).
 *
 * The BAR checks run on the first function of bus 0 (other than the host bridge) that has a
 * BAR, whatever it is: on QEMU's pc machine that is the PIIX3 IDE controller (00:01.1, an I/O
 * BAR4 of 16 bytes); another machine may offer another device, and one without any BAR makes
 * those checks SKIP. Decoding is turned off in the command register while a BAR is moved and
 * everything is restored afterwards. Every function found is listed in # lines.
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "pci";

static void test_config_address(void) {
  outl(PCI_CONFIG_ADDRESS, 0x80fffffc);
  check_eq("CONFIG_ADDRESS reads back 0x80FFFFFC (enable, bus 255, device 31, function 7, register 0xFC)", inl(PCI_CONFIG_ADDRESS), 0x80fffffc);
  outl(PCI_CONFIG_ADDRESS, 0x80000000);
  check_eq("CONFIG_ADDRESS reads back 0x80000000", inl(PCI_CONFIG_ADDRESS), 0x80000000);

  /* Bit 31 clear: no configuration cycle; the data port reads all ones, writes go nowhere. */
  u8 line = dev_pci_read8(0, 0, 0, 0x3c);
  outl(PCI_CONFIG_ADDRESS, 0x00000000);
  check_eq("enable bit clear: a dword read of CONFIG_DATA returns 0xFFFFFFFF", inl(PCI_CONFIG_DATA), 0xffffffff);
  outl(PCI_CONFIG_ADDRESS, 0x0000003c);
  outb(PCI_CONFIG_DATA, (u8)(line ^ 0xff));
  check_eq("enable bit clear: a write of CONFIG_DATA changes nothing (00:00.0 interrupt line)", dev_pci_read8(0, 0, 0, 0x3c), line);
}

static void test_host_bridge(void) {
  check_eq("00:00.0 vendor/device: 8086:1237 (i440FX)", dev_pci_read32(0, 0, 0, 0x00), 0x12378086);
  u32 class_rev = dev_pci_read32(0, 0, 0, 0x08);
  info("00:00.0 revision 0x%02x", class_rev & 0xff);
  check_eq("00:00.0 class code 0x060000 (host bridge)", class_rev >> 8, 0x060000);
  check_eq("00:00.0 header type 0x00 (type 0, single function)", dev_pci_read8(0, 0, 0, 0x0e), 0x00);
  check_eq("00:00.1 is absent (the bridge is single-function): vendor reads 0xFFFF", dev_pci_read16(0, 0, 1, 0x00), 0xffff);

  /* Byte and word lanes of CONFIG_DATA. */
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(0, 0, 0, 0));
  check_eq("word read at 0xCFC: vendor 0x8086", inw(PCI_CONFIG_DATA), 0x8086);
  check_eq("word read at 0xCFE: device 0x1237", inw(PCI_CONFIG_DATA + 2), 0x1237);
  check_eq("byte read at 0xCFD: 0x80", inb(PCI_CONFIG_DATA + 1), 0x80);
  check_eq("byte read at 0xCFF: 0x12", inb(PCI_CONFIG_DATA + 3), 0x12);
  outl(PCI_CONFIG_ADDRESS, dev_pci_addr(0, 0, 0, 0x08));
  check_eq("word read at 0xCFE with register 0x08: class and subclass 0x0600", inw(PCI_CONFIG_DATA + 2), 0x0600);

  /* Interrupt line (0x3C) is read/write; interrupt pin (0x3D) is read-only. */
  u32 old = dev_pci_read32(0, 0, 0, 0x3c);
  dev_pci_write8(0, 0, 0, 0x3c, 0x5a);
  check_eq("byte write of 0x5A to the interrupt line changes only byte 0x3C", dev_pci_read32(0, 0, 0, 0x3c), (old & ~0xffu) | 0x5a);
  dev_pci_write8(0, 0, 0, 0x3d, (u8)(old >> 8) ^ 0xff);
  check_eq("byte write to the interrupt pin (0x3D, read-only) changes nothing", dev_pci_read32(0, 0, 0, 0x3c), (old & ~0xffu) | 0x5a);
  dev_pci_write16(0, 0, 0, 0x3c, (u16)((old & 0xff00) | 0xa5));
  check_eq("word write at 0x3C: the line takes 0xA5", dev_pci_read8(0, 0, 0, 0x3c), 0xa5);
  dev_pci_write32(0, 0, 0, 0x3c, old);
  check_eq("dword write restores the interrupt line", dev_pci_read32(0, 0, 0, 0x3c), old);

  /* Nothing answers at an unused device number. */
  check_eq("00:1F.0 is absent: dword 0 reads 0xFFFFFFFF", dev_pci_read32(0, 31, 0, 0x00), 0xffffffff);
  check_eq("00:1F.0 is absent: dword 8 reads 0xFFFFFFFF", dev_pci_read32(0, 31, 0, 0x08), 0xffffffff);
}

/* ---- bus 0 and BAR sizing ------------------------------------------------------------------- */

struct bar_ref {
  int dev, fn, index;
};

static int scan_bus0(struct bar_ref *bar) {
  int found = 0, have_bar = 0;
  for (int dev = 0; dev < 32; dev++) {
    for (int fn = 0; fn < 8; fn++) {
      u32 id = dev_pci_read32(0, dev, fn, 0x00);
      if ((id & 0xffff) == 0xffff) {
        if (fn == 0) break;
        continue;
      }
      u8 hdr = dev_pci_read8(0, dev, fn, 0x0e);
      u32 cls = dev_pci_read32(0, dev, fn, 0x08) >> 8;
      info("00:%02x.%d %04x:%04x class %06x header 0x%02x", dev, fn, id & 0xffff, id >> 16, cls, hdr);
      found++;
      if ((hdr & 0x7f) == 0 && !have_bar && !(dev == 0 && fn == 0)) {
        for (int i = 0; i < 6; i++) {
          int off = 0x10 + 4 * i;
          u32 orig = dev_pci_read32(0, dev, fn, off);
          u16 cmd = dev_pci_read16(0, dev, fn, 0x04);
          dev_pci_write16(0, dev, fn, 0x04, (u16)(cmd & ~3));
          dev_pci_write32(0, dev, fn, off, 0xffffffff);
          u32 mask = dev_pci_read32(0, dev, fn, off);
          dev_pci_write32(0, dev, fn, off, orig);
          dev_pci_write16(0, dev, fn, 0x04, cmd);
          u32 type_bits = (mask & 1) ? 0x3 : 0xf;
          if (mask & ~type_bits) {
            bar->dev = dev;
            bar->fn = fn;
            bar->index = i;
            have_bar = 1;
            break;
          }
          if (((orig >> 1) & 3) == 2) i++; /* the upper half of a 64-bit BAR */
        }
      }
      if (fn == 0 && !(hdr & 0x80)) break;
    }
  }
  info("%d functions on bus 0", found);
  return have_bar;
}

static void test_bar(void) {
  struct bar_ref b = {0, 0, 0};
  int have = scan_bus0(&b);
  static const char *const names[] = {
      "BAR sizing: the all-ones read-back keeps the BAR's type bits",
      "BAR sizing: the writable bits above the size are contiguous",
      "BAR sizing: the size is at least 4 bytes (I/O) or 16 bytes (memory)",
      "BAR sizing: the original value reads back after restoring it",
      "BAR: a new aligned address plus size - 1 reads back as the address with the type bits",
      "BAR: the function keeps its original BAR and command register afterwards",
  };
  if (!have) {
    for (unsigned i = 0; i < ARRAY_SIZE(names); i++) skip(names[i], "no function with a BAR on bus 0");
    return;
  }
  int off = 0x10 + 4 * b.index;
  u32 orig = dev_pci_read32(0, b.dev, b.fn, off);
  u16 cmd = dev_pci_read16(0, b.dev, b.fn, 0x04);
  dev_pci_write16(0, b.dev, b.fn, 0x04, (u16)(cmd & ~3)); /* I/O and memory decoding off */
  dev_pci_write32(0, b.dev, b.fn, off, 0xffffffff);
  u32 mask = dev_pci_read32(0, b.dev, b.fn, off);
  int io = mask & 1;
  u32 type_bits = io ? 0x3 : 0xf;
  u32 addr_bits = mask & ~type_bits;
  u32 size = addr_bits & (0u - addr_bits);
  info("BAR%d of 00:%02x.%d: %s, original 0x%08x, all-ones read-back 0x%08x, size 0x%x", b.index, b.dev, b.fn, io ? "I/O" : "memory", orig,
       mask, size);
  check_eq(names[0], mask & type_bits, orig & type_bits);
  u32 filled = mask | (size - 1) | type_bits;
  check_eq(names[1], filled == 0xffffffff || (io && filled == 0x0000ffff), 1);
  check_eq(names[2], size >= (io ? 4u : 16u), 1);
  dev_pci_write32(0, b.dev, b.fn, off, orig);
  check_eq(names[3], dev_pci_read32(0, b.dev, b.fn, off), orig);
  u32 base = io ? (0xe000u & ~(size - 1)) : (0xc0000000u & ~(size - 1));
  dev_pci_write32(0, b.dev, b.fn, off, base + size - 1);
  check_eq(names[4], dev_pci_read32(0, b.dev, b.fn, off), base | (orig & type_bits));
  dev_pci_write32(0, b.dev, b.fn, off, orig);
  dev_pci_write16(0, b.dev, b.fn, 0x04, cmd);
  check_eq(names[5], ((u64)dev_pci_read32(0, b.dev, b.fn, off) << 16) | dev_pci_read16(0, b.dev, b.fn, 0x04), ((u64)orig << 16) | cmd);
  if (dev_pci_read32(0, 1, 1, 0) == 0x70108086) info("00:01.1 is the PIIX3 IDE controller (its BAR4 is a 16-byte I/O BAR)");
}

void test_main(void) {
  dev_pc_init();
  test_config_address();
  test_host_bridge();
  test_bar();
}
