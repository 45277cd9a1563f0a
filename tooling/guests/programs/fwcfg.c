/* @guest bits=32 machine=pc timeout=20 -- QEMU fw_cfg through ports 0x510/0x511: signature, ID, RAM size, CPU counts, the file directory and etc/e820 */
/*
 * QEMU's firmware configuration device, traditional (port I/O) interface, after QEMU
 * docs/specs/fw_cfg.rst: a 16-bit write of an item key to the selector port 0x510 selects the
 * item and rewinds it; each 8-bit read of the data port 0x511 returns the item's next byte,
 * and 0 past its end (and for a key nothing is stored under). Items used here: 0x0000
 * signature "QEMU", 0x0001 interface ID (bit 0: traditional interface), 0x0003 RAM size
 * (64-bit little-endian), 0x0005 boot CPU count and 0x000F maximum CPU count (16-bit
 * little-endian), 0x0019 the file directory (big-endian count, then 64-byte entries: size
 * (BE32), select (BE16), reserved, 56-byte name), and the file etc/e820 (20-byte entries:
 * address, length (LE64), type (LE32), type 1 = RAM; ACPI 6.4 §15 "System Address Map").
 *
 * The conformance runs boot with -m 64 and one CPU, so RAM_SIZE is 64 MiB and both CPU counts
 * are 1.
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "fwcfg";

static u32 le32(const u8 *p) { return p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24); }
static u64 le64(const u8 *p) { return le32(p) | ((u64)le32(p + 4) << 32); }

static void test_items(void) {
  u8 b[8];
  dev_fwcfg_select(0x0000);
  dev_fwcfg_read(b, 5);
  check_eq("signature item (0x0000) reads \"QEMU\"", le32(b), 0x554d4551);
  check_eq("a read past the end of an item returns 0", b[4], 0);
  dev_fwcfg_select(0x0000);
  dev_fwcfg_read(b, 2);
  dev_fwcfg_select(0x0000);
  dev_fwcfg_read(b, 4);
  check_eq("selecting an item again rewinds it to its first byte", le32(b), 0x554d4551);

  u32 id = (u32)dev_fwcfg_le(0x0001, 4);
  info("fw_cfg ID 0x%x", id);
  check_eq("ID (0x0001) bit 0: the traditional interface is present", id & 1, 1);

  u64 ram = dev_fwcfg_le(0x0003, 8);
  info("RAM_SIZE %llu", (unsigned long long)ram);
  check_eq("RAM_SIZE (0x0003) is 64 MiB (the conformance runs use -m 64)", ram, 64ull << 20);
  const struct dev_multiboot_info *mbi = dev_mbi();
  if (mbi && (mbi->flags & 1))
    check_eq("Multiboot mem_upper fits in RAM_SIZE (at most RAM_SIZE / 1 KiB - 1024)", mbi->mem_upper <= (u32)(ram >> 10) - 1024, 1);
  else
    skip("Multiboot mem_upper fits in RAM_SIZE (at most RAM_SIZE / 1 KiB - 1024)", "no Multiboot memory information");
  check_eq("NB_CPUS (0x0005) is 1", dev_fwcfg_le(0x0005, 2), 1);
  check_eq("MAX_CPUS (0x000F) is 1", dev_fwcfg_le(0x000f, 2), 1);
  check_eq("a key with no item (0x3FFF) reads 0", dev_fwcfg_le(0x3fff, 4), 0);
}

static void test_files(void) {
  u8 hdr[4], ent[64];
  static char names[64][57];
  dev_fwcfg_select(0x0019);
  dev_fwcfg_read(hdr, 4);
  u32 count = dev_be32(hdr);
  info("file directory: %u files", count);
  check_eq("the file directory (0x0019) lists at least one file", count >= 1 && count < 4096, 1);
  int sorted = 1, selectors = 1;
  for (u32 i = 0; i < count && i < 4096; i++) {
    dev_fwcfg_read(ent, 64);
    u32 size = dev_be32(ent);
    u16 sel = dev_be16(ent + 4);
    char *name = names[i < 64 ? i : 63];
    memcpy(name, ent + 8, 56);
    name[56] = 0;
    info("  0x%04x %6u %s", sel, size, name);
    if (sel != 0x20 + i) selectors = 0;
    if (i > 0 && i < 64 && strcmp(names[i - 1], name) >= 0) sorted = 0;
  }
  check_eq("file names are in strictly ascending order", sorted, 1);
  check_eq("file selectors are 0x0020 + the index in the directory", selectors, 1);

  u16 sel = 0;
  u32 size = 0;
  if (!check_eq("the directory has etc/e820", dev_fwcfg_find("etc/e820", &sel, &size), 1)) return;
  check_eq("etc/e820 is a whole number of 20-byte entries", size != 0 && size % 20 == 0, 1);
  dev_fwcfg_select(sel);
  u64 ram_sum = 0, ram_at_0 = 0;
  for (u32 i = 0; i < size / 20 && i < 128; i++) {
    u8 e[20];
    dev_fwcfg_read(e, 20);
    u64 addr = le64(e), len = le64(e + 8);
    u32 type = le32(e + 16);
    info("  e820: 0x%016llx + 0x%llx type %u", (unsigned long long)addr, (unsigned long long)len, type);
    if (type == 1) {
      ram_sum += len;
      if (addr == 0) ram_at_0 = len;
    }
  }
  u64 ram = dev_fwcfg_le(0x0003, 8);
  check_eq("etc/e820: the RAM entries add up to RAM_SIZE", ram_sum, ram);
  check_eq("etc/e820: RAM starts at address 0", ram_at_0 != 0, 1);
  u8 again[4];
  dev_fwcfg_select(sel);
  dev_fwcfg_read(again, 4);
  dev_fwcfg_select(sel);
  u8 first[4];
  dev_fwcfg_read(first, 4);
  check_eq("a file reads the same after selecting it again", le32(again), le32(first));
}

void test_main(void) {
  dev_pc_init();
  if (!dev_fwcfg_present()) {
    check_eq("signature item (0x0000) reads \"QEMU\"", 0, 1);
    return;
  }
  test_items();
  test_files();
}
