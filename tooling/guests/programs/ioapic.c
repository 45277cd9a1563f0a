/* @guest bits=32 machine=pc devices=pc-testdev timeout=20 -- the I/O APIC: registers, edge and level inputs, Remote IRR, EOI, destinations */
/*
 * The I/O APIC at 0xFEC00000 (Intel 82093AA datasheet; version 0x20 parts add the EOI register
 * at +0x40), delivering to the BSP's local APIC (SDM Vol. 3 §11.6.2, §11.8.4-§11.8.5). The
 * 8259 pair is re-initialised and masked, the local APIC enabled through SVR, the PIT
 * programmed here: nothing a BIOS did is relied on. Inputs come from the PIT (ISA IRQ0, which
 * the PC wires to pin 2: the MADT's IRQ0 -> GSI 2 override) and from pc-testdev, whose port
 * 0x2000 + n drives ISA IRQ line n (= I/O APIC pin n) to the level written.
 */
#include "apic_hw.h"
#include "guest.h"
#include "guest32.h"

const char test_name[] = "ioapic";

#define LINE_A 14 /* pc-testdev lines used as I/O APIC inputs */
#define LINE_B 15
#define V_PIT 0x30
#define V_PIN0 0x31
#define V_EDGE 0x40
#define V_LEVEL 0x50
#define V_OTHER 0x51
#define V_DEST 0x60
#define V_LOWEST 0x61
#define V_MASKED 0x62

static u32 bsp_id;

/* ---- registers (82093AA §3.2: IOREGSEL, IOAPICID, IOAPICVER, IOAPICARB, IOREDTBL) -------- */

static void test_registers(void) {
  mmio_write32(IOAPIC_BASE, 0x01);
  check_eq("IOREGSEL reads back the selected index", mmio_read32(IOAPIC_BASE), 0x01);

  u32 id0 = ioapic_read(0x00);
  info("IOAPICID at start 0x%08x", id0);
  ioapic_write(0x00, 0x0a000000u);
  check_eq("IOAPICID: the ID in bits 27:24 reads back", ioapic_read(0x00), 0x0a000000u);
  ioapic_write(0x00, 0xffffffffu);
  check_eq("IOAPICID: only bits 27:24 are writable", ioapic_read(0x00), 0x0f000000u);
  /* §3.2.3: the arbitration ID is loaded from the APIC ID whenever IOAPICID is written. */
  check_eq("IOAPICARB: loaded with the ID written to IOAPICID", ioapic_read(0x02), 0x0f000000u);
  ioapic_write(0x00, id0);

  /* §3.2.2: version in bits 7:0, maximum redirection entry (pins - 1) in bits 23:16. */
  u32 ver = ioapic_read(0x01);
  check_eq("IOAPICVER: maximum redirection entry 0x17 (24 pins)", (ver >> 16) & 0xff, 0x17);
  check_eq("IOAPICVER = 0x00170020 (version 0x20: the EOI register exists)", ver, 0x00170020u);
  ioapic_write(0x01, 0);
  check_eq("IOAPICVER is read-only", ioapic_read(0x01), ver);

  /*
   * §3.2.4: every IOREDTBL field but Delivery Status (bit 12) and Remote IRR (bit 14) is
   * read/write: vector, delivery mode, destination mode, polarity, trigger mode, mask and
   * the destination in bits 63:56. The reserved bits are not probed (QEMU keeps what is
   * written there; the datasheet does not say what they read).
   */
  u32 bad_rw = 0, bad_ro = 0;
  for (int pin = 0; pin < IOAPIC_PINS; pin++) {
    ioapic_redir(pin, REDIR_MASKED | 0xabffu, 0xff);
    if (ioapic_redir_lo(pin) != 0x0001abffu || ioapic_redir_hi(pin) != 0xff000000u) bad_rw++;
    ioapic_redir(pin, REDIR_MASKED | REDIR_REMOTE_IRR | REDIR_DELIVS | 0x20, 0);
    if (ioapic_redir_lo(pin) != (REDIR_MASKED | 0x20) || ioapic_redir_hi(pin) != 0) bad_ro++;
  }
  check_eq("IOREDTBL0-23: vector, delivery/destination mode, polarity, trigger, mask and destination read back", bad_rw, 0);
  check_eq("IOREDTBL0-23: Delivery Status and Remote IRR are read-only (0 when idle)", bad_ro, 0);
  ioapic_mask_all();
}

/* ---- the PIT through pin 2 (edge) ------------------------------------------------------- */

static void test_pit(void) {
  irq_reset();
  irq_handle(V_PIT);
  irq_handle(V_PIN0);
  ioapic_redir(2, REDIR_FIXED | V_PIT, bsp_id);
  ioapic_redir(0, REDIR_FIXED | V_PIN0, bsp_id);
  pit0_rate(1193); /* about 1 kHz */
  cpu_sti();
  int reached = wait_count(&irq_count[V_PIT], 5, 500);
  cpu_cli();
  ioapic_redir(2, REDIR_MASKED | V_PIT, bsp_id);
  ioapic_redir(0, REDIR_MASKED | V_PIN0, bsp_id);
  pit0_quiet();
  irq_window();
  check_true("PIT channel 0 (ISA IRQ0) interrupts arrive through pin 2", reached, "fewer than 5 interrupts on pin 2 in 500 ms");
  check_eq("pin 0 sees no PIT interrupt (IRQ0 is GSI 2)", irq_count[V_PIN0], 0);
  check_eq("edge-triggered pin 2: the vector is in service in its handler, TMR clear", (u64)irq_seen[V_PIT].isr << 4 | irq_seen[V_PIT].tmr, 0x10);
}

/* ---- edge-triggered inputs (82093AA §3.2.4: masked edges are lost) ----------------------- */

static void test_edge(void) {
  irq_reset();
  irq_handle(V_EDGE);
  testdev_irq(LINE_A, 0);
  ioapic_redir(LINE_A, REDIR_FIXED | V_EDGE, bsp_id);
  testdev_irq(LINE_A, 1);
  irq_window();
  check_eq("edge: a rising edge delivers once", irq_count[V_EDGE], 1);
  testdev_irq(LINE_A, 0);
  irq_window();
  check_eq("edge: the falling edge delivers nothing", irq_count[V_EDGE], 1);
  testdev_irq(LINE_A, 1);
  irq_window();
  check_eq("edge: the next rising edge delivers again", irq_count[V_EDGE], 2);
  testdev_irq(LINE_A, 0);
  check_eq("edge: Remote IRR stays 0 for an edge-triggered entry", ioapic_redir_lo(LINE_A) & REDIR_REMOTE_IRR, 0);
  check_eq("edge: TMR clear in the handler", irq_seen[V_EDGE].tmr, 0);

  ioapic_redir(LINE_A, REDIR_MASKED | V_EDGE, bsp_id);
  testdev_irq(LINE_A, 1);
  irq_window();
  check_eq("edge: nothing delivered while masked", irq_count[V_EDGE], 2);
  ioapic_redir(LINE_A, REDIR_FIXED | V_EDGE, bsp_id);
  irq_window();
  check_eq("edge: an edge that arrived while masked is lost on unmasking", irq_count[V_EDGE], 2);
  testdev_irq(LINE_A, 0);
  ioapic_redir(LINE_A, REDIR_MASKED | V_EDGE, bsp_id);
}

/* ---- level-triggered inputs, Remote IRR and EOI (§3.2.4; SDM Vol. 3 §11.8.5) ------------- */

static int remote_irr(int pin) { return (ioapic_redir_lo(pin) & REDIR_REMOTE_IRR) != 0; }

static void test_level(void) {
  irq_reset();
  irq_handle(V_LEVEL);
  irq_no_eoi = 1;
  testdev_irq(LINE_A, 0);
  ioapic_redir(LINE_A, REDIR_LEVEL | REDIR_FIXED | V_LEVEL, bsp_id);
  irq_window();
  check_eq("level: nothing delivered while the line is low", irq_count[V_LEVEL], 0);
  testdev_irq(LINE_A, 1);
  irq_window();
  check_eq("level: asserting the line delivers once", irq_count[V_LEVEL], 1);
  check_eq("level: TMR set and the vector in service in the handler", (u64)irq_seen[V_LEVEL].tmr << 4 | irq_seen[V_LEVEL].isr, 0x11);
  check_eq("level: Remote IRR set once the local APIC accepted it", remote_irr(LINE_A), 1);
  irq_window();
  check_eq("level: no second message while Remote IRR is set", irq_count[V_LEVEL], 1);
  testdev_irq(LINE_A, 0);
  check_eq("level: Remote IRR stays set after the line drops, until the EOI", remote_irr(LINE_A), 1);
  testdev_irq(LINE_A, 1);
  check_eq("level: re-asserted while Remote IRR is set, no message (local IRR clear)", apic_vec_bit(APIC_IRR, V_LEVEL), 0);

  /* The local APIC's EOI for a level-triggered vector (TMR = 1) is broadcast to the I/O APIC. */
  apic_eoi();
  irq_window();
  check_eq("level: the EOI broadcast clears Remote IRR and the still-asserted pin delivers again", irq_count[V_LEVEL], 2);
  check_eq("level: Remote IRR set again for the new message", remote_irr(LINE_A), 1);
  testdev_irq(LINE_A, 0);
  apic_eoi();
  irq_window();
  check_eq("level: the EOI with the line low clears Remote IRR", remote_irr(LINE_A), 0);
  check_eq("level: no further message with the line low", irq_count[V_LEVEL], 2);
  check_eq("level: nothing left in service", apic_any(APIC_ISR), 0);

  /* Version 0x20: the EOI register at +0x40 clears Remote IRR of the entries with that vector. */
  testdev_irq(LINE_A, 1);
  irq_window();
  testdev_irq(LINE_A, 0);
  check_eq("EOI register: Remote IRR set by a third delivery", ((u64)irq_count[V_LEVEL] << 4) | (u64)remote_irr(LINE_A), 0x31);
  mmio_write32(IOAPIC_BASE + IOAPIC_EOI_REG, V_OTHER);
  check_eq("EOI register: another vector leaves Remote IRR set", remote_irr(LINE_A), 1);
  mmio_write32(IOAPIC_BASE + IOAPIC_EOI_REG, V_LEVEL);
  check_eq("EOI register: the entry's vector clears Remote IRR", remote_irr(LINE_A), 0);
  apic_eoi();

  /* A masked level input is not delivered; unmasking while still asserted delivers it. */
  irq_reset();
  irq_handle(V_MASKED);
  irq_no_eoi = 1;
  ioapic_redir(LINE_A, REDIR_MASKED | REDIR_LEVEL | V_MASKED, bsp_id);
  testdev_irq(LINE_A, 1);
  irq_window();
  check_eq("level: nothing delivered while masked", irq_count[V_MASKED], 0);
  check_eq("level: a masked entry does not set Remote IRR", remote_irr(LINE_A), 0);
  ioapic_redir(LINE_A, REDIR_LEVEL | V_MASKED, bsp_id);
  irq_window();
  check_eq("level: unmasking while still asserted delivers", irq_count[V_MASKED], 1);
  testdev_irq(LINE_A, 0);
  apic_eoi();
  check_eq("level: Remote IRR clear after the EOI", remote_irr(LINE_A), 0);
  ioapic_redir(LINE_A, REDIR_MASKED | V_MASKED, bsp_id);
  irq_no_eoi = 0;
}

/* ---- destinations and delivery modes (SDM Vol. 3 §11.6.2; 82093AA §3.2.4) --------------- */

/* One rising edge on LINE_B with the entry `low`, `dest`: how many interrupts reached `vector`. */
static u32 edge_to(u32 low, u32 dest, u32 vector) {
  u32 before = irq_count[vector];
  testdev_irq(LINE_B, 0);
  ioapic_redir(LINE_B, low, dest);
  testdev_irq(LINE_B, 1);
  irq_window();
  testdev_irq(LINE_B, 0);
  ioapic_redir(LINE_B, REDIR_MASKED, 0);
  return irq_count[vector] - before;
}

static volatile u32 nmi_count;
static int nmi_handler(struct frame *f) {
  (void)f;
  nmi_count++;
  return 1;
}

static void test_destinations(void) {
  irq_reset();
  irq_handle(V_DEST);
  irq_handle(V_LOWEST);
  check_eq("physical: destination = the BSP's APIC ID", edge_to(V_DEST, bsp_id, V_DEST), 1);
  check_eq("physical: a destination no APIC has gets nothing here", edge_to(V_DEST, bsp_id ^ 0x0f, V_DEST), 0);
  check_eq("physical: destination 0xFF is the broadcast", edge_to(V_DEST, 0xff, V_DEST), 1);

  /* Flat model (DFR = 0xFFFFFFFF): accepted when (MDA & logical ID) != 0. LDR = 0x01. */
  apic_write(APIC_DFR, 0xffffffffu);
  apic_write(APIC_LDR, 0x01000000u);
  check_eq("logical flat: MDA 0x01 matches logical ID 0x01", edge_to(REDIR_LOGICAL | V_DEST, 0x01, V_DEST), 1);
  check_eq("logical flat: MDA 0x02 does not match", edge_to(REDIR_LOGICAL | V_DEST, 0x02, V_DEST), 0);
  check_eq("logical flat: MDA 0x03 matches (any common bit)", edge_to(REDIR_LOGICAL | V_DEST, 0x03, V_DEST), 1);

  /* Cluster model (DFR bits 31:28 = 0): cluster in bits 7:4 must be equal, members share a bit. */
  apic_write(APIC_DFR, 0x0fffffffu);
  apic_write(APIC_LDR, 0x21000000u);
  check_eq("logical cluster: MDA 0x21 matches cluster 2 member 0", edge_to(REDIR_LOGICAL | V_DEST, 0x21, V_DEST), 1);
  check_eq("logical cluster: MDA 0x11 (cluster 1) does not match", edge_to(REDIR_LOGICAL | V_DEST, 0x11, V_DEST), 0);
  check_eq("logical cluster: MDA 0x22 (member 1) does not match", edge_to(REDIR_LOGICAL | V_DEST, 0x22, V_DEST), 0);
  apic_write(APIC_DFR, 0xffffffffu);
  apic_write(APIC_LDR, 0x01000000u);

  check_eq("lowest priority: logical MDA 0x01 reaches the BSP", edge_to(REDIR_LOWEST | REDIR_LOGICAL | V_LOWEST, 0x01, V_LOWEST), 1);
  check_eq("lowest priority: physical destination = the BSP", edge_to(REDIR_LOWEST | V_LOWEST, bsp_id, V_LOWEST), 1);

  /* Delivery mode NMI: vector 2 regardless of the vector field. */
  set_trap_handler(NMI_VECTOR, nmi_handler);
  nmi_count = 0;
  u32 before = irq_count[V_DEST];
  testdev_irq(LINE_B, 0);
  ioapic_redir(LINE_B, REDIR_NMI | V_DEST, bsp_id);
  testdev_irq(LINE_B, 1);
  irq_window();
  testdev_irq(LINE_B, 0);
  ioapic_redir(LINE_B, REDIR_MASKED, 0);
  check_eq("delivery mode NMI raises the NMI (vector 2), not the vector field", ((u64)nmi_count << 8) | (irq_count[V_DEST] - before), 0x100);
}

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  apic_setup_xapic(0x01);
  bsp_id = apic_read(APIC_ID) >> 24;
  test_registers();
  test_pit();
  test_edge();
  test_level();
  test_destinations();
  check_eq("nothing left in service at the end", apic_any(APIC_ISR), 0);
}
