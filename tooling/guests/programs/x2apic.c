/* @guest bits=64 cpu=max machine=pc timeout=20 -- x2APIC mode: MSR interface, IDs, self IPI, ICR, #GP rules, mode transitions */
/*
 * The local x2APIC (SDM Vol. 3 §11.12): entered through IA32_APIC_BASE.EXTD, registers as
 * MSRs 0x800-0x8FF, 32-bit IDs, the logical ID derived from the ID, the SELF IPI register,
 * the 64-bit ICR, and the #GP cases: reserved or write-only registers read, read-only
 * registers written, a non-zero EOI, reserved bits, and the illegal IA32_APIC_BASE
 * transitions of Figure 11-27.
 *
 * CPUs without x2APIC (CPUID.01H:ECX[21] = 0, as QEMU 7.2's TCG) skip the checks that need
 * it; the xAPIC-mode rules run everywhere.
 */
#include "apic_hw.h"
#include "guest.h"
#include "guest64.h"

const char test_name[] = "x2apic";

#define X2(off) (MSR_X2APIC_BASE + ((off) >> 4))
#define V_SELF 0x70
#define V_ICR 0x71
#define V_SHORT 0x72
#define V_BCAST 0x73
#define V_LOGICAL 0x74
#define V_TIMER 0xe0
#define NO_X2APIC "CPUID.01H:ECX.x2APIC[21] = 0"

static u32 xapic_version;

static int check_gp(const char *check, int got) { return check_trap(check, got, GP_VECTOR, 0, ANY_VALUE); }

/* ---- xAPIC mode (§11.12.1: the x2APIC MSRs are not accessible in xAPIC mode) ------------ */

static void test_xapic_mode(void) {
  check_eq("IA32_APIC_BASE = 0xFEE00000 | EN | BSP (xAPIC mode, EXTD = 0)", rdmsr(MSR_APIC_BASE), 0xfee00900ull);
  apic_setup_xapic(0x01);
  xapic_version = apic_read(APIC_VERSION);
  u64 v;
  check_trap_tcg("xAPIC mode: RDMSR 0x802 (x2APIC ID) raises #GP", rdmsr_catch(X2(APIC_ID), &v), GP_VECTOR, 0, ANY_VALUE, NO_TRAP,
                 "7.2 returns 0 for MSRs it does not know");
  /* Figure 11-5: bits 7:0 and 9 of IA32_APIC_BASE are reserved (§11.4.4). */
  check_trap_tcg("IA32_APIC_BASE: setting reserved bit 0 raises #GP", wrmsr_catch(MSR_APIC_BASE, 0xfee00901ull), GP_VECTOR, 0, ANY_VALUE,
                 NO_TRAP, "7.2 ignores reserved bits of IA32_APIC_BASE");
  check_trap_tcg("IA32_APIC_BASE: setting reserved bit 9 raises #GP", wrmsr_catch(MSR_APIC_BASE, 0xfee00b00ull), GP_VECTOR, 0, ANY_VALUE,
                 NO_TRAP, "7.2 ignores reserved bits of IA32_APIC_BASE");
  wrmsr(MSR_APIC_BASE, 0xfee00900ull);
}

/* ---- entering x2APIC mode and the ID registers (§11.12.1-§11.12.2, §11.12.5) ------------- */

static const char *const x2_checks[] = {
    "xAPIC -> x2APIC: WRMSR with EN | EXTD succeeds",
    "x2APIC mode: IA32_APIC_BASE reads 0xFEE00000 | EN | EXTD | BSP",
    "x2APIC ID (MSR 0x802) = CPUID.0BH:EDX (or the initial APIC ID)",
    "version (MSR 0x803) = the xAPIC version register",
    "LDR (MSR 0x80D) = (ID[19:4] << 16) | (1 << ID[3:0])",
    "TPR set in xAPIC mode is preserved (MSR 0x808)",
    "SVR set in xAPIC mode is preserved (MSR 0x80F)",
};

static void test_enter(void) {
  u32 id = cpuid_x2apic_id();
  apic_write(APIC_TPR, 0x10);
  int got = wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP);
  check_trap(x2_checks[0], got, NO_TRAP, 0, 0);
  if (got != NO_TRAP) panic("cannot enter x2APIC mode");
  apic_x2 = 1;
  check_eq(x2_checks[1], rdmsr(MSR_APIC_BASE), 0xfee00d00ull);
  info("x2APIC ID %u", id);
  check_eq(x2_checks[2], rdmsr(X2(APIC_ID)), id);
  check_eq(x2_checks[3], rdmsr(X2(APIC_VERSION)), xapic_version);
  check_eq(x2_checks[4], rdmsr(X2(APIC_LDR)), ((id >> 4) << 16) | (1u << (id & 15)));
  check_eq(x2_checks[5], rdmsr(X2(APIC_TPR)), 0x10);
  check_eq(x2_checks[6], rdmsr(X2(APIC_SVR)), 0x1ff);
  apic_write(APIC_TPR, 0);
}

/*
 * ---- #GP rules of the MSR interface (§11.12.1.2, Table 11-6; §11.12.1.3: a non-zero write to
 * reserved bits raises #GP, and so does any access to an address in 800H-8FFH the table does
 * not list) ------------------------------------------------------------------------------ */

static const char *const gp_checks[] = {
    "WRMSR to the ID (0x802, read-only) raises #GP",
    "WRMSR to the version (0x803, read-only) raises #GP",
    "WRMSR to the LDR (0x80D, read-only in x2APIC mode) raises #GP",
    "RDMSR of 0x80E (DFR does not exist in x2APIC mode) raises #GP",
    "RDMSR of 0x831 (no ICR high half in x2APIC mode) raises #GP",
    "RDMSR of reserved 0x801 raises #GP",
    "RDMSR of the EOI register (0x80B, write-only) raises #GP",
    "RDMSR of SELF IPI (0x83F, write-only) raises #GP",
    "WRMSR of a non-zero value to EOI (0x80B) raises #GP",
    "WRMSR of a non-zero value to the ESR (0x828) raises #GP",
    "WRMSR to TPR with bit 32 set (bits 63:32 reserved) raises #GP",
    "WRMSR to TPR with bit 8 set (bits 31:8 reserved) raises #GP",
    "WRMSR to SELF IPI with bit 8 set (bits 31:8 reserved) raises #GP",
    "TPR (0x808) reads back 0x20",
    "PPR (0x80A) = TPR 0x20 with nothing in service",
    "divide configuration (0x83E) reads back 0xA",
};

static void test_gp(void) {
  int i = 0;
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_ID), 5));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_VERSION), 0));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_LDR), 0));
  check_gp(gp_checks[i++], rdmsr_catch(X2(APIC_DFR), 0));
  check_gp(gp_checks[i++], rdmsr_catch(X2(APIC_ICR_HI), 0));
  check_gp(gp_checks[i++], rdmsr_catch(MSR_X2APIC_BASE + 1, 0));
  check_gp(gp_checks[i++], rdmsr_catch(X2(APIC_EOI), 0));
  check_gp(gp_checks[i++], rdmsr_catch(X2(APIC_SELF_IPI), 0));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_EOI), 1));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_ESR), 1));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_TPR), 1ull << 32));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_TPR), 0x100));
  check_gp(gp_checks[i++], wrmsr_catch(X2(APIC_SELF_IPI), 0x100 | V_SELF));
  wrmsr(X2(APIC_TPR), 0x20);
  check_eq(gp_checks[i++], rdmsr(X2(APIC_TPR)), 0x20);
  check_eq(gp_checks[i++], rdmsr(X2(APIC_PPR)), 0x20);
  wrmsr(X2(APIC_TPR), 0);
  wrmsr(X2(APIC_TIMER_DCR), 0xa);
  check_eq(gp_checks[i++], rdmsr(X2(APIC_TIMER_DCR)), 0xa);
  wrmsr(X2(APIC_TIMER_DCR), 0xb);
}

/* ---- interrupts: SELF IPI, the 64-bit ICR, the timer (§11.12.9-§11.12.11) --------------- */

static const char *const irq_checks[] = {
    "SELF IPI (0x83F): the vector waits in IRR (0x827) while IF = 0",
    "SELF IPI: delivered once in the next interrupt window",
    "SELF IPI: in service (ISR, 0x817) in its handler",
    "EOI (0x80B, value 0) clears the ISR bit",
    "ICR (0x830): physical destination = own x2APIC ID delivers",
    "ICR reads back the 64-bit command (destination in bits 63:32)",
    "ICR: self shorthand delivers",
    "ICR: destination 0xFFFFFFFF is the broadcast",
    "ICR: logical destination (cluster << 16 | own bit) delivers",
    "ICR: logical destination with another member bit does not",
    "timer via MSRs: one-shot interrupt arrives, current count (0x839) ends at 0",
};

static void test_interrupts(void) {
  u32 id = (u32)rdmsr(X2(APIC_ID));
  u32 ldr = (u32)rdmsr(X2(APIC_LDR));
  irq_reset();
  for (u32 v = V_SELF; v <= V_LOGICAL; v++) irq_handle(v);
  irq_handle(V_TIMER);
  int i = 0;
  wrmsr(X2(APIC_SELF_IPI), V_SELF);
  check_eq(irq_checks[i++], apic_vec_bit(APIC_IRR, V_SELF), 1);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_SELF], 1);
  check_eq(irq_checks[i++], irq_seen[V_SELF].isr, 1);
  check_eq(irq_checks[i++], apic_any(APIC_ISR), 0);

  u64 icr = ((u64)id << 32) | ICR_ASSERT | V_ICR;
  wrmsr(X2(APIC_ICR_LO), icr);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_ICR], 1);
  check_eq(irq_checks[i++], rdmsr(X2(APIC_ICR_LO)), icr);
  apic_icr(0, ICR_SELF | ICR_ASSERT | V_SHORT);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_SHORT], 1);
  apic_icr(0xffffffffu, ICR_ASSERT | V_BCAST);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_BCAST], 1);
  apic_icr(ldr, ICR_LOGICAL | ICR_ASSERT | V_LOGICAL);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_LOGICAL], 1);
  u32 other = (ldr & 0xffff0000u) | ((ldr & 0xffff) == 0x8000 ? 1 : (ldr & 0xffff) << 1);
  apic_icr(other, ICR_LOGICAL | ICR_ASSERT | V_LOGICAL);
  irq_window();
  check_eq(irq_checks[i++], irq_count[V_LOGICAL], 1);

  wrmsr(X2(APIC_TIMER_DCR), 0xb);
  wrmsr(X2(APIC_LVT_TIMER), V_TIMER);
  wrmsr(X2(APIC_TIMER_ICR), 100000);
  cpu_sti();
  wait_count(&irq_count[V_TIMER], 1, 200);
  cpu_cli();
  check_eq(irq_checks[i++], ((u64)irq_count[V_TIMER] << 32) | rdmsr(X2(APIC_TIMER_CCR)), 1ull << 32);
  wrmsr(X2(APIC_LVT_TIMER), APIC_LVT_MASKED | V_TIMER);
}

/* ---- the MMIO page in x2APIC mode (§11.12.1.2: not decoded) ------------------------------- */

static const char *const mmio_checks[] = {
    "x2APIC mode: the MMIO page does not return the version register",
    "x2APIC mode: an MMIO write to TPR does not reach the APIC",
};

static void test_mmio(void) {
  check_true(mmio_checks[0], mmio_read32(APIC_DEFAULT_BASE + APIC_VERSION) != xapic_version, "MMIO still decoded");
  mmio_write32(APIC_DEFAULT_BASE + APIC_TPR, 0x50);
  check_eq(mmio_checks[1], rdmsr(X2(APIC_TPR)), 0);
  wrmsr(X2(APIC_TPR), 0);
}

/* ---- IA32_APIC_BASE transitions (§11.12.5, Figure 11-27) ---------------------------------- */

static const char *const tr_checks[] = {
    "x2APIC -> xAPIC directly (EN = 1, EXTD = 0) raises #GP",
    "the failed transition left x2APIC mode on",
    "x2APIC -> disabled (EN = 0, EXTD = 0) is allowed",
    "disabled -> x2APIC directly raises #GP",
    "disabled -> xAPIC (EN = 1) is allowed",
    "back in xAPIC mode: the ID register holds the x2APIC ID's low 8 bits",
    "back in xAPIC mode: the MMIO page decodes again (version)",
    "xAPIC -> invalid state (EN = 0, EXTD = 1) raises #GP",
};

static void test_transitions(void) {
  u32 id = (u32)rdmsr(X2(APIC_ID));
  int i = 0;
  check_gp(tr_checks[i++], wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP));
  check_eq(tr_checks[i++], rdmsr(MSR_APIC_BASE), 0xfee00d00ull);
  check_trap(tr_checks[i++], wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_BSP), NO_TRAP, 0, 0);
  apic_x2 = 0;
  check_gp(tr_checks[i++], wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP));
  check_trap(tr_checks[i++], wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP), NO_TRAP, 0, 0);
  check_eq(tr_checks[i++], mmio_read32(APIC_DEFAULT_BASE + APIC_ID), (id & 0xff) << 24);
  check_eq(tr_checks[i++], mmio_read32(APIC_DEFAULT_BASE + APIC_VERSION), xapic_version);
  check_gp(tr_checks[i++], wrmsr_catch(MSR_APIC_BASE, APIC_DEFAULT_BASE | APIC_BASE_EXTD | APIC_BASE_BSP));
}

static void skip_all(const char *const *checks, u32 n) {
  for (u32 i = 0; i < n; i++) skip(checks[i], NO_X2APIC);
}

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  test_xapic_mode();
  if (!HAS_X2APIC()) {
    skip_all(x2_checks, ARRAY_SIZE(x2_checks));
    skip_all(gp_checks, ARRAY_SIZE(gp_checks));
    skip_all(irq_checks, ARRAY_SIZE(irq_checks));
    skip_all(mmio_checks, ARRAY_SIZE(mmio_checks));
    skip_all(tr_checks, ARRAY_SIZE(tr_checks));
    return;
  }
  test_enter();
  test_gp();
  test_interrupts();
  test_mmio();
  test_transitions();
}
