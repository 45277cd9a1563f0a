/* @guest bits=64 cpu=max,+vmx machine=pc smp=2 timeout=60 -- VMX and the other CPU: INIT blocked in VMX root operation (held until VM entry or VMXOFF), INIT exits, SIPIs discarded when active, the wait-for-SIPI activity state (SIPI exit with the vector, timer and interrupts blocked), the HLT activity state woken by an IPI */
/*
 * VMX and multiprocessor signals (SDM Vol. 3C):
 * - §24.8 "Restrictions on VMX Operation": INIT signals are blocked whenever a logical processor
 *   is in VMX root operation; they are not blocked in VMX non-root operation, where they cause VM
 *   exits. VMXOFF unblocks INIT (chapter 30, VMXOFF "Operation"). A blocked INIT stays pending: it
 *   causes an INIT exit as soon as VM entry leaves root operation, and resets the processor
 *   (wait-for-SIPI) at VMXOFF.
 * - §25.2 "Other Causes of VM Exits": INIT signals cause VM exits (reason 3) without their normal
 *   effects (registers are not reset); SIPIs cause VM exits (reason 4) only in the wait-for-SIPI
 *   state, with the SIPI vector as exit qualification (§27.2.1); all other exits that carry no
 *   qualification save 0.
 * - §26.7.2 "Activity State": the active and HLT states block (discard) SIPIs; the wait-for-SIPI
 *   state blocks external interrupts, NMIs, INIT and SMIs; §25.5.1: the VMX-preemption timer
 *   causes no exit in the wait-for-SIPI state; §27.1: an event that exits directly from an inactive
 *   state saves that activity state (the return to the active state follows the exit).
 * - §26.7.2 and §27.1 for the HLT state: an interrupt wakes the guest and is delivered through its
 *   IDT, or, with external-interrupt exiting, causes exit 1 with activity state HLT saved.
 * The BSP starts the AP (INIT + SIPI to vector 8, as in programs/smp.c), the AP enters VMX
 * operation and runs every guest; the BSP sends the signals when the AP asks for them. Only one
 * CPU prints at a time: the AP from phase 1 to 9, the BSP before and after.
 */
#include "apic_hw.h"
#include "vmx.h"

const char test_name[] = "vmx_smp";

#define TRAMP 0x8000ul /* SIPI vector 0x08 */
#define MAX_TICKETS 2

void ap_main(u32 ticket);

/*
 * The AP's way to long mode, copied to TRAMP: real mode loads the BSP's GDT (its 32-bit base is
 * patched in), enters 32-bit protected mode through KCODE32, turns on PAE, the BSP's CR3 and
 * IA32_EFER (LME, NXE, SCE), paging, then KCODE (64-bit) and calls ap_main(ticket) on a stack of
 * its own. A second start (after the INIT that VMXOFF unblocks) takes the next ticket.
 */
__asm__(".pushsection .text.vsmp_tramp, \"ax\"\n"
        ".code16\n"
        ".global vsmp_start, vsmp_end, vsmp_gdtr, vsmp_cr3, vsmp_efer, vsmp_ticket\n"
        "vsmp_start:\n"
        "  cli\n  cld\n"
        "  mov %cs, %ax\n  mov %ax, %ds\n"
        "  lgdtl (vsmp_gdtr - vsmp_start)\n"
        "  mov %cr0, %eax\n  or $1, %eax\n  mov %eax, %cr0\n"
        "  ljmpl $0x40, $(0x8000 + vsmp_pm32 - vsmp_start)\n"
        ".code32\n"
        "vsmp_pm32:\n"
        "  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
        "  mov %cr4, %eax\n  or $0x20, %eax\n  mov %eax, %cr4\n"
        "  mov (0x8000 + vsmp_cr3 - vsmp_start), %eax\n  mov %eax, %cr3\n"
        "  mov $0xc0000080, %ecx\n  rdmsr\n  or (0x8000 + vsmp_efer - vsmp_start), %eax\n  wrmsr\n"
        "  mov %cr0, %eax\n  and $0x9fffffff, %eax\n  or $0x80000021, %eax\n  mov %eax, %cr0\n" /* PG, NE, PE; caches on */
        "  ljmp $0x08, $(0x8000 + vsmp_lm - vsmp_start)\n"
        ".code64\n"
        "vsmp_lm:\n"
        "  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
        "  mov $1, %eax\n"
        "  lock xadd %eax, (0x8000 + vsmp_ticket - vsmp_start)\n"
        "  cmp $2, %eax\n  jae 2f\n"
        "  mov %eax, %edi\n  lea 1(%rax), %rcx\n  shl $14, %rcx\n"
        "  movabs $vsmp_stacks, %rsp\n  add %rcx, %rsp\n"
        "  movabs $ap_main, %rax\n  call *%rax\n"
        "2:\n  cli\n  hlt\n  jmp 2b\n"
        "  .align 8\n"
        "vsmp_gdtr: .word 0\n .long 0\n"
        "  .align 4\n"
        "vsmp_cr3: .long 0\n"
        "vsmp_efer: .long 0\n"
        "vsmp_ticket: .long 0\n"
        "vsmp_end:\n"
        ".popsection\n");
extern char vsmp_start[], vsmp_end[], vsmp_gdtr[], vsmp_cr3[], vsmp_efer[], vsmp_ticket[];
#define TRAMP_AT(sym) (TRAMP + (ulong)((sym) - vsmp_start))

u8 vsmp_stacks[MAX_TICKETS][16384] ALIGNED(16);
struct PACKED dtr {
  u16 limit;
  u64 base;
};
static struct dtr bsp_idtr;

/* ---- the hand-shake ------------------------------------------------------------------------ */

/* The phase the AP asked the BSP to act on, and the last phase the BSP is acting / has acted on. */
volatile u32 ap_phase, bsp_sending, bsp_acted, g_phase, g_ready;
static volatile u32 ap_back, ap_go, ap_after_vmxoff, ap_restarted, ap_irqs;
static u32 ap_id;

static void ap_request(u32 phase) {
  g_ready = 0;
  g_phase = phase;
  __atomic_store_n(&ap_phase, phase, __ATOMIC_RELEASE);
}
static int ap_wait_acted(u32 phase) {
  for (u32 i = 0; i < 20000000u; i++) {
    if (bsp_acted >= phase) return 1;
    cpu_pause();
  }
  return 0;
}
/* A busy loop without PAUSE (on hvkit PAUSE hands the turn to the other core). */
static void spin(u32 n) {
  for (volatile u32 i = 0; i < n; i++) {
  }
}
static int spin_until(volatile u32 *flag, u32 value, u32 n) {
  for (u32 i = 0; i < n; i++) {
    if (*flag >= value) return 1;
    cpu_pause();
  }
  return *flag >= value;
}

/*
 * The guest the AP runs for the INIT and SIPI cases: it says it runs (g_ready), waits until the
 * BSP has sent this phase's signal (bounded), spins a while longer and ends with VMCALL.
 */
DECLARE_SITE(s_g_wait);
DECLARE_SITE(s_g_wait_end);
DECLARE_SITE(s_done);
__asm__(".text\n" SITE(s_g_wait) "  movl $1, g_ready(%rip)\n"
        "  mov $20000000, %ecx\n"
        "1: pause\n  mov bsp_acted(%rip), %eax\n  cmp g_phase(%rip), %eax\n  jae 2f\n  dec %ecx\n  jnz 1b\n"
        "2: mov $20000, %ecx\n"
        "3: nop\n  dec %ecx\n  jnz 3b\n" SITE(s_g_wait_end) SITE(s_done) "  mov $0x600d, %eax\n  vmcall\n  ud2\n");

static int ap_irq(struct frame *f) {
  ap_irqs++;
  apic_eoi();
  return 1;
}

/* ---- the AP ---------------------------------------------------------------------------------------- */

static void ap_vmx(void) {
  struct vmx_exit e;
  const u64 marker = 0x1234567887654321ull;
  apic_setup_xapic(2);
  set_trap_handler(0x51, ap_irq);
  set_trap_handler(0x52, ap_irq);
  set_trap_handler(0x53, ap_irq);
  int out = vmx_on();
  if (!check_vmx("the AP enters VMX operation (VMXON)", out, VMX_OK)) {
    ap_request(100);
    return;
  }

  /* Phase 1: INIT while the AP is in VMX root operation. */
  ap_request(1);
  int sent = ap_wait_acted(1);
  spin(20000);
  check_true("INIT to the AP in VMX root operation is blocked: the AP keeps running", sent, "the BSP never sent it");
  check_eq("a blocked INIT does not reset the local APIC (still software-enabled)", apic_read(APIC_SVR) & APIC_SVR_ENABLE, APIC_SVR_ENABLE);
  vmcs_init_guest64(0);
  vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
  e = vmx_enter();
  check_exit_qual("the INIT held pending in VMX root operation causes an INIT exit (3, qualification 0) at VM entry", &e, EXIT_REASON_INIT, 0);
  check_eq("pending INIT exit: guest RIP is the entry point (no instruction ran)", e.guest_rip, (u64)(ulong)s_done);

  /* Phase 2: INIT while the guest runs. */
  vmcs_init_guest64(0);
  vmcs_write(GUEST_RIP, (u64)(ulong)s_g_wait);
  vmx_guest_regs.r12 = marker;
  u64 cr0 = vmcs_read(GUEST_CR0);
  ap_request(2);
  e = vmx_enter();
  ap_back = 2;
  check_exit_qual("INIT while the guest runs: exit 3 with qualification 0", &e, EXIT_REASON_INIT, 0);
  check_true("INIT exit: guest RIP still in the guest's loop (INIT did not reset the guest)",
             e.guest_rip >= (u64)(ulong)s_g_wait && e.guest_rip < (u64)(ulong)s_g_wait_end, "RIP outside the loop");
  check_true("INIT exit: guest R12, CR0 and CS unchanged", vmx_guest_regs.r12 == marker && vmcs_read(GUEST_CR0) == cr0 && vmcs_read(GUEST_CS_SELECTOR) == KCODE,
             "state changed");
  check_eq("INIT exit: saved activity state active (0)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
  check_eq("an INIT that causes a VM exit does not reset the local APIC (still software-enabled)", apic_read(APIC_SVR) & APIC_SVR_ENABLE,
           APIC_SVR_ENABLE);
  apic_setup_xapic(2); /* so that the interrupt checks below do not depend on the two checks above */

  /* Phase 3: a SIPI while the guest is active is discarded. */
  vmcs_init_guest64(0);
  vmcs_write(GUEST_RIP, (u64)(ulong)s_g_wait);
  ap_request(3);
  e = vmx_enter();
  ap_back = 3;
  check_guest_done("a SIPI while the guest is in the active state is discarded: no exit, the guest runs to its end", &e);

  /* Phase 4: the wait-for-SIPI activity state; the preemption timer does not end it. */
  if (vmx_caps.misc & MISC_ACT_WAIT_SIPI) {
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
    int timer = HAS_PIN(PIN_PREEMPT);
    if (timer) {
      vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
      vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 1);
    }
    ap_request(4);
    e = vmx_enter();
    ap_back = 4;
    check_exit_qual("wait-for-SIPI activity state: a SIPI with vector 0x0B exits with reason 4, qualification 0x0B", &e, EXIT_REASON_SIPI, 0x0b);
    if (timer) check_true("wait-for-SIPI: the VMX-preemption timer (value 1) caused no exit", e.reason != EXIT_REASON_PREEMPTION_TIMER, "exit 52");
    check_eq("SIPI exit: saved activity state wait-for-SIPI (3)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
    check_eq("SIPI exit: guest RIP unchanged", e.guest_rip, (u64)(ulong)s_done);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_clear_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    e = vmx_enter();
    check_guest_done("after the SIPI exit the guest resumes in the active state", &e);

    /* Phase 5: wait-for-SIPI blocks external interrupts, even with external-interrupt exiting. */
    if (HAS_PIN(PIN_EXTINT)) {
      vmcs_init_guest64(0);
      vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
      vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
      vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
      vmcs_clear_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
      ap_request(5);
      e = vmx_enter();
      ap_back = 5;
      check_exit_qual("wait-for-SIPI blocks an IPI despite external-interrupt exiting: the later SIPI 0x0C exits (4)", &e, EXIT_REASON_SIPI, 0x0c);
      check_eq("the blocked interrupt stays requested in the AP's IRR", (u64)apic_vec_bit(APIC_IRR, 0x51), 1);
      ap_irqs = 0;
      irq_window();
      check_eq("the AP takes the blocked interrupt in VMX root operation once IF = 1", ap_irqs, 1);
    }
  } else {
    skip("wait-for-SIPI activity state", "IA32_VMX_MISC[8] = 0");
    ap_request(5);
    ap_back = 5;
  }

  /* Phase 6: the HLT activity state, woken by an IPI delivered through the guest's IDT. */
  if (vmx_caps.misc & MISC_ACT_HLT) {
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF);
    ap_irqs = 0;
    ap_request(6);
    e = vmx_enter();
    ap_back = 6;
    check_guest_done("HLT activity state: an IPI wakes the guest, which runs to its end", &e);
    check_eq("HLT activity state: the guest woke only after the BSP sent the IPI", bsp_sending >= 6, 1);
    check_eq("HLT activity state: the IPI was delivered through the guest IDT (its handler ran once)", ap_irqs, 1);

    /* Phase 7: the same with external-interrupt exiting (and acknowledge interrupt on exit). */
    if (HAS_PIN(PIN_EXTINT)) {
      int ack = HAS_EXIT(EXIT_ACK_INTR);
      vmcs_init_guest64(0);
      vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
      vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
      vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
      if (ack) vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
      ap_irqs = 0;
      ap_request(7);
      e = vmx_enter();
      ap_back = 7;
      check_exit("HLT activity state with external-interrupt exiting: the IPI exits with reason 1", &e, EXIT_REASON_EXTERNAL_INTERRUPT);
      check_eq("external-interrupt exit from HLT: saved activity state HLT (1)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
      check_eq("external-interrupt exit from HLT: guest RIP unchanged", e.guest_rip, (u64)(ulong)s_done);
      if (ack) {
        check_eq("external-interrupt exit from HLT, acknowledged: interruption information valid | vector 0x53", e.intr_info, INTR_INFO_VALID | 0x53);
        apic_eoi();
      } else {
        irq_window();
      }
    } else {
      ap_request(7);
      ap_back = 7;
    }
  } else {
    skip("HLT activity state", "IA32_VMX_MISC[6] = 0");
    ap_request(7);
    ap_back = 7;
  }

  /* Phase 8: INIT while the guest is in the HLT activity state: exit 3, the HLT state saved (§27.1). */
  if (vmx_caps.misc & MISC_ACT_HLT) {
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_done);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    ap_request(8);
    e = vmx_enter();
    ap_back = 8;
    check_exit_qual("INIT while the guest is in the HLT activity state: exit 3, qualification 0", &e, EXIT_REASON_INIT, 0);
    check_eq("INIT exit from HLT: saved activity state HLT (1)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    check_eq("INIT exit from HLT: guest RIP unchanged", e.guest_rip, (u64)(ulong)s_done);
    apic_setup_xapic(2);
  } else {
    ap_request(8);
    ap_back = 8;
  }

  /* Phase 9: another INIT in VMX root operation, then VMXOFF (phase 10), which unblocks it. */
  ap_request(9);
  sent = ap_wait_acted(9);
  spin(20000);
  check_true("a second INIT in VMX root operation is blocked too", sent, "the BSP never sent it");
  ap_request(10); /* from here on the BSP prints */
  vmxoff();
  ap_after_vmxoff = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

void ap_main(u32 ticket) {
  __asm__ volatile("lidt %0" : : "m"(bsp_idtr));
  if (ticket != 0) {
    ap_restarted = ticket + 1;
    for (;;) __asm__ volatile("cli; hlt");
  }
  spin_until(&ap_go, 1, 50000000u);
  ap_vmx();
  ap_request(100);
  for (;;) __asm__ volatile("cli; hlt");
}

/* ---- the BSP --------------------------------------------------------------------------------------- */

static int bsp_wait(u32 phase) {
  if (wait_count(&ap_phase, phase, 5000) && ap_phase != 100) return 1;
  fail("the AP reaches the next phase", "the AP stopped before phase %u (at %u)", phase, ap_phase);
  return 0;
}
static void bsp_send(u32 phase, u32 icr) {
  bsp_sending = phase;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  apic_icr(ap_id, icr);
  __atomic_store_n(&bsp_acted, phase, __ATOMIC_RELEASE);
}
/* Sends a SIPI until the AP is back from its guest (an early one, before VM entry, is discarded). */
static void bsp_sipi_until_back(u32 phase, u32 vector) {
  for (int i = 0; i < 20 && ap_back < phase; i++) {
    spin(20000);
    bsp_send(phase, ICR_STARTUP | ICR_ASSERT | vector);
    spin_until(&ap_back, phase, 20000u);
  }
}

static void bsp_phases(void) {
  if (!bsp_wait(1)) return;
  bsp_send(1, ICR_INIT | ICR_ASSERT);
  if (!bsp_wait(2) || !wait_count(&g_ready, 1, 5000)) return;
  bsp_send(2, ICR_INIT | ICR_ASSERT);
  if (!bsp_wait(3) || !wait_count(&g_ready, 1, 5000)) return;
  bsp_send(3, ICR_STARTUP | ICR_ASSERT | 0x20);
  if (!bsp_wait(4)) return;
  if (vmx_caps.misc & MISC_ACT_WAIT_SIPI) bsp_sipi_until_back(4, 0x0b);
  if (!bsp_wait(5)) return;
  if ((vmx_caps.misc & MISC_ACT_WAIT_SIPI) && HAS_PIN(PIN_EXTINT)) {
    spin(20000);
    bsp_send(5, ICR_FIXED | ICR_ASSERT | 0x51);
    bsp_sipi_until_back(5, 0x0c);
  }
  if (!bsp_wait(6)) return;
  if (vmx_caps.misc & MISC_ACT_HLT) {
    spin(20000);
    bsp_send(6, ICR_FIXED | ICR_ASSERT | 0x52);
  }
  if (!bsp_wait(7)) return;
  if ((vmx_caps.misc & MISC_ACT_HLT) && HAS_PIN(PIN_EXTINT)) {
    spin(20000);
    bsp_send(7, ICR_FIXED | ICR_ASSERT | 0x53);
  }
  if (!bsp_wait(8)) return;
  if (vmx_caps.misc & MISC_ACT_HLT) {
    spin(20000);
    bsp_send(8, ICR_INIT | ICR_ASSERT);
  }
  if (!bsp_wait(9)) return;
  bsp_send(9, ICR_INIT | ICR_ASSERT);
  if (!bsp_wait(10)) return;
  /* The AP executes VMXOFF with the INIT pending: it must be reset, not run on. */
  spin_until(&ap_after_vmxoff, 1, 20000u);
  check_eq("VMXOFF unblocks the pending INIT: the AP is reset and does not run on after VMXOFF", ap_after_vmxoff, 0);
  apic_icr(ap_id, ICR_STARTUP | ICR_ASSERT | (u32)(TRAMP >> 12));
  wait_count(&ap_restarted, 1, 3000);
  check_eq("after that INIT a SIPI restarts the AP at its vector (second ticket)", ap_restarted, 2);
}

void test_main(void) {
  pic_init_masked();
  ioapic_mask_all();
  apic_setup_xapic(1);
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("VMX with two CPUs", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  u32 ncpus = fw_cfg_present() ? fw_cfg_u16(FW_CFG_NB_CPUS) : 0;
  if (!check_eq("fw_cfg NB_CPUS = 2 (the program asks for smp=2)", ncpus, 2)) return;
  u32 bsp_id = apic_read(APIC_ID) >> 24;
  ap_id = bsp_id == 0 ? 1 : 0;

  u32 size = (u32)(vsmp_end - vsmp_start);
  if (size > 4096) panic("trampoline too large (%u bytes)", size);
  memcpy((void *)TRAMP, vsmp_start, size);
  struct dtr gdtr;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(bsp_idtr));
  if (gdtr.base >> 32 || read_cr3() >> 32) panic("GDT or page tables above 4 GiB");
  *(volatile u16 *)TRAMP_AT(vsmp_gdtr) = gdtr.limit;
  *(volatile u32 *)TRAMP_AT(vsmp_gdtr + 2) = (u32)gdtr.base;
  *(volatile u32 *)TRAMP_AT(vsmp_cr3) = (u32)read_cr3();
  *(volatile u32 *)TRAMP_AT(vsmp_efer) = (u32)rdmsr(MSR_EFER) & (EFER_SCE | EFER_LME | EFER_NXE);
  *(volatile u32 *)TRAMP_AT(vsmp_ticket) = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);

  /* INIT, then a start-up IPI to vector 8 (SDM Vol. 3 §10.4, §11.6.1). */
  apic_icr(ap_id, ICR_INIT | ICR_ASSERT);
  apic_icr(ap_id, ICR_STARTUP | ICR_ASSERT | (u32)(TRAMP >> 12));
  wait_count((volatile u32 *)TRAMP_AT(vsmp_ticket), 1, 3000);
  if (!check_eq("the AP starts (one ticket taken)", *(volatile u32 *)TRAMP_AT(vsmp_ticket), 1)) return;
  ap_go = 1; /* the AP prints from now until it asks for phase 10 */
  bsp_phases();
  if (ap_phase == 100) fail("the AP ran every phase", "the AP gave up");
}
