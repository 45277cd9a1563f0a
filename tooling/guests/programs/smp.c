/* @guest bits=64 cpu=max machine=pc smp=4 timeout=30 -- SMP bring-up: INIT + one SIPI, APs enter long mode and x2APIC mode */
/*
 * Multiprocessor start-up (SDM Vol. 3 §10.4 "Multiple-Processor (MP) Initialization", §11.6.1
 * for the ICR, §11.12 for x2APIC). The BSP sends one INIT and then one start-up IPI, both
 * with the all-excluding-self shorthand and no delay in between (an emulator needs none).
 * Each AP starts in real mode at CS:IP = 0800:0000 (vector 8), where the BSP copied a
 * trampoline that goes through 32-bit protected mode into long mode with the BSP's page
 * tables, takes a ticket (LOCK XADD) for its stack and calls ap_main(). There the AP loads
 * the library's GDT and IDT, switches its local APIC to x2APIC mode when CPUID says it can,
 * reads its IDs, adds to a counter under a spinlock shared with the other CPUs, reports into
 * shared memory and halts (CLI; HLT). Only the BSP prints checks, in APIC ID order, so the
 * output does not depend on which AP ran first; the APs print "#" lines under the spinlock.
 *
 * The expected number of CPUs comes from fw_cfg (FW_CFG_NB_CPUS, QEMU docs/specs/fw_cfg.rst),
 * and their APIC IDs are taken to be 0..N-1, as QEMU and hvkit number them by default.
 */
#include "apic_hw.h"
#include "guest.h"
#include "guest64.h"

const char test_name[] = "smp";

#define TRAMP 0x8000ul /* SIPI vector 0x08 */
#define MAX_AP 8
#define LOCK_ROUNDS 10000

void gdt_load(const void *gdtr);
void ap_main(u32 ticket);

/*
 * The trampoline, copied to TRAMP. Offsets inside it are assemble-time constants
 * (label - smp_tramp_start), so it runs at TRAMP whatever address it was linked at.
 */
__asm__(".pushsection .text.smp_tramp, \"ax\"\n"
        ".code16\n"
        ".global smp_tramp_start, smp_tramp_end, smp_tramp_cr3, smp_tramp_ticket\n"
        "smp_tramp_start:\n"
        "  cli\n"
        "  cld\n"
        "  mov %cs, %ax\n" /* CS = 0x0800, base 0x8000 */
        "  mov %ax, %ds\n"
        "  lgdtl (smp_tramp_gdtr - smp_tramp_start)\n"
        "  mov %cr0, %eax\n"
        "  or $1, %eax\n"
        "  mov %eax, %cr0\n"
        "  ljmpl $0x08, $(0x8000 + smp_tramp_pm32 - smp_tramp_start)\n"
        ".code32\n"
        "smp_tramp_pm32:\n"
        "  mov $0x10, %ax\n"
        "  mov %ax, %ds\n"
        "  mov %ax, %es\n"
        "  mov %ax, %ss\n"
        "  mov %cr4, %eax\n"
        "  or $0x20, %eax\n" /* PAE */
        "  mov %eax, %cr4\n"
        "  mov (0x8000 + smp_tramp_cr3 - smp_tramp_start), %eax\n"
        "  mov %eax, %cr3\n"
        "  mov $0xc0000080, %ecx\n"
        "  rdmsr\n"
        "  or $0x100, %eax\n" /* EFER.LME */
        "  wrmsr\n"
        "  mov %cr0, %eax\n"
        "  or $0x80000001, %eax\n" /* PG | PE: IA-32e mode active */
        "  mov %eax, %cr0\n"
        "  ljmp $0x18, $(0x8000 + smp_tramp_lm - smp_tramp_start)\n"
        ".code64\n"
        "smp_tramp_lm:\n"
        "  mov $0x10, %ax\n"
        "  mov %ax, %ds\n"
        "  mov %ax, %es\n"
        "  mov %ax, %ss\n"
        "  mov $1, %eax\n"
        "  lock xadd %eax, (0x8000 + smp_tramp_ticket - smp_tramp_start)\n"
        "  cmp $8, %eax\n"
        "  jae 2f\n"
        "  mov %eax, %edi\n"
        "  lea 1(%rax), %rcx\n"
        "  shl $14, %rcx\n"
        "  movabs $ap_stacks, %rsp\n"
        "  add %rcx, %rsp\n"
        "  movabs $ap_main, %rax\n"
        "  call *%rax\n"
        "2:\n"
        "  cli\n"
        "  hlt\n"
        "  jmp 2b\n"
        "  .align 8\n"
        "smp_tramp_gdt:\n"
        "  .quad 0\n"
        "  .quad 0x00cf9a000000ffff\n" /* 0x08: 32-bit code */
        "  .quad 0x00cf92000000ffff\n" /* 0x10: data */
        "  .quad 0x00af9a000000ffff\n" /* 0x18: 64-bit code */
        "smp_tramp_gdtr:\n"
        "  .word 31\n"
        "  .long 0x8000 + smp_tramp_gdt - smp_tramp_start\n"
        "  .align 4\n"
        "smp_tramp_cr3: .long 0\n"
        "smp_tramp_ticket: .long 0\n"
        "smp_tramp_end:\n"
        ".popsection\n");
extern char smp_tramp_start[], smp_tramp_end[], smp_tramp_cr3[], smp_tramp_ticket[];
#define TRAMP_FIELD(sym) ((volatile u32 *)(TRAMP + (ulong)((sym) - smp_tramp_start)))

u8 ap_stacks[MAX_AP][16384] ALIGNED(16);

struct PACKED dtr {
  u16 limit;
  u64 base;
};
static struct dtr bsp_gdtr, bsp_idtr;

/* What each AP reports, by ticket. */
struct ap_report {
  volatile u32 done;
  u32 initial_id, xapic_id, x2apic_id, x2apic_mode, ldr, lma;
};
static struct ap_report reports[MAX_AP];
static volatile u32 ap_online;
static volatile u32 print_lock, count_lock;
static volatile u32 shared_count;

static void spin_lock(volatile u32 *l) {
  while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) cpu_pause();
}
static void spin_unlock(volatile u32 *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* Increments shared_count LOCK_ROUNDS times with a plain read-modify-write under count_lock. */
static void locked_increments(void) {
  for (u32 i = 0; i < LOCK_ROUNDS; i++) {
    spin_lock(&count_lock);
    shared_count = shared_count + 1;
    spin_unlock(&count_lock);
  }
}

void ap_main(u32 ticket) {
  gdt_load(&bsp_gdtr);
  __asm__ volatile("lidt %0" : : "m"(bsp_idtr));
  struct ap_report *r = &reports[ticket];
  r->initial_id = cpuid_initial_apic_id();
  r->xapic_id = mmio_read32(APIC_DEFAULT_BASE + APIC_ID) >> 24;
  r->lma = (rdmsr(MSR_EFER) & EFER_LMA) != 0;
  if (HAS_X2APIC()) {
    /* §11.12.5: xAPIC -> x2APIC by setting EXTD with EN already set. */
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EN | APIC_BASE_EXTD);
    r->x2apic_mode = (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) != 0;
    r->x2apic_id = (u32)rdmsr(MSR_X2APIC_BASE + (APIC_ID >> 4));
    r->ldr = (u32)rdmsr(MSR_X2APIC_BASE + (APIC_LDR >> 4));
  }
  locked_increments();
  spin_lock(&print_lock);
  printf("# AP with APIC ID %u took ticket %u%s\n", r->xapic_id, ticket, r->x2apic_mode ? ", now in x2APIC mode" : "");
  spin_unlock(&print_lock);
  r->done = 1;
  __atomic_fetch_add(&ap_online, 1, __ATOMIC_RELEASE);
  for (;;) __asm__ volatile("cli; hlt");
}

static struct ap_report *report_for(u32 id, u32 tickets) {
  for (u32 t = 0; t < tickets && t < MAX_AP; t++)
    if (reports[t].done && reports[t].xapic_id == id) return &reports[t];
  return 0;
}

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  apic_setup_xapic(0x01);
  u32 bsp_id = apic_read(APIC_ID) >> 24;
  check_true("fw_cfg answers with the signature \"QEMU\"", fw_cfg_present(), "no fw_cfg signature at port 0x510");
  u32 ncpus = fw_cfg_u16(FW_CFG_NB_CPUS);
  check_eq("fw_cfg NB_CPUS = 4 (the program asks for smp=4)", ncpus, 4);
  if (ncpus < 2 || ncpus > MAX_AP + 1) panic("fw_cfg reports %u CPUs", ncpus);

  /* The trampoline page and what the APs need from the BSP. */
  u32 size = (u32)(smp_tramp_end - smp_tramp_start);
  if (size > 4096) panic("trampoline too large (%u bytes)", size);
  memcpy((void *)TRAMP, smp_tramp_start, size);
  *TRAMP_FIELD(smp_tramp_cr3) = (u32)read_cr3();
  *TRAMP_FIELD(smp_tramp_ticket) = 0;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(bsp_gdtr), "=m"(bsp_idtr));
  __atomic_thread_fence(__ATOMIC_SEQ_CST);

  /* INIT, then a single start-up IPI, to all excluding self, back to back (§11.6.1, Table 11-4). */
  apic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
  apic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP | (u32)(TRAMP >> 12));
  locked_increments(); /* the BSP contends for the lock with the APs */
  wait_count(&ap_online, ncpus - 1, 3000);
  spin_lock(&print_lock);

  check_eq("every AP came online after INIT + one SIPI", ap_online, ncpus - 1);
  check_eq("each AP ran the trampoline once (tickets taken)", *TRAMP_FIELD(smp_tramp_ticket), ncpus - 1);
  check_eq("spinlock: every locked increment of all CPUs counted", shared_count, (u64)LOCK_ROUNDS * ncpus);
  u32 tickets = *TRAMP_FIELD(smp_tramp_ticket);
  char name[96];
  for (u32 id = 0; id < ncpus; id++) {
    if (id == bsp_id) continue;
    struct ap_report *r = report_for(id, tickets);
    snprintf(name, sizeof name, "ap %u online", id);
    if (!check_true(name, r != 0, "no AP reported this APIC ID")) continue;
    snprintf(name, sizeof name, "ap %u: initial APIC ID (CPUID.01H:EBX[31:24]) = its APIC ID register", id);
    check_eq(name, r->initial_id, id);
    snprintf(name, sizeof name, "ap %u: 64-bit mode (IA32_EFER.LMA = 1)", id);
    check_eq(name, r->lma, 1);
    snprintf(name, sizeof name, "ap %u: x2APIC mode, MSR 0x802 = its APIC ID", id);
    if (!HAS_X2APIC()) skip(name, "CPUID.01H:ECX.x2APIC[21] = 0");
    else check_eq(name, ((u64)r->x2apic_mode << 32) | r->x2apic_id, (1ull << 32) | id);
    snprintf(name, sizeof name, "ap %u: x2APIC LDR = (ID[19:4] << 16) | (1 << ID[3:0])", id);
    if (!HAS_X2APIC()) skip(name, "CPUID.01H:ECX.x2APIC[21] = 0");
    else check_eq(name, r->ldr, ((id >> 4) << 16) | (1u << (id & 15)));
  }
  check_eq("the BSP is still in xAPIC mode (EXTD = 0)", rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD, 0);
  spin_unlock(&print_lock);
}
