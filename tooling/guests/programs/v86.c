/* @guest bits=32 cpu=max -- virtual-8086 mode: entry and exit frames, IOPL-sensitive instructions, INT n, I/O */
/*
 * SDM Vol. 3 chapter 20 ("8086 Emulation"): §20.2 (virtual-8086 mode: entry through IRET
 * with VM = 1, the stack frame of a handler: GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP),
 * §20.2.7 (IOPL-sensitive instructions: CLI, STI, PUSHF, POPF, INT n, IRET raise #GP(0) when
 * IOPL < 3), §20.3 (interrupt and exception handling), and Vol. 1 §19.5.2 (I/O in v86 mode
 * always consults the I/O permission bitmap). CR4.VME stays 0 throughout.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "v86";

extern char kstack0_top[];
#define V86_DS 0x1000
#define V86_FS 0x2000
#define V86_GS 0x3000
#define V86_SP 0x6000

__asm__(
    ".section .lowmem, \"awx\"\n"
    ".code16\n"
    ".global v86_basic, v86_basic_after_int\n"
    "v86_basic:\n"
    "  movw $0xbeef, 0x20\n"
    "  mov %cs, %es:vb_cs\n"
    "  mov %ss, %es:vb_ss\n"
    "  pushfl\n"
    "  popl %eax\n"
    "  mov %eax, %es:vb_eflags\n"
    "  smsw %ax\n"
    "  mov %ax, %es:vb_msw\n"
    "  mov $0x12345678, %eax\n"
    "  mov %eax, %es:vb_op32\n"
    "  mov %sp, %es:vb_sp\n"
    "  int $0x81\n"
    "v86_basic_after_int:\n"
    "  hlt\n"
#define V86_ONE(name, insn) "  .global " name "\n" name ":\n  " insn "\n  int $0x81\n"
    V86_ONE("v86_int", "int $0x81")
    V86_ONE("v86_cli", "cli")
    V86_ONE("v86_sti", "sti")
    V86_ONE("v86_pushf", "pushf")
    V86_ONE("v86_hlt", "hlt")
    V86_ONE("v86_int_dpl0", "int $0x85")
    V86_ONE("v86_int_badcs", "int $0x86")
    V86_ONE("v86_int3", "int3")
    "  .global v86_int3_after\n"
    "v86_int3_after = v86_int3 + 1\n"
    "  .global v86_popf, v86_popf_site\n"
    "v86_popf:\n"
    "  push $0\n"
    "v86_popf_site:\n"
    "  popf\n"
    "  int $0x81\n"
    "  .global v86_iret, v86_iret_site\n"
    "v86_iret:\n"
    "  push $0x0002\n"
    "  push %cs\n"
    "  push $1f\n"
    "v86_iret_site:\n"
    "  iret\n"
    "1:\n"
    "  int $0x81\n"
    "  .global v86_in, v86_in_site\n"
    "v86_in:\n"
    "  mov $0x3ff, %dx\n"
    "v86_in_site:\n"
    "  inb %dx, %al\n"
    "  mov %al, %es:vi_in_value\n"
    "  int3\n" /* not IOPL-sensitive: ends the run with #BP at any IOPL */
    "  .global v86_in_done\n"
    "v86_in_done:\n"
    "  .global v86_div0, v86_div0_site\n"
    "v86_div0:\n"
    "  xor %dx, %dx\n"
    "  mov $1, %ax\n"
    "  xor %cx, %cx\n"
    "v86_div0_site:\n"
    "  div %cx\n"
    "  int $0x81\n"
    /* IOPL 3: the sensitive instructions execute; POPF still cannot change IOPL. */
    "  .global v86_iopl3\n"
    "v86_iopl3:\n"
    "  cli\n"
    "  pushf\n"
    "  pop %ax\n"
    "  mov %ax, %es:vi_flags_cli\n"
    "  sti\n"
    "  pushf\n"
    "  pop %ax\n"
    "  mov %ax, %es:vi_flags_sti\n"
    "  pushf\n"
    "  push %cs\n"
    "  push $2f\n"
    "  iret\n"
    "2:\n"
    "  movw $1, %es:vi_iret_ok\n"
    "  pushfl\n"
    "  popl %eax\n"
    "  and $~0x3000, %eax\n"
    "  pushl %eax\n"
    "  popfl\n"
    "  pushfl\n"
    "  popl %eax\n"
    "  mov %eax, %es:vi_popf_eflags\n"
    "  cli\n"
    "  int $0x81\n"
    ".align 4\n"
    ".global vb_eflags, vb_op32, vi_popf_eflags, vb_cs, vb_ss, vb_msw, vb_sp, vi_flags_cli, vi_flags_sti, vi_iret_ok, vi_in_value\n"
    "vb_eflags: .long 0\n"
    "vb_op32: .long 0\n"
    "vi_popf_eflags: .long 0\n"
    "vb_cs: .word 0xffff\n"
    "vb_ss: .word 0xffff\n"
    "vb_msw: .word 0\n"
    "vb_sp: .word 0\n"
    "vi_flags_cli: .word 0\n"
    "vi_flags_sti: .word 0\n"
    "vi_iret_ok: .word 0\n"
    "vi_in_value: .byte 0\n"
    ".text\n"
    ".code32\n");

extern char v86_basic[], v86_basic_after_int[], v86_int[], v86_cli[], v86_sti[], v86_pushf[], v86_hlt[], v86_int_dpl0[], v86_int_badcs[];
extern char v86_int3[], v86_int3_after[], v86_popf[], v86_popf_site[], v86_iret[], v86_iret_site[], v86_in[], v86_in_site[], v86_div0[];
extern char v86_div0_site[], v86_iopl3[], v86_in_done[];
extern volatile u32 vb_eflags, vb_op32, vi_popf_eflags;
extern volatile u16 vb_cs, vb_ss, vb_msw, vb_sp, vi_flags_cli, vi_flags_sti, vi_iret_ok;
extern volatile u8 vi_in_value;

static int v86(char *entry, u32 iopl) {
  struct v86_regs r = {
      .ip = LOW16(entry), .cs = 0, .flags = FL_IOPL(iopl), .sp = V86_SP, .ss = 0, .es = 0, .ds = V86_DS, .fs = V86_FS, .gs = V86_GS,
  };
  return run_v86(&r);
}

/* A TSS with an I/O permission bitmap that allows port 0x3FF only. */
static struct PACKED {
  struct tss32 tss;
  u8 map[8192 + 1];
} io_tss ALIGNED(128);
#define SEL_IO_TSS (16 << 3)
#define SEL_UCODE_GATE_TARGET UCODE

static void test_entry_and_exit(void) {
  *(volatile u16 *)(V86_DS * 16 + 0x20) = 0;
  check_trap("IRET with VM = 1 enters virtual-8086 mode; INT n with IOPL 3 leaves it", v86(v86_basic, 3), NO_TRAP, 0, 0);
  check_eq("v86: linear address = segment * 16 + offset (DS = 0x1000, [0x20])", *(volatile u16 *)(V86_DS * 16 + 0x20), 0xbeef);
  check_eq("v86: CS and SS are the 16-bit values from the IRET frame", ((u32)vb_cs << 16) | vb_ss, 0);
  check_eq("v86: CR0.PE stays 1", vb_msw & CR0_PE, CR0_PE);
  check_eq("v86: the operand-size prefix gives 32-bit operands", vb_op32, 0x12345678);
  check_eq("v86: PUSHFD stores VM = 0 and RF = 0 in the image", vb_eflags & (FL_VM | FL_RF), 0);
  check_eq("v86: PUSHFD stores IOPL = 3", vb_eflags & FL_IOPL_MASK, FL_IOPL(3));
  check_eq("v86 -> ring 0: EFLAGS in the frame has VM = 1", trap.flags & FL_VM, FL_VM);
  check_eq("v86 -> ring 0: the frame (GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP) is at TSS.ESP0 - 36", trap.frame_addr, (u32)kstack0_top - 36);
  check_eq("v86 -> ring 0: pushed EIP is after the INT, pushed CS is the v86 CS", ((u64)trap.cs << 32) | trap.ip, LOW16(v86_basic_after_int));
  check_eq("v86 -> ring 0: pushed SS:ESP is the v86 stack", ((u64)trap.ss << 32) | trap.sp, vb_sp);
  check_eq("v86 -> ring 0: pushed DS, ES, FS, GS are the v86 values",
           ((u64)trap.v86_ds << 48) | ((u64)trap.v86_es << 32) | ((u64)trap.v86_fs << 16) | trap.v86_gs,
           ((u64)V86_DS << 48) | ((u64)0 << 32) | ((u64)V86_FS << 16) | V86_GS);
  check_eq("v86 -> ring 0: DS, ES, FS, GS hold null selectors in the handler",
           trap.entry_ds | trap.entry_es | trap.entry_fs | trap.entry_gs, 0);
}

static void test_iopl_sensitive(void) {
  static const struct {
    const char *name;
    char *entry;
    char *site;
  } sens[] = {
      {"INT n", v86_int, v86_int},   {"CLI", v86_cli, v86_cli},   {"STI", v86_sti, v86_sti},
      {"PUSHF", v86_pushf, v86_pushf}, {"POPF", v86_popf, v86_popf_site}, {"IRET", v86_iret, v86_iret_site},
  };
  char name[96];
  for (unsigned i = 0; i < ARRAY_SIZE(sens); i++) {
    snprintf(name, sizeof name, "v86 %s with IOPL 0: #GP(0) at the instruction", sens[i].name);
    check_trap(name, v86(sens[i].entry, 0), GP_VECTOR, 0, LOW16(sens[i].site));
    if (i == 0) check_eq("v86 #GP: pushed EFLAGS has VM = 1 and pushed CS is the v86 CS", (trap.flags & FL_VM) | trap.cs, FL_VM);
  }
  check_trap("v86 with IOPL 3: CLI, STI, PUSHF, POPF and IRET execute", v86(v86_iopl3, 3), NO_TRAP, 0, 0);
  check_eq("v86 CLI with IOPL 3 clears IF", vi_flags_cli & FL_IF, 0);
  check_eq("v86 STI with IOPL 3 sets IF", vi_flags_sti & FL_IF, FL_IF);
  check_eq("v86 IRET with IOPL 3 returns within v86 mode", vi_iret_ok, 1);
  check_eq("v86 POPFD with IOPL 3 cannot change IOPL", vi_popf_eflags & FL_IOPL_MASK, FL_IOPL(3));
  check_trap("v86 HLT with IOPL 3: #GP(0) (CPL 3)", v86(v86_hlt, 3), GP_VECTOR, 0, LOW16(v86_hlt));
}

static void test_interrupts(void) {
  check_trap("v86 INT n with IOPL 3 to a DPL-0 gate: #GP(vector * 8 + 2)", v86(v86_int_dpl0, 3), GP_VECTOR, 0x85 * 8 + 2, LOW16(v86_int_dpl0));
  idt_set(0x86, UCODE, (ulong)isr_stub(0x86), GATE_INT, 3, 1);
  check_trap("v86 INT n to a gate whose code segment is not DPL 0: #GP(code selector)", v86(v86_int_badcs, 3), GP_VECTOR, UCODE & ~3,
             LOW16(v86_int_badcs));
  idt_restore(0x86);
  check_trap("v86 #DE: the handler gets the IP of the DIV", v86(v86_div0, 0), DE_VECTOR, 0, LOW16(v86_div0_site));
  check_eq("v86 #DE: pushed EFLAGS has VM = 1", trap.flags & FL_VM, FL_VM);
  idt_set(BP_VECTOR, KCODE, isr_stub(BP_VECTOR), GATE_INT, 3, 1);
  check_trap("v86 INT3 with IOPL 0 is not IOPL-sensitive: #BP through a DPL-3 gate", v86(v86_int3, 0), BP_VECTOR, 0, LOW16(v86_int3_after));
  idt_restore(BP_VECTOR);
  check_trap("v86 INT3 through a DPL-0 gate: #GP(3 * 8 + 2)", v86(v86_int3, 0), GP_VECTOR, 3 * 8 + 2, LOW16(v86_int3));
}

static void test_io(void) {
  outb(0x3ff, 0x5a); /* COM1 scratch register */
  idt_set(BP_VECTOR, KCODE, isr_stub(BP_VECTOR), GATE_INT, 3, 1);
  check_trap("v86 IN with IOPL 3 and no I/O permission bitmap: #GP(0)", v86(v86_in, 3), GP_VECTOR, 0, LOW16(v86_in_site));
  memset(&io_tss, 0, sizeof io_tss);
  io_tss.tss.ss0 = KDATA;
  io_tss.tss.esp0 = (u32)kstack0_top;
  io_tss.tss.iomap = sizeof(struct tss32);
  memset(io_tss.map, 0xff, sizeof io_tss.map);
  io_tss.map[0x3ff / 8] &= (u8) ~(1u << (0x3ff % 8));
  gdt_set(SEL_IO_TSS >> 3, seg_desc((u32)&io_tss, sizeof io_tss - 1, ACC_P | ACC_TSS32, 0));
  load_tr(SEL_IO_TSS);
  vi_in_value = 0;
  check_trap("v86 IN from a port the bitmap allows, with IOPL 0 (then INT3 ends the run)", v86(v86_in, 0), BP_VECTOR, 0, LOW16(v86_in_done));
  check_eq("v86 IN read the port", vi_in_value, 0x5a);
  io_tss.map[0x3ff / 8] |= (u8)(1u << (0x3ff % 8));
  check_trap("v86 IN from a port the bitmap denies, even with IOPL 3: #GP(0)", v86(v86_in, 3), GP_VECTOR, 0, LOW16(v86_in_site));
  load_tr(TSS_SEL);
  idt_restore(BP_VECTOR);
}

void test_main(void) {
  test_entry_and_exit();
  test_iopl_sensitive();
  test_interrupts();
  test_io();
}
