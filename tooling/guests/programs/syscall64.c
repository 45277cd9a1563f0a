/* @guest bits=64 cpu=max -- SYSCALL/SYSRET, 64-bit interrupt frames and stack switching (RSP0, IST), SWAPGS, compatibility mode */
/*
 * SDM Vol. 3 §5.8.8 (SYSCALL/SYSRET), §6.14 (64-bit interrupt handling: stack frame, RSP0,
 * IST, 16-byte alignment), and the SYSCALL, SYSRET and SWAPGS instruction pages. SYSCALL from
 * compatibility mode differs between vendors (#UD on Intel) and is not checked.
 */
#include "guest.h"
#include "guest64.h"

const char test_name[] = "syscall64";

#define SYSRET_BASE 0x18 /* STAR[63:48]: SYSRET loads CS from +16 (64-bit) or +0 (32-bit), SS from +8 */
#define FMASK (FL_IF | FL_DF | FL_AC | FL_TF)

__asm__(
    ".text\n"
    ".code64\n"
    ".global syscall_entry\n"
    "syscall_entry:\n"
    "  mov %rcx, sc_rcx(%rip)\n"
    "  mov %r11, sc_r11(%rip)\n"
    "  mov %rsp, sc_rsp(%rip)\n"
    "  mov %cs, sc_cs(%rip)\n"
    "  mov %ss, sc_ss(%rip)\n"
    "  pushfq\n"
    "  popq sc_rflags(%rip)\n"
    "  cmp $1, %eax\n"
    "  je 1f\n"
    "  sysretq\n"
    "1:\n"
    "  lea user32_code(%rip), %rcx\n"
    "  sysretl\n"
    ".code32\n"
    ".global user32_code\n"
    "user32_code:\n"
    "  mov %cs, u32_cs\n"
    "  mov %esp, %eax\n"
    "  push %eax\n"
    "  sub %esp, %eax\n"
    "  pop %ecx\n"
    "  mov %eax, u32_push_size\n"
    "  int $0x81\n"
    ".code64\n");
extern char syscall_entry[], user32_code[];
u64 sc_rcx, sc_r11, sc_rsp, sc_rflags;
u16 sc_cs, sc_ss;
u16 u32_cs;
u32 u32_push_size;

static u64 u_rsp_before, u_rsp_after, u_rflags_after;
static u16 u_cs_after, u_ss_after;
DECLARE_SITE(u_syscall_site);
DECLARE_SITE(u_syscall_after);
static NOINLINE void user_syscall(void) {
  __asm__ volatile("mov %%rsp, %0\n xor %%eax, %%eax\n stc\n" SITE(u_syscall_site) "syscall\n" SITE(u_syscall_after)
                   "mov %%rsp, %1\n pushfq\n popq %2\n mov %%cs, %3\n mov %%ss, %4"
                   : "=m"(u_rsp_before), "=m"(u_rsp_after), "=m"(u_rflags_after), "=m"(u_cs_after), "=m"(u_ss_after)
                   :
                   : "rax", "rcx", "r11", "memory", "cc");
}
static NOINLINE void user_syscall_to_compat(void) { __asm__ volatile("mov $1, %%eax; syscall" ::: "rax", "rcx", "r11", "memory"); }
DECLARE_SITE(u_sysret_site);
static NOINLINE void user_sysret(void) { __asm__ volatile(SITE(u_sysret_site) "sysretq" ::: "memory"); }
DECLARE_SITE(k_syscall_ud_site);
static NOINLINE void kernel_syscall_ud(void) { __asm__ volatile(SITE(k_syscall_ud_site) "syscall" ::: "rcx", "r11", "memory"); }

static void test_syscall(void) {
  if (!HAS_SYSCALL()) {
    skip("SYSCALL/SYSRET", "CPUID.80000001H:EDX.SYSCALL = 0");
    return;
  }
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_SCE);
  check_trap("SYSCALL with EFER.SCE = 0: #UD", trap_catch(kernel_syscall_ud), UD_VECTOR, 0, (ulong)k_syscall_ud_site);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  wrmsr(MSR_STAR, ((u64)SYSRET_BASE << 48) | ((u64)KCODE << 32));
  wrmsr(MSR_LSTAR, (u64)syscall_entry);
  wrmsr(MSR_FMASK, FMASK);
  check_trap("SYSCALL from 64-bit CPL 3 and SYSRET (REX.W) back", run_user(user_syscall, FL_IF), NO_TRAP, 0, 0);
  check_eq("SYSCALL: RCX = the address of the next instruction", sc_rcx, (ulong)u_syscall_after);
  check_eq("SYSCALL: R11 = RFLAGS (IF = 1, CF = 1)", sc_r11 & (FL_IF | FL_CF | FL_FIXED | FL_TF), FL_IF | FL_CF | FL_FIXED);
  check_eq("SYSCALL: CS = STAR[47:32]", sc_cs, KCODE);
  check_eq("SYSCALL: SS = STAR[47:32] + 8", sc_ss, KDATA);
  check_eq("SYSCALL: RSP is not switched", sc_rsp, u_rsp_before);
  const char *fmask_check = "SYSCALL: RFLAGS &= ~IA32_FMASK (IF cleared, CF kept)";
  if (cpu.is_qemu_tcg && (sc_rflags & (FL_IF | FL_CF | FL_RF)) == 0) skip(fmask_check, "QEMU TCG loses the arithmetic flags on SYSCALL");
  else check_eq(fmask_check, sc_rflags & (FL_IF | FL_CF | FL_RF), FL_CF);
  check_eq("SYSRET (64-bit): CS = STAR[63:48] + 16 with RPL 3", u_cs_after, UCODE);
  check_eq("SYSRET: SS = STAR[63:48] + 8 with RPL 3", u_ss_after, UDATA);
  check_eq("SYSRET: RFLAGS = R11 (IF and CF restored)", u_rflags_after & (FL_IF | FL_CF), FL_IF | FL_CF);
  check_eq("SYSRET: RSP unchanged", u_rsp_after, u_rsp_before);
  u32_cs = 0;
  check_trap("SYSRET (32-bit operand size) to compatibility mode", run_user(user_syscall_to_compat, 0), NO_TRAP, 0, 0);
  check_eq("SYSRET to compatibility mode: CS = STAR[63:48] with RPL 3", u32_cs, UCODE32);
  check_eq("compatibility mode: PUSH stores 4 bytes", u32_push_size, 4);
  check_trap("SYSRET at CPL 3: #GP(0)", run_user(user_sysret, 0), GP_VECTOR, 0, (ulong)u_sysret_site);
}

/* ---- 64-bit interrupt frames -------------------------------------------------------------- */

static struct frame int_frame;
static u64 int_frame_addr;
static u16 int_handler_ss, int_handler_cs;
static int int_handler(struct frame *f) {
  int_frame = *f;
  int_frame_addr = (u64)&f->ip;
  int_handler_ss = read_ss();
  int_handler_cs = read_cs();
  return 1;
}

DECLARE_SITE(u_int_after);
static u64 u_rsp;
static NOINLINE void user_int82(void) { __asm__ volatile("mov %%rsp, %0\n int $0x82\n" SITE(u_int_after) : "=m"(u_rsp) : : "memory"); }
DECLARE_SITE(u_int_dpl0_site);
static NOINLINE void user_int_dpl0(void) { __asm__ volatile(SITE(u_int_dpl0_site) "int $0x85" ::: "memory"); }
static u64 k_rsp;
static NOINLINE void kernel_int83(void) { __asm__ volatile("mov %%rsp, %0; int $0x83" : "=m"(k_rsp) : : "memory"); }
static NOINLINE void kernel_int84_misaligned(void) {
  __asm__ volatile("mov %%rsp, %%rax; and $~15, %%rsp; sub $8, %%rsp; mov %%rsp, %0; int $0x84; mov %%rax, %%rsp" : "=m"(k_rsp) : : "rax", "memory");
}

static void test_interrupt_frames(void) {
  for (int v = 0x82; v <= 0x84; v++) {
    idt_set(v, KCODE, isr_stub(v), GATE_INT, 3, 1);
    set_trap_handler(v, int_handler);
  }
  idt_set_ist(0x83, 1);
  check_trap("INT n from 64-bit CPL 3 through a DPL-3 gate", run_user(user_int82, FL_IF), NO_TRAP, 0, 0);
  check_eq("ring 3 -> 0: the frame (SS, RSP, RFLAGS, CS, RIP) is at TSS.RSP0 - 40", int_frame_addr, (u64)kstack0_top - 40);
  check_eq("ring 3 -> 0: pushed RIP is after the INT", int_frame.ip, (u64)u_int_after);
  check_eq("ring 3 -> 0: pushed CS", int_frame.cs, UCODE);
  check_eq("ring 3 -> 0: pushed RSP is the user's", int_frame.sp, u_rsp);
  check_eq("ring 3 -> 0: pushed SS is the user's", int_frame.ss, UDATA);
  check_eq("ring 3 -> 0: pushed RFLAGS has IF = 1", int_frame.flags & FL_IF, FL_IF);
  check_eq("ring 3 -> 0: SS is loaded with a null selector (RPL 0)", int_handler_ss, 0);
  check_eq("ring 3 -> 0: CS is the gate's selector", int_handler_cs, KCODE);
  check_trap("INT n at CPL 0 through a gate with IST = 1", trap_catch(kernel_int83), NO_TRAP, 0, 0);
  check_eq("IST: the frame is on IST1 even without a privilege change", int_frame_addr, (u64)ist1_top - 40);
  check_eq("IST: the pushed RSP is the interrupted stack pointer", int_frame.sp, k_rsp);
  check_eq("IST: pushed SS is the interrupted SS", int_frame.ss, KDATA);
  check_trap("INT n at CPL 0 with RSP 8 bytes off a 16-byte boundary", trap_catch(kernel_int84_misaligned), NO_TRAP, 0, 0);
  check_eq("64-bit mode aligns RSP to 16 bytes before pushing the frame", int_frame_addr + 40, k_rsp & ~15ull);
  check_eq("the pushed RSP is the unaligned value", int_frame.sp, k_rsp);
  for (int v = 0x82; v <= 0x84; v++) {
    idt_restore(v);
    set_trap_handler(v, 0);
  }
  idt_set_ist(0x83, 0);
  /* The error code holds the IDT index (the vector) in bits 15:3 even though 64-bit gates are 16 bytes. */
  int v = run_user(user_int_dpl0, 0);
  const char *dpl_check = "INT n from CPL 3 through a DPL-0 gate: #GP(vector * 8 + 2)";
  if (cpu.is_qemu_tcg && v == GP_VECTOR && trap.error == 0x85 * 16 + 2)
    skip(dpl_check, "QEMU TCG 7.2 encodes the IDT index as vector * 16 in long mode (QEMU issue 1382)");
  else check_trap(dpl_check, v, GP_VECTOR, 0x85 * 8 + 2, (ulong)u_int_dpl0_site);
  check_eq("#GP from CPL 3: pushed SS is the user's", trap.ss, UDATA);
}

/* ---- compatibility mode and SWAPGS -------------------------------------------------------- */

DECLARE_SITE(u_swapgs_site);
static NOINLINE void user_swapgs(void) { __asm__ volatile(SITE(u_swapgs_site) "swapgs" ::: "memory"); }

static void test_compat_and_swapgs(void) {
  u32_cs = 0;
  check_trap("IRETQ to a 32-bit code segment at CPL 3 (compatibility mode)", run_user32((ulong)user32_code, 0), NO_TRAP, 0, 0);
  check_eq("compatibility mode: CS is the 32-bit user selector", u32_cs, UCODE32);
  check_eq("compatibility mode: PUSH stores 4 bytes (IRETQ path)", u32_push_size, 4);
  /* Canonical values: WRMSR of a non-canonical base is #GP(0). */
  wrmsr(MSR_GS_BASE, 0x0000111100001111ull);
  wrmsr(MSR_KERNEL_GS_BASE, 0xffff888822220000ull);
  __asm__ volatile("swapgs" ::: "memory");
  check_eq("SWAPGS: GS.base takes IA32_KERNEL_GS_BASE", rdmsr(MSR_GS_BASE), 0xffff888822220000ull);
  check_eq("SWAPGS: IA32_KERNEL_GS_BASE takes the old GS.base", rdmsr(MSR_KERNEL_GS_BASE), 0x0000111100001111ull);
  __asm__ volatile("swapgs" ::: "memory");
  check_trap("SWAPGS at CPL 3: #GP(0)", run_user(user_swapgs, 0), GP_VECTOR, 0, (ulong)u_swapgs_site);
  wrmsr(MSR_GS_BASE, 0);
  wrmsr(MSR_KERNEL_GS_BASE, 0);
}

void test_main(void) {
  test_syscall();
  test_interrupt_frames();
  test_compat_and_swapgs();
}
