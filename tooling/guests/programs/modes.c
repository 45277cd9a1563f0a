/* @guest bits=32 cpu=max -- real <-> protected <-> long mode switches, unreal mode, A20 via port 0x92 */
/*
 * SDM Vol. 3 §9.9 ("Mode Switching"), §10.8.5 ("Initializing IA-32e Mode"), §20.1
 * ("Real-Address Mode"). The real-mode halves of the checks are 16-bit routines in .lowmem,
 * run through real_call(); they leave their observations in low-memory variables.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "modes";

/* ---- real mode ---------------------------------------------------------------------------- */

__asm__(
    ".section .lowmem, \"awx\"\n"
    ".code16\n"
    ".global rm_basic\n"
    "rm_basic:\n"
    "  smsw %ax\n"
    "  mov %ax, rm_msw\n"
    "  mov %cs, rm_cs\n"
    /* Segment arithmetic: DS = 0x1234, offset 0x10 -> linear 0x12350. */
    "  mov $0x1234, %ax\n"
    "  mov %ax, %ds\n"
    "  mov 0x10, %eax\n"
    "  xor %bx, %bx\n"
    "  mov %bx, %ds\n"
    "  mov %eax, rm_seg_dword\n"
    /* Operand-size prefix: a 32-bit immediate and store in 16-bit code. */
    "  mov $0x89abcdef, %eax\n"
    "  mov %eax, rm_op32\n"
    /* Far call to segment 0x0800: the code runs with CS base 0x8000. */
    "  lcall $0x0800, $(rm_far - 0x8000)\n"
    /* INT through the IVT with IF = 1: IF is clear in the handler. */
    "  sti\n"
    "  mov %sp, rm_sp_before\n"
    "  int $0x40\n"
    ".global rm_after_int\n"
    "rm_after_int:\n"
    "  cli\n"
    "  mov %sp, rm_sp_after\n"
    /* #DE through IVT entry 0: a fault, IP at the DIV. */
    "  movw $1f, rm_resume\n"
    "  xor %dx, %dx\n"
    "  mov $1, %ax\n"
    "  xor %cx, %cx\n"
    ".global rm_div_site\n"
    "rm_div_site:\n"
    "  div %cx\n"
    "1:\n"
    "  mov rm_catch_vector, %ax\n"
    "  mov %ax, rm_de_vector\n"
    "  mov rm_catch_ip, %ax\n"
    "  mov %ax, rm_de_ip\n"
    /* #UD through IVT entry 6. */
    "  movw $0xffff, rm_catch_vector\n"
    "  movw $2f, rm_resume\n"
    ".global rm_ud_site\n"
    "rm_ud_site:\n"
    "  ud2\n"
    "2:\n"
    "  mov rm_catch_vector, %ax\n"
    "  mov %ax, rm_ud_vector\n"
    "  mov rm_catch_ip, %ax\n"
    "  mov %ax, rm_ud_ip\n"
    /* A word at offset 0xFFFF crosses the 64 KiB limit: #GP (interrupt 13) in real mode. */
    "  movw $0xffff, rm_catch_vector\n"
    "  movw $3f, rm_resume\n"
    ".global rm_limit_site\n"
    "rm_limit_site:\n"
    "  mov 0xffff, %ax\n"
    "3:\n"
    "  mov rm_catch_vector, %ax\n"
    "  mov %ax, rm_limit_vector\n"
    "  mov rm_catch_ip, %ax\n"
    "  mov %ax, rm_limit_ip\n"
    "  ret\n"
    "rm_far:\n"
    "  mov %cs, %cs:(rm_far_cs - 0x8000)\n"
    "  lret\n"
    ".global rm_int40\n"
    "rm_int40:\n"
    "  mov %sp, rm_int_sp\n"
    "  push %bp\n"
    "  mov %sp, %bp\n"
    "  mov 2(%bp), %ax\n"
    "  mov %ax, rm_int_ip\n"
    "  mov 4(%bp), %ax\n"
    "  mov %ax, rm_int_cs\n"
    "  mov 6(%bp), %ax\n"
    "  mov %ax, rm_int_flags\n"
    "  pushf\n"
    "  pop %ax\n"
    "  mov %ax, rm_int_flags_inside\n"
    "  pop %bp\n"
    "  iret\n"
    /* Unreal mode: 32-bit offsets above 64 KiB through DS, also after DS is reloaded. */
    ".global rm_unreal_fn\n"
    "rm_unreal_fn:\n"
    "  movw $0xffff, rm_catch_vector\n"
    "  movw $4f, rm_resume\n"
    "  mov rm_high_addr, %ebx\n"
    ".global rm_unreal_site\n"
    "rm_unreal_site:\n"
    "  addr32 mov (%ebx), %eax\n"
    "  mov %eax, rm_unreal_val\n"
    "  xor %ax, %ax\n"
    "  mov %ax, %ds\n"
    "  addr32 mov 4(%ebx), %eax\n"
    "  mov %eax, rm_unreal_val2\n"
    "4:\n"
    "  ret\n"
    ".align 4\n"
    ".global rm_msw, rm_cs, rm_seg_dword, rm_op32, rm_far_cs, rm_sp_before, rm_sp_after, rm_int_sp, rm_int_ip, rm_int_cs\n"
    ".global rm_int_flags, rm_int_flags_inside, rm_de_vector, rm_de_ip, rm_ud_vector, rm_ud_ip, rm_limit_vector, rm_limit_ip\n"
    ".global rm_high_addr, rm_unreal_val, rm_unreal_val2\n"
    "rm_seg_dword: .long 0\n"
    "rm_op32: .long 0\n"
    "rm_high_addr: .long 0\n"
    "rm_unreal_val: .long 0\n"
    "rm_unreal_val2: .long 0\n"
    "rm_msw: .word 0\n"
    "rm_cs: .word 0xffff\n"
    "rm_far_cs: .word 0\n"
    "rm_sp_before: .word 0\n"
    "rm_sp_after: .word 0\n"
    "rm_int_sp: .word 0\n"
    "rm_int_ip: .word 0\n"
    "rm_int_cs: .word 0\n"
    "rm_int_flags: .word 0\n"
    "rm_int_flags_inside: .word 0\n"
    "rm_de_vector: .word 0\n"
    "rm_de_ip: .word 0\n"
    "rm_ud_vector: .word 0\n"
    "rm_ud_ip: .word 0\n"
    "rm_limit_vector: .word 0\n"
    "rm_limit_ip: .word 0\n"
    ".text\n"
    ".code32\n");

extern char rm_basic[], rm_after_int[], rm_div_site[], rm_ud_site[], rm_limit_site[], rm_int40[], rm_unreal_fn[], rm_unreal_site[];
extern volatile u32 rm_seg_dword, rm_op32, rm_high_addr, rm_unreal_val, rm_unreal_val2;
extern volatile u16 rm_msw, rm_cs, rm_far_cs, rm_sp_before, rm_sp_after, rm_int_sp, rm_int_ip, rm_int_cs, rm_int_flags, rm_int_flags_inside;
extern volatile u16 rm_de_vector, rm_de_ip, rm_ud_vector, rm_ud_ip, rm_limit_vector, rm_limit_ip;

static void setup_ivt(void) {
  ivt_set(0, (ulong)rm_trap_0);
  ivt_set(6, (ulong)rm_trap_6);
  ivt_set(12, (ulong)rm_trap_12);
  ivt_set(13, (ulong)rm_trap_13);
  ivt_set(0x40, (ulong)rm_int40);
}

static void test_real_mode(const char *when) {
  char name[96];
  *(volatile u32 *)0x12350 = 0x5eed1234;
  rm_cs = 0xffff;
  rm_msw = 0xffff;
  rm_catch_vector = 0xffff;
  setup_ivt();
  real_call(LOW16(rm_basic), 0);
#define RM_CHECK(label, got, want)                  \
  do {                                              \
    snprintf(name, sizeof name, "%s: %s", when, label); \
    check_eq(name, got, want);                      \
  } while (0)
  RM_CHECK("real mode has CR0.PE = 0", rm_msw & 1, 0);
  RM_CHECK("real mode CS = 0 after the far jump", rm_cs, 0);
  RM_CHECK("linear address = segment * 16 + offset (DS = 0x1234, [0x10] -> 0x12350)", rm_seg_dword, 0x5eed1234);
  RM_CHECK("operand-size prefix gives 32-bit operands in 16-bit code", rm_op32, 0x89abcdef);
  RM_CHECK("far CALL loads CS with the new segment (0x0800)", rm_far_cs, 0x0800);
  RM_CHECK("INT pushes FLAGS, CS, IP: SP - 6 in the handler", rm_int_sp, (u16)(rm_sp_before - 6));
  RM_CHECK("INT pushes the return IP", rm_int_ip, LOW16(rm_after_int));
  RM_CHECK("INT pushes CS", rm_int_cs, 0);
  RM_CHECK("INT pushes FLAGS with IF = 1", rm_int_flags & FL_IF, FL_IF);
  RM_CHECK("INT clears IF and TF in the handler", rm_int_flags_inside & (FL_IF | FL_TF), 0);
  RM_CHECK("IRET restores SP", rm_sp_after, rm_sp_before);
  RM_CHECK("#DE through IVT entry 0", rm_de_vector, DE_VECTOR);
  RM_CHECK("#DE pushes the IP of the DIV (a fault)", rm_de_ip, LOW16(rm_div_site));
  RM_CHECK("#UD through IVT entry 6", rm_ud_vector, UD_VECTOR);
  RM_CHECK("#UD pushes the IP of UD2", rm_ud_ip, LOW16(rm_ud_site));
  snprintf(name, sizeof name, "%s: a word at offset 0xFFFF raises interrupt 13 (64 KiB limit)", when);
  if (rm_limit_vector == 0xffff && cpu.is_qemu_tcg) skip(name, "QEMU TCG does not check segment limits");
  else if (check_eq(name, rm_limit_vector, GP_VECTOR)) {
    snprintf(name, sizeof name, "%s: interrupt 13 pushes the IP of the access", when);
    check_eq(name, rm_limit_ip, LOW16(rm_limit_site));
  }
}

static u32 high_words[2] = {0xc0ffee01, 0xc0ffee02};

static void test_unreal(void) {
  rm_high_addr = (u32)high_words;
  rm_unreal_val = rm_unreal_val2 = 0;
  setup_ivt();
  real_call(LOW16(rm_unreal_fn), 1);
  check_eq("unreal mode: a 32-bit offset above 1 MiB reads through the 4 GiB DS limit cached in protected mode", rm_unreal_val, 0xc0ffee01);
  check_eq("unreal mode: reloading DS in real mode changes the base but keeps the cached limit", rm_unreal_val2, 0xc0ffee02);
  rm_unreal_val = 0;
  real_call(LOW16(rm_unreal_fn), 0);
  const char *name = "real mode with 64 KiB limits: a 32-bit offset above 0xFFFF raises interrupt 13";
  if (rm_catch_vector == 0xffff && cpu.is_qemu_tcg) skip(name, "QEMU TCG does not check segment limits");
  else if (check_eq(name, rm_catch_vector, GP_VECTOR)) check_eq("interrupt 13 for the 32-bit offset points at the access", rm_catch_ip, LOW16(rm_unreal_site));
}

/* ---- A20 ---------------------------------------------------------------------------------- */

/*
 * Runs from .lowmem with a low stack: while A20 is off, bit 20 of every physical address is
 * 0, so code and data at 1 MiB and above are unreachable. Port 0x92 bit 1 is the A20 gate;
 * bit 0 resets the machine and must be written as 0.
 */
__asm__(
    ".section .lowmem, \"awx\"\n"
    ".code32\n"
    ".global a20_test\n"
    "a20_test:\n"
    "  push %ebp\n"
    "  mov %esp, %ebp\n"
    "  push %ebx\n"
    "  push %esi\n"
    "  push %edi\n"
    "  mov 8(%ebp), %esi\n"
    "  mov $a20_result, %edi\n"
    "  mov %esp, a20_saved_esp\n"
    "  mov $0x6f00, %esp\n"
    "  mov %esi, %ebx\n"
    "  and $~0x100000, %ebx\n"
    "  in $0x92, %al\n"
    "  movzbl %al, %eax\n"
    "  mov %eax, 0(%edi)\n"
    "  and $0xfc, %al\n"
    "  out %al, $0x92\n"
    "  in $0x92, %al\n"
    "  movzbl %al, %eax\n"
    "  mov %eax, 4(%edi)\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, 8(%edi)\n"
    "  movl $0x33333333, (%esi)\n"
    "  mov (%ebx), %eax\n"
    "  mov %eax, 12(%edi)\n"
    "  in $0x92, %al\n"
    "  or $2, %al\n"
    "  and $0xfe, %al\n"
    "  out %al, $0x92\n"
    "  in $0x92, %al\n"
    "  movzbl %al, %eax\n"
    "  mov %eax, 16(%edi)\n"
    "  mov (%esi), %eax\n"
    "  mov %eax, 20(%edi)\n"
    "  mov (%ebx), %eax\n"
    "  mov %eax, 24(%edi)\n"
    "  mov a20_saved_esp, %esp\n"
    "  pop %edi\n"
    "  pop %esi\n"
    "  pop %ebx\n"
    "  pop %ebp\n"
    "  ret\n"
    ".align 4\n"
    ".global a20_result\n"
    "a20_result: .fill 7, 4, 0\n"
    "a20_saved_esp: .long 0\n"
    ".text\n");
void a20_test(u32 high);
extern volatile u32 a20_result[7];
static u32 a20_page[1024] ALIGNED(4096);

static void test_a20(void) {
  volatile u32 *high = &a20_page[0x40];
  volatile u32 *low = (volatile u32 *)((ulong)high & ~0x100000ul);
  if (!((ulong)high & 0x100000)) panic("the A20 buffer at %p does not have bit 20 set", (void *)high);
  *low = 0x11111111;
  *high = 0x22222222;
  a20_test((u32)(ulong)high);
  check_eq("A20 is enabled at entry (port 0x92 bit 1), as Multiboot requires", a20_result[0] & 2, 2);
  check_eq("port 0x92 bit 1 reads back 0 after A20 is disabled", a20_result[1] & 2, 0);
  check_eq("A20 off: a read at X + 1 MiB returns the byte at X", a20_result[2], 0x11111111);
  check_eq("A20 off: a write at X + 1 MiB lands at X", a20_result[3], 0x33333333);
  check_eq("port 0x92 bit 1 reads back 1 after A20 is enabled", a20_result[4] & 2, 2);
  check_eq("A20 on: X + 1 MiB is its own memory again", a20_result[5], 0x22222222);
  check_eq("A20 on: X kept the aliased write", a20_result[6], 0x33333333);
}

/* ---- long mode ---------------------------------------------------------------------------- */

/*
 * void lm_roundtrip(u32 cr3, u32 *result): legacy protected mode -> IA-32e compatibility mode
 * (PAE, EFER.LME, CR0.PG) -> 64-bit mode (far jump to an L = 1 code segment) -> compatibility
 * mode (far return to a 32-bit segment) -> legacy protected mode (CR0.PG = 0, then LME = 0).
 */
__asm__(
    ".text\n"
    ".code32\n"
    ".global lm_roundtrip\n"
    "lm_roundtrip:\n"
    "  push %ebp\n"
    "  mov %esp, %ebp\n"
    "  push %ebx\n"
    "  push %esi\n"
    "  push %edi\n"
    "  mov 8(%ebp), %eax\n"
    "  mov %eax, %cr3\n"
    "  mov 12(%ebp), %edi\n"
    "  mov %cr4, %eax\n"
    "  or $0x20, %eax\n"
    "  mov %eax, %cr4\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  or $0x100, %eax\n"
    "  wrmsr\n"
    "  mov %cr0, %eax\n"
    "  or $0x80000000, %eax\n"
    "  mov %eax, %cr0\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  mov %eax, 0(%edi)\n"
    "  mov %esp, %eax\n"
    "  push %eax\n"
    "  sub %esp, %eax\n"
    "  pop %ecx\n"
    "  mov %eax, 4(%edi)\n"
    "  ljmp $0x40, $1f\n"
    ".code64\n"
    "1:\n"
    "  mov %edi, %edi\n"
    "  mov %esp, %esp\n"
    "  mov %rsp, %rax\n"
    "  push %rax\n"
    "  sub %rsp, %rax\n"
    "  pop %rcx\n"
    "  mov %eax, 8(%rdi)\n"
    "  lea lm_rip_site(%rip), %rax\n"
    "  mov %eax, 12(%rdi)\n"
    "  movabs $0x123456789abcdef0, %rax\n"
    "  mov %rax, 16(%rdi)\n"
    "  pushq $0x08\n"
    "  lea 2f(%rip), %rax\n"
    "  push %rax\n"
    "  lretq\n"
    ".code32\n"
    "2:\n"
    "  mov %cr0, %eax\n"
    "  and $0x7fffffff, %eax\n"
    "  mov %eax, %cr0\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  mov %eax, 24(%edi)\n"
    "  and $~0x100, %eax\n"
    "  wrmsr\n"
    "  mov %cr4, %eax\n"
    "  and $~0x20, %eax\n"
    "  mov %eax, %cr4\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  mov %eax, 28(%edi)\n"
    "  mov %esp, %eax\n"
    "  push %eax\n"
    "  sub %esp, %eax\n"
    "  pop %ecx\n"
    "  mov %eax, 32(%edi)\n"
    "  pop %edi\n"
    "  pop %esi\n"
    "  pop %ebx\n"
    "  pop %ebp\n"
    "  ret\n"
    ".global lm_rip_site\n"
    "lm_rip_site: .byte 0\n");
void lm_roundtrip(u32 cr3, u32 *result);
extern char lm_rip_site[];

static void test_long_mode(void) {
  if (!HAS_LM()) {
    skip("long mode round trip", "CPUID.80000001H:EDX.LM = 0");
    return;
  }
  static u32 r[9];
  u32 cr3 = (u32)paging_build(PG_4L);
  lm_roundtrip(cr3, r);
  check_eq("CR0.PG with EFER.LME = 1 activates IA-32e mode: EFER.LMA = 1", r[0] & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
  check_eq("compatibility mode (L = 0 code segment): PUSH stores 4 bytes", r[1], 4);
  check_eq("64-bit mode (L = 1 code segment): PUSH stores 8 bytes", r[2], 8);
  check_eq("64-bit mode: RIP-relative addressing", r[3], (u32)(ulong)lm_rip_site);
  check_eq("64-bit mode: a 64-bit register store", ((u64)r[5] << 32) | r[4], 0x123456789abcdef0ull);
  check_eq("clearing CR0.PG leaves IA-32e mode: LMA = 0, LME still 1", r[6] & (EFER_LME | EFER_LMA), EFER_LME);
  check_eq("EFER.LME cleared", r[7] & (EFER_LME | EFER_LMA), 0);
  check_eq("legacy protected mode again: PUSH stores 4 bytes", r[8], 4);
  check_eq("legacy protected mode again: CR0.PG = 0, CR0.PE = 1", read_cr0() & (CR0_PG | CR0_PE), CR0_PE);
}

void test_main(void) {
  test_real_mode("protected -> real -> protected");
  test_unreal();
  test_a20();
  test_long_mode();
  /* Back to real mode after a trip through long mode: real -> protected -> long -> protected -> real. */
  test_real_mode("after long mode, real again");
}
