/* @guest bits=32 machine=pc timeout=20 -- ACPI tables: RSDP, RSDT/XSDT, FADT and the PM timer, MADT, HPET */
/*
 * The firmware's ACPI tables (ACPI Specification 6.5 chapter 5) and the hardware they describe:
 * the RSDP found on a 16-byte boundary in 0xE0000-0xFFFFF (§5.2.5.1), checksums of every table
 * (§5.2.5.3, §5.2.6), the FADT (§5.2.9) and its PM timer (§4.8.3.3), the MADT (§5.2.12)
 * against fw_cfg's CPU count and the I/O APIC, and the HPET table (IA-PC HPET Specification
 * 1.0a §3.2.4) against the HPET's own capabilities register.
 *
 * On QEMU the tables come from QEMU through SeaBIOS; the hvkit PC provides its own. Where the
 * PM registers are decoded through a PIIX4 power-management function (PCI 8086:7113, as on
 * QEMU's pc machine), the program programs its I/O base itself (PIIX4 datasheet §3.4.2.3
 * PMBA, §3.4.2.14 PMREGMISC) rather than trusting a BIOS to have done it.
 */
#include "apic_hw.h"
#include "guest.h"
#include "guest32.h"

const char test_name[] = "acpi";

struct PACKED sdt_header {
  char signature[4];
  u32 length;
  u8 revision, checksum;
  char oem_id[6], oem_table_id[8];
  u32 oem_revision, creator_id, creator_revision;
};

static u8 sum_bytes(const void *p, u32 len) {
  const u8 *b = p;
  u8 s = 0;
  while (len--) s = (u8)(s + *b++);
  return s;
}
static u16 rd16(const u8 *p) { return (u16)(p[0] | (p[1] << 8)); }
static u32 rd32(const u8 *p) { return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24); }
static u64 rd64(const u8 *p) { return rd32(p) | ((u64)rd32(p + 4) << 32); }
static int sig_is(const void *p, const char *sig) { return memcmp(p, sig, 4) == 0; }
/* The first `n` (< 8) characters at `p` as a string (printf has no precision). */
static const char *chars(const void *p, u32 n, char *buf) {
  memcpy(buf, p, n);
  buf[n] = 0;
  return buf;
}

static const u8 *rsdp;
static const struct sdt_header *rsdt, *xsdt;
static u32 rsdt_entries;

/* A table from the RSDT by signature (the first one), or NULL. */
static const struct sdt_header *find_table(const char *sig) {
  const u8 *entries = (const u8 *)rsdt + sizeof(struct sdt_header);
  for (u32 i = 0; i < rsdt_entries; i++) {
    const struct sdt_header *t = (const struct sdt_header *)(ulong)rd32(entries + 4 * i);
    if (sig_is(t->signature, sig)) return t;
  }
  return 0;
}

/* ---- RSDP, RSDT, XSDT (§5.2.5, §5.2.7, §5.2.8) ------------------------------------------ */

static void test_root(void) {
  for (ulong a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
    if (memcmp((const void *)a, "RSD PTR ", 8) == 0 && sum_bytes((const void *)a, 20) == 0) rsdp = (const u8 *)a;
  if (!rsdp) panic("no RSDP with a valid checksum on a 16-byte boundary in 0xE0000-0xFFFFF");
  char buf[8];
  info("RSDP at 0x%lx, revision %u, OEM %s", (ulong)rsdp, rsdp[15], chars(rsdp + 9, 6, buf));
  pass("RSDP found in 0xE0000-0xFFFFF with a valid checksum over its first 20 bytes");
  u8 rev = rsdp[15];
  /* Revision 0 is ACPI 1.0 (20 bytes, RSDT only); 2 and up add length, XSDT and an extended checksum. */
  check_true("RSDP revision is 0 (ACPI 1.0) or 2 and up", rev == 0 || rev >= 2, "revision 1 is not defined");
  rsdt = (const struct sdt_header *)(ulong)rd32(rsdp + 16);
  check_true("RSDT: signature \"RSDT\"", sig_is(rsdt->signature, "RSDT"), "wrong signature");
  check_eq("RSDT: checksum over its length is 0", sum_bytes(rsdt, rsdt->length), 0);
  check_true("RSDT: length = 36 + 4 * entries", rsdt->length >= 36 && (rsdt->length - 36) % 4 == 0, "length not 36 + 4n");
  rsdt_entries = (rsdt->length - 36) / 4;

  const char *no_xsdt = "RSDP revision 0: no XSDT (ACPI 1.0 tables)";
  if (rev < 2) {
    skip("RSDP: extended checksum over its length is 0", "%s", no_xsdt);
    skip("XSDT: signature and checksum", "%s", no_xsdt);
    skip("XSDT: lists the same tables as the RSDT", "%s", no_xsdt);
  } else {
    u32 len = rd32(rsdp + 20);
    check_eq("RSDP: extended checksum over its length is 0", len >= 36 ? sum_bytes(rsdp, len) : 0xff, 0);
    u64 xaddr = rd64(rsdp + 24);
    xsdt = xaddr && xaddr < 0x100000000ull ? (const struct sdt_header *)(ulong)xaddr : 0;
    check_true("XSDT: signature and checksum", xsdt && sig_is(xsdt->signature, "XSDT") && sum_bytes(xsdt, xsdt->length) == 0,
               "missing, above 4 GiB, or bad signature/checksum");
    int same = xsdt && xsdt->length == 36 + 8 * rsdt_entries;
    for (u32 i = 0; same && i < rsdt_entries; i++)
      same = rd64((const u8 *)xsdt + 36 + 8 * i) == rd32((const u8 *)rsdt + 36 + 4 * i);
    check_true("XSDT: lists the same tables as the RSDT", same, "entries differ");
  }
  u32 bad = 0;
  for (u32 i = 0; i < rsdt_entries; i++) {
    const struct sdt_header *t = (const struct sdt_header *)(ulong)rd32((const u8 *)rsdt + 36 + 4 * i);
    info("table %s at 0x%lx, length %u, revision %u", chars(t->signature, 4, buf), (ulong)t, t->length, t->revision);
    if (sum_bytes(t, t->length) != 0) bad++;
  }
  check_eq("every table the RSDT lists has a valid checksum", bad, 0);
}

/* ---- FADT, DSDT, FACS (§5.2.9, §5.2.10, §5.2.11) ------------------------------------------ */

static const u8 *fadt;
static u32 pm_tmr_port;
static int tmr_32bit;

static void test_fadt(void) {
  fadt = (const u8 *)find_table("FACP");
  if (!fadt) panic("no FADT (\"FACP\") in the RSDT");
  u32 len = ((const struct sdt_header *)fadt)->length;
  info("FADT revision %u, length %u, flags 0x%x", fadt[8], len, rd32(fadt + 112));
  check_true("FADT: long enough for the ACPI 1.0 fields (116 bytes)", len >= 116, "too short");
  const u8 *dsdt = (const u8 *)(ulong)rd32(fadt + 40);
  check_true("DSDT: signature \"DSDT\" and checksum", sig_is(dsdt, "DSDT") && sum_bytes(dsdt, rd32(dsdt + 4)) == 0, "bad DSDT");
  if (len >= 148) {
    u64 x_dsdt = rd64(fadt + 140);
    check_true("FADT: X_DSDT is 0 or the same DSDT", x_dsdt == 0 || x_dsdt == (ulong)dsdt, "X_DSDT differs from DSDT");
  } else {
    skip("FADT: X_DSDT is 0 or the same DSDT", "FADT of %u bytes has no X_DSDT", len);
  }
  const u8 *facs = (const u8 *)(ulong)rd32(fadt + 36);
  if (!facs && len >= 140) facs = (const u8 *)(ulong)rd64(fadt + 132);
  check_true("FACS: signature \"FACS\", length >= 64, 64-byte aligned", facs && sig_is(facs, "FACS") && rd32(facs + 4) >= 64 && ((ulong)facs & 63) == 0,
             "bad FACS");

  /* §4.8.3.3 and Table 5.9: PM_TMR_BLK, PM_TMR_LEN = 4, TMR_VAL_EXT (flags bit 8). */
  pm_tmr_port = rd32(fadt + 76);
  tmr_32bit = (rd32(fadt + 112) >> 8) & 1;
  info("PM1a_EVT_BLK 0x%x, PM1a_CNT_BLK 0x%x, PM_TMR_BLK 0x%x (%u-bit), SCI_INT %u", rd32(fadt + 56), rd32(fadt + 64), pm_tmr_port,
       tmr_32bit ? 32 : 24, rd16(fadt + 46));
  check_true("FADT: PM_TMR_BLK is an I/O port", pm_tmr_port != 0 && pm_tmr_port < 0x10000, "no PM timer port");
  check_eq("FADT: PM_TMR_LEN = 4", fadt[91], 4);
  check_true("FADT: PM1_EVT_LEN >= 4, PM1_CNT_LEN >= 2", fadt[88] >= 4 && fadt[89] >= 2, "PM1 block lengths too small");
  if (len >= 220) {
    const u8 *x = fadt + 208; /* X_PM_TMR_BLK: GAS (space, width, offset, access size, address) */
    u64 addr = rd64(x + 4);
    check_true("FADT: X_PM_TMR_BLK is empty or the same port in system I/O space", addr == 0 || (x[0] == 1 && addr == pm_tmr_port),
               "X_PM_TMR_BLK differs from PM_TMR_BLK");
  } else {
    skip("FADT: X_PM_TMR_BLK is empty or the same port in system I/O space", "FADT of %u bytes has no X_PM_TMR_BLK", len);
  }
}

/* ---- the PM timer (§4.8.3.3: 3.579545 MHz, 24 or 32 bits, counting up) -------------------- */

/* Enables the PIIX4 PM I/O space at the FADT's PM1a_EVT_BLK base when that function exists. */
static void pm_io_enable(void) {
  for (int dev = 0; dev < 32; dev++) {
    for (int fn = 0; fn < 8; fn++) {
      u32 vd = pci_read32(0, dev, fn, 0);
      if (vd != 0x71138086u) continue;
      u32 base = rd32(fadt + 56) & 0xffc0;
      pci_write32(0, dev, fn, 0x40, base | 1);                          /* PMBA */
      pci_write8(0, dev, fn, 0x80, (u8)(pci_read8(0, dev, fn, 0x80) | 1)); /* PMREGMISC.PMIOSE */
      info("PIIX4 PM function at 00:%02x.%x: PM I/O space enabled at 0x%x", dev, fn, base);
      return;
    }
  }
  info("no PIIX4 PM function: the PM block is decoded at fixed ports");
}

static u32 pm_mask(void) { return tmr_32bit ? 0xffffffffu : 0x00ffffffu; }
static u32 read_pmtmr(void) { return inl((u16)pm_tmr_port); }

static void test_pm_timer(void) {
  pm_io_enable();
  u32 mask = pm_mask();
  u32 first = read_pmtmr(), prev = first, above = 0, backwards = 0;
  for (int i = 0; i < 2000; i++) {
    u32 v = read_pmtmr();
    if (v & ~mask) above++;
    if (((v - prev) & mask) > (mask >> 1)) backwards++;
    prev = v;
  }
  check_eq(tmr_32bit ? "PM timer: TMR_VAL_EXT = 1, 32-bit values" : "PM timer: TMR_VAL_EXT = 0, values below 2^24", above, 0);
  check_eq("PM timer: 2000 reads never go backwards (modulo the counter width)", backwards, 0);
  check_true("PM timer: it advances", ((prev - first) & mask) != 0, "the PM timer does not count");
  /* 3.579545 MHz is exactly 3 times the PIT's 1.193182 MHz: 17898 counts in 5966 PIT ticks (5 ms). */
  u64 counts = pit2_measure(read_pmtmr, 0, mask, 5966);
  info("PM timer: %llu counts in 5966 PIT ticks (expected 17898)", (unsigned long long)counts);
  check_true("PM timer: 3.579545 MHz (3 counts per PIT tick, within 1%)", counts >= 17719 && counts <= 18077, "rate out of range");
}

/* ---- MADT (§5.2.12) ---------------------------------------------------------------------- */

static void test_madt(void) {
  const u8 *madt = (const u8 *)find_table("APIC");
  if (!madt) panic("no MADT (\"APIC\") in the RSDT");
  u32 len = rd32(madt + 4);
  check_eq("MADT: local APIC address 0xFEE00000", rd32(madt + 36), 0xfee00000u);
  check_eq("MADT: flags PCAT_COMPAT (dual 8259 present)", rd32(madt + 40) & 1, 1);
  u32 bsp_id = cpuid_initial_apic_id();
  u32 enabled = 0, bsp_found = 0, ioapics = 0, ioapic_ok = 0, ioapic_id = 0xff, irq0_gsi = 0xffffffffu, nmi_lint1 = 0;
  u32 sci = fadt ? rd16(fadt + 46) : 0, sci_flags = 0xffff, sci_gsi = 0xffffffffu;
  for (u32 off = 44; off + 2 <= len;) {
    const u8 *e = madt + off;
    if (e[1] < 2) break;
    switch (e[0]) {
      case 0: /* Processor Local APIC: UID, APIC ID, flags (bit 0 enabled) */
        if (rd32(e + 4) & 1) {
          enabled++;
          if (e[3] == bsp_id) bsp_found = 1;
        }
        break;
      case 9: /* Processor Local x2APIC */
        if (rd32(e + 8) & 1) {
          enabled++;
          if (rd32(e + 4) == bsp_id) bsp_found = 1;
        }
        break;
      case 1: /* I/O APIC: ID, address, GSI base */
        ioapics++;
        if (rd32(e + 4) == 0xfec00000u && rd32(e + 8) == 0) ioapic_ok = 1, ioapic_id = e[2];
        break;
      case 2: /* Interrupt Source Override: bus, source, GSI, flags */
        if (e[2] == 0 && e[3] == 0) irq0_gsi = rd32(e + 4);
        if (e[2] == 0 && e[3] == sci) sci_gsi = rd32(e + 4), sci_flags = rd16(e + 8);
        break;
      case 4: /* Local APIC NMI: UID, flags, LINT# */
        if (e[5] == 1) nmi_lint1 = 1;
        break;
    }
    off += e[1];
  }
  u32 ncpus = fw_cfg_present() ? fw_cfg_u16(FW_CFG_NB_CPUS) : 0;
  info("MADT: %u enabled local APIC entries, %u I/O APIC(s); fw_cfg NB_CPUS %u", enabled, ioapics, ncpus);
  check_eq("MADT: enabled local APIC entries = fw_cfg NB_CPUS", enabled, ncpus);
  check_eq("MADT: the BSP's APIC ID (CPUID.01H:EBX[31:24]) has an enabled entry", bsp_found, 1);
  check_eq("MADT: an I/O APIC at 0xFEC00000 with GSI base 0", ioapic_ok, 1);
  check_eq("MADT: that I/O APIC's ID = its IOAPICID register bits 27:24", ioapic_id, (ioapic_read(0) >> 24) & 0xf);
  check_eq("MADT: ISA IRQ0 overridden to GSI 2", irq0_gsi, 2);
  check_eq("MADT: the SCI (FADT SCI_INT) maps to the same GSI", sci_gsi, sci);
  check_eq("MADT: the SCI's override is level-triggered, active high (flags 0xD)", sci_flags & 0xf, 0xd);
  check_eq("MADT: a local APIC NMI entry on LINT1", nmi_lint1, 1);
}

/* ---- HPET (IA-PC HPET Specification 1.0a §2.3.4 capabilities, §3.2.4 the ACPI table) -------- */

static void test_hpet(void) {
  const u8 *h = (const u8 *)find_table("HPET");
  static const char *const checks[] = {
      "HPET table: base address 0xFED00000 in system memory space",
      "HPET table: event timer block ID = the HPET's GCAP_ID[31:0]",
      "HPET: COUNTER_CLK_PERIOD is nonzero and at most 100 ns (0x05F5E100 fs)",
      "HPET: the main counter counts once ENABLE_CNF is set",
  };
  if (!h) {
    for (u32 i = 0; i < ARRAY_SIZE(checks); i++) skip(checks[i], "no HPET table");
    return;
  }
  u64 base = rd64(h + 44);
  check_true(checks[0], h[40] == 0 && base == 0xfed00000ull, "wrong address space or base");
  if (base != 0xfed00000ull) return;
  u32 cap_lo = mmio_read32(0xfed00000u), period = mmio_read32(0xfed00004u);
  info("HPET GCAP_ID 0x%08x%08x, table block ID 0x%08x", period, cap_lo, rd32(h + 36));
  check_eq(checks[1], rd32(h + 36), cap_lo);
  check_true(checks[2], period != 0 && period <= 100000000u, "period out of range");
  u32 conf = mmio_read32(0xfed00010u);
  mmio_write32(0xfed00010u, conf | 1);
  u32 c1 = mmio_read32(0xfed000f0u);
  pit2_wait_us(100);
  u32 c2 = mmio_read32(0xfed000f0u);
  mmio_write32(0xfed00010u, conf & ~1u);
  check_true(checks[3], c2 != c1, "the main counter did not move in 100 us");
}

void test_main(void) {
  pic_init_masked();
  test_root();
  test_fadt();
  test_pm_timer();
  test_madt();
  test_hpet();
}
