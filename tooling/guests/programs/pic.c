/* @guest bits=32 machine=pc devices=pc-testdev timeout=20 -- the 8259A pair: initialisation, IMR/IRR/ISR, EOI, priorities, poll mode, ELCR */
/*
 * The two 8259A programmable interrupt controllers of the PC, after the Intel 8259A datasheet
 * ("8259A Programmable Interrupt Controller", sections "Interrupt Sequence", "Programming the
 * 8259A", "Initialization Command Words", "Operation Command Words", "The Special Mask Mode",
 * "Poll Command", "Reading the 8259A Status", "Cascade Mode") and the PIIX3 datasheet
 * (ELCR1/ELCR2, the edge/level control registers at 0x4D0/0x4D1).
 *
 * Interrupts come from three places: QEMU's pc-testdev, whose ports 0x2000 + n drive ISA IRQ
 * line n to the written level (hw/misc/pc-testdev.c), counter 0 of the 8254 (IRQ 0) and the
 * RTC's periodic interrupt (IRQ 8, through the slave on the master's IR2). The test lines are
 * IRQ 3, 5, 7 on the master and IRQ 10 on the slave: nothing else drives them here.
 *
 * Not checked: the spurious IR7 the datasheet describes for a request that goes away before
 * INTA. QEMU updates INTR synchronously with every line change, so it cannot happen there, and
 * an edge request that drops before it is acknowledged stays in QEMU's IRR, unlike the
 * datasheet's latch: no check looks at IRR after lowering an edge-triggered line.
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "pic";

static void raise_irq(int n) { outb(TESTDEV_IRQ(n), 1); }
static void lower_irq(int n) { outb(TESTDEV_IRQ(n), 0); }
static const int test_irqs[] = {3, 5, 7, 10};

/* Lowers every test line, delivers whatever is still pending on them, then masks everything. */
static void drain(void) {
  for (unsigned i = 0; i < ARRAY_SIZE(test_irqs); i++) lower_irq(test_irqs[i]);
  dev_pic_set_mask((u16) ~(BIT(2) | BIT(3) | BIT(5) | BIT(7) | BIT(10)));
  for (int i = 0; i < 32; i++) dev_irq_window();
  dev_pic_set_mask(0xffff);
  dev_pic_clear_isr();
  dev_irq_reset();
}

/* Waits (IF = 1) until `n` interrupts were logged or 100 ms passed. */
static int wait_logged(u32 n) {
  dev_sti();
  int ok = DEV_WAIT(dev_irq_logged >= n, 100);
  dev_cli();
  return ok;
}

/* Polls (OCW3 with P = 1, then a read) the master. */
static u8 poll_master(void) {
  outb(PIC1_CMD, 0x0c);
  return inb(PIC1_CMD);
}

/* ---- initialisation and the status registers ---------------------------------------------- */

static void test_init(void) {
  /* "Initialization Command Words": ICW1 clears the IMR; ICW1 also selects the IRR for reads. */
  dev_cli();
  outb(PIC1_CMD, 0x0b); /* OCW3: read ISR, to see ICW1 put it back to IRR */
  outb(PIC1_CMD, 0x11);
  outb(PIC2_CMD, 0x11);
  outb(PIC1_DATA, DEV_MASTER_BASE);
  outb(PIC2_DATA, DEV_SLAVE_BASE);
  outb(PIC1_DATA, 0x04);
  outb(PIC2_DATA, 0x02);
  outb(PIC1_DATA, 0x01);
  outb(PIC2_DATA, 0x01);
  check_eq("ICW1 clears the master IMR", inb(PIC1_DATA), 0x00);
  check_eq("ICW1 clears the slave IMR", inb(PIC2_DATA), 0x00);
  dev_pic_set_mask(0xffff);
  raise_irq(5);
  check_eq("after ICW1 a read of port 0x20 returns the IRR (IR5 requesting)", inb(PIC1_CMD) & BIT(5), BIT(5));
  lower_irq(5);
  drain();

  /* OCW1: the IMR reads back. */
  outb(PIC1_DATA, 0xa5);
  outb(PIC2_DATA, 0x5a);
  check_eq("master IMR reads back 0xA5", inb(PIC1_DATA), 0xa5);
  check_eq("slave IMR reads back 0x5A", inb(PIC2_DATA), 0x5a);
  dev_pic_set_mask(0xffff);

  /* "Interrupt Mask Register": a masked line still sets its IRR bit; OCW3 selects IRR or ISR. */
  raise_irq(5);
  check_eq("a masked request sets its IRR bit (OCW3 read IRR)", dev_pic_irr(0) & BIT(5), BIT(5));
  check_eq("a masked request is not in service (OCW3 read ISR)", dev_pic_isr(0) & BIT(5), 0);
  lower_irq(5);
  drain();

  /* "Cascade Mode": the slave's INT drives the master's IR2 only for an unmasked request. */
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0);
  raise_irq(10);
  check_eq("IRQ 10 sets bit 2 of the slave's IRR", dev_pic_irr(1) & BIT(2), BIT(2));
  check_eq("a masked slave request does not reach the master's IR2", dev_pic_irr(0) & BIT(2), 0);
  outb(PIC2_DATA, (u8)~BIT(2));
  check_eq("an unmasked slave request raises the master's IR2", dev_pic_irr(0) & BIT(2), BIT(2));
  lower_irq(10);
  drain();
}

/* ---- real interrupts ------------------------------------------------------------------------ */

static volatile u8 seen_isr_master, seen_isr_slave, seen_rtc_c;
static void hook_isr(int vector) {
  seen_isr_master = dev_pic_isr(0);
  seen_isr_slave = dev_pic_isr(1);
  int irq = dev_vector_irq(vector);
  if (irq >= 0) dev_pic_eoi(irq);
}

static void test_delivery(void) {
  /* "Interrupt Sequence" (8086 mode): the vector is ICW2's T7-T3 with the IR level. */
  drain();
  dev_irq_hooks[0x25] = hook_isr;
  dev_pic_unmask(5);
  raise_irq(5);
  wait_logged(1);
  dev_delay_ms(2);
  check_eq("IRQ 5 is delivered as vector 0x25", dev_irq_log[0], 0x25);
  check_eq("IRQ 5: its ISR bit is set in the handler", seen_isr_master, BIT(5));
  check_eq("IRQ 5: the EOI cleared the ISR", dev_pic_isr(0), 0);
  dev_sti();
  dev_delay_ms(2);
  dev_cli();
  check_eq("edge-triggered: a line held high interrupts once", dev_irq_count[0x25], 1);
  dev_irq_hooks[0x25] = 0;

  /* Through the cascade: master IR2, slave IR2, vector base 0x28. */
  drain();
  dev_irq_hooks[0x2a] = hook_isr;
  dev_pic_unmask(10);
  raise_irq(10);
  wait_logged(1);
  check_eq("IRQ 10 is delivered as vector 0x2A", dev_irq_log[0], 0x2a);
  check_eq("IRQ 10: master ISR shows IR2 (the cascade)", seen_isr_master, BIT(2));
  check_eq("IRQ 10: slave ISR shows IR2", seen_isr_slave, BIT(2));
  check_eq("IRQ 10: both EOIs cleared both ISRs", ((u32)dev_pic_isr(1) << 8) | dev_pic_isr(0), 0);
  dev_irq_hooks[0x2a] = 0;

  /* The master's IMR bit 2 holds back every slave request. */
  drain();
  outb(PIC2_DATA, (u8)~BIT(2));
  outb(PIC1_DATA, 0xff);
  raise_irq(10);
  dev_sti();
  dev_delay_ms(2);
  dev_cli();
  check_eq("IRQ 10 with master IR2 masked: no interrupt", dev_irq_logged, 0);
  outb(PIC1_DATA, (u8)~BIT(2));
  wait_logged(1);
  check_eq("IRQ 10 is delivered once master IR2 is unmasked", dev_irq_logged == 1 ? dev_irq_log[0] : 0, 0x2a);

  /* ICW2: another vector base; bits 2-0 of ICW2 are ignored in 8086 mode. */
  drain();
  dev_irq_install(0x30, 8);
  dev_pic_init(0x33, DEV_SLAVE_BASE, 0);
  dev_pic_unmask(5);
  raise_irq(5);
  wait_logged(1);
  check_eq("ICW2 = 0x33: IRQ 5 is delivered as vector 0x35", dev_irq_logged == 1 ? dev_irq_log[0] : 0, 0x35);
  drain();
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0);

  /* ICW4 AEOI: the IS bit is reset at the end of the INTA sequence. */
  drain();
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0x02);
  dev_irq_hooks[0x25] = hook_isr;
  seen_isr_master = 0xff;
  dev_pic_unmask(5);
  raise_irq(5);
  wait_logged(1);
  check_eq("ICW4 AEOI: IRQ 5 is delivered", dev_irq_logged == 1 ? dev_irq_log[0] : 0, 0x25);
  check_eq("ICW4 AEOI: no ISR bit in the handler", seen_isr_master & BIT(5), 0);
  dev_irq_hooks[0x25] = 0;
  drain();
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0);
}

static void hook_rtc(int vector) {
  seen_rtc_c = dev_cmos_read(0x0c);
  dev_pic_eoi(dev_vector_irq(vector));
}

static void test_timers(void) {
  /* IRQ 0 from counter 0 in mode 2 (rate generator), 1193 clocks = about 1 ms. */
  drain();
  outb(PIT_CTRL, 0x34);
  outb(PIT_CH0, (u8)PIT_TICKS_PER_MS);
  outb(PIT_CH0, (u8)(PIT_TICKS_PER_MS >> 8));
  dev_pic_unmask(0);
  wait_logged(3);
  dev_pic_set_mask(0xffff);
  dev_pit0_quiet();
  check_eq("PIT counter 0 (mode 2) interrupts on IRQ 0: vector 0x20", dev_irq_logged >= 3 ? dev_irq_log[0] : 0, 0x20);
  check_eq("IRQ 0 repeats: three interrupts, each one EOIed", dev_irq_logged >= 3 && dev_irq_log[1] == 0x20 && dev_irq_log[2] == 0x20, 1);
  drain();

  /* IRQ 8 from the RTC's periodic interrupt (register A rate 6, register B PIE). */
  dev_irq_hooks[0x28] = hook_rtc;
  dev_cmos_write(0x0a, 0x26);
  (void)dev_cmos_read(0x0c);
  dev_pic_unmask(8);
  dev_cmos_write(0x0b, (u8)((dev_cmos_read(0x0b) & 0x87) | 0x40));
  wait_logged(3);
  dev_rtc_quiet();
  dev_pic_set_mask(0xffff);
  check_eq("RTC periodic interrupt arrives through the slave as vector 0x28", dev_irq_logged >= 3 ? dev_irq_log[0] : 0, 0x28);
  check_eq("IRQ 8 repeats after register C is read and both PICs get an EOI", dev_irq_logged >= 3 && dev_irq_log[2] == 0x28, 1);
  check_eq("register C in the IRQ 8 handler: IRQF and PF", seen_rtc_c & 0xc0, 0xc0);
  dev_irq_hooks[0x28] = 0;
  drain();
}

/* ---- priorities ------------------------------------------------------------------------------ */

static u32 log_word(void) {
  u32 v = 0;
  for (u32 i = 0; i < dev_irq_logged && i < 4; i++) v = (v << 8) | dev_irq_log[i];
  return v;
}

static void test_priority(void) {
  /* Fully nested mode: IR0 highest, IR7 lowest; the slave ranks as IR2. */
  drain();
  dev_pic_set_mask((u16) ~(BIT(2) | BIT(3) | BIT(5) | BIT(7) | BIT(10)));
  raise_irq(7);
  raise_irq(5);
  raise_irq(3);
  raise_irq(10);
  wait_logged(4);
  check_eq("requests raised together are served by priority: IRQ 10 (IR2), 3, 5, 7", log_word(), 0x2a232527);

  /* OCW2 "set priority" (R = 1, SL = 1, L = 4): IR4 lowest, so IR5 highest. */
  drain();
  outb(PIC1_CMD, 0xc4);
  dev_pic_set_mask((u16) ~(BIT(3) | BIT(5) | BIT(7)));
  raise_irq(3);
  raise_irq(7);
  raise_irq(5);
  wait_logged(3);
  check_eq("OCW2 set priority with IR4 lowest: IRQ 5, 7, 3", log_word(), 0x252723);
  outb(PIC1_CMD, 0xc7);
  drain();
}

/* ---- poll mode, EOI variants and rotation (IF = 0 throughout) ------------------------------- */

static void test_poll(void) {
  drain();
  dev_pic_set_mask((u16) ~(BIT(3) | BIT(5)));
  check_eq("poll with no request: bit 7 (I) clear", poll_master() & 0x80, 0);
  raise_irq(3);
  raise_irq(5);
  check_eq("poll returns I = 1 and the highest level, IR3", poll_master(), 0x83);
  check_eq("the poll acknowledged IR3: ISR bit 3", dev_pic_isr(0), BIT(3));
  check_eq("the poll acknowledged IR3: IRR bit 3 cleared (edge)", dev_pic_irr(0) & (BIT(3) | BIT(5)), BIT(5));
  check_eq("poll while IR3 is in service: IR5 is held back", poll_master() & 0x80, 0);

  /* "The Special Mask Mode": with IR3 masked, its in-service bit no longer holds IR5 back. */
  outb(PIC1_CMD, 0x68);
  outb(PIC1_DATA, (u8) ~BIT(5));
  check_eq("special mask mode with IR3 masked: poll returns IR5", poll_master(), 0x85);
  check_eq("IR3 and IR5 both in service", dev_pic_isr(0), BIT(3) | BIT(5));
  outb(PIC1_CMD, 0x48);
  outb(PIC1_DATA, (u8) ~(BIT(3) | BIT(5)));

  /* OCW2: a non-specific EOI resets the highest-priority IS bit; a specific EOI names one. */
  outb(PIC1_CMD, 0x20);
  check_eq("non-specific EOI clears IR3, the highest in service", dev_pic_isr(0), BIT(5));
  outb(PIC1_CMD, 0x65);
  check_eq("specific EOI for IR5 clears it", dev_pic_isr(0), 0);

  /* Specific EOI of a level that is not the highest in service. */
  lower_irq(3);
  lower_irq(5);
  raise_irq(5);
  (void)poll_master();
  raise_irq(3);
  check_eq("a higher-priority request preempts: poll returns IR3 while IR5 is in service", poll_master(), 0x83);
  outb(PIC1_CMD, 0x65);
  check_eq("specific EOI for IR5 leaves IR3 in service", dev_pic_isr(0), BIT(3));
  outb(PIC1_CMD, 0x63);

  /* OCW2 rotate on non-specific EOI: the level just served becomes the lowest. */
  lower_irq(3);
  lower_irq(5);
  raise_irq(3);
  raise_irq(5);
  check_eq("rotation: first poll returns IR3", poll_master(), 0x83);
  outb(PIC1_CMD, 0xa0);
  check_eq("rotate on non-specific EOI clears IR3", dev_pic_isr(0), 0);
  lower_irq(3);
  raise_irq(3);
  check_eq("after the rotation IR5 is served before IR3", poll_master(), 0x85);
  outb(PIC1_CMD, 0x20);
  check_eq("IR3 (now lowest) comes last", poll_master(), 0x83);
  outb(PIC1_CMD, 0x20);

  /* OCW2 rotate on specific EOI (R = 1, SL = 1, EOI = 1, L = 5). */
  lower_irq(3);
  lower_irq(5);
  outb(PIC1_CMD, 0xc7);
  raise_irq(5);
  check_eq("poll returns IR5", poll_master(), 0x85);
  outb(PIC1_CMD, 0xe5);
  check_eq("rotate on specific EOI for IR5 clears it", dev_pic_isr(0), 0);
  raise_irq(3);
  lower_irq(5);
  raise_irq(5);
  outb(PIC1_CMD, 0x0c);
  u8 first = inb(PIC1_CMD);
  outb(PIC1_CMD, 0x20);
  u8 second = poll_master();
  outb(PIC1_CMD, 0x20);
  check_eq("with IR5 lowest, IR3 is polled before IR5", ((u32)first << 8) | second, 0x8385);
  outb(PIC1_CMD, 0xc7);
  drain();
}

/* ---- level triggering through the ELCR (PIIX3 datasheet, ELCR1/ELCR2) ------------------------ */

static volatile int level_lowered;
static void hook_level(int vector) {
  if (dev_irq_count[vector] >= 3 && !level_lowered) {
    level_lowered = 1;
    lower_irq(5);
  }
  dev_pic_eoi(5);
}

static void test_elcr(void) {
  drain();
  outb(ELCR1, 0xff);
  outb(ELCR2, 0xff);
  check_eq("ELCR1: IRQ 0, 1 and 2 cannot be level-triggered (reads 0xF8)", inb(ELCR1), 0xf8);
  check_eq("ELCR2: IRQ 8 and 13 cannot be level-triggered (reads 0xDE)", inb(ELCR2), 0xde);
  outb(ELCR1, 0);
  outb(ELCR2, 0);
  check_eq("ELCR1/ELCR2 read back 0", ((u32)inb(ELCR2) << 8) | inb(ELCR1), 0);

  /* Level mode: the IRR follows the line, and a request still high after EOI interrupts again. */
  outb(ELCR1, BIT(5));
  raise_irq(5);
  check_eq("level-triggered IR5: IRR set while the line is high", dev_pic_irr(0) & BIT(5), BIT(5));
  lower_irq(5);
  check_eq("level-triggered IR5: IRR clear once the line is low", dev_pic_irr(0) & BIT(5), 0);
  level_lowered = 0;
  dev_irq_hooks[0x25] = hook_level;
  dev_pic_unmask(5);
  raise_irq(5);
  wait_logged(3);
  dev_sti();
  dev_delay_ms(2);
  dev_cli();
  check_eq("level-triggered IR5 interrupts again after each EOI until the line drops (3 times)", dev_irq_count[0x25], 3);
  dev_irq_hooks[0x25] = 0;
  outb(ELCR1, 0);
  drain();
}

void test_main(void) {
  dev_pc_init();
  test_init();
  test_delivery();
  test_timers();
  test_priority();
  test_poll();
  test_elcr();
  dev_pic_init(DEV_MASTER_BASE, DEV_SLAVE_BASE, 0);
}
