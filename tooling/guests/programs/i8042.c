/* @guest bits=32 machine=pc timeout=20 -- the 8042 keyboard controller: self-tests, command byte, output port and A20, port 0x92, keyboard commands, IRQ 1 */
/*
 * The PC/AT keyboard controller after the IBM "Personal Computer AT Technical Reference"
 * ("Keyboard Controller": status register, commands 0x20/0x60 (command byte), 0xAA (self
 * test), 0xAB (interface test), 0xAD/0xAE, 0xC0, 0xD0/0xD1 (output port: bit 0 system reset,
 * bit 1 gate A20), 0xD2/0xD3 (PS/2: write output buffer) and the PS/2 auxiliary-port commands
 * 0xA7/0xA8/0xA9; "Keyboard": commands 0xEE echo, 0xF2 identify, 0xF4/0xF5, 0xFF reset with
 * BAT 0xAA) and the PIIX3 datasheet, "Port 92h" (bit 1 fast A20, bit 0 fast reset).
 *
 * A20: on the PIIX3 the CPU's A20M# is asserted only while both the keyboard controller's
 * A20 gate and port 0x92 bit 1 are 0. QEMU instead lets the last write to either one decide,
 * so the checks only look at states where both models agree (both gates off; one on and the
 * other off after both were off). The code that runs with A20 off lives in .lowmem below
 * 1 MiB, with its stack and results there too, because with bit 20 forced to 0 nothing at
 * 1 MiB and above is reachable.
 *
 * The keyboard checks run with the command byte's translation bit off, so what the keyboard
 * sends reaches port 0x60 unchanged.
 */
#include "guest.h"
#include "dev_pc.h"

const char test_name[] = "i8042";

#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_INH 0x10
#define ST_AUX 0x20

static int wait_ibf_clear(void) {
  for (int i = 0; i < 100000; i++)
    if (!(inb(KBC_STATUS) & ST_IBF)) return 1;
  return 0;
}
static void kbc_cmd(u8 c) {
  wait_ibf_clear();
  outb(KBC_STATUS, c);
}
static void kbc_data(u8 d) {
  wait_ibf_clear();
  outb(KBC_DATA, d);
}
/* The next byte of the output buffer, or -1 when nothing arrives within 50 ms. */
static int kbc_read(void) {
  if (!DEV_WAIT(inb(KBC_STATUS) & ST_OBF, 50)) return -1;
  return inb(KBC_DATA);
}
static void flush(void) {
  for (int i = 0; i < 64 && (inb(KBC_STATUS) & ST_OBF); i++) {
    (void)inb(KBC_DATA);
    dev_delay_ms(1);
  }
}
static int command_byte(void) {
  kbc_cmd(0x20);
  return kbc_read();
}
static void set_command_byte(u8 v) {
  kbc_cmd(0x60);
  kbc_data(v);
}

/* ---- controller commands -------------------------------------------------------------------- */

static void test_controller(void) {
  flush();
  u8 st = inb(KBC_STATUS);
  check_eq("status: output buffer empty after draining it", st & ST_OBF, 0);
  check_eq("status: input buffer empty (IBF = 0)", st & ST_IBF, 0);
  check_eq("status: no timeout or parity error (bits 7-6)", st & 0xc0, 0);
  check_eq("status: keyboard not inhibited (bit 4)", st & ST_INH, ST_INH);

  kbc_cmd(0xaa);
  check_eq("0xAA controller self-test answers 0x55", (u32)kbc_read(), 0x55);
  check_eq("status: system flag set after the self-test", inb(KBC_STATUS) & ST_SYS, ST_SYS);
  kbc_cmd(0xab);
  check_eq("0xAB keyboard interface test answers 0x00", (u32)kbc_read(), 0x00);
  kbc_cmd(0xa9);
  check_eq("0xA9 auxiliary interface test answers 0x00", (u32)kbc_read(), 0x00);

  /* Command byte (0x20 read, 0x60 write). */
  set_command_byte(0x74);
  kbc_cmd(0x20);
  (void)DEV_WAIT(inb(KBC_STATUS) & ST_OBF, 50);
  check_eq("status: OBF set while the command byte waits in the output buffer", inb(KBC_STATUS) & (ST_OBF | ST_AUX), ST_OBF);
  check_eq("command byte 0x74 (both ports disabled, system flag, translation) reads back", inb(KBC_DATA), 0x74);
  check_eq("status: OBF clear once port 0x60 was read", inb(KBC_STATUS) & ST_OBF, 0);
  set_command_byte(0x04);
  check_eq("command byte 0x04 reads back", (u32)command_byte(), 0x04);
  kbc_cmd(0xad);
  check_eq("0xAD disables the keyboard: command byte bit 4 set", (u32)command_byte(), 0x14);
  kbc_cmd(0xae);
  check_eq("0xAE enables it again: bit 4 clear", (u32)command_byte(), 0x04);
  kbc_cmd(0xa7);
  check_eq("0xA7 disables the auxiliary port: command byte bit 5 set", (u32)command_byte(), 0x24);
  kbc_cmd(0xa8);
  check_eq("0xA8 enables it again: bit 5 clear", (u32)command_byte(), 0x04);

  /* 0xD2/0xD3 put a byte into the output buffer as if it came from the keyboard / aux device. */
  kbc_cmd(0xd2);
  kbc_data(0x5a);
  (void)DEV_WAIT(inb(KBC_STATUS) & ST_OBF, 50);
  check_eq("0xD2: the byte is in the output buffer, from the keyboard (bit 5 clear)", inb(KBC_STATUS) & (ST_OBF | ST_AUX), ST_OBF);
  check_eq("0xD2: port 0x60 returns the byte written", inb(KBC_DATA), 0x5a);
  kbc_cmd(0xd3);
  kbc_data(0xa5);
  (void)DEV_WAIT(inb(KBC_STATUS) & ST_OBF, 50);
  check_eq("0xD3: the byte is in the output buffer, from the aux device (bit 5 set)", inb(KBC_STATUS) & (ST_OBF | ST_AUX), ST_OBF | ST_AUX);
  check_eq("0xD3: port 0x60 returns the byte written", inb(KBC_DATA), 0xa5);
}

/* ---- output port and A20 -------------------------------------------------------------------- */

/*
 * void a20_probe(u32 *results): with A20 first on, reads the word at 3 MiB (which holds
 * 0x22222222; 2 MiB holds 0x11111111) in four gate states. A read at 3 MiB returns the word
 * at 2 MiB exactly when A20 is masked. States: (0) port 0x92 = 0 and the KBC gate off
 * (0xD1 with 0xDD); (1) KBC gate on (0xDF); (2) KBC gate off again; (3) port 0x92 bit 1 on.
 * The KBC is driven with 0xD1 and its data byte, waiting for IBF = 0 around each; in states
 * 0 and 1 the output port is read back with 0xD0 (results 5 and 6); result 4 is port 0x92.
 */
__asm__(
    ".section .lowmem, \"awx\"\n"
    ".code32\n"
    "kbc_wait:\n"
    "  mov $1000000, %ecx\n"
    "1: in $0x64, %al\n"
    "  test $2, %al\n"
    "  jz 2f\n"
    "  loop 1b\n"
    "2: ret\n"
    "kbc_read_outport:\n" /* 0xD0, then the byte from port 0x60 in %eax (or 0xFFFFFFFF) */
    "  call kbc_wait\n"
    "  mov $0xd0, %al\n"
    "  out %al, $0x64\n"
    "  mov $1000000, %ecx\n"
    "1: in $0x64, %al\n"
    "  test $1, %al\n"
    "  jnz 2f\n"
    "  loop 1b\n"
    "  mov $-1, %eax\n"
    "  ret\n"
    "2: in $0x60, %al\n"
    "  movzbl %al, %eax\n"
    "  ret\n"
    "kbc_outport:\n" /* %bl = value for 0xD1 */
    "  call kbc_wait\n"
    "  mov $0xd1, %al\n"
    "  out %al, $0x64\n"
    "  call kbc_wait\n"
    "  mov %bl, %al\n"
    "  out %al, $0x60\n"
    "  call kbc_wait\n"
    "  ret\n"
    ".global a20_probe\n"
    "a20_probe:\n"
    "  push %ebp\n"
    "  push %ebx\n"
    "  push %esi\n"
    "  push %edi\n"
    "  mov %esp, a20_saved_esp\n"
    "  mov $0x6f00, %esp\n"
    "  mov $0x300000, %esi\n"
    "  in $0x92, %al\n" /* state 0: port 0x92 bit 1 = 0, KBC gate off */
    "  and $0xfc, %al\n"
    "  out %al, $0x92\n"
    "  mov $0xdd, %bl\n"
    "  call kbc_outport\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, a20_low_results + 0\n"
    "  call kbc_read_outport\n"
    "  mov %eax, a20_low_results + 20\n"
    "  mov $0xdf, %bl\n" /* state 1: KBC gate on */
    "  call kbc_outport\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, a20_low_results + 4\n"
    "  call kbc_read_outport\n"
    "  mov %eax, a20_low_results + 24\n"
    "  mov $0xdd, %bl\n" /* state 2: KBC gate off */
    "  call kbc_outport\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, a20_low_results + 8\n"
    "  in $0x92, %al\n" /* state 3: port 0x92 bit 1 = 1 */
    "  and $0xfe, %al\n"
    "  or $0x02, %al\n"
    "  out %al, $0x92\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, a20_low_results + 12\n"
    "  in $0x92, %al\n"
    "  movzbl %al, %eax\n"
    "  mov %eax, a20_low_results + 16\n"
    "  mov $0xdf, %bl\n" /* both on again */
    "  call kbc_outport\n"
    "  mov a20_saved_esp, %esp\n"
    "  pop %edi\n"
    "  pop %esi\n"
    "  pop %ebx\n"
    "  pop %ebp\n"
    "  ret\n"
    ".align 4\n"
    ".global a20_low_results\n"
    "a20_low_results: .fill 7, 4, 0\n"
    "a20_saved_esp: .long 0\n"
    ".text\n");
void a20_probe(void);
extern volatile u32 a20_low_results[7];
extern char __end[];

static int outport(void) {
  kbc_cmd(0xd0);
  return kbc_read();
}

static void test_outport(void) {
  flush();
  int op = outport();
  info("output port 0x%02x, port 0x92 0x%02x", op, inb(0x92));
  /* Which gate firmware used to open A20 is its choice: only the reset bits are checked here. */
  check_eq("0xD0 output port: bit 0 (system reset inactive) set", (u32)op & 1, 1);
  check_eq("port 0x92: bit 0 (fast reset) reads 0", inb(0x92) & 1, 0);

  if ((ulong)__end > 0x200000) panic("the program ends at %p, past the 2 MiB A20 probe", (void *)__end);
  *(volatile u32 *)0x200000 = 0x11111111;
  *(volatile u32 *)0x300000 = 0x22222222;
  a20_probe();
  check_eq("A20 off (port 0x92 bit 1 = 0, KBC gate 0xDD): 3 MiB reads the word at 2 MiB", a20_low_results[0], 0x11111111);
  check_eq("KBC gate on (0xD1 0xDF), port 0x92 bit 1 = 0: 3 MiB is its own memory", a20_low_results[1], 0x22222222);
  check_eq("both gates off again: 3 MiB aliases 2 MiB", a20_low_results[2], 0x11111111);
  check_eq("port 0x92 bit 1 = 1, KBC gate off: 3 MiB is its own memory", a20_low_results[3], 0x22222222);
  check_eq("port 0x92 reads back bit 1 set and bit 0 (fast reset) clear", a20_low_results[4] & 3, 2);
  check_eq("0xD1 0xDD: the output port reads back bit 1 (A20) clear, bit 0 set", a20_low_results[5] & 3, 1);
  check_eq("0xD1 0xDF: the output port reads back bits 1 and 0 set", a20_low_results[6] & 3, 3);
  check_eq("A20 on at the end: 3 MiB holds its own word", *(volatile u32 *)0x300000, 0x22222222);
  check_eq("the output port shows the gate back on", (u32)outport() & 3, 3);
}

/* ---- the keyboard --------------------------------------------------------------------------- */

static volatile int irq1_data = -1;
static void hook_kbd(int vector) {
  irq1_data = inb(KBC_DATA);
  dev_pic_eoi(dev_vector_irq(vector));
}

static void test_keyboard(void) {
  set_command_byte(0x04); /* both ports enabled, no interrupts, no translation */
  flush();
  kbc_data(0xee);
  check_eq("keyboard 0xEE (echo) answers 0xEE", (u32)kbc_read(), 0xee);
  kbc_data(0xf5);
  check_eq("keyboard 0xF5 (disable scanning) answers 0xFA", (u32)kbc_read(), 0xfa);
  kbc_data(0xf2);
  int a = kbc_read(), b = kbc_read(), c = kbc_read();
  check_eq("keyboard 0xF2 (identify) answers 0xFA 0xAB 0x83 (MF2, untranslated)", ((u32)a << 16) | ((u32)b << 8) | (u32)c, 0xfaab83);
  kbc_data(0xff);
  a = kbc_read();
  b = kbc_read();
  check_eq("keyboard 0xFF (reset) answers 0xFA then 0xAA (self-test passed)", ((u32)a << 8) | (u32)b, 0xfaaa);
  kbc_data(0xf4);
  check_eq("keyboard 0xF4 (enable scanning) answers 0xFA", (u32)kbc_read(), 0xfa);
  flush();

  /* Command byte bit 0: a byte from the keyboard raises IRQ 1. */
  dev_irq_hooks[0x21] = hook_kbd;
  dev_irq_reset();
  dev_pic_unmask(1);
  for (int i = 0; i < 8; i++) dev_irq_window(); /* deliver anything left over */
  dev_irq_reset();
  irq1_data = -1;
  set_command_byte(0x05);
  kbc_data(0xee);
  dev_sti();
  (void)DEV_WAIT(dev_irq_logged != 0, 50);
  dev_cli();
  dev_pic_set_mask(0xffff);
  check_eq("with command byte bit 0 set, the echo raises IRQ 1 (vector 0x21)", dev_irq_logged >= 1 ? dev_irq_log[0] : 0, 0x21);
  check_eq("the IRQ 1 handler reads the echo byte from port 0x60", (u32)irq1_data, 0xee);
  dev_irq_hooks[0x21] = 0;
  set_command_byte(0x04);
  kbc_data(0xee);
  check_eq("with command byte bit 0 clear the echo still arrives (polled)", (u32)kbc_read(), 0xee);
  check_eq("...and no IRQ 1 was raised while it was masked in the controller", dev_pic_irr(0) & BIT(1), 0);
  flush();
}

void test_main(void) {
  dev_pc_init();
  test_controller();
  test_outport();
  test_keyboard();
}
