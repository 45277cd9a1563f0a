/* @guest bits=64 cpu=max,+vmx timeout=60 -- VM-entry checks: controls (VMfailValid 7), host state (8), guest state (exit 33), MSR loading (exit 34) */
/*
 * Every VM-entry check of SDM Vol. 3C §26.2 (VMX controls and host-state area: VMfailValid
 * with VM-instruction error 7 or 8) and §26.3.1 (guest-state area: a VM-entry failure, exit
 * reason 33 with bit 31 set), and the VM-entry MSR-load list of §26.4 (exit reason 34, the
 * qualification being the 1-based index of the failing entry). Every case starts from a VMCS
 * that enters (vmcs_init_guest64), changes one thing and names the expected outcome; each
 * rule has a passing case next to its failing ones. §26.8 gives the exit qualification of
 * failed guest-state checks: 0, or 4 for the VMCS link pointer.
 */
#include "vmx.h"

const char test_name[] = "vmx_entry";

enum want { W_OK, W_CTRL, W_HOST, W_GUEST, W_MSR, W_EXIT };

static u8 io_a[4096] ALIGNED(4096), io_b[4096] ALIGNED(4096), msr_bitmap[4096] ALIGNED(4096);
static u8 vapic[4096] ALIGNED(4096), apic_access[4096] ALIGNED(4096), link_vmcs[4096] ALIGNED(4096);
static u8 eptp_list[4096] ALIGNED(4096), posted_desc[64] ALIGNED(64);
static struct {
  u32 index, reserved;
  u64 value;
} msr_list[4] ALIGNED(16), msr_store[4] ALIGNED(16);

static u64 beyond;                          /* 1 << physical-address width */
/* Not canonical for 48-bit and for 57-bit (LA57) linear addresses alike (bits 63:57 differ). */
#define NONCANON 0x4000000000000000ull
#define NONCANON_ALL 0x8000000000000000ull

static void guest_nop(void) {}
static volatile u64 guest_kgs;
static void guest_read_kgs(void) { guest_kgs = rdmsr(MSR_KERNEL_GS_BASE); }

/* Injected events arrive at these handlers in the guest (the guest shares the IDT). */
static volatile int inj_vector;
static volatile u64 inj_error, inj_ip;
static int inj_handler(struct frame *f) {
  inj_vector = (int)f->vector;
  inj_error = f->error;
  inj_ip = f->ip;
  return 1;
}

static void reset(void) {
  vmcs_init_guest64(guest_nop);
  inj_vector = -1;
}

static void expect(const char *check, enum want want, u64 qual) {
  struct vmx_exit e = vmx_enter();
  switch (want) {
  case W_OK: check_guest_done(check, &e); break;
  case W_CTRL: check_entry_fail(check, &e, VMXERR_ENTRY_INVALID_CONTROL); break;
  case W_HOST: check_entry_fail(check, &e, VMXERR_ENTRY_INVALID_HOST_STATE); break;
  case W_GUEST: check_exit_qual(check, &e, EXIT_REASON_INVALID_STATE | EXIT_REASON_FAILED_ENTRY, qual); break;
  case W_MSR: check_exit_qual(check, &e, EXIT_REASON_MSR_LOAD_FAIL | EXIT_REASON_FAILED_ENTRY, qual); break;
  case W_EXIT: check_exit(check, &e, (u32)qual); break;
  }
}

/* One case: reset the VMCS, run `code`, enter, compare. */
#define CASE(check, want, qual, code)                                                                                                     \
  do {                                                                                                                                    \
    reset();                                                                                                                              \
    code;                                                                                                                                 \
    expect(check, want, qual);                                                                                                            \
  } while (0)
#define W(f, v) vmcs_write(f, v)
#define SET(f, b) vmcs_set_bits(f, b)
#define CLR(f, b) vmcs_clear_bits(f, b)
#define NEED(cond, check, why)                                                                                                            \
  if (!(cond)) {                                                                                                                          \
    skip(check, "%s", why);                                                                                                               \
  } else

static u32 lowest(u32 bits) { return bits & (~bits + 1); }

/* ---- VMX controls (§26.2.1) ----------------------------------------------------------------- */

static void reserved_controls(const char *name, u32 field, u64 cap, u32 extra) {
  char c[120];
  snprintf(c, sizeof c, "%s controls as the capability MSR allows: VM entry succeeds", name);
  CASE(c, W_OK, 0, if (extra) SET(CPU_BASED_VM_EXEC_CONTROL, extra));
  u32 must0 = ~(u32)(cap >> 32), must1 = (u32)cap;
  snprintf(c, sizeof c, "%s controls: a bit whose allowed-1 setting is 0 set: VMfailValid(7)", name);
  NEED(must0, c, "every control may be 1") CASE(c, W_CTRL, 0, if (extra) SET(CPU_BASED_VM_EXEC_CONTROL, extra); SET(field, lowest(must0)));
  snprintf(c, sizeof c, "%s controls: a bit whose allowed-0 setting is 1 cleared: VMfailValid(7)", name);
  NEED(must1, c, "every control may be 0") CASE(c, W_CTRL, 0, if (extra) SET(CPU_BASED_VM_EXEC_CONTROL, extra); CLR(field, lowest(must1)));
}

static void test_controls(void) {
  reserved_controls("pin-based", PIN_BASED_VM_EXEC_CONTROL, vmx_caps.pin, 0);
  reserved_controls("primary processor-based", CPU_BASED_VM_EXEC_CONTROL, vmx_caps.proc, 0);
  reserved_controls("VM-exit", VM_EXIT_CONTROLS, vmx_caps.exit, 0);
  reserved_controls("VM-entry", VM_ENTRY_CONTROLS, vmx_caps.entry, 0);
  if (HAS_PROC(CPU_SECONDARY)) {
    reserved_controls("secondary processor-based", SECONDARY_VM_EXEC_CONTROL, vmx_caps.proc2, CPU_SECONDARY);
    CASE("secondary controls are ignored when 'activate secondary controls' = 0", W_OK, 0,
         CLR(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
         W(SECONDARY_VM_EXEC_CONTROL, 0xffffffffu));
  }

  /* CR3-target count (§26.2.1.1): at most the number IA32_VMX_MISC reports (4). */
  u32 n = MISC_CR3_TARGETS(vmx_caps.misc);
  CASE("CR3-target count = IA32_VMX_MISC[24:16]: VM entry succeeds", W_OK, 0, W(CR3_TARGET_COUNT, n));
  CASE("CR3-target count above IA32_VMX_MISC[24:16]: VMfailValid(7)", W_CTRL, 0, W(CR3_TARGET_COUNT, n + 1));

  /* I/O bitmaps. */
  const char *c = "use I/O bitmaps: 4 KiB-aligned bitmap addresses: VM entry succeeds";
  NEED(HAS_PROC(CPU_IO_BITMAP), c, "no 'use I/O bitmaps'") {
    CASE(c, W_OK, 0, SET(CPU_BASED_VM_EXEC_CONTROL, CPU_IO_BITMAP); W(IO_BITMAP_A, pa(io_a)); W(IO_BITMAP_B, pa(io_b)));
    CASE("use I/O bitmaps: I/O bitmap A not 4 KiB aligned: VMfailValid(7)", W_CTRL, 0,
         SET(CPU_BASED_VM_EXEC_CONTROL, CPU_IO_BITMAP); W(IO_BITMAP_A, pa(io_a) + 0x800); W(IO_BITMAP_B, pa(io_b)));
    CASE("use I/O bitmaps: I/O bitmap B beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
         SET(CPU_BASED_VM_EXEC_CONTROL, CPU_IO_BITMAP); W(IO_BITMAP_A, pa(io_a)); W(IO_BITMAP_B, pa(io_b) | beyond));
    CASE("I/O bitmap addresses are not checked when 'use I/O bitmaps' = 0", W_OK, 0, W(IO_BITMAP_A, pa(io_a) + 0x800));
  }
  c = "use MSR bitmaps: a 4 KiB-aligned MSR-bitmap address: VM entry succeeds";
  NEED(HAS_PROC(CPU_MSR_BITMAP), c, "no 'use MSR bitmaps'") {
    CASE(c, W_OK, 0, SET(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP); W(MSR_BITMAP, pa(msr_bitmap)));
    CASE("use MSR bitmaps: MSR-bitmap address not 4 KiB aligned: VMfailValid(7)", W_CTRL, 0,
         SET(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP); W(MSR_BITMAP, pa(msr_bitmap) + 0x10));
    CASE("use MSR bitmaps: MSR-bitmap address beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
         SET(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP); W(MSR_BITMAP, pa(msr_bitmap) | beyond));
  }

  /* TPR shadow: virtual-APIC address, TPR threshold (§26.2.1.1). */
  c = "use TPR shadow: aligned virtual-APIC page, TPR threshold 2 <= VTPR[7:4] = 2: VM entry succeeds";
  NEED(HAS_PROC(CPU_TPR_SHADOW), c, "no 'use TPR shadow'") {
    memset(vapic, 0, sizeof vapic);
    vapic[0x80] = 0x20;
#define TPR_SHADOW SET(CPU_BASED_VM_EXEC_CONTROL, CPU_TPR_SHADOW); W(VIRTUAL_APIC_PAGE_ADDR, pa(vapic)); W(TPR_THRESHOLD, 0)
    CASE(c, W_OK, 0, TPR_SHADOW; W(TPR_THRESHOLD, 2));
    CASE("use TPR shadow: virtual-APIC address not 4 KiB aligned: VMfailValid(7)", W_CTRL, 0, TPR_SHADOW; W(VIRTUAL_APIC_PAGE_ADDR, pa(vapic) + 0x80));
    CASE("use TPR shadow: virtual-APIC address beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
         TPR_SHADOW; W(VIRTUAL_APIC_PAGE_ADDR, pa(vapic) | beyond));
    CASE("use TPR shadow: TPR threshold bits 31:4 not 0: VMfailValid(7)", W_CTRL, 0, TPR_SHADOW; W(TPR_THRESHOLD, 0x10));
    CASE("use TPR shadow: TPR threshold 3 > VTPR[7:4] = 2: VMfailValid(7)", W_CTRL, 0, TPR_SHADOW; W(TPR_THRESHOLD, 3));
    c = "virtualize x2APIC mode and virtualize APIC accesses both 1: VMfailValid(7)";
    NEED(HAS_PROC2(CPU2_VIRT_X2APIC) && HAS_PROC2(CPU2_VIRT_APIC_ACCESS), c, "not both supported")
    CASE(c, W_CTRL, 0, TPR_SHADOW; SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); W(APIC_ACCESS_ADDR, pa(apic_access));
         SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VIRT_X2APIC | CPU2_VIRT_APIC_ACCESS));
    c = "virtual-interrupt delivery with external-interrupt exiting = 0: VMfailValid(7)";
    NEED(HAS_PROC2(CPU2_VINTR_DELIVERY), c, "no virtual-interrupt delivery")
    CASE(c, W_CTRL, 0, TPR_SHADOW; SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VINTR_DELIVERY);
         CLR(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT));
  }
  c = "virtualize x2APIC mode without 'use TPR shadow': VMfailValid(7)";
  NEED(HAS_PROC2(CPU2_VIRT_X2APIC), c, "no virtualize x2APIC mode")
  CASE(c, W_CTRL, 0, CLR(CPU_BASED_VM_EXEC_CONTROL, CPU_TPR_SHADOW); SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
       SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VIRT_X2APIC));
  c = "APIC-register virtualization without 'use TPR shadow': VMfailValid(7)";
  NEED(HAS_PROC2(CPU2_APIC_REG_VIRT), c, "no APIC-register virtualization")
  CASE(c, W_CTRL, 0, CLR(CPU_BASED_VM_EXEC_CONTROL, CPU_TPR_SHADOW); SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
       SET(SECONDARY_VM_EXEC_CONTROL, CPU2_APIC_REG_VIRT));
  c = "process posted interrupts without virtual-interrupt delivery: VMfailValid(7)";
  NEED(HAS_PIN(PIN_POSTED), c, "no posted interrupts")
  CASE(c, W_CTRL, 0, SET(PIN_BASED_VM_EXEC_CONTROL, PIN_POSTED | PIN_EXTINT); SET(VM_EXIT_CONTROLS, EXIT_ACK_INTR); W(POSTED_INTR_NV, 0xf2);
       W(POSTED_INTR_DESC_ADDR, pa(posted_desc)));

  /* NMI controls. */
  c = "virtual NMIs with NMI exiting: VM entry succeeds";
  NEED(HAS_PIN(PIN_VIRT_NMI) && HAS_PIN(PIN_NMI), c, "no virtual NMIs") {
    CASE(c, W_OK, 0, SET(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI | PIN_VIRT_NMI));
    CASE("virtual NMIs without NMI exiting: VMfailValid(7)", W_CTRL, 0, CLR(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI); SET(PIN_BASED_VM_EXEC_CONTROL, PIN_VIRT_NMI));
  }
  c = "NMI-window exiting without virtual NMIs: VMfailValid(7)";
  NEED(HAS_PROC(CPU_NMI_WINDOW), c, "no NMI-window exiting") {
    CASE(c, W_CTRL, 0, CLR(PIN_BASED_VM_EXEC_CONTROL, PIN_VIRT_NMI); SET(CPU_BASED_VM_EXEC_CONTROL, CPU_NMI_WINDOW));
    CASE("NMI-window exiting with virtual NMIs: entry succeeds, NMI-window exit at once (reason 8)", W_EXIT, EXIT_REASON_NMI_WINDOW,
         SET(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI | PIN_VIRT_NMI); SET(CPU_BASED_VM_EXEC_CONTROL, CPU_NMI_WINDOW));
  }

  /* APIC-access address. */
  c = "virtualize APIC accesses: aligned APIC-access address: VM entry succeeds";
  NEED(HAS_PROC2(CPU2_VIRT_APIC_ACCESS), c, "no virtualize APIC accesses") {
#define APIC_ACC SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VIRT_APIC_ACCESS)
    CASE(c, W_OK, 0, APIC_ACC; W(APIC_ACCESS_ADDR, pa(apic_access)));
    CASE("virtualize APIC accesses: APIC-access address not 4 KiB aligned: VMfailValid(7)", W_CTRL, 0, APIC_ACC; W(APIC_ACCESS_ADDR, pa(apic_access) + 4));
    CASE("virtualize APIC accesses: APIC-access address beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
         APIC_ACC; W(APIC_ACCESS_ADDR, pa(apic_access) | beyond));
  }

  /* VPID. */
  c = "enable VPID with VPID 1: VM entry succeeds";
  NEED(HAS_PROC2(CPU2_VPID), c, "no VPID") {
    CASE(c, W_OK, 0, SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VPID); W(VIRTUAL_PROCESSOR_ID, 1));
    CASE("enable VPID with VPID 0: VMfailValid(7)", W_CTRL, 0,
         SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VPID); W(VIRTUAL_PROCESSOR_ID, 0));
  }

  /* EPTP (§26.2.1.1, §24.6.11). */
  c = "enable EPT with a valid EPTP: VM entry succeeds";
  NEED(HAS_PROC2(CPU2_EPT), c, "no EPT") {
    u64 eptp = ept_identity();
    u64 cap = vmx_caps.ept_vpid;
    CASE(c, W_OK, 0, vmx_enable_ept());
    CASE("EPTP memory type 2 (reserved): VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, (eptp & ~7ull) | 2));
    if (!(cap & EPT_CAP_UC)) CASE("EPTP memory type UC not advertised: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp & ~7ull));
    if (!(cap & EPT_CAP_WB)) CASE("EPTP memory type WB not advertised: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp | 6));
    CASE("EPTP page-walk length 1 (bits 5:3 = 0): VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp & ~(7ull << 3)));
    if (!(cap & EPT_CAP_PWL5)) CASE("EPTP page-walk length 5 not advertised: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, (eptp & ~(7ull << 3)) | (4ull << 3)));
    if (cap & EPT_CAP_AD) CASE("EPTP accessed/dirty enable (bit 6) with A/D advertised: VM entry succeeds", W_OK, 0, vmx_enable_ept(); W(EPT_POINTER, eptp | EPTP_AD));
    else CASE("EPTP accessed/dirty enable (bit 6) without A/D support: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp | EPTP_AD));
    CASE("EPTP reserved bit 8: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp | BIT(8)));
    CASE("EPTP beyond the physical-address width: VMfailValid(7)", W_CTRL, 0, vmx_enable_ept(); W(EPT_POINTER, eptp | beyond));
    c = "unrestricted guest with EPT: VM entry succeeds";
    NEED(HAS_PROC2(CPU2_UNRESTRICTED), c, "no unrestricted guest") {
      CASE(c, W_OK, 0, vmx_enable_ept(); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_UNRESTRICTED));
      CASE("unrestricted guest without EPT: VMfailValid(7)", W_CTRL, 0, SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_UNRESTRICTED));
    }
    c = "enable PML without EPT: VMfailValid(7)";
    NEED(HAS_PROC2(CPU2_PML), c, "no PML") CASE(c, W_CTRL, 0, SET(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_PML));
    c = "EPTP switching with an aligned EPTP list: VM entry succeeds";
    NEED(HAS_PROC2(CPU2_VMFUNC) && (vmx_caps.vmfunc & 1), c, "no EPTP switching") {
      memset(eptp_list, 0, sizeof eptp_list);
      ((u64 *)eptp_list)[0] = eptp;
#define VMFUNC_ON vmx_enable_ept(); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_VMFUNC); W(VM_FUNCTION_CONTROL, 1); W(EPTP_LIST_ADDR, pa(eptp_list))
      CASE(c, W_OK, 0, VMFUNC_ON);
      CASE("EPTP switching with an unaligned EPTP-list address: VMfailValid(7)", W_CTRL, 0, VMFUNC_ON; W(EPTP_LIST_ADDR, pa(eptp_list) + 8));
      CASE("EPTP switching without EPT: VMfailValid(7)", W_CTRL, 0, VMFUNC_ON; CLR(SECONDARY_VM_EXEC_CONTROL, CPU2_EPT));
      if (!(vmx_caps.vmfunc & BIT64(63))) CASE("VM-function control bit 63 not advertised: VMfailValid(7)", W_CTRL, 0, VMFUNC_ON; W(VM_FUNCTION_CONTROL, 1 | BIT64(63)));
    }
  }

  /* VMX-preemption timer (§26.2.1.2). */
  c = "save VMX-preemption timer value without activating the timer: VMfailValid(7)";
  NEED(HAS_EXIT(EXIT_SAVE_PREEMPT) && HAS_PIN(PIN_PREEMPT), c, "no preemption-timer save") {
    CASE(c, W_CTRL, 0, CLR(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT); SET(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT));
    CASE("save VMX-preemption timer value with the timer active: VM entry succeeds", W_OK, 0,
         SET(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT); W(VMX_PREEMPTION_TIMER_VALUE, 0xffffffffu); SET(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT));
  }

  /* MSR-store and MSR-load areas (§26.2.1.2, §26.2.1.3): 16-byte aligned, within the width. */
  memset(msr_list, 0, sizeof msr_list);
  memset(msr_store, 0, sizeof msr_store);
  msr_list[0].index = MSR_KERNEL_GS_BASE;
  msr_store[0].index = MSR_KERNEL_GS_BASE;
  CASE("VM-exit MSR-store count 1 at an aligned address: VM entry succeeds", W_OK, 0, W(VM_EXIT_MSR_STORE_COUNT, 1); W(VM_EXIT_MSR_STORE_ADDR, pa(msr_store)));
  CASE("VM-exit MSR-store address not 16-byte aligned: VMfailValid(7)", W_CTRL, 0, W(VM_EXIT_MSR_STORE_COUNT, 1); W(VM_EXIT_MSR_STORE_ADDR, pa(msr_store) + 8));
  CASE("VM-exit MSR-store area beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
       W(VM_EXIT_MSR_STORE_COUNT, 2); W(VM_EXIT_MSR_STORE_ADDR, beyond - 16));
  CASE("VM-exit MSR-store address is not checked with count 0", W_OK, 0, W(VM_EXIT_MSR_STORE_COUNT, 0); W(VM_EXIT_MSR_STORE_ADDR, pa(msr_store) + 8));
  msr_list[0].value = rdmsr(MSR_KERNEL_GS_BASE);
  CASE("VM-exit MSR-load count 1 at an aligned address: VM entry succeeds", W_OK, 0, W(VM_EXIT_MSR_LOAD_COUNT, 1); W(VM_EXIT_MSR_LOAD_ADDR, pa(msr_list)));
  CASE("VM-exit MSR-load address not 16-byte aligned: VMfailValid(7)", W_CTRL, 0, W(VM_EXIT_MSR_LOAD_COUNT, 1); W(VM_EXIT_MSR_LOAD_ADDR, pa(msr_list) + 4));
  CASE("VM-exit MSR-load area beyond the physical-address width: VMfailValid(7)", W_CTRL, 0, W(VM_EXIT_MSR_LOAD_COUNT, 1); W(VM_EXIT_MSR_LOAD_ADDR, beyond));
  CASE("VM-entry MSR-load count 1 at an aligned address: VM entry succeeds", W_OK, 0, W(VM_ENTRY_MSR_LOAD_COUNT, 1); W(VM_ENTRY_MSR_LOAD_ADDR, pa(msr_list)));
  CASE("VM-entry MSR-load address not 16-byte aligned: VMfailValid(7)", W_CTRL, 0, W(VM_ENTRY_MSR_LOAD_COUNT, 1); W(VM_ENTRY_MSR_LOAD_ADDR, pa(msr_list) + 8));
  CASE("VM-entry MSR-load area beyond the physical-address width: VMfailValid(7)", W_CTRL, 0,
       W(VM_ENTRY_MSR_LOAD_COUNT, 2); W(VM_ENTRY_MSR_LOAD_ADDR, beyond - 16));

  /* VM-entry controls: SMM (§26.2.1.3). */
  c = "'entry to SMM' outside SMM: VMfailValid(7)";
  NEED(HAS_ENTRY(ENTRY_SMM), c, "'entry to SMM' may not be 1") CASE(c, W_CTRL, 0, SET(VM_ENTRY_CONTROLS, ENTRY_SMM));
  c = "'deactivate dual-monitor treatment' outside SMM: VMfailValid(7)";
  NEED(HAS_ENTRY(ENTRY_DUAL_MONITOR), c, "the control may not be 1") CASE(c, W_CTRL, 0, SET(VM_ENTRY_CONTROLS, ENTRY_DUAL_MONITOR));
}

/* ---- event injection (§26.2.1.3, VM-entry interruption-information field) --------------------- */

static void inject(u32 info, u32 error, u32 len) {
  W(VM_ENTRY_INTR_INFO_FIELD, info);
  W(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
  W(VM_ENTRY_INSTRUCTION_LEN, len);
}

static void check_delivered(const char *check, int vector, u64 error, u64 ip) {
  if (inj_vector == vector && (error == ANY_VALUE || inj_error == error) && inj_ip == ip) pass(check);
  else fail(check, "the guest saw vector %d error 0x%lx at 0x%lx, want vector %d at 0x%lx", inj_vector, (ulong)inj_error, (ulong)inj_ip, vector, (ulong)ip);
}

static void test_injection(void) {
  const u32 V = INTR_INFO_VALID;
  extern char vmx_guest_trampoline[];
  u64 rip = (u64)(ulong)vmx_guest_trampoline;
  set_trap_handler(UD_VECTOR, inj_handler);
  set_trap_handler(GP_VECTOR, inj_handler);
  set_trap_handler(NMI_VECTOR, inj_handler);
  set_trap_handler(0x40, inj_handler);
  CASE("inject #UD (hardware exception, no error code): VM entry succeeds", W_OK, 0, inject(V | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0, 0));
  check_delivered("injected #UD is delivered through the guest IDT at the guest RIP", UD_VECTOR, ANY_VALUE, rip);
  CASE("inject #GP with error code 0x1234: VM entry succeeds", W_OK, 0, inject(V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0x1234, 0));
  check_delivered("injected #GP is delivered with its error code", GP_VECTOR, 0x1234, rip);
  CASE("inject an NMI (type 2, vector 2): VM entry succeeds", W_OK, 0, inject(V | INTR_TYPE_NMI | NMI_VECTOR, 0, 0));
  check_delivered("injected NMI is delivered through vector 2", NMI_VECTOR, ANY_VALUE, rip);
  CASE("inject an external interrupt with RFLAGS.IF = 1: VM entry succeeds", W_OK, 0, inject(V | INTR_TYPE_EXT_INTR | 0x40, 0, 0); W(GUEST_RFLAGS, FL_FIXED | FL_IF));
  check_delivered("injected external interrupt 0x40 is delivered", 0x40, ANY_VALUE, rip);

  CASE("injection with interruption type 1 (reserved): VMfailValid(7)", W_CTRL, 0, inject(V | (1u << 8) | 0x40, 0, 0));
  if (!HAS_PROC(CPU_MTF)) CASE("injection of type 7 (other event) without monitor trap flag support: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_OTHER, 0, 0));
  else {
    CASE("type 7 (other event) vector 1: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_OTHER | 1, 0, 0));
    CASE("type 7 (other event) vector 0: a pending MTF VM exit (reason 37)", W_EXIT, EXIT_REASON_MTF, inject(V | INTR_TYPE_OTHER, 0, 0));
  }
  CASE("NMI injection with vector 3: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_NMI | 3, 0, 0));
  CASE("hardware exception with vector 32: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_HARD_EXCEPTION | 32, 0, 0));
  if (!(vmx_caps.basic & BASIC_NO_HW_ERRCODE_CC)) {
    CASE("deliver-error-code with #UD (vector 6 has no error code): VMfailValid(7)", W_CTRL, 0,
         inject(V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0, 0));
    CASE("#GP without deliver-error-code: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0, 0));
    CASE("deliver-error-code with an external interrupt: VMfailValid(7)", W_CTRL, 0,
         inject(V | INTR_INFO_ERROR_CODE | INTR_TYPE_EXT_INTR | 0x40, 0, 0); W(GUEST_RFLAGS, FL_FIXED | FL_IF));
  } else {
    skip("deliver-error-code with #UD (vector 6 has no error code): VMfailValid(7)", "IA32_VMX_BASIC[56] = 1");
  }
  CASE("interruption-information bits 30:12 not 0: VMfailValid(7)", W_CTRL, 0, inject(V | BIT(12) | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0, 0));
  CASE("error code bits 31:16 not 0 with deliver-error-code: VMfailValid(7)", W_CTRL, 0,
       inject(V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0x10000, 0));
  CASE("software interrupt with instruction length 16: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_SOFT_INTR | 0x40, 0, 16));
  if (!(vmx_caps.misc & MISC_ZERO_LEN_INJECT))
    CASE("software exception with instruction length 0 (IA32_VMX_MISC[30] = 0): VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_SOFT_EXCEPTION | BP_VECTOR, 0, 0));
  CASE("privileged software exception with instruction length 16: VMfailValid(7)", W_CTRL, 0, inject(V | INTR_TYPE_PRIV_SW_EXCEPTION | DB_VECTOR, 0, 16));
  /* §26.3.1.4: IF must be 1 for an injected external interrupt (a guest-state check). */
  CASE("external-interrupt injection with RFLAGS.IF = 0: exit 33", W_GUEST, 0, inject(V | INTR_TYPE_EXT_INTR | 0x40, 0, 0));
  /* §26.3.1.5: interruptibility state against injected events. */
  CASE("external-interrupt injection with blocking by STI: exit 33", W_GUEST, 0,
       inject(V | INTR_TYPE_EXT_INTR | 0x40, 0, 0); W(GUEST_RFLAGS, FL_FIXED | FL_IF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI));
  CASE("external-interrupt injection with blocking by MOV SS: exit 33", W_GUEST, 0,
       inject(V | INTR_TYPE_EXT_INTR | 0x40, 0, 0); W(GUEST_RFLAGS, FL_FIXED | FL_IF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_MOV_SS));
  CASE("NMI injection with blocking by MOV SS: exit 33", W_GUEST, 0, inject(V | INTR_TYPE_NMI | NMI_VECTOR, 0, 0); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_MOV_SS));
  if (HAS_PIN(PIN_VIRT_NMI))
    CASE("NMI injection with virtual NMIs and blocking by NMI: exit 33", W_GUEST, 0,
         SET(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI | PIN_VIRT_NMI); inject(V | INTR_TYPE_NMI | NMI_VECTOR, 0, 0); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_NMI));
  for (int v = 0; v < 256; v++) set_trap_handler(v, 0);
}

/* ---- host-state area (§26.2.2, §26.2.3, §26.2.4) -------------------------------------------- */

static void restore_segments(void) { __asm__ volatile("mov %0, %%ss; mov %0, %%ds; mov %0, %%es" : : "r"((u32)KDATA)); }

static void test_host(void) {
  CASE("host CR0/CR4 = the current values: VM entry succeeds", W_OK, 0, (void)0);
  CASE("host CR0.NE = 0 (fixed to 1 by IA32_VMX_CR0_FIXED0): VMfailValid(8)", W_HOST, 0, CLR(HOST_CR0, CR0_NE));
  CASE("host CR4.VMXE = 0 (fixed to 1 by IA32_VMX_CR4_FIXED0): VMfailValid(8)", W_HOST, 0, CLR(HOST_CR4, CR4_VMXE));
  if (~vmx_caps.cr4_fixed1 & 0xffffffffull) {
    u32 bad = lowest((u32)~vmx_caps.cr4_fixed1);
    CASE("host CR4 with a bit IA32_VMX_CR4_FIXED1 reports fixed to 0: VMfailValid(8)", W_HOST, 0, SET(HOST_CR4, bad));
  }
  CASE("host CR3 beyond the physical-address width: VMfailValid(8)", W_HOST, 0, SET(HOST_CR3, beyond));
  CASE("host IA32_SYSENTER_ESP not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_IA32_SYSENTER_ESP, NONCANON));
  CASE("host IA32_SYSENTER_EIP not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_IA32_SYSENTER_EIP, NONCANON_ALL));
  const char *c = "load IA32_PAT on exit with a valid host PAT: VM entry succeeds";
  NEED(HAS_EXIT(EXIT_LOAD_PAT), c, "no 'load IA32_PAT' exit control") {
    CASE(c, W_OK, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_PAT));
    CASE("host IA32_PAT with memory type 2 (reserved): VMfailValid(8)", W_HOST, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_PAT); W(HOST_IA32_PAT, 0x0007040600070402ull));
    CASE("host IA32_PAT with bits 7:3 of an entry set: VMfailValid(8)", W_HOST, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_PAT); W(HOST_IA32_PAT, 0x0007040600070446ull));
  }
  c = "load IA32_EFER on exit with the current EFER: VM entry succeeds";
  NEED(HAS_EXIT(EXIT_LOAD_EFER), c, "no 'load IA32_EFER' exit control") {
    u64 efer = rdmsr(MSR_EFER);
    CASE(c, W_OK, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_EFER); W(HOST_IA32_EFER, efer));
    CASE("host IA32_EFER reserved bit 2 set: VMfailValid(8)", W_HOST, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_EFER); W(HOST_IA32_EFER, efer | BIT(2)));
    CASE("host IA32_EFER.LMA = 0 with host address-space size 1: VMfailValid(8)", W_HOST, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_EFER); W(HOST_IA32_EFER, efer & ~(u64)EFER_LMA));
    CASE("host IA32_EFER.LME = 0 with host address-space size 1: VMfailValid(8)", W_HOST, 0, SET(VM_EXIT_CONTROLS, EXIT_LOAD_EFER); W(HOST_IA32_EFER, efer & ~(u64)EFER_LME));
  }
  /* §26.2.3: selectors. */
  CASE("host DS with RPL 3: VMfailValid(8)", W_HOST, 0, W(HOST_DS_SELECTOR, KDATA | 3));
  CASE("host ES with TI = 1: VMfailValid(8)", W_HOST, 0, W(HOST_ES_SELECTOR, KDATA | 4));
  CASE("host CS with RPL 1: VMfailValid(8)", W_HOST, 0, W(HOST_CS_SELECTOR, KCODE | 1));
  CASE("host SS with RPL 2: VMfailValid(8)", W_HOST, 0, W(HOST_SS_SELECTOR, KDATA | 2));
  CASE("host FS with TI = 1: VMfailValid(8)", W_HOST, 0, W(HOST_FS_SELECTOR, KDATA | 4));
  CASE("host GS with RPL 3: VMfailValid(8)", W_HOST, 0, W(HOST_GS_SELECTOR, KDATA | 3));
  CASE("host TR with RPL 1: VMfailValid(8)", W_HOST, 0, W(HOST_TR_SELECTOR, TSS_SEL | 1));
  CASE("host CS = 0: VMfailValid(8)", W_HOST, 0, W(HOST_CS_SELECTOR, 0));
  CASE("host TR = 0: VMfailValid(8)", W_HOST, 0, W(HOST_TR_SELECTOR, 0));
  CASE("host SS = 0 with host address-space size 1: VM entry succeeds", W_OK, 0, W(HOST_SS_SELECTOR, 0));
  restore_segments();
  CASE("host DS = 0: VM entry succeeds", W_OK, 0, W(HOST_DS_SELECTOR, 0));
  restore_segments();
  /* Bases canonical. */
  CASE("host FS base not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_FS_BASE, NONCANON));
  CASE("host GS base not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_GS_BASE, NONCANON_ALL));
  CASE("host GDTR base not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_GDTR_BASE, NONCANON_ALL));
  CASE("host IDTR base not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_IDTR_BASE, NONCANON_ALL));
  CASE("host TR base not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_TR_BASE, NONCANON_ALL));
  /* §26.2.4: address-space size. */
  CASE("host address-space size 0 while in IA-32e mode: VMfailValid(8)", W_HOST, 0, CLR(VM_EXIT_CONTROLS, EXIT_HOST_ADDR_SPACE));
  CASE("host address-space size 1 with host CR4.PAE = 0: VMfailValid(8)", W_HOST, 0, CLR(HOST_CR4, CR4_PAE));
  CASE("host RIP not canonical: VMfailValid(8)", W_HOST, 0, W(HOST_RIP, NONCANON_ALL));
}

/* ---- guest-state area (§26.3.1) ------------------------------------------------------------- */

#define G(check, code) CASE(check, W_GUEST, 0, code)

static void test_guest_regs(void) {
  G("guest CR0.NE = 0 (fixed to 1): exit 33", CLR(GUEST_CR0, CR0_NE));
  G("guest CR0.PE = 0 without unrestricted guest: exit 33", CLR(GUEST_CR0, CR0_PE));
  if (HAS_PROC2(CPU2_UNRESTRICTED) && HAS_PROC2(CPU2_EPT)) {
    G("unrestricted guest: CR0.PG = 1 with CR0.PE = 0: exit 33", vmx_enable_ept(); SET(SECONDARY_VM_EXEC_CONTROL, CPU2_UNRESTRICTED); CLR(GUEST_CR0, CR0_PE));
  }
  G("guest CR4.VMXE = 0 (fixed to 1): exit 33", CLR(GUEST_CR4, CR4_VMXE));
  G("IA-32e mode guest with CR4.PAE = 0: exit 33", CLR(GUEST_CR4, CR4_PAE));
  G("guest CR3 beyond the physical-address width: exit 33", SET(GUEST_CR3, beyond));
  if (HAS_ENTRY(ENTRY_LOAD_DEBUG)) {
    CASE("load debug controls with DR7 = 0x400 and DEBUGCTL = 0: VM entry succeeds", W_OK, 0, SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_DEBUG));
    G("load debug controls with DR7 bit 32 set: exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_DEBUG); W(GUEST_DR7, 0x400 | BIT64(32)));
    G("load debug controls with IA32_DEBUGCTL bit 32 (reserved) set: exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_DEBUG); W(GUEST_IA32_DEBUGCTL, BIT64(32)));
  }
  G("guest IA32_SYSENTER_ESP not canonical: exit 33", W(GUEST_SYSENTER_ESP, NONCANON_ALL));
  G("guest IA32_SYSENTER_EIP not canonical: exit 33", W(GUEST_SYSENTER_EIP, NONCANON));
  if (HAS_ENTRY(ENTRY_LOAD_PAT)) {
    CASE("load IA32_PAT with a valid guest PAT: VM entry succeeds", W_OK, 0, SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_PAT));
    G("guest IA32_PAT with memory type 3 (reserved): exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_PAT); W(GUEST_IA32_PAT, 0x0007040600070403ull));
  }
  if (HAS_ENTRY(ENTRY_LOAD_EFER)) {
    u64 efer = rdmsr(MSR_EFER);
    CASE("load IA32_EFER with LMA = LME = IA-32e mode guest: VM entry succeeds", W_OK, 0, SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER); W(GUEST_IA32_EFER, efer));
    G("guest IA32_EFER.LMA = 0 with IA-32e mode guest: exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER); W(GUEST_IA32_EFER, efer & ~(u64)EFER_LMA));
    G("guest IA32_EFER.LME = 0 with CR0.PG = 1 and LMA = 1: exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER); W(GUEST_IA32_EFER, efer & ~(u64)EFER_LME));
    G("guest IA32_EFER reserved bit 3 set: exit 33", SET(VM_ENTRY_CONTROLS, ENTRY_LOAD_EFER); W(GUEST_IA32_EFER, efer | BIT(3)));
  }
}

static void test_guest_segments(void) {
  CASE("guest segments as the host's: VM entry succeeds", W_OK, 0, (void)0);
  /* Selectors (§26.3.1.2). */
  G("guest TR selector with TI = 1: exit 33", W(GUEST_TR_SELECTOR, TSS_SEL | 4));
  G("guest LDTR usable with TI = 1: exit 33", W(GUEST_LDTR_SELECTOR, (GDT_FREE << 3) | 4); W(GUEST_LDTR_AR_BYTES, 0x82); W(GUEST_LDTR_LIMIT, 0xfff));
  G("guest SS.RPL (3) != CS.RPL (0): exit 33", W(GUEST_SS_SELECTOR, KDATA | 3); W(GUEST_SS_AR_BYTES, AR_DATA | (3 << 5)));
  /* Bases. */
  G("guest TR base not canonical: exit 33", W(GUEST_TR_BASE, NONCANON_ALL));
  G("guest FS base not canonical: exit 33", W(GUEST_FS_BASE, NONCANON));
  G("guest GS base not canonical: exit 33", W(GUEST_GS_BASE, NONCANON_ALL));
  G("guest CS base bits 63:32 not 0: exit 33", W(GUEST_CS_BASE, 1ull << 32));
  G("guest SS base bits 63:32 not 0 (usable): exit 33", W(GUEST_SS_BASE, 1ull << 32));
  G("guest DS base bits 63:32 not 0 (usable): exit 33", W(GUEST_DS_BASE, 1ull << 32));
  CASE("guest ES unusable with base bits 63:32 set: VM entry succeeds", W_OK, 0, W(GUEST_ES_AR_BYTES, AR_UNUSABLE); W(GUEST_ES_BASE, 1ull << 32));
  /* Access rights: types. */
  G("guest CS type 10 (not accessed): exit 33", W(GUEST_CS_AR_BYTES, (AR_CODE64 & ~0xfu) | 0xa));
  G("guest CS type 3 (data) without unrestricted guest: exit 33", W(GUEST_CS_AR_BYTES, (AR_CODE64 & ~0xfu) | 0x3));
  CASE("guest CS type 15 (conforming, accessed) with DPL 0 = SS.DPL: VM entry succeeds", W_OK, 0, W(GUEST_CS_AR_BYTES, (AR_CODE64 & ~0xfu) | 0xf));
  G("guest SS type 1 (read-only): exit 33", W(GUEST_SS_AR_BYTES, (AR_DATA & ~0xfu) | 0x1));
  CASE("guest SS type 7 (read/write, expand-down, accessed): VM entry succeeds", W_OK, 0, W(GUEST_SS_AR_BYTES, (AR_DATA & ~0xfu) | 0x7));
  G("guest DS type 2 (not accessed): exit 33", W(GUEST_DS_AR_BYTES, (AR_DATA & ~0xfu) | 0x2));
  G("guest DS type 9 (execute-only code): exit 33", W(GUEST_DS_AR_BYTES, (AR_DATA & ~0xfu) | 0x9));
  CASE("guest DS type 11 (readable code, accessed): VM entry succeeds", W_OK, 0, W(GUEST_DS_AR_BYTES, (AR_DATA & ~0xfu) | 0xb));
  /* S, DPL, P. */
  G("guest CS with S = 0: exit 33", W(GUEST_CS_AR_BYTES, AR_CODE64 & ~0x10u));
  G("guest DS with S = 0: exit 33", W(GUEST_DS_AR_BYTES, AR_DATA & ~0x10u));
  G("guest CS.DPL (3) != SS.DPL (0) for a non-conforming CS: exit 33", W(GUEST_CS_AR_BYTES, AR_CODE64 | (3 << 5)));
  G("guest conforming CS.DPL (3) > SS.DPL (0): exit 33", W(GUEST_CS_AR_BYTES, (AR_CODE64 & ~0xfu) | 0xf | (3 << 5)));
  G("guest SS.DPL (3) != SS.RPL (0): exit 33", W(GUEST_SS_AR_BYTES, AR_DATA | (3 << 5)));
  G("guest DS.DPL (0) < DS.RPL (3): exit 33", W(GUEST_DS_SELECTOR, KDATA | 3));
  CASE("guest DS.DPL (3) >= DS.RPL (0): VM entry succeeds", W_OK, 0, W(GUEST_DS_AR_BYTES, AR_DATA | (3 << 5)));
  G("guest CS not present: exit 33", W(GUEST_CS_AR_BYTES, AR_CODE64 & ~0x80u));
  G("guest DS usable and not present: exit 33", W(GUEST_DS_AR_BYTES, AR_DATA & ~0x80u));
  CASE("guest DS unusable (bit 16) with P = 0 and type 0: VM entry succeeds", W_OK, 0, W(GUEST_DS_AR_BYTES, AR_UNUSABLE));
  /* Reserved bits, L/D, G. */
  G("guest CS access rights bit 8 (reserved) set: exit 33", W(GUEST_CS_AR_BYTES, AR_CODE64 | BIT(8)));
  G("guest DS access rights bit 17 (reserved) set: exit 33", W(GUEST_DS_AR_BYTES, AR_DATA | BIT(17)));
  G("guest CS.L = 1 and CS.D = 1 in an IA-32e mode guest: exit 33", W(GUEST_CS_AR_BYTES, AR_CODE64 | BIT(14)));
  G("guest DS limit 0xFFFFFFFF with G = 0: exit 33", W(GUEST_DS_AR_BYTES, AR_DATA & ~BIT(15)));
  G("guest DS limit 0xFFFFE with G = 1 (bits 11:0 not all 1): exit 33", W(GUEST_DS_LIMIT, 0xffffe));
  CASE("guest DS limit 0xFFFFF with G = 0: VM entry succeeds", W_OK, 0, W(GUEST_DS_LIMIT, 0xfffff); W(GUEST_DS_AR_BYTES, AR_DATA & ~BIT(15)));
  /* TR and LDTR. */
  G("guest TR type 9 (available TSS) in an IA-32e mode guest: exit 33", W(GUEST_TR_AR_BYTES, (AR_TSS64_BUSY & ~0xfu) | 0x9));
  G("guest TR type 3 (16-bit busy TSS) in an IA-32e mode guest: exit 33", W(GUEST_TR_AR_BYTES, (AR_TSS64_BUSY & ~0xfu) | 0x3));
  G("guest TR with S = 1: exit 33", W(GUEST_TR_AR_BYTES, AR_TSS64_BUSY | 0x10));
  G("guest TR not present: exit 33", W(GUEST_TR_AR_BYTES, AR_TSS64_BUSY & ~0x80u));
  G("guest TR unusable: exit 33", W(GUEST_TR_AR_BYTES, AR_TSS64_BUSY | AR_UNUSABLE));
  G("guest TR limit 0x100000 with G = 0: exit 33", W(GUEST_TR_LIMIT, 0x100000));
  CASE("guest LDTR usable, type 2, present: VM entry succeeds", W_OK, 0, W(GUEST_LDTR_SELECTOR, GDT_FREE << 3); W(GUEST_LDTR_AR_BYTES, 0x82); W(GUEST_LDTR_LIMIT, 0xfff));
  G("guest LDTR usable with type 3: exit 33", W(GUEST_LDTR_SELECTOR, GDT_FREE << 3); W(GUEST_LDTR_AR_BYTES, 0x83); W(GUEST_LDTR_LIMIT, 0xfff));
  G("guest LDTR usable with S = 1: exit 33", W(GUEST_LDTR_SELECTOR, GDT_FREE << 3); W(GUEST_LDTR_AR_BYTES, 0x92); W(GUEST_LDTR_LIMIT, 0xfff));
  G("guest LDTR usable with a base that is not canonical: exit 33",
    W(GUEST_LDTR_SELECTOR, GDT_FREE << 3); W(GUEST_LDTR_AR_BYTES, 0x82); W(GUEST_LDTR_LIMIT, 0xfff); W(GUEST_LDTR_BASE, NONCANON_ALL));
  /* Descriptor tables (§26.3.1.3). */
  G("guest GDTR limit bits 31:16 not 0: exit 33", W(GUEST_GDTR_LIMIT, 0x10000));
  G("guest IDTR limit bits 31:16 not 0: exit 33", W(GUEST_IDTR_LIMIT, 0x1ffff));
  G("guest GDTR base not canonical: exit 33", W(GUEST_GDTR_BASE, NONCANON_ALL));
  G("guest IDTR base not canonical: exit 33", W(GUEST_IDTR_BASE, NONCANON));
}

static void test_guest_rip_flags(void) {
  /* §26.3.1.4. */
  G("guest RIP not canonical with CS.L = 1: exit 33", W(GUEST_RIP, NONCANON_ALL));
  G("guest RFLAGS bit 1 = 0: exit 33", W(GUEST_RFLAGS, 0));
  G("guest RFLAGS bit 3 (reserved) = 1: exit 33", W(GUEST_RFLAGS, FL_FIXED | BIT(3)));
  G("guest RFLAGS bit 15 (reserved) = 1: exit 33", W(GUEST_RFLAGS, FL_FIXED | BIT(15)));
  G("guest RFLAGS bit 22 (reserved) = 1: exit 33", W(GUEST_RFLAGS, FL_FIXED | BIT(22)));
  G("guest RFLAGS.VM = 1 in an IA-32e mode guest: exit 33", W(GUEST_RFLAGS, FL_FIXED | FL_VM));
  CASE("guest RFLAGS = 0x202 (IF): VM entry succeeds", W_OK, 0, W(GUEST_RFLAGS, FL_FIXED | FL_IF));
}

static void test_guest_nonregister(void) {
  /* §26.3.1.5: activity state. */
  u64 m = vmx_caps.misc;
  G("activity state 4 (not defined): exit 33", W(GUEST_ACTIVITY_STATE, 4));
  if (!(m & MISC_ACT_SHUTDOWN)) G("activity state shutdown not advertised by IA32_VMX_MISC: exit 33", W(GUEST_ACTIVITY_STATE, ACTIVITY_SHUTDOWN));
  if (!(m & MISC_ACT_WAIT_SIPI)) G("activity state wait-for-SIPI not advertised by IA32_VMX_MISC: exit 33", W(GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI));
  if (!(m & MISC_ACT_HLT)) G("activity state HLT not advertised by IA32_VMX_MISC: exit 33", W(GUEST_ACTIVITY_STATE, ACTIVITY_HLT));
  else {
    G("activity state HLT with blocking by STI: exit 33", W(GUEST_ACTIVITY_STATE, ACTIVITY_HLT); W(GUEST_RFLAGS, FL_FIXED | FL_IF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI));
    G("activity state HLT with an injected #UD (only #DB/#MC exceptions may be injected): exit 33",
      W(GUEST_ACTIVITY_STATE, ACTIVITY_HLT); inject(INTR_INFO_VALID | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0, 0));
    set_trap_handler(NMI_VECTOR, inj_handler);
    CASE("activity state HLT with an injected NMI: VM entry succeeds and the NMI wakes the guest", W_OK, 0,
         W(GUEST_ACTIVITY_STATE, ACTIVITY_HLT); inject(INTR_INFO_VALID | INTR_TYPE_NMI | NMI_VECTOR, 0, 0));
    set_trap_handler(NMI_VECTOR, 0);
  }
  /* Interruptibility state. */
  G("interruptibility bits 31:5 (reserved) not 0: exit 33", W(GUEST_INTERRUPTIBILITY_INFO, BIT(5)));
  G("blocking by STI and by MOV SS both set: exit 33", W(GUEST_RFLAGS, FL_FIXED | FL_IF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI | GUEST_INTR_MOV_SS));
  G("blocking by STI with RFLAGS.IF = 0: exit 33", W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI));
  CASE("blocking by STI with RFLAGS.IF = 1: VM entry succeeds", W_OK, 0, W(GUEST_RFLAGS, FL_FIXED | FL_IF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI));
  CASE("blocking by MOV SS alone: VM entry succeeds", W_OK, 0, W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_MOV_SS));
  G("blocking by SMI outside SMM: exit 33", W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_SMI));
  CASE("blocking by NMI: VM entry succeeds", W_OK, 0, W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_NMI));
  /* Pending debug exceptions. */
  G("pending debug exceptions bit 4 (reserved) set: exit 33", W(GUEST_PENDING_DBG_EXCEPTIONS, BIT(4)));
  G("pending debug exceptions bit 17 (reserved) set: exit 33", W(GUEST_PENDING_DBG_EXCEPTIONS, BIT(17)));
  G("blocking by STI, RFLAGS.TF = 1, BS = 0: exit 33",
    W(GUEST_RFLAGS, FL_FIXED | FL_IF | FL_TF); W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_STI); W(GUEST_PENDING_DBG_EXCEPTIONS, 0));
  G("blocking by MOV SS, RFLAGS.TF = 0, BS = 1: exit 33", W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_MOV_SS); W(GUEST_PENDING_DBG_EXCEPTIONS, BIT(14)));
  CASE("blocking by MOV SS, RFLAGS.TF = 0, BS = 0: VM entry succeeds", W_OK, 0, W(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_MOV_SS); W(GUEST_PENDING_DBG_EXCEPTIONS, 0));
  CASE("no blocking: BS = 1 with TF = 0 is not checked; the pending #DB exits through the exception bitmap", W_EXIT, EXIT_REASON_EXCEPTION_NMI,
       W(GUEST_PENDING_DBG_EXCEPTIONS, BIT(14)); W(EXCEPTION_BITMAP, BIT(DB_VECTOR)));
  /* VMCS link pointer (§26.3.1.5): qualification 4. */
  vmx_init_region(link_vmcs);
  CASE("VMCS link pointer = FFFFFFFF_FFFFFFFFH: VM entry succeeds", W_OK, 0, W(VMCS_LINK_POINTER, ~0ull));
  CASE("VMCS link pointer to a region with the right revision: VM entry succeeds", W_OK, 0, W(VMCS_LINK_POINTER, pa(link_vmcs)));
  CASE("VMCS link pointer not 4 KiB aligned: exit 33, qualification 4", W_GUEST, 4, W(VMCS_LINK_POINTER, pa(link_vmcs) + 8));
  CASE("VMCS link pointer beyond the physical-address width: exit 33, qualification 4", W_GUEST, 4, W(VMCS_LINK_POINTER, pa(link_vmcs) | beyond));
  *(u32 *)link_vmcs = vmx_caps.revision ^ 2;
  CASE("VMCS link pointer to a region with a wrong revision: exit 33, qualification 4", W_GUEST, 4, W(VMCS_LINK_POINTER, pa(link_vmcs)));
  *(u32 *)link_vmcs = vmx_caps.revision | BIT(31);
  CASE("VMCS link pointer to a shadow VMCS without VMCS shadowing: exit 33, qualification 4", W_GUEST, 4, W(VMCS_LINK_POINTER, pa(link_vmcs)));
}

/* ---- VM-entry MSR-load list (§26.4) ---------------------------------------------------------- */

static u8 no_msr_exits[4096] ALIGNED(4096);

static void msr_case(const char *check, enum want want, u64 qual, int n) {
  reset();
  vmx_set_guest(guest_read_kgs);
  /* The guest's RDMSR must not exit: an all-zero MSR bitmap. */
  SET(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP);
  W(MSR_BITMAP, pa(no_msr_exits));
  W(VM_ENTRY_MSR_LOAD_COUNT, (u64)n);
  W(VM_ENTRY_MSR_LOAD_ADDR, pa(msr_list));
  expect(check, want, qual);
}

static void test_msr_load(void) {
  if (!HAS_PROC(CPU_MSR_BITMAP)) {
    skip("VM-entry MSR-load of IA32_KERNEL_GS_BASE: VM entry succeeds", "no MSR bitmaps, so the guest's RDMSR would exit");
    return;
  }
  u64 kgs = rdmsr(MSR_KERNEL_GS_BASE);
  memset(msr_list, 0, sizeof msr_list);
  msr_list[0].index = MSR_KERNEL_GS_BASE;
  msr_list[0].value = 0x123456789000ull;
  guest_kgs = 0;
  msr_case("VM-entry MSR-load of IA32_KERNEL_GS_BASE: VM entry succeeds", W_OK, 0, 1);
  check_eq("the guest reads the IA32_KERNEL_GS_BASE value the list loaded", guest_kgs, 0x123456789000ull);
  msr_list[1].index = MSR_FS_BASE;
  msr_case("MSR-load entry 2 is IA32_FS_BASE: exit 34, qualification 2", W_MSR, 2, 2);
  msr_list[0].index = MSR_GS_BASE;
  msr_case("MSR-load entry 1 is IA32_GS_BASE: exit 34, qualification 1", W_MSR, 1, 1);
  msr_list[0].index = 0x9b; /* IA32_SMM_MONITOR_CTL: writable only in SMM */
  msr_case("MSR-load entry 1 is IA32_SMM_MONITOR_CTL: exit 34, qualification 1", W_MSR, 1, 1);
  msr_list[0].index = MSR_KERNEL_GS_BASE;
  msr_list[0].reserved = 1;
  msr_case("MSR-load entry 1 with bits 63:32 not 0: exit 34, qualification 1", W_MSR, 1, 1);
  msr_list[0].reserved = 0;
  msr_list[1].index = MSR_KERNEL_GS_BASE;
  msr_list[1].value = 0;
  msr_list[2].index = MSR_EFER;
  msr_list[2].value = rdmsr(MSR_EFER) | BIT(2); /* WRMSR would raise #GP: reserved bit */
  msr_case("MSR-load entry 3 whose WRMSR would raise #GP (IA32_EFER reserved bit): exit 34, qualification 3", W_MSR, 3, 3);
  msr_list[2].index = MSR_KERNEL_GS_BASE;
  msr_list[2].value = 0x5000;
  guest_kgs = 0;
  msr_case("MSR-load list of 3 entries: the last one wins", W_OK, 0, 3);
  check_eq("entries load in order (IA32_KERNEL_GS_BASE = the third value)", guest_kgs, 0x5000);
  msr_list[0].index = MSR_KERNEL_GS_BASE;
  msr_list[0].value = NONCANON;
  msr_case("MSR-load of a non-canonical IA32_KERNEL_GS_BASE (#GP on WRMSR): exit 34, qualification 1", W_MSR, 1, 1);
  wrmsr(MSR_KERNEL_GS_BASE, kgs);
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("VM-entry checks", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  beyond = 1ull << vmx_caps.phys_bits;
  int out = vmx_on();
  if (out != VMX_OK) panic("VMXON: %s", vmx_outcome_name(out));
  test_controls();
  test_injection();
  test_host();
  test_guest_regs();
  test_guest_segments();
  test_guest_rip_flags();
  test_guest_nonregister();
  test_msr_load();
  vmx_off();
}
