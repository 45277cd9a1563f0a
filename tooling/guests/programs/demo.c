/* @guest bits=64 cpu=max smp=4 machine=pc timeout=30 -- the README's demo: a short tour of the PC (CPUID, memory map, ACPI, interrupts, SMP) */
/*
 * The demo guest that hvkit ships prebuilt (tooling/guests/prebuilt/demo.elf), so that
 * `pnpm run demo` needs no compiler. It is a Multiboot 1 kernel that the library starts in
 * long mode, and it walks through what an operating system finds on a PC:
 *
 *   1. the CPU: vendor and brand string (CPUID leaves 0 and 0x80000002-0x80000004, SDM Vol. 2
 *      "CPUID"), and IA-32e mode active (IA32_EFER.LMA, SDM Vol. 3 §10.8.5);
 *   2. memory: the Multiboot memory map (Multiboot 0.6.96 §3.3, the BIOS e820 map) summed up,
 *      against fw_cfg's RAM size (QEMU docs/specs/fw_cfg.rst, FW_CFG_RAM_SIZE);
 *   3. ACPI: the RSDP in 0xE0000-0xFFFFF (ACPI 6.5 §5.2.5.1), the tables the XSDT or RSDT lists
 *      (§5.2.7, §5.2.8), the CPUs and the ISA IRQ 0 override in the MADT (§5.2.12);
 *   4. interrupts: the local APIC timer in periodic mode (SDM Vol. 3 §11.5.4) and the PIT's
 *      IRQ 0 through the I/O APIC pin the MADT names (82093AA datasheet §3.2.4), each waking HLT;
 *   5. SMP: INIT and one start-up IPI to all the other CPUs, back to back (SDM Vol. 3 §10.4,
 *      §11.6.1); each AP climbs from real mode to long mode through a trampoline, switches its
 *      local APIC to x2APIC mode (§11.12.5) and reports its x2APIC ID (MSR 0x802, §11.12.2);
 *      the BSP prints one line per CPU, in MADT order;
 *   6. PASS, and 0 to the isa-debug-exit port (QEMU and hvkit's CLI then exit with status 1).
 *
 * Lines follow the guests' convention (`ok`, `SKIP`, `FAIL`, `#`, then `PASS demo`). Numbers
 * that differ between QEMU and hvkit (RAM size, addresses, TSC counts) appear only in `#`
 * lines, so `compareSerial` can hold the two runs against each other. QEMU 7.2's TCG has no
 * x2APIC: there the per-CPU lines are SKIPs that say which xAPIC ID came online instead.
 */
#include "apic_hw.h"
#include "guest.h"
#include "guest64.h"

const char test_name[] = "demo";

#define TRAMP 0x8000ul /* start-up vector 0x08: the APs begin at 0800:0000 */
#define MAX_CPUS 16
#define TIMER_VECTOR 0x40
#define PIT_VECTOR 0x41
#define TICKS 5

static u32 rd32(const u8 *p) { return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24); }
static u64 rd64(const u8 *p) { return rd32(p) | ((u64)rd32(p + 4) << 32); }
static u8 sum_bytes(const void *p, u32 len) {
  const u8 *b = p;
  u8 s = 0;
  while (len--) s = (u8)(s + *b++);
  return s;
}
/* `n` characters at `p` as a string (printf has no precision). */
static const char *chars(const void *p, u32 n, char *buf) {
  memcpy(buf, p, n);
  buf[n] = 0;
  return buf;
}
/* An empty "#" line between the sections. */
static void blank(void) { printf("#\n"); }
/* `bytes` in MiB, rounded to the nearest. */
static u64 mib(u64 bytes) { return (bytes + (1u << 19)) >> 20; }

/* ---- 1. the CPU ----------------------------------------------------------------------------- */

static void tour_cpu(void) {
  info("hvkit demo: an x86-64 PC booted from a Multiboot kernel");
  blank();
  info("1. The CPU");
  char brand[49] = {0};
  u32 *w = (u32 *)brand;
  if (cpu.max_ext_leaf >= 0x80000004u)
    for (u32 leaf = 0; leaf < 3; leaf++) cpuid(0x80000002u + leaf, 0, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2], &w[4 * leaf + 3]);
  const char *b = brand;
  while (*b == ' ') b++; /* Intel right-justifies the brand string */
  info("CPU vendor \"%s\", brand \"%s\"", cpu.vendor, b);
  check_true("CPUID: a vendor string (leaf 0) and a brand string (leaves 0x80000002-0x80000004)", strlen(cpu.vendor) == 12 && *b != 0,
             "no vendor or no brand string");
  u64 efer = rdmsr(MSR_EFER);
  check_true("long mode active: IA32_EFER.LME = LMA = 1, CR0.PG = 1, CR4.PAE = 1",
             (efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA) && (read_cr0() & CR0_PG) && (read_cr4() & CR4_PAE), "not in IA-32e mode");
}

/* ---- 2. memory ------------------------------------------------------------------------------ */

extern u32 multiboot_magic, multiboot_info;
struct PACKED multiboot_info_block {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  u32 syms[4];
  u32 mmap_length, mmap_addr;
};

static void tour_memory(void) {
  blank();
  info("2. Memory");
  const struct multiboot_info_block *mbi = (const struct multiboot_info_block *)(ulong)multiboot_info;
  int have_map = multiboot_magic == 0x2badb002u && (mbi->flags & BIT(6));
  check_true("Multiboot: the loader's magic 0x2BADB002 and a memory map (flags bit 6)", have_map, "no Multiboot memory map");
  if (!have_map) return;
  /* Entries: u32 size (not counting itself), u64 base, u64 length, u32 type (§3.3). */
  u64 avail = 0;
  u32 ranges = 0, kernel_ok = 0;
  for (u32 off = 0; off + 24 <= mbi->mmap_length && ranges < 128; ranges++) {
    const u8 *e = (const u8 *)(ulong)(mbi->mmap_addr + off);
    u64 base = rd64(e + 4), len = rd64(e + 12);
    u32 type = rd32(e + 20);
    if (type == 1) avail += len;
    if (type == 1 && base <= 0x100000 && base + len >= 0x200000) kernel_ok = 1;
    off += rd32(e) + 4;
  }
  check_true("memory map: the kernel's first MiB above 1 MiB is available RAM", kernel_ok, "0x100000-0x1FFFFF is not in an available range");
  if (!fw_cfg_present()) {
    info("memory map: %u ranges, %llu MiB of available RAM", ranges, (unsigned long long)mib(avail));
    skip("memory map: available RAM = fw_cfg RAM_SIZE less at most 2 MiB of firmware areas", "no fw_cfg");
    return;
  }
  u64 ram = 0;
  fw_cfg_read(0x03, &ram, 8); /* FW_CFG_RAM_SIZE, little-endian */
  info("RAM: %llu MiB installed (fw_cfg RAM_SIZE); the memory map has %u ranges, %llu MiB of it available to the OS",
       (unsigned long long)mib(ram), ranges, (unsigned long long)mib(avail));
  check_true("memory map: available RAM = fw_cfg RAM_SIZE less at most 2 MiB of firmware areas",
             avail <= ram && avail + (2u << 20) >= ram, "the map and fw_cfg disagree");
}

/* ---- 3. ACPI -------------------------------------------------------------------------------- */

static u32 madt_ids[MAX_CPUS], madt_cpus;
static u32 irq0_gsi = 0; /* ISA IRQ 0's GSI: 0 unless the MADT overrides it */

static void tour_madt(const u8 *madt) {
  u32 len = rd32(madt + 4), ioapics = 0, ioapic_base = 0;
  for (u32 off = 44; off + 2 <= len;) {
    const u8 *e = madt + off;
    if (e[1] < 2) break;
    if ((e[0] == 0 && (rd32(e + 4) & 1)) || (e[0] == 9 && (rd32(e + 8) & 1))) { /* enabled local APIC / x2APIC */
      if (madt_cpus < MAX_CPUS) madt_ids[madt_cpus] = e[0] == 0 ? e[3] : rd32(e + 4);
      madt_cpus++;
    }
    if (e[0] == 1 && ioapics++ == 0) ioapic_base = rd32(e + 4);
    if (e[0] == 2 && e[2] == 0 && e[3] == 0) irq0_gsi = rd32(e + 4); /* bus 0 (ISA), source IRQ 0 */
    off += e[1];
  }
  char ids[64] = "";
  for (u32 i = 0, n = 0; i < madt_cpus && i < MAX_CPUS; i++) {
    snprintf(ids + n, sizeof ids - n, "%s%u", i ? ", " : "", madt_ids[i]);
    n = (u32)strlen(ids);
  }
  info("MADT: local APIC at 0x%x; CPUs with APIC IDs %s; I/O APIC at 0x%x; ISA IRQ 0 -> GSI %u", rd32(madt + 36), ids, ioapic_base, irq0_gsi);
  char name[80];
  snprintf(name, sizeof name, "MADT: %u enabled CPUs", madt_cpus);
  check_true(name, madt_cpus >= 1 && madt_cpus <= MAX_CPUS, "no CPU, or more than this demo handles");
  /* §5.2.12: "platform firmware should list the boot processor as the first processor entry". */
  check_eq("MADT: the first CPU is the one running this (the BSP's initial APIC ID)", madt_cpus ? madt_ids[0] : ~0u, cpuid_initial_apic_id());
  check_true("MADT: an I/O APIC at 0xFEC00000", ioapics >= 1 && ioapic_base == IOAPIC_BASE, "missing or elsewhere");
}

static void tour_acpi(void) {
  blank();
  info("3. ACPI");
  const u8 *rsdp = 0;
  for (ulong a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
    if (memcmp((const void *)a, "RSD PTR ", 8) == 0 && sum_bytes((const void *)a, 20) == 0) rsdp = (const u8 *)a;
  check_true("ACPI: the RSDP, on a 16-byte boundary in 0xE0000-0xFFFFF, checksum 0", rsdp != 0, "not found");
  if (!rsdp) return;
  char buf[8];
  /* Revision 2 and up: the XSDT with 64-bit entries (§5.2.8); else the RSDT (§5.2.7). */
  int x = rsdp[15] >= 2 && rd64(rsdp + 24) != 0;
  const u8 *root = (const u8 *)(ulong)(x ? rd64(rsdp + 24) : rd32(rsdp + 16));
  u32 len = rd32(root + 4), width = x ? 8 : 4;
  info("RSDP at 0x%lx (revision %u, OEM \"%s\") -> %s at 0x%lx", (ulong)rsdp, rsdp[15], chars(rsdp + 9, 6, buf), x ? "XSDT" : "RSDT", (ulong)root);
  check_true("ACPI: the root table (XSDT or RSDT): signature and checksum",
             memcmp(root, x ? "XSDT" : "RSDT", 4) == 0 && len >= 36 && sum_bytes(root, len) == 0, "bad signature or checksum");
  char list[128] = "";
  const u8 *facp = 0, *madt = 0, *hpet = 0;
  u32 bad = 0;
  for (u32 off = 36, n = 0; off + width <= len; off += width) {
    const u8 *t = (const u8 *)(ulong)(x ? rd64(root + off) : rd32(root + off));
    if (sum_bytes(t, rd32(t + 4)) != 0) bad++;
    if (memcmp(t, "FACP", 4) == 0) facp = t;
    if (memcmp(t, "APIC", 4) == 0) madt = t;
    if (memcmp(t, "HPET", 4) == 0) hpet = t;
    if (n + 6 < sizeof list) snprintf(list + n, sizeof list - n, "%s%s", n ? " " : "", chars(t, 4, buf));
    n = (u32)strlen(list);
  }
  if (facp && rd32(facp + 40)) { /* the FADT's DSDT pointer (§5.2.9) */
    const u8 *dsdt = (const u8 *)(ulong)rd32(facp + 40);
    if (memcmp(dsdt, "DSDT", 4) == 0 && strlen(list) + 12 < sizeof list) snprintf(list + strlen(list), sizeof list - strlen(list), " (DSDT)");
  }
  info("ACPI tables: %s", list);
  check_eq("ACPI: every table the root table lists has a valid checksum", bad, 0);
  check_true("ACPI: a FADT (\"FACP\") pointing to a DSDT", facp && memcmp((const u8 *)(ulong)rd32(facp + 40), "DSDT", 4) == 0, "missing");
  check_true("ACPI: a MADT (\"APIC\")", madt != 0, "missing");
  check_true("ACPI: an HPET table (\"HPET\") with the HPET at 0xFED00000", hpet && rd64(hpet + 44) == 0xfed00000u, "missing or elsewhere");
  if (madt) tour_madt(madt);
}

/* ---- 4. interrupts -------------------------------------------------------------------------- */

/* HLT with interrupts enabled until `*count` reaches `want` (STI's shadow covers the HLT, §6.8.3). */
static void hlt_until(volatile u32 *count, u32 want) {
  for (u32 i = 0; i < 1000 && *count < want; i++) __asm__ volatile("sti; hlt; cli" ::: "memory");
}

/* A spurious APIC interrupt (the SVR's vector 0xFF) needs no EOI (SDM Vol. 3 §11.9). */
static int spurious(struct frame *f) {
  (void)f;
  return 1;
}

static void tour_interrupts(void) {
  blank();
  info("4. Interrupts");
  set_trap_handler(0xff, spurious);
  irq_reset();
  irq_handle(TIMER_VECTOR);
  irq_handle(PIT_VECTOR);
  /* The local APIC timer: periodic, divide by 16, 62500 counts (1 ms at QEMU's and hvkit's 1 GHz). */
  apic_write(APIC_TIMER_DCR, 0x3);
  apic_write(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | TIMER_VECTOR);
  u64 t0 = rdtsc();
  apic_write(APIC_TIMER_ICR, 62500);
  hlt_until(&irq_count[TIMER_VECTOR], TICKS);
  u64 t1 = rdtsc();
  apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | TIMER_VECTOR);
  apic_write(APIC_TIMER_ICR, 0);
  /* Per tick, to the nearest thousand: the few instructions around the two RDTSCs do not show. */
  u64 per_tick = ((t1 - t0) / (irq_count[TIMER_VECTOR] ? irq_count[TIMER_VECTOR] : 1) + 500) / 1000 * 1000;
  info("LAPIC timer: %u ticks, about %llu TSC cycles each", irq_count[TIMER_VECTOR], (unsigned long long)per_tick);
  check_true("LAPIC timer: periodic interrupts on vector 0x40 woke HLT 5 times", irq_count[TIMER_VECTOR] >= TICKS, "too few ticks");

  /* The PIT's channel 0 at 1 kHz, ISA IRQ 0 routed through the I/O APIC pin the MADT gave. */
  u32 pin = irq0_gsi;
  if (pin >= IOAPIC_PINS) pin = 2;
  ioapic_redir((int)pin, REDIR_FIXED | PIT_VECTOR, cpuid_initial_apic_id()); /* edge, active high, physical */
  pit0_rate(1193);
  hlt_until(&irq_count[PIT_VECTOR], 3);
  ioapic_redir((int)pin, REDIR_MASKED | PIT_VECTOR, 0);
  pit0_quiet();
  info("PIT: IRQ 0 -> I/O APIC pin %u -> vector 0x41: %u interrupts", pin, irq_count[PIT_VECTOR]);
  check_true("PIT: IRQ 0 through the I/O APIC (the MADT's pin) woke HLT 3 times", irq_count[PIT_VECTOR] >= 3, "too few interrupts");
}

/* ---- 5. SMP --------------------------------------------------------------------------------- */

void gdt_load(const void *gdtr);
void ap_main(u32 ticket);

/*
 * The AP trampoline (as in programs/smp.c), copied to TRAMP: real mode -> 32-bit protected
 * mode -> long mode with the BSP's page tables, a stack by ticket (LOCK XADD), then ap_main().
 */
__asm__(".pushsection .text.demo_tramp, \"ax\"\n"
        ".code16\n"
        ".global demo_tramp_start, demo_tramp_end, demo_tramp_cr3, demo_tramp_ticket\n"
        "demo_tramp_start:\n"
        "  cli\n"
        "  cld\n"
        "  mov %cs, %ax\n"
        "  mov %ax, %ds\n"
        "  lgdtl (demo_tramp_gdtr - demo_tramp_start)\n"
        "  mov %cr0, %eax\n"
        "  or $1, %eax\n"
        "  mov %eax, %cr0\n"
        "  ljmpl $0x08, $(0x8000 + demo_tramp_pm32 - demo_tramp_start)\n"
        ".code32\n"
        "demo_tramp_pm32:\n"
        "  mov $0x10, %ax\n"
        "  mov %ax, %ds\n"
        "  mov %ax, %es\n"
        "  mov %ax, %ss\n"
        "  mov %cr4, %eax\n"
        "  or $0x20, %eax\n"
        "  mov %eax, %cr4\n"
        "  mov (0x8000 + demo_tramp_cr3 - demo_tramp_start), %eax\n"
        "  mov %eax, %cr3\n"
        "  mov $0xc0000080, %ecx\n"
        "  rdmsr\n"
        "  or $0x100, %eax\n"
        "  wrmsr\n"
        "  mov %cr0, %eax\n"
        "  or $0x80000001, %eax\n"
        "  mov %eax, %cr0\n"
        "  ljmp $0x18, $(0x8000 + demo_tramp_lm - demo_tramp_start)\n"
        ".code64\n"
        "demo_tramp_lm:\n"
        "  mov $0x10, %ax\n"
        "  mov %ax, %ds\n"
        "  mov %ax, %es\n"
        "  mov %ax, %ss\n"
        "  mov $1, %eax\n"
        "  lock xadd %eax, (0x8000 + demo_tramp_ticket - demo_tramp_start)\n"
        "  cmp $16, %eax\n"
        "  jae 2f\n"
        "  mov %eax, %edi\n"
        "  lea 1(%rax), %rcx\n"
        "  shl $13, %rcx\n"
        "  movabs $ap_stacks, %rsp\n"
        "  add %rcx, %rsp\n"
        "  movabs $ap_main, %rax\n"
        "  call *%rax\n"
        "2:\n"
        "  cli\n"
        "  hlt\n"
        "  jmp 2b\n"
        "  .align 8\n"
        "demo_tramp_gdt:\n"
        "  .quad 0\n"
        "  .quad 0x00cf9a000000ffff\n" /* 0x08: 32-bit code */
        "  .quad 0x00cf92000000ffff\n" /* 0x10: data */
        "  .quad 0x00af9a000000ffff\n" /* 0x18: 64-bit code */
        "demo_tramp_gdtr:\n"
        "  .word 31\n"
        "  .long 0x8000 + demo_tramp_gdt - demo_tramp_start\n"
        "  .align 4\n"
        "demo_tramp_cr3: .long 0\n"
        "demo_tramp_ticket: .long 0\n"
        "demo_tramp_end:\n"
        ".popsection\n");
extern char demo_tramp_start[], demo_tramp_end[], demo_tramp_cr3[], demo_tramp_ticket[];
#define TRAMP_FIELD(sym) ((volatile u32 *)(TRAMP + (ulong)((sym) - demo_tramp_start)))

u8 ap_stacks[MAX_CPUS][8192] ALIGNED(16);
static struct PACKED {
  u16 limit;
  u64 base;
} bsp_gdtr, bsp_idtr;

/* What each AP reports, by ticket. */
static struct {
  volatile u32 done;
  u32 xapic_id, x2apic_id, x2apic_mode, lma;
} reports[MAX_CPUS];
static volatile u32 ap_online;

void ap_main(u32 ticket) {
  gdt_load(&bsp_gdtr);
  __asm__ volatile("lidt %0" : : "m"(bsp_idtr));
  reports[ticket].xapic_id = mmio_read32(APIC_DEFAULT_BASE + APIC_ID) >> 24;
  reports[ticket].lma = (rdmsr(MSR_EFER) & EFER_LMA) != 0;
  if (HAS_X2APIC()) {
    /* §11.12.5: xAPIC -> x2APIC by setting EXTD with EN set; the ID is then MSR 0x802 (§11.12.2). */
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    reports[ticket].x2apic_mode = (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) != 0;
    reports[ticket].x2apic_id = (u32)rdmsr(MSR_X2APIC_BASE + (APIC_ID >> 4));
  }
  reports[ticket].done = 1;
  __atomic_fetch_add(&ap_online, 1, __ATOMIC_RELEASE);
  for (;;) __asm__ volatile("cli; hlt");
}

static void tour_smp(void) {
  blank();
  info("5. SMP");
  u32 ncpus = madt_cpus < MAX_CPUS ? madt_cpus : MAX_CPUS, bsp_id = cpuid_initial_apic_id();
  if (ncpus == 0) {
    skip("all CPUs came online after INIT + one SIPI", "no CPUs listed in a MADT");
    return;
  }
  u32 size = (u32)(demo_tramp_end - demo_tramp_start);
  memcpy((void *)TRAMP, demo_tramp_start, size);
  *TRAMP_FIELD(demo_tramp_cr3) = (u32)read_cr3();
  *TRAMP_FIELD(demo_tramp_ticket) = 0;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(bsp_gdtr), "=m"(bsp_idtr));
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  /* INIT, then a single start-up IPI with vector 0x08, to all excluding self, with no delay (Table 11-4). */
  info("BSP: INIT + SIPI (vector 0x08) to all other CPUs; each AP climbs real -> protected -> long mode, then enters x2APIC mode if CPUID offers it");
  apic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
  apic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | (u32)(TRAMP >> 12));
  wait_count(&ap_online, ncpus - 1, 3000);
  char name[80];
  snprintf(name, sizeof name, "all %u CPUs came online after INIT + one SIPI", ncpus);
  check_eq(name, ap_online + 1, ncpus);

  /* The BSP joins them in x2APIC mode, then one line per CPU in MADT order. */
  u32 bsp_x2 = 0, bsp_mode = 0;
  if (HAS_X2APIC()) {
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    bsp_mode = (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) != 0;
    bsp_x2 = (u32)rdmsr(MSR_X2APIC_BASE + (APIC_ID >> 4));
  }
  u32 tickets = *TRAMP_FIELD(demo_tramp_ticket);
  for (u32 i = 0; i < ncpus; i++) {
    u32 id = madt_ids[i], online = 0, x2 = 0, mode = 0, xapic = id;
    if (id == bsp_id) {
      online = 1, x2 = bsp_x2, mode = bsp_mode;
    } else {
      for (u32 t = 0; t < tickets && t < MAX_CPUS; t++) {
        if (reports[t].done && reports[t].xapic_id == (id & 0xff)) {
          online = reports[t].lma, x2 = reports[t].x2apic_id, mode = reports[t].x2apic_mode, xapic = reports[t].xapic_id;
          break;
        }
      }
    }
    snprintf(name, sizeof name, "cpu %u online (x2APIC ID %u)", i, id);
    if (!HAS_X2APIC() && online) skip(name, "no x2APIC on this CPU (CPUID.01H:ECX[21] = 0); online in xAPIC mode with APIC ID %u", xapic);
    else if (!online) fail(name, "no report from the CPU with APIC ID %u", id);
    else check_true(name, mode && x2 == id, "not in x2APIC mode, or a different x2APIC ID");
  }
}

/* ---- the tour ------------------------------------------------------------------------------- */

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  apic_setup_xapic(0x01);
  tour_cpu();
  tour_memory();
  tour_acpi();
  tour_interrupts();
  tour_smp();
  blank();
}
