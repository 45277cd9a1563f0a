/* @guest bits=64 cpu=max,+svm machine=pc smp=2 timeout=60 -- SVM on two CPUs: a guest per CPU with its own ASID and host save area, running at the same time; an IPI from CPU 0 exits CPU 1's guest with #VMEXIT(INTR) */
/*
 * SVM with a second CPU (AMD64 APM Vol. 2):
 * - §15.30.4 VM_HSAVE_PA is per processor: each CPU has a host save area of its own, and each
 *   #VMEXIT returns to the host context that executed the VMRUN on that CPU (RSP, RIP, RAX);
 * - §15.16 ASIDs: CPU 0's guest runs with ASID 1 and CPU 1's with ASID 2 at the same time,
 *   each one's intercepts taken on its own CPU (CPU 0: CPUID intercepts, resumed with nRIP
 *   or RIP + 2; CPU 1: none until the interrupt);
 * - §15.13.1 the INTR intercept: a fixed IPI from CPU 0 to CPU 1 while CPU 1 is in its guest
 *   (RFLAGS.IF = 1, V_INTR_MASKING = 0) causes #VMEXIT(INTR) (60h) on CPU 1; the interrupt
 *   is not acknowledged and CPU 1's host takes it once it sets GIF and IF.
 * The BSP starts the AP (INIT + SIPI to vector 8, as in programs/smp.c); the AP runs its guest
 * and leaves its results in memory; only the BSP prints.
 */
#include "apic_hw.h"
#include "svm.h"

const char test_name[] = "svm_smp";

#define TRAMP 0x8000ul /* SIPI vector 0x08 */
#define V_IPI 0x52

void ap_main(void);

/* The AP's way to long mode, copied to TRAMP (as in programs/vmx_smp.c). */
__asm__(".pushsection .text.ssmp_tramp, \"ax\"\n"
        ".code16\n"
        ".global ssmp_start, ssmp_end, ssmp_gdtr, ssmp_cr3, ssmp_efer, ssmp_ticket\n"
        "ssmp_start:\n"
        "  cli\n  cld\n"
        "  mov %cs, %ax\n  mov %ax, %ds\n"
        "  lgdtl (ssmp_gdtr - ssmp_start)\n"
        "  mov %cr0, %eax\n  or $1, %eax\n  mov %eax, %cr0\n"
        "  ljmpl $0x40, $(0x8000 + ssmp_pm32 - ssmp_start)\n"
        ".code32\n"
        "ssmp_pm32:\n"
        "  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
        "  mov %cr4, %eax\n  or $0x20, %eax\n  mov %eax, %cr4\n"
        "  mov (0x8000 + ssmp_cr3 - ssmp_start), %eax\n  mov %eax, %cr3\n"
        "  mov $0xc0000080, %ecx\n  rdmsr\n  or (0x8000 + ssmp_efer - ssmp_start), %eax\n  wrmsr\n"
        "  mov %cr0, %eax\n  and $0x9fffffff, %eax\n  or $0x80000021, %eax\n  mov %eax, %cr0\n"
        "  ljmp $0x08, $(0x8000 + ssmp_lm - ssmp_start)\n"
        ".code64\n"
        "ssmp_lm:\n"
        "  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
        "  mov $1, %eax\n"
        "  lock xadd %eax, (0x8000 + ssmp_ticket - ssmp_start)\n"
        "  test %eax, %eax\n  jnz 2f\n"
        "  movabs $ssmp_stack_top, %rsp\n"
        "  movabs $ap_main, %rax\n  call *%rax\n"
        "2:\n  cli\n  hlt\n  jmp 2b\n"
        "  .align 8\n"
        "ssmp_gdtr: .word 0\n .long 0\n"
        "  .align 4\n"
        "ssmp_cr3: .long 0\n"
        "ssmp_efer: .long 0\n"
        "ssmp_ticket: .long 0\n"
        "ssmp_end:\n"
        ".popsection\n");
extern char ssmp_start[], ssmp_end[], ssmp_gdtr[], ssmp_cr3[], ssmp_efer[], ssmp_ticket[];
#define TRAMP_AT(sym) (TRAMP + (ulong)((sym) - ssmp_start))

u8 ssmp_stack[16384] ALIGNED(16);
__asm__(".data\n.globl ssmp_stack_top\n.set ssmp_stack_top, ssmp_stack + 16384\n.text\n");
struct PACKED dtr {
  u16 limit;
  u64 base;
};
static struct dtr bsp_idtr;

/* Per CPU: host save area, VMCB (vmcbs[0] for CPU 0, vmcbs[1] for CPU 1), guest stack. */
static u8 hsave[2][4096] ALIGNED(4096);
static u8 gstack[2][8192] ALIGNED(16);

/*
 * ssmp_vmrun(vmcb_pa): VMRUN on this CPU with the callee-saved registers kept on this CPU's
 * stack; #VMEXIT comes back after VMRUN with RSP and RAX from this CPU's host save area
 * (§15.6). Returns 0 when both are those of this VMRUN (bit 0: RSP differs, bit 1: RAX
 * differs). svm_run() of lib/svm.c keeps its state in globals, so each CPU uses this instead
 * (its guests use no general registers: R12 and RDI survive the guest).
 */
u64 ssmp_vmrun(u64 vmcb_pa);
__asm__(".text\n"
        ".globl ssmp_vmrun\n"
        "ssmp_vmrun:\n"
        "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rdi, %rax\n"
        "  mov %rsp, %r12\n"
        "  vmrun %rax\n"
        "  xor %edx, %edx\n"
        "  cmp %r12, %rsp\n"
        "  setne %dl\n"
        "  xor %ecx, %ecx\n"
        "  cmp %rdi, %rax\n"
        "  setne %cl\n"
        "  lea (%rdx,%rcx,2), %rax\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
        "  ret\n");

/* CPU 0's guest: CPUID (intercepted) until its counter reaches G0_ROUNDS, then VMMCALL. */
#define G0_ROUNDS 2000 /* the immediate in ssmp_guest0 */
volatile u64 g0_count, g1_count;
volatile u32 g1_running;
extern char ssmp_guest0[], ssmp_guest1[];
__asm__(".text\n"
        ".globl ssmp_guest0\n"
        "ssmp_guest0:\n"
        "  lock incq g0_count(%rip)\n"
        "  cpuid\n"
        "  cmpq $2000, g0_count(%rip)\n"
        "  jb ssmp_guest0\n"
        "  vmmcall\n"
        "  ud2\n"
        /* CPU 1's guest: says it runs, then counts for ever (IF = 1: an interrupt exits it). */
        ".globl ssmp_guest1\n"
        "ssmp_guest1:\n"
        "  movl $1, g1_running(%rip)\n"
        "1:\n"
        "  lock incq g1_count(%rip)\n"
        "  jmp 1b\n");

/* ---- the AP ------------------------------------------------------------------------------------ */

static volatile u32 ap_go, ap_ready, ap_done, ap_irqs;
static volatile u64 ap_exitcode, ap_host_state, ap_hsave_pa, ap_irr_after;
static u32 ap_id;

static int ap_irq(struct frame *f) {
  ap_irqs++;
  apic_eoi();
  return 1;
}

void ap_main(void) {
  __asm__ volatile("lidt %0" : : "m"(bsp_idtr));
  apic_setup_xapic(2);
  while (!ap_go) cpu_pause();
  /* §15.4: EFER.SVME and this CPU's own VM_HSAVE_PA. */
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, pa(hsave[1]));
  ap_hsave_pa = rdmsr(MSR_VM_HSAVE_PA);
  ap_ready = 1;
  while (ap_go < 2) cpu_pause();
  clgi();
  ap_host_state = ssmp_vmrun(pa(&vmcbs[1]));
  ap_exitcode = vmcbs[1].control.exitcode;
  ap_irr_after = (u64)apic_vec_bit(APIC_IRR, V_IPI);
  stgi();
  __asm__ volatile("sti; nop; nop; nop; cli" ::: "memory");
  ap_done = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

/* ---- the BSP ----------------------------------------------------------------------------------- */

static void init_vmcb(struct vmcb *v, void *rip, u8 *stack, u32 asid) {
  svm_vmcb_init_guest64(v, (u64)(ulong)rip, (u64)(ulong)(stack + 8192));
  v->control.guest_asid = asid;
  v->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
}

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  apic_setup_xapic(1);
  svm_read_caps();
  if (!svm_caps.supported) {
    skip("SVM with two CPUs", "CPUID 8000_0001h ECX[2] = 0: no SVM");
    return;
  }
  u32 ncpus = fw_cfg_present() ? fw_cfg_u16(FW_CFG_NB_CPUS) : 0;
  if (!check_eq("fw_cfg NB_CPUS = 2 (the program asks for smp=2)", ncpus, 2)) return;
  u32 bsp_id = apic_read(APIC_ID) >> 24;
  ap_id = bsp_id == 0 ? 1 : 0;
  set_trap_handler(V_IPI, ap_irq);

  u32 size = (u32)(ssmp_end - ssmp_start);
  if (size > 4096) panic("trampoline too large (%u bytes)", size);
  memcpy((void *)TRAMP, ssmp_start, size);
  struct dtr gdtr;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(bsp_idtr));
  if (gdtr.base >> 32 || read_cr3() >> 32) panic("GDT or page tables above 4 GiB");
  *(volatile u16 *)TRAMP_AT(ssmp_gdtr) = gdtr.limit;
  *(volatile u32 *)TRAMP_AT(ssmp_gdtr + 2) = (u32)gdtr.base;
  *(volatile u32 *)TRAMP_AT(ssmp_cr3) = (u32)read_cr3();
  *(volatile u32 *)TRAMP_AT(ssmp_efer) = (u32)rdmsr(MSR_EFER) & (EFER_SCE | EFER_LME | EFER_NXE);
  *(volatile u32 *)TRAMP_AT(ssmp_ticket) = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  apic_icr(ap_id, ICR_INIT | ICR_ASSERT);
  apic_icr(ap_id, ICR_STARTUP | ICR_ASSERT | (u32)(TRAMP >> 12));
  wait_count((volatile u32 *)TRAMP_AT(ssmp_ticket), 1, 3000);
  if (!check_eq("the AP starts", *(volatile u32 *)TRAMP_AT(ssmp_ticket), 1)) return;

  /* The BSP enables SVM with its own host save area and prepares both VMCBs. */
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, pa(hsave[0]));
  init_vmcb(&vmcbs[0], ssmp_guest0, gstack[0], 1);
  vmcbs[0].control.intercept_misc1 |= INTERCEPT_CPUID;
  init_vmcb(&vmcbs[1], ssmp_guest1, gstack[1], 2);
  vmcbs[1].control.intercept_misc1 |= INTERCEPT_INTR;
  vmcbs[1].save.rflags = FL_FIXED | FL_IF;
  ap_go = 1;
  wait_count(&ap_ready, 1, 3000);
  if (!check_eq("the AP enables SVM", ap_ready, 1)) return;
  check_eq("VM_HSAVE_PA is per CPU: the AP reads back its own", ap_hsave_pa, pa(hsave[1]));
  check_eq("VM_HSAVE_PA is per CPU: the BSP reads back its own", rdmsr(MSR_VM_HSAVE_PA), pa(hsave[0]));

  ap_go = 2;
  wait_count(&g1_running, 1, 3000);
  if (!check_eq("CPU 1's guest (ASID 2) runs", g1_running, 1)) return;

  /* CPU 0 runs its own guest (ASID 1) meanwhile: every CPUID exits here and is resumed. */
  u64 g1_before = g1_count, exits = 0, host_state = 0;
  u64 code;
  for (;;) {
    clgi();
    host_state |= ssmp_vmrun(pa(&vmcbs[0]));
    stgi();
    vmcbs[0].control.tlb_control = TLB_CONTROL_DO_NOTHING;
    code = vmcbs[0].control.exitcode;
    if (code != SVM_EXIT_CPUID) break;
    exits++;
    struct vmcb *v = &vmcbs[0];
    v->save.rip = v->control.nrip ? v->control.nrip : v->save.rip + 2;
  }
  check_eq("every #VMEXIT on CPU 0 restores CPU 0's host RSP and RAX", host_state, 0);
  check_eq("CPU 0's guest (ASID 1) ends with VMMCALL", code, SVM_EXIT_VMMCALL);
  check_eq("CPU 0's guest: one CPUID intercept per round on CPU 0", exits, G0_ROUNDS);
  check_eq("CPU 0's guest counted to its end", g0_count, G0_ROUNDS);
  check_true("CPU 1's guest ran on at the same time", g1_count > g1_before, "its counter did not move");

  /* A fixed IPI to CPU 1: #VMEXIT(INTR) there. */
  apic_icr(ap_id, ICR_FIXED | ICR_ASSERT | V_IPI);
  wait_count(&ap_done, 1, 3000);
  if (!check_eq("CPU 1 comes back from its guest after the IPI", ap_done, 1)) return;
  check_eq("the IPI exits CPU 1's guest with #VMEXIT(INTR) (60h)", ap_exitcode, SVM_EXIT_INTR);
  check_eq("#VMEXIT(INTR) on CPU 1: the interrupt is still requested (IRR)", ap_irr_after, 1);
  check_eq("CPU 1's host takes the interrupt after STGI and STI", ap_irqs, 1);
  check_eq("#VMEXIT on CPU 1 restores CPU 1's host RSP and RAX (its own host save area)", ap_host_state, 0);
  u64 g1 = g1_count;
  for (volatile u32 i = 0; i < 100000; i++) {
    /* a busy loop without PAUSE (on hvkit PAUSE hands the turn to the other core) */
  }
  check_eq("CPU 1's guest no longer runs", g1_count, g1);
}
