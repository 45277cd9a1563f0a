/* @guest bits=32 cpu=max -- the TSS I/O permission bitmap at CPL 3 */
/*
 * SDM Vol. 1 §19.5 ("Protection and I/O"): with CPL > IOPL, IN, OUT, INS and OUTS check the
 * I/O permission bitmap at TSS + [0x66]; every bit of the access must be 0, the bitmap bytes
 * read must lie within the TSS limit (the processor reads two bytes), and a map base at or
 * past the limit means no bitmap. With CPL <= IOPL the bitmap is not consulted.
 *
 * The port under test is COM1's scratch register (0x3FF): a write that gets through can be
 * read back from CPL 0; 0x3FC-0x3FE (MCR, LSR, MSR) serve the wider accesses.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "iobitmap";

extern char kstack0_top[];
#define SEL_IO_TSS (16 << 3)
#define MAP_OFFSET 0x68 /* the bitmap right after the 104-byte TSS */
static struct PACKED {
  struct tss32 tss;
  u8 map[8192 + 1];
} io_tss ALIGNED(128);

static void use_tss(u32 limit, u16 map_base) {
  io_tss.tss.iomap = map_base;
  gdt_set(SEL_IO_TSS >> 3, seg_desc((u32)&io_tss, limit, ACC_P | ACC_TSS32, 0));
  load_tr(SEL_IO_TSS);
}
static void allow(u16 port) { io_tss.map[port / 8] &= (u8) ~(1u << (port % 8)); }
static void deny(u16 port) { io_tss.map[port / 8] |= (u8)(1u << (port % 8)); }

DECLARE_SITE(out_site);
static NOINLINE void user_out(void) { __asm__ volatile("mov $0x3ff, %%dx; mov $0xa5, %%al\n" SITE(out_site) "outb %%al, %%dx" ::: "eax", "edx", "memory"); }
DECLARE_SITE(inw_site);
static NOINLINE void user_inw(void) { __asm__ volatile("mov $0x3fe, %%dx\n" SITE(inw_site) "inw %%dx, %%ax" ::: "eax", "edx", "memory"); }
DECLARE_SITE(inl_site);
static NOINLINE void user_inl(void) { __asm__ volatile("mov $0x3fc, %%dx\n" SITE(inl_site) "inl %%dx, %%eax" ::: "eax", "edx", "memory"); }
DECLARE_SITE(in_imm_site);
static NOINLINE void user_in_imm(void) { __asm__ volatile(SITE(in_imm_site) "inb $0x80, %%al" ::: "eax", "memory"); }
static u8 outs_byte = 0x3c;
DECLARE_SITE(outs_site);
static NOINLINE void user_outs(void) {
  __asm__ volatile("mov $0x3ff, %%dx; mov %0, %%esi\n" SITE(outs_site) "outsb" : : "r"(&outs_byte) : "edx", "esi", "memory");
}

static u8 scr(void) { return inb(0x3ff); }

void test_main(void) {
  memset(&io_tss, 0, sizeof io_tss);
  io_tss.tss.ss0 = KDATA;
  io_tss.tss.esp0 = (u32)kstack0_top;
  memset(io_tss.map, 0xff, sizeof io_tss.map);
  u32 full_limit = sizeof io_tss - 1;
  use_tss(full_limit, MAP_OFFSET);

  outb(0x3ff, 0x00);
  allow(0x3ff);
  check_trap("OUT at CPL 3 (IOPL 0) to a port whose bit is 0", run_user(user_out, 0), NO_TRAP, 0, 0);
  check_eq("the permitted OUT reached the port", scr(), 0xa5);
  outb(0x3ff, 0x00);
  deny(0x3ff);
  check_trap("OUT at CPL 3 to a port whose bit is 1: #GP(0)", run_user(user_out, 0), GP_VECTOR, 0, (ulong)out_site);
  check_eq("the denied OUT did not reach the port", scr(), 0x00);

  allow(0x3fe);
  deny(0x3ff);
  check_trap("16-bit IN when the second port's bit is 1: #GP(0)", run_user(user_inw, 0), GP_VECTOR, 0, (ulong)inw_site);
  allow(0x3ff);
  check_trap("16-bit IN when both bits are 0", run_user(user_inw, 0), NO_TRAP, 0, 0);
  allow(0x3fc);
  allow(0x3fd);
  deny(0x3fd);
  check_trap("32-bit IN when one of the four bits is 1: #GP(0)", run_user(user_inl, 0), GP_VECTOR, 0, (ulong)inl_site);
  allow(0x3fd);
  check_trap("32-bit IN when all four bits are 0", run_user(user_inl, 0), NO_TRAP, 0, 0);
  check_trap("IN with an immediate port (0x80) whose bit is 1: #GP(0)", run_user(user_in_imm, 0), GP_VECTOR, 0, (ulong)in_imm_site);
  allow(0x80);
  check_trap("IN with an immediate port whose bit is 0", run_user(user_in_imm, 0), NO_TRAP, 0, 0);

  outb(0x3ff, 0x00);
  check_trap("OUTSB to a permitted port", run_user(user_outs, 0), NO_TRAP, 0, 0);
  check_eq("OUTSB reached the port", scr(), 0x3c);
  deny(0x3ff);
  check_trap("OUTSB to a denied port: #GP(0)", run_user(user_outs, 0), GP_VECTOR, 0, (ulong)outs_site);

  /* The limit: port 0x3FF's bit is in bitmap byte 0x7F, at TSS offset 0x68 + 0x7F = 0xE7. */
  allow(0x3ff);
  use_tss(MAP_OFFSET + 0x7f - 1, MAP_OFFSET);
  check_trap("a port whose bitmap byte is past the TSS limit: #GP(0)", run_user(user_out, 0), GP_VECTOR, 0, (ulong)out_site);
  use_tss(MAP_OFFSET + 0x7f, MAP_OFFSET);
  check_trap("the byte after the port's bitmap byte is past the limit (two bytes are read): #GP(0)", run_user(user_out, 0), GP_VECTOR, 0,
             (ulong)out_site);
  use_tss(MAP_OFFSET + 0x7f + 1, MAP_OFFSET);
  check_trap("both bytes within the limit: allowed", run_user(user_out, 0), NO_TRAP, 0, 0);
  use_tss(full_limit, (u16)(full_limit + 1));
  check_trap("a map base past the TSS limit means no bitmap: #GP(0)", run_user(user_out, 0), GP_VECTOR, 0, (ulong)out_site);
  use_tss(full_limit, MAP_OFFSET);

  deny(0x3ff);
  outb(0x3ff, 0x00);
  check_trap("CPL 3 with IOPL 3: the bitmap is not consulted", run_user(user_out, FL_IOPL(3)), NO_TRAP, 0, 0);
  check_eq("the IOPL-3 OUT reached the port", scr(), 0xa5);
  outb(0x3ff, 0x00);
  check_trap("CPL 0 ignores the bitmap", trap_catch(user_out), NO_TRAP, 0, 0);
  check_eq("the CPL-0 OUT reached the port", scr(), 0xa5);
  load_tr(TSS_SEL);
}
