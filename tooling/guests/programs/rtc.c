/* @guest bits=32 machine=pc timeout=20 -- the MC146818A RTC and CMOS: registers A-D, BCD/binary, 12/24 h, SET, divider reset, UIP, update/alarm/periodic interrupts, memory-size bytes */
/*
 * The PC's real-time clock after the Motorola MC146818A datasheet ("Address Map", "Time,
 * Calendar and Alarm Locations" with Table 3 "Time, Calendar and Alarm Data Modes",
 * "Register A" (UIP, DV2-DV0, RS3-RS0 with Table 5 "Periodic Interrupt Rate"), "Register B"
 * (SET, PIE, AIE, UIE, DM, 24/12), "Register C" (IRQF, PF, AF, UF), "Register D" (VRT),
 * "Update Cycle", "Interrupts"), behind ports 0x70/0x71 whose index port's bit 7 masks the
 * NMI (IBM PC/AT Technical Reference, "CMOS RAM"; PIIX3 datasheet, RTC index and data registers). The
 * memory-size bytes follow the IBM PC/AT CMOS map (0x15/0x16 base memory in KiB, 0x17/0x18
 * and 0x30/0x31 extended memory in KiB, 0x34/0x35 memory above 16 MiB in 64 KiB units, the
 * last as QEMU and Bochs BIOSes define it) and are compared with fw_cfg's RAM size and the
 * Multiboot information.
 *
 * The time is always set by the program (SET, or the divider held in reset) before it is
 * checked, so nothing depends on the host's clock. Rates are compared with each other and
 * with lower bounds in PIT counter-2 clocks, never with host speed. QEMU 7.2 sets PF only
 * while PIE is set (the datasheet sets it at the selected rate whatever PIE is), so the
 * update-cycle checks run with the rate selector at 0 (no periodic flag at all).
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "rtc";

enum { SEC = 0x00, SEC_ALARM = 0x01, MIN = 0x02, MIN_ALARM = 0x03, HOUR = 0x04, HOUR_ALARM = 0x05, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d };
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

static u8 rd(u8 i) { return dev_cmos_read(i); }
static void wr(u8 i, u8 v) { dev_cmos_write(i, v); }
static u32 hms(void) {
  u32 h = rd(HOUR), m = rd(MIN), s = rd(SEC);
  return (h << 16) | (m << 8) | s;
}
/*
 * Writes every time and calendar register (and QEMU's century byte 0x32, plain CMOS RAM on
 * the MC146818A) in the current data mode: after a change of DM or 24/12 the datasheet
 * requires all of them to be rewritten. Saturday 15 June 2024; `bin` selects binary values.
 */
static void set_clock(int bin, u8 hour, u8 min, u8 sec) {
  wr(SEC, sec);
  wr(MIN, min);
  wr(HOUR, hour);
  wr(0x06, 7);
  wr(0x07, bin ? 15 : 0x15);
  wr(0x08, 6);
  wr(0x09, bin ? 24 : 0x24);
  wr(0x32, bin ? 20 : 0x20);
}

/* ---- registers, the NMI bit, CMOS RAM ---------------------------------------------------------- */

static void test_registers(void) {
  check_eq("register D: VRT = 1, bits 6-0 read 0", rd(REG_D), 0x80);
  wr(REG_A, 0x26);
  check_eq("register A: DV = 010, RS = 0110 read back (bits 6-0)", rd(REG_A) & 0x7f, 0x26);
  wr(REG_B, B_24H);
  check_eq("register B reads back 0x02", rd(REG_B), B_24H);
  wr(REG_B, B_SET | B_UIE | B_24H);
  check_eq("register B: setting SET clears UIE", rd(REG_B), B_SET | B_24H);
  wr(REG_B, B_24H);
  wr(REG_D, 0x00);
  check_eq("register D is read-only", rd(REG_D), 0x80);

  /* Port 0x70 bit 7 is the NMI mask, not part of the index. */
  outb(CMOS_INDEX, REG_D);
  u8 plain = inb(CMOS_DATA);
  outb(CMOS_INDEX, 0x80 | REG_D);
  u8 masked = inb(CMOS_DATA);
  check_eq("index 0x0D and 0x8D select the same register (bit 7 masks NMI)", ((u32)plain << 8) | masked, 0x8080);
  u8 saved = rd(0x7e);
  outb(CMOS_INDEX, 0x80 | 0x7e);
  outb(CMOS_DATA, 0x5a);
  outb(CMOS_INDEX, 0x7e);
  u8 a = inb(CMOS_DATA);
  outb(CMOS_INDEX, 0x80);
  wr(0x7e, 0xa5);
  u8 b = rd(0x7e);
  wr(0x7e, saved);
  check_eq("CMOS RAM byte 0x7E: written through index 0xFE, read through 0x7E", a, 0x5a);
  check_eq("CMOS RAM byte 0x7E reads back 0xA5", b, 0xa5);
}

/* ---- data modes (Table 3) --------------------------------------------------------------------- */

static void test_formats(void) {
  /* With SET = 1 the time is not updated: what is written reads back. */
  wr(REG_B, B_SET | B_DM | B_24H);
  set_clock(1, 23, 59, 10);
  check_eq("SET = 1, binary 24 h: 23:59:10 written as 0x17 0x3B 0x0A reads back", hms(), 0x173b0a);
  wr(REG_B, B_DM | B_24H);
  u32 t = hms();
  check_eq("binary 24 h after SET is cleared: hours and minutes 0x17 0x3B", t >> 8, 0x173b);
  check_eq("binary 24 h: seconds 0x0A or 0x0B", (t & 0xff) == 0x0a || (t & 0xff) == 0x0b, 1);

  wr(REG_B, B_SET | B_24H);
  set_clock(0, 0x23, 0x59, 0x10);
  wr(REG_B, B_24H);
  t = hms();
  check_eq("BCD 24 h: hours and minutes 0x23 0x59", t >> 8, 0x2359);
  check_eq("BCD 24 h: seconds 0x10 or 0x11", (t & 0xff) == 0x10 || (t & 0xff) == 0x11, 1);

  wr(REG_B, B_SET);
  set_clock(0, 0x81, 0x30, 0x00);
  wr(REG_B, 0);
  check_eq("BCD 12 h: 1 PM is 0x81 (bit 7 = PM)", rd(HOUR), 0x81);
  wr(REG_B, B_SET | B_DM);
  set_clock(1, 0x8b, 30, 0);
  wr(REG_B, B_DM);
  check_eq("binary 12 h: 11 PM is 0x8B", rd(HOUR), 0x8b);
  wr(REG_B, B_SET | B_24H);
  set_clock(0, 0x12, 0x00, 0x00);
  wr(REG_B, B_24H);
}

/* ---- periodic interrupt (Register A RS3-RS0, Table 5) ----------------------------------------- */

static volatile u8 periodic_c_and, periodic_c_or;
static void hook_rtc_periodic(int vector) {
  u8 c = rd(REG_C);
  periodic_c_and &= c;
  periodic_c_or |= c;
  dev_pic_eoi(dev_vector_irq(vector));
}

/*
 * Counter-2 clocks between a periodic interrupt and the n-th after it with rate selector `rs`.
 * The CPU halts between interrupts; counter 0 interrupts at 100 Hz so the stopwatch is
 * sampled often enough and a missing RTC interrupt ends the measurement after 1 s (returns 0).
 */
static u32 periodic_ticks(u8 rs, u32 n) {
  wr(REG_A, (u8)(0x20 | rs));
  (void)rd(REG_C);
  outb(PIT_CTRL, 0x34);
  outb(PIT_CH0, (u8)11932);
  outb(PIT_CH0, (u8)(11932 >> 8));
  dev_irq_reset();
  dev_sw_start();
  dev_pic_set_mask((u16) ~(BIT(0) | BIT(2) | BIT(8)));
  wr(REG_B, B_PIE | B_24H);
  u32 start = 0;
  int started = 0;
  while (dev_sw_sample() < PIT_HZ) {
    u32 before = dev_irq_count[0x28];
    __asm__ volatile("sti; hlt; cli" ::: "memory");
    u32 now = dev_sw_sample();
    if (!started && dev_irq_count[0x28] != before) {
      started = 1;
      start = now;
      dev_irq_count[0x28] = 0;
    } else if (started && dev_irq_count[0x28] >= n) {
      break;
    }
  }
  wr(REG_B, B_24H);
  dev_pic_set_mask(0xffff);
  dev_pit0_quiet();
  return started && dev_irq_count[0x28] >= n ? dev_sw_elapsed - start : 0;
}

static void test_periodic(void) {
  dev_irq_hooks[0x28] = hook_rtc_periodic;
  periodic_c_and = 0xff;
  periodic_c_or = 0;
  u32 r7 = periodic_ticks(7, 4);   /* 1.953125 ms */
  u32 r11 = periodic_ticks(11, 4); /* 31.25 ms */
  u32 r9 = periodic_ticks(9, 4);   /* 7.8125 ms */
  u32 r2 = periodic_ticks(2, 4);   /* 7.8125 ms too: with a 32.768 kHz time base RS = 0010 is 128 Hz */
  dev_irq_hooks[0x28] = 0;
  info("4 periodic interrupts in counter-2 clocks: rate 7: %u, rate 11: %u, rate 9: %u, rate 2: %u", r7, r11, r9, r2);
  check_eq("periodic interrupts arrive on IRQ 8 at rate 7, 11, 9 and 2", r7 && r11 && r9 && r2, 1);
  check_eq("register C in every periodic interrupt: IRQF and PF set", periodic_c_and & (C_IRQF | C_PF), C_IRQF | C_PF);
  check_eq("rate 11 (32 Hz) is more than 3 times slower than rate 7 (512 Hz)", r11 > 3 * r7, 1);
  /* 2.5 rather than 4: a host that stalls the guest past one 55 ms turn of counter 2 loses a turn. */
  check_eq("4 periods at rate 11 take at least 2.5 * 31.25 ms of counter-2 clocks", 2 * r11 >= 5u * 37287u, 1);
  check_eq("rate 2 is 128 Hz like rate 9, not faster (more than a third of rate 9's time)", 3 * r2 > r9, 1);
  check_eq("4 periods at rate 2 take at least 3.5 * 7.8125 ms of counter-2 clocks", 2 * r2 >= 7u * 9322u, 1);

  /* With PIE clear there is no interrupt, and register C reads 0 twice (a read clears it). */
  wr(REG_A, 0x20);
  wr(REG_B, B_24H);
  (void)rd(REG_C);
  check_eq("register C reads 0 after a read with every interrupt off", rd(REG_C) & (C_IRQF | C_PF), 0);
}

/* ---- divider reset, update cycle, alarm ---------------------------------------------------------- */

static volatile u8 update_c;
static volatile u32 update_time, update_at;
static void hook_rtc_update(int vector) {
  update_at = dev_sw_sample();
  update_c = rd(REG_C);
  update_time = hms();
  dev_pic_eoi(dev_vector_irq(vector));
}

static void test_update(void) {
  /* Hold the divider chain in reset (DV = 110) while setting 12:59:59 PM in 12 h BCD. */
  wr(REG_A, 0x60);
  wr(REG_B, 0);
  set_clock(0, 0x92, 0x59, 0x59);
  wr(HOUR_ALARM, 0xff); /* "don't care" codes (11xxxxxx): the alarm fires every second */
  wr(MIN_ALARM, 0xff);
  wr(SEC_ALARM, 0xff);
  (void)rd(REG_C);
  check_eq("divider in reset: the time does not advance", hms(), 0x925959);
  check_eq("divider in reset: register C reads 0", rd(REG_C), 0);

  /* UIE on; release the divider: the first update comes 500 ms later. */
  dev_irq_hooks[0x28] = hook_rtc_update;
  dev_irq_reset();
  update_at = 0;
  wr(REG_B, B_UIE);
  dev_pic_set_mask((u16) ~(BIT(2) | BIT(8)));
  dev_sw_start();
  wr(REG_A, 0x20);
  u32 uip_at = 0;
  int uip_seen = 0, uip_after = 0;
  dev_sti();
  while (dev_irq_count[0x28] == 0 && dev_sw_sample() < 2 * PIT_HZ) {
    if (rd(REG_A) & 0x80) {
      if (!uip_seen) uip_at = dev_sw_elapsed;
      uip_seen = 1;
    }
  }
  dev_cli();
  uip_after = rd(REG_A) >> 7;
  u32 ms = update_at / PIT_TICKS_PER_MS, uip_ms = uip_at / PIT_TICKS_PER_MS;
  if (uip_seen) info("first update %u ms after the divider left reset; UIP first seen at %u ms", ms, uip_ms);
  else info("first update %u ms after the divider left reset; UIP not seen before it", ms);
  check_eq("update-ended interrupt arrives on IRQ 8 (vector 0x28)", dev_irq_logged >= 1 ? dev_irq_log[0] : 0, 0x28);
  check_eq("the first update comes about 500 ms after the divider leaves reset (300-800 ms)", ms >= 300 && ms <= 800, 1);
  check_eq("UIP is clear after the update", uip_after, 0);
  check_eq("register C at the update: IRQF, AF (don't-care alarm) and UF; PF clear (rate 0)", update_c, C_IRQF | C_AF | C_UF);
  check_eq("12 h BCD: 12:59:59 PM becomes 01:00:00 PM (0x81 0x00 0x00)", update_time, 0x810000);

  /* Without enables, the next update sets UF and AF but not IRQF, and raises no interrupt. */
  wr(REG_B, 0);
  dev_irq_reset();
  dev_sti();
  /* Polls UIP too: its 244 us window is easy to miss on a busy host, so both updates count. */
  (void)DEV_WAIT((uip_seen |= rd(REG_A) >> 7, rd(SEC) != 0x00), 1500);
  /* The update cycle ends (UF is set) when UIP falls. */
  (void)DEV_WAIT(!(rd(REG_A) & 0x80), 100);
  dev_delay_ms(1);
  dev_cli();
  u8 c = rd(REG_C), sec = rd(SEC);
  /* A busy host may let the vCPU miss UIP's 244 us window twice: give it up to 3 more updates. */
  if (!uip_seen) uip_seen = DEV_WAIT(rd(REG_A) & 0x80, 3000);
  check_eq("UIP was seen set while waiting for the updates", uip_seen, 1);
  check_eq("the next second: seconds read 0x01", sec, 0x01);
  check_eq("update with every interrupt disabled: register C = UF | AF, no IRQF", c, C_AF | C_UF);
  check_eq("no IRQ 8 without an enabled flag", dev_irq_count[0x28], 0);
  dev_irq_hooks[0x28] = 0;
  dev_pic_set_mask(0xffff);
  wr(REG_A, 0x26);
  wr(REG_B, B_24H);
}

/* ---- memory size (IBM PC/AT CMOS map) ------------------------------------------------------------- */

static void test_memory(void) {
  const struct dev_multiboot_info *mbi = dev_mbi();
  u32 base = rd(0x15) | ((u32)rd(0x16) << 8);
  u32 ext = rd(0x17) | ((u32)rd(0x18) << 8);
  u32 ext2 = rd(0x30) | ((u32)rd(0x31) << 8);
  u32 high = rd(0x34) | ((u32)rd(0x35) << 8);
  info("CMOS: base %u KiB, extended %u/%u KiB, above 16 MiB %u * 64 KiB", base, ext, ext2, high);
  u64 ram = dev_fwcfg_present() ? dev_fwcfg_le(0x0003, 8) : 0;
  if (mbi && (mbi->flags & 1)) info("Multiboot: mem_lower %u KiB, mem_upper %u KiB", mbi->mem_lower, mbi->mem_upper);
  info("fw_cfg RAM size: %llu bytes", (unsigned long long)ram);
  check_eq("CMOS 0x15/0x16: 640 KiB of base memory", base, 640);
  /*
   * Multiboot's mem_lower/mem_upper come from the firmware's memory map, which may reserve
   * the top of each area (SeaBIOS keeps an EBDA below 640 KiB and tables below the top of
   * RAM); the CMOS bytes give the installed sizes. So the CMOS values are at least the
   * Multiboot ones and no more than 1 MiB (128 KiB below 640 KiB) larger.
   */
  if (mbi && (mbi->flags & 1)) {
    check_eq("CMOS 0x15/0x16 covers Multiboot mem_lower (at most 128 KiB more)", base >= mbi->mem_lower && base - mbi->mem_lower <= 128, 1);
    u32 upper = mbi->mem_upper > 0xffff ? 0xffff : mbi->mem_upper;
    check_eq("CMOS 0x17/0x18 covers Multiboot mem_upper (at most 1 MiB more)", ext >= upper && ext - upper <= 1024, 1);
  } else {
    skip("CMOS 0x15/0x16 covers Multiboot mem_lower (at most 128 KiB more)", "no Multiboot memory information");
    skip("CMOS 0x17/0x18 covers Multiboot mem_upper (at most 1 MiB more)", "no Multiboot memory information");
  }
  check_eq("CMOS 0x30/0x31 equals 0x17/0x18", ext2, ext);
  if (ram) {
    u64 above = ram > (16u << 20) ? (ram - (16u << 20)) >> 16 : 0;
    check_eq("CMOS 0x34/0x35: RAM above 16 MiB in 64 KiB units agrees with fw_cfg RAM_SIZE", high, above > 0xffff ? 0xffff : above);
    check_eq("CMOS 0x17/0x18 agrees with fw_cfg RAM_SIZE (KiB above 1 MiB)", ext, ((ram >> 10) - 1024) > 0xffff ? 0xffff : (ram >> 10) - 1024);
  } else {
    skip("CMOS 0x34/0x35: RAM above 16 MiB in 64 KiB units agrees with fw_cfg RAM_SIZE", "no fw_cfg");
    skip("CMOS 0x17/0x18 agrees with fw_cfg RAM_SIZE (KiB above 1 MiB)", "no fw_cfg");
  }
}

void test_main(void) {
  dev_pc_init();
  test_registers();
  test_formats();
  test_periodic();
  test_update();
  test_memory();
}
