/* @guest bits=64 cpu=max,+vmx timeout=60 -- VMX events and exit information: task-switch exits, triple fault, exceptions during event delivery (IDT-vectoring information, #DF), EPT violations during delivery, instruction information (descriptor tables, VMX instructions, INS/OUTS), VMX instructions in non-root operation */
/*
 * What a VM exit reports about events and instructions (SDM Vol. 3C):
 * - task switches (§25.4.2 "Treatment of Task Switches": any task switch in VMX non-root
 *   operation exits with reason 9 after the checks on the gate and the new TSS descriptor;
 *   §27.2.1 Table 27-2 (task-switch qualification: TSS selector in bits 15:0, source in 31:30:
 *   0 CALL, 1 IRET, 2 JMP, 3 task gate in the IDT); §27.2.4 for the instruction length);
 * - exceptions during event delivery (§27.2.3 "Information for VM Exits During Event Delivery":
 *   the IDT-vectoring information describes the event being delivered, including events injected
 *   by VM entry, but not for a #DF that exits directly or a triple fault; the EXT bit of the error
 *   code is set as it would be normally; for injected software events the VM-exit instruction
 *   length is the VM-entry instruction length); triple fault (§25.2, exit 2);
 * - EPT violations during delivery (§28.2.3.2, §27.2.1 Table 27-7 qualification) with IDT-vectoring
 *   information, leaving RSP/RIP unchanged (§27.1);
 * - VM-exit instruction information (§27.2.4, Tables 27-8 INS/OUTS, 27-9 INVEPT/INVVPID,
 *   27-10 LIDT/LGDT/SIDT/SGDT, 27-11 LLDT/LTR/SLDT/STR, 27-13 VMCLEAR/VMPTRLD/VMPTRST/VMXON,
 *   27-14 VMREAD/VMWRITE) and the exit qualification = displacement (§27.2.1: sign-extended; for
 *   RIP-relative addressing, displacement + RIP of the next instruction; 0 for a register operand);
 * - VMX instructions in VMX non-root operation exit unconditionally (§25.1.2; chapter 30: the
 *   non-root check comes before the CPL check, after the #UD checks such as compatibility mode).
 */
#include "apic_hw.h"
#include "vmx.h"

const char test_name[] = "vmx_events";

extern char vmx_guest_trampoline[];
#define V INTR_INFO_VALID

static int check_rip(const char *check, u64 got, const void *site) { return check_eq(check, got, (u64)(ulong)site); }
static void invept_all(void) {
  if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_ALL) invept(2, 0);
  else if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE) invept(1, ept_eptp);
}

/* ---- task switches: a 32-bit protected-mode guest (unrestricted guest with EPT, CR0.PG = 0) ---- */

#define G32_CODE 0x08
#define G32_DATA 0x10
#define G32_TSS_A 0x18 /* the current task (busy) */
#define G32_TSS_B 0x20 /* available: the target */
#define G32_GATE 0x28  /* task gate to G32_TSS_B */
#define G32_TSS_C 0x30 /* busy: the back link IRET returns to */
static u64 g32_gdt[8] ALIGNED(16);
static u64 g32_idt[256] ALIGNED(16);
static u8 tss_a[128] ALIGNED(128), tss_b[128] ALIGNED(128), tss_c[128] ALIGNED(128);
static u8 g32_stack[4096] ALIGNED(4096);

static u64 task_gate(u16 tss) { return ((u64)tss << 16) | ((u64)(ACC_P | GATE_TASK) << 40); }

DECLARE_SITE(s_ts_jmp);
DECLARE_SITE(s_ts_jmp_gate);
DECLARE_SITE(s_ts_call);
DECLARE_SITE(s_ts_iret);
DECLARE_SITE(s_ts_int);
DECLARE_SITE(s_ts_ud);
DECLARE_SITE(s_ts_gp);
__asm__(".text\n .code32\n" SITE(s_ts_jmp) "ljmp $0x20, $0\n ud2\n" SITE(s_ts_jmp_gate) "ljmp $0x28, $0\n ud2\n" SITE(s_ts_call) "lcall $0x20, $0\n ud2\n"
        SITE(s_ts_iret) "iret\n ud2\n" SITE(s_ts_int) "int $0x40\n ud2\n" SITE(s_ts_ud) "ud2\n"
        "s_ts_gp_pre: mov $0x13, %ax\n" SITE(s_ts_gp) "mov %ax, %ds\n ud2\n .code64\n");

static void guest32(const void *rip, u32 rflags) {
  g32_gdt[0] = 0;
  g32_gdt[G32_CODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE, FLG_G | FLG_DB);
  g32_gdt[G32_DATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA, FLG_G | FLG_DB);
  g32_gdt[G32_TSS_A >> 3] = seg_desc((u32)pa(tss_a), 103, ACC_P | ACC_TSS_BUSY, 0);
  g32_gdt[G32_TSS_B >> 3] = seg_desc((u32)pa(tss_b), 103, ACC_P | ACC_TSS32, 0);
  g32_gdt[G32_GATE >> 3] = task_gate(G32_TSS_B);
  g32_gdt[G32_TSS_C >> 3] = seg_desc((u32)pa(tss_c), 103, ACC_P | ACC_TSS_BUSY, 0);
  memset(g32_idt, 0, sizeof g32_idt);
  g32_idt[0x40] = g32_idt[UD_VECTOR] = g32_idt[GP_VECTOR] = task_gate(G32_TSS_B);
  memset(tss_a, 0, sizeof tss_a);
  *(u16 *)tss_a = G32_TSS_C; /* previous task link */

  vmcs_init_guest64(0);
  vmx_enable_ept();
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_UNRESTRICTED);
  vmx_set_controls(VM_ENTRY_CONTROLS, (vmx_default_entry & ~ENTRY_IA32E) | ENTRY_LOAD_EFER);
  vmx_set_controls(VM_EXIT_CONTROLS, vmx_default_exit | EXIT_LOAD_EFER);
  vmcs_write(GUEST_IA32_EFER, 0);
  vmcs_write(GUEST_CR0, CR0_PE | CR0_NE | BIT(4));
  vmcs_write(GUEST_CR4, CR4_VMXE);
  vmcs_write(GUEST_CR3, 0);
  for (u32 i = 0; i < 6; i++) {
    int cs = i == 1;
    vmcs_write(GUEST_ES_SELECTOR + 2 * i, cs ? G32_CODE : G32_DATA);
    vmcs_write(GUEST_ES_BASE + 2 * i, 0);
    vmcs_write(GUEST_ES_LIMIT + 2 * i, 0xffffffffu);
    vmcs_write(GUEST_ES_AR_BYTES + 2 * i, cs ? 0xc09b : 0xc093);
  }
  vmcs_write(GUEST_TR_SELECTOR, G32_TSS_A);
  vmcs_write(GUEST_TR_BASE, pa(tss_a));
  vmcs_write(GUEST_TR_LIMIT, 103);
  vmcs_write(GUEST_TR_AR_BYTES, 0x8b);
  vmcs_write(GUEST_GDTR_BASE, pa(g32_gdt));
  vmcs_write(GUEST_GDTR_LIMIT, sizeof g32_gdt - 1);
  vmcs_write(GUEST_IDTR_BASE, pa(g32_idt));
  vmcs_write(GUEST_IDTR_LIMIT, sizeof g32_idt - 1);
  vmcs_write(GUEST_RIP, (u64)(ulong)rip);
  vmcs_write(GUEST_RSP, pa(g32_stack) + sizeof g32_stack);
  vmcs_write(GUEST_RFLAGS, FL_FIXED | rflags);
}

static void ts_case(const char *name, const void *site, const void *at, u32 rflags, u64 qual, int len, u32 idt_info, u32 idt_error) {
  char c[200];
  guest32(site, rflags);
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "%s: exit 9 with qualification 0x%lx", name, (ulong)qual);
  check_exit_qual(c, &e, EXIT_REASON_TASK_SWITCH, qual);
  snprintf(c, sizeof c, "%s: guest RIP is the instruction", name);
  check_rip(c, e.guest_rip, at);
  if (len) {
    snprintf(c, sizeof c, "%s: VM-exit instruction length %d", name, len);
    check_eq(c, e.insn_len, (u64)len);
  }
  snprintf(c, sizeof c, "%s: IDT-vectoring information 0x%x", name, idt_info);
  check_eq(c, idt_info ? e.idt_info & ~INTR_INFO_NMI_UNBLOCK : e.idt_info & V, idt_info);
  if (idt_info & INTR_INFO_ERROR_CODE) {
    snprintf(c, sizeof c, "%s: IDT-vectoring error code 0x%x", name, idt_error);
    check_eq(c, e.idt_error, idt_error);
  }
  snprintf(c, sizeof c, "%s: the task switch did not happen (guest TR is still the old TSS)", name);
  check_eq(c, vmcs_read(GUEST_TR_SELECTOR), G32_TSS_A);
}

static void test_task_switch(void) {
  if (!HAS_PROC2(CPU2_EPT) || !HAS_PROC2(CPU2_UNRESTRICTED) || !HAS_ENTRY(ENTRY_LOAD_EFER) || !HAS_EXIT(EXIT_LOAD_EFER)) {
    skip("task-switch exits", "needs unrestricted guest, EPT and the load IA32_EFER controls for a 32-bit guest");
    return;
  }
  ts_case("JMP to a TSS", s_ts_jmp, s_ts_jmp, 0, G32_TSS_B | (2u << 30), 7, 0, 0);
  ts_case("JMP through a task gate in the GDT (qualification = the TSS selector)", s_ts_jmp_gate, s_ts_jmp_gate, 0, G32_TSS_B | (2u << 30), 7, 0, 0);
  ts_case("CALL to a TSS", s_ts_call, s_ts_call, 0, G32_TSS_B | (0u << 30), 7, 0, 0);
  ts_case("IRET with NT = 1 (back link 0x30)", s_ts_iret, s_ts_iret, FL_NT, G32_TSS_C | (1u << 30), 1, 0, 0);
  ts_case("INT 0x40 through a task gate in the IDT", s_ts_int, s_ts_int, 0, G32_TSS_B | (3u << 30), 2, V | INTR_TYPE_SOFT_INTR | 0x40, 0);
  ts_case("#UD through a task gate in the IDT", s_ts_ud, s_ts_ud, 0, G32_TSS_B | (3u << 30), 0, V | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0);
  extern char s_ts_gp_pre[];
  ts_case("#GP(0x10) through a task gate in the IDT", s_ts_gp_pre, s_ts_gp, 0, G32_TSS_B | (3u << 30), 0,
          V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0x10);
  struct vmx_exit e;
  /* A not-present TSS descriptor faults (#NP) before any task-switch exit (§25.4.2 check 4). */
  guest32(s_ts_jmp, 0);
  g32_gdt[G32_TSS_B >> 3] &= ~((u64)ACC_P << 40);
  vmcs_write(EXCEPTION_BITMAP, BIT(NP_VECTOR));
  e = vmx_enter();
  check_exit("JMP to a not-present TSS: #NP (exit 0), no task-switch exit", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("JMP to a not-present TSS: #NP with error code 0x20", ((u64)(e.intr_info & 0xff) << 32) | e.intr_error, ((u64)NP_VECTOR << 32) | 0x20);
  /* A busy TSS as the target of JMP: #GP(0x20) before the exit. */
  guest32(s_ts_jmp, 0);
  g32_gdt[G32_TSS_B >> 3] |= 2ull << 40;
  vmcs_write(EXCEPTION_BITMAP, BIT(GP_VECTOR));
  e = vmx_enter();
  check_exit("JMP to a busy TSS: #GP (exit 0), no task-switch exit", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("JMP to a busy TSS: #GP with error code 0x20", ((u64)(e.intr_info & 0xff) << 32) | e.intr_error, ((u64)GP_VECTOR << 32) | 0x20);
}

/* ---- triple fault, #DF and exceptions during delivery (64-bit guest, not-present IDT gates) ---- */

struct gate64 {
  u16 off_lo, sel;
  u8 ist, type;
  u16 off_mid;
  u32 off_hi, zero;
} PACKED;
static struct gate64 np_idt[256] ALIGNED(16);
DECLARE_SITE(s_ud2);
DECLARE_SITE(s_nops);
__asm__(".text\n" SITE(s_ud2) "ud2\n" SITE(s_nops) "nop\n nop\n nop\n mov $0x600d, %eax\n vmcall\n ud2\n");

/* A guest whose IDT has valid 64-bit interrupt gates with P = 0 (every delivery raises #NP). */
static void np_guest(const void *rip, u32 bitmap, u32 inject, u32 error, u32 len) {
  for (int v = 0; v < 256; v++) {
    ulong off = isr_stub(v);
    np_idt[v] = (struct gate64){(u16)off, KCODE, 0, GATE_INT, (u16)(off >> 16), (u32)((u64)off >> 32), 0};
  }
  vmcs_init_guest64(0);
  vmcs_write(GUEST_IDTR_BASE, pa(np_idt));
  vmcs_write(GUEST_IDTR_LIMIT, sizeof np_idt - 1);
  vmcs_write(GUEST_RIP, (u64)(ulong)rip);
  vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF);
  vmcs_write(EXCEPTION_BITMAP, bitmap);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, inject);
  vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, len);
}

/* #NP (EXT as given) while delivering `what`: exit 0, #NP error code vector * 8 + 2 + EXT, IDT-vectoring = what. */
static void np_during(const char *name, struct vmx_exit *e, u32 vector, u32 ext, u32 idt_info, u32 idt_error) {
  char c[200];
  snprintf(c, sizeof c, "%s: #NP during delivery exits (exception bitmap bit 11)", name);
  check_exit(c, e, EXIT_REASON_EXCEPTION_NMI);
  snprintf(c, sizeof c, "%s: interruption information #NP with error code", name);
  check_eq(c, e->intr_info & ~INTR_INFO_NMI_UNBLOCK, V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | NP_VECTOR);
  snprintf(c, sizeof c, "%s: #NP error code 0x%x (IDT, EXT = %u)", name, vector * 8 + 2 + ext, ext);
  check_eq(c, e->intr_error, vector * 8 + 2 + ext);
  snprintf(c, sizeof c, "%s: IDT-vectoring information 0x%x", name, idt_info);
  check_eq(c, e->idt_info & ~INTR_INFO_NMI_UNBLOCK, idt_info);
  if (idt_info & INTR_INFO_ERROR_CODE) {
    snprintf(c, sizeof c, "%s: IDT-vectoring error code 0x%x", name, idt_error);
    check_eq(c, e->idt_error, idt_error);
  }
}

static void test_delivery(void) {
  const u32 HW = INTR_TYPE_HARD_EXCEPTION, EC = INTR_INFO_ERROR_CODE;
  /* #UD -> #NP -> #NP (two contributory: #DF) -> #NP during #DF: triple fault. */
  np_guest(s_ud2, 0, 0, 0, 0);
  struct vmx_exit e = vmx_enter();
  check_exit_qual("#UD with every IDT gate not present: triple fault, exit 2 (qualification 0)", &e, EXIT_REASON_TRIPLE_FAULT, 0);
  check_rip("triple fault: guest RIP is the UD2 (the return pointer of the first fault)", e.guest_rip, s_ud2);
  check_eq("triple fault: IDT-vectoring information not valid", e.idt_info & V, 0);
  np_guest(s_ud2, BIT(NP_VECTOR), 0, 0, 0);
  e = vmx_enter();
  np_during("#UD with a not-present gate", &e, UD_VECTOR, 1, V | HW | UD_VECTOR, 0);
  check_rip("#NP during #UD delivery: guest RIP is the UD2", e.guest_rip, s_ud2);
  np_guest(s_ud2, BIT(DF_VECTOR), 0, 0, 0);
  e = vmx_enter();
  check_exit("#UD, #NP, #NP: the #DF exits through exception bitmap bit 8", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("#DF exit: interruption information #DF, error code 0", ((u64)(e.intr_info & ~INTR_INFO_NMI_UNBLOCK) << 32) | e.intr_error,
           (u64)(V | EC | HW | DF_VECTOR) << 32);
  check_eq("#DF that exits directly: IDT-vectoring information not valid", e.idt_info & V, 0);

  /* Injected events whose delivery faults: the IDT-vectoring information is the injected event. */
  np_guest(s_nops, BIT(NP_VECTOR), V | INTR_TYPE_EXT_INTR | 0x40, 0, 0);
  e = vmx_enter();
  np_during("injected external interrupt 0x40", &e, 0x40, 1, V | INTR_TYPE_EXT_INTR | 0x40, 0);
  check_rip("injected event that faults: guest RIP is the entry RIP", e.guest_rip, s_nops);
  np_guest(s_nops, BIT(NP_VECTOR), V | INTR_TYPE_SOFT_INTR | 0x41, 0, 3);
  e = vmx_enter();
  np_during("injected software interrupt 0x41", &e, 0x41, 0, V | INTR_TYPE_SOFT_INTR | 0x41, 0);
  check_eq("injected software interrupt that faults: VM-exit instruction length = VM-entry instruction length (3)", e.insn_len, 3);
  np_guest(s_nops, BIT(NP_VECTOR), V | EC | HW | GP_VECTOR, 0x1234, 0);
  e = vmx_enter();
  np_during("injected #GP(0x1234)", &e, GP_VECTOR, 1, V | EC | HW | GP_VECTOR, 0x1234);
  np_guest(s_nops, BIT(NP_VECTOR), V | INTR_TYPE_NMI | NMI_VECTOR, 0, 0);
  e = vmx_enter();
  np_during("injected NMI", &e, NMI_VECTOR, 1, V | INTR_TYPE_NMI | NMI_VECTOR, 0);
  np_guest(s_nops, BIT(NP_VECTOR), V | EC | HW | DF_VECTOR, 0, 0);
  e = vmx_enter();
  np_during("injected #DF", &e, DF_VECTOR, 1, V | EC | HW | DF_VECTOR, 0);
  np_guest(s_nops, 0, V | EC | HW | DF_VECTOR, 0, 0);
  e = vmx_enter();
  check_exit("injected #DF with a not-present #DF gate and no bitmap bits: triple fault (exit 2)", &e, EXIT_REASON_TRIPLE_FAULT);
  np_guest(s_nops, BIT(DF_VECTOR), V | EC | HW | GP_VECTOR, 0, 0);
  e = vmx_enter();
  check_exit("injected #GP, then #NP: the resulting #DF exits (bitmap bit 8)", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("injected #GP, then #NP, then #DF: interruption information #DF", e.intr_info & ~INTR_INFO_NMI_UNBLOCK, V | EC | HW | DF_VECTOR);
  check_eq("injected #GP, then #NP, then #DF: IDT-vectoring information not valid", e.idt_info & V, 0);
}

/* ---- EPT violation on the stack push of an event delivery (§27.2.3, Table 27-7) ---------------- */

static u8 ro_stack[4096] ALIGNED(4096);
static volatile int h_vector;
static volatile u64 h_rip;
static int rec_handler(struct frame *f) {
  h_vector = (int)f->vector;
  h_rip = f->ip;
  return 1;
}
DECLARE_SITE(s_int62);
__asm__(".text\n" SITE(s_int62) "int $0x62\n mov $0x600d, %eax\n vmcall\n ud2\n");

static void ept_stack_case(const char *name, const void *rip, u32 inject, u32 len, u32 want_idt, u32 want_len) {
  char c[200];
  vmcs_init_guest64(0);
  vmx_enable_ept();
  ept_set_perms(pa(ro_stack), EPT_R | EPT_X);
  invept_all();
  vmcs_write(GUEST_RIP, (u64)(ulong)rip);
  u64 rsp = pa(ro_stack) + sizeof ro_stack;
  vmcs_write(GUEST_RSP, rsp);
  vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF); /* §26.3.1.5: an injected external interrupt needs IF = 1 */
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, inject);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, len);
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "%s with the stack page not writable in EPT: exit 48", name);
  check_exit(c, &e, EXIT_REASON_EPT_VIOLATION);
  snprintf(c, sizeof c, "%s: qualification = write, entry R-X, linear address valid, translated access", name);
  check_eq(c, e.qual & 0x1bf, BIT(1) | BIT(3) | BIT(5) | BIT(7) | BIT(8));
  snprintf(c, sizeof c, "%s: guest-physical and guest-linear addresses in the stack page", name);
  check_true(c, e.gpa >> 12 == pa(ro_stack) >> 12 && e.gla >> 12 == pa(ro_stack) >> 12, "outside the stack page");
  snprintf(c, sizeof c, "%s: IDT-vectoring information 0x%x", name, want_idt);
  check_eq(c, e.idt_info & ~INTR_INFO_NMI_UNBLOCK, want_idt);
  if (want_len) {
    snprintf(c, sizeof c, "%s: VM-exit instruction length %u", name, want_len);
    check_eq(c, e.insn_len, want_len);
  }
  snprintf(c, sizeof c, "%s: guest RIP and RSP unchanged by the incomplete delivery", name);
  check_true(c, e.guest_rip == (u64)(ulong)rip && vmcs_read(GUEST_RSP) == rsp, "changed");
  /* Make the page writable and re-inject the vectoring event (§27.2.3 "reinjection"). */
  ept_set_perms(pa(ro_stack), EPT_RWX);
  invept_all();
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, e.idt_info & ~INTR_INFO_NMI_UNBLOCK);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, e.insn_len);
  h_vector = -1;
  e = vmx_enter();
  snprintf(c, sizeof c, "%s: re-injected with a writable stack, the guest's handler runs and the guest finishes", name);
  check_true(c, vmx_guest_done(&e) && h_vector == (int)(want_idt & 0xff), "not delivered");
}

static void test_ept_delivery(void) {
  if (!HAS_PROC2(CPU2_EPT)) {
    skip("EPT violation during event delivery", "EPT not supported");
    return;
  }
  set_trap_handler(0x62, rec_handler);
  set_trap_handler(0x63, rec_handler);
  ept_stack_case("INT 0x62", s_int62, 0, 0, V | INTR_TYPE_SOFT_INTR | 0x62, 2);
  check_eq("INT 0x62 re-injected: the handler's return RIP follows the INT", h_rip, (u64)(ulong)s_int62 + 2);
  ept_stack_case("injected external interrupt 0x63", s_nops, V | INTR_TYPE_EXT_INTR | 0x63, 0, V | INTR_TYPE_EXT_INTR | 0x63, 0);
  set_trap_handler(0x62, 0);
  set_trap_handler(0x63, 0);
}

/* ---- instruction information and qualification (Tables 27-8 to 27-14) ----------------------------- */

enum { ES = 0, CS_ = 1, SS = 2, DS = 3, FS = 4, GS = 5 };
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define NONE (-1)
/* Fields of a memory operand: scaling, address size, segment, index, base (Tables 27-9 to 27-14). */
static u32 mem_info(u32 scale, u32 asz, u32 seg, int index, int base, u32 *mask) {
  u32 v = (asz << 7) | (seg << 15), m = (7u << 7) | BIT(10) | (7u << 15) | BIT(22) | BIT(27);
  if (index == NONE) v |= BIT(22);
  else {
    v |= scale | ((u32)index << 18);
    m |= 3u | (15u << 18);
  }
  if (base == NONE) v |= BIT(27);
  else {
    v |= (u32)base << 23;
    m |= 15u << 23;
  }
  *mask = m;
  return v;
}

static u8 scratch[256] ALIGNED(64);
static u64 sc(void) { return pa(scratch) + 64; }

#define INSN_SITE(name, text) SITE(name) text "\n" SITE(name##_end)
DECLARE_SITE(s_lgdt);
DECLARE_SITE(s_lgdt_end);
DECLARE_SITE(s_sidt);
DECLARE_SITE(s_sidt_end);
DECLARE_SITE(s_sgdt32);
DECLARE_SITE(s_sgdt32_end);
DECLARE_SITE(s_sgdt_rip);
DECLARE_SITE(s_sgdt_rip_end);
DECLARE_SITE(s_lidt_rbp);
DECLARE_SITE(s_lidt_rbp_end);
DECLARE_SITE(s_lldt_reg);
DECLARE_SITE(s_lldt_reg_end);
DECLARE_SITE(s_lldt_mem);
DECLARE_SITE(s_lldt_mem_end);
DECLARE_SITE(s_str_mem);
DECLARE_SITE(s_str_mem_end);
DECLARE_SITE(s_str_reg);
DECLARE_SITE(s_str_reg_end);
DECLARE_SITE(s_ltr_reg);
DECLARE_SITE(s_ltr_reg_end);
DECLARE_SITE(s_vmclear);
DECLARE_SITE(s_vmclear_end);
DECLARE_SITE(s_vmptrld);
DECLARE_SITE(s_vmptrld_end);
DECLARE_SITE(s_vmptrst);
DECLARE_SITE(s_vmptrst_end);
DECLARE_SITE(s_vmxon);
DECLARE_SITE(s_vmxon_end);
DECLARE_SITE(s_vmread_reg);
DECLARE_SITE(s_vmread_reg_end);
DECLARE_SITE(s_vmread_mem);
DECLARE_SITE(s_vmread_mem_end);
DECLARE_SITE(s_vmwrite_mem);
DECLARE_SITE(s_vmwrite_mem_end);
DECLARE_SITE(s_vmwrite_reg);
DECLARE_SITE(s_vmwrite_reg_end);
DECLARE_SITE(s_invept);
DECLARE_SITE(s_invept_end);
DECLARE_SITE(s_invvpid);
DECLARE_SITE(s_invvpid_end);
DECLARE_SITE(s_vmlaunch);
DECLARE_SITE(s_vmlaunch_end);
DECLARE_SITE(s_vmresume);
DECLARE_SITE(s_vmresume_end);
DECLARE_SITE(s_vmxoff);
DECLARE_SITE(s_vmxoff_end);
DECLARE_SITE(s_vmcall);
DECLARE_SITE(s_vmcall_end);
DECLARE_SITE(s_outs_fs);
DECLARE_SITE(s_outs_fs_end);
DECLARE_SITE(s_outs32);
DECLARE_SITE(s_outs32_end);
DECLARE_SITE(s_ins);
DECLARE_SITE(s_ins_end);
DECLARE_SITE(s_rep_ins32);
DECLARE_SITE(s_rep_ins32_end);
static u8 dt_target[16];
__asm__(".text\n" INSN_SITE(s_lgdt, "lgdt 0x10(%rbx,%rcx,4)") INSN_SITE(s_sidt, "sidt %fs:-0x20(%rsi)") INSN_SITE(s_sgdt32, "sgdt 0x8(%ebx)")
            INSN_SITE(s_sgdt_rip, "sgdt dt_target(%rip)") INSN_SITE(s_lidt_rbp, "lidt 0x18(%rbp)") INSN_SITE(s_lldt_reg, "lldt %r9w")
                INSN_SITE(s_lldt_mem, "lldt 0x7(%r14,%r13,2)") INSN_SITE(s_str_mem, "str (%rsp)") INSN_SITE(s_str_reg, "str %r15d")
                    INSN_SITE(s_ltr_reg, "ltr %dx") INSN_SITE(s_vmclear, "vmclear 0x40(%rbx)") INSN_SITE(s_vmptrld, "vmptrld (%rax,%rcx,2)")
                        INSN_SITE(s_vmptrst, "vmptrst %gs:0x10(%rbp)") INSN_SITE(s_vmxon, "vmxon 0x8(%rdi)") INSN_SITE(s_vmread_reg, "vmread %rax, %rbx")
                            INSN_SITE(s_vmread_mem, "vmread %rdx, 0x28(%rsi,%rdi,8)") INSN_SITE(s_vmwrite_mem, "vmwrite 0x100(%rcx), %r10")
                                INSN_SITE(s_vmwrite_reg, "vmwrite %r11, %r12") INSN_SITE(s_invept, "invept 0x30(%rax,%rbx,1), %rcx")
                                    INSN_SITE(s_invvpid, "invvpid -0x10(%rdx), %r8") INSN_SITE(s_vmlaunch, "vmlaunch") INSN_SITE(s_vmresume, "vmresume")
                                        INSN_SITE(s_vmxoff, "vmxoff") INSN_SITE(s_vmcall, "vmcall") INSN_SITE(s_outs_fs, "outsb %fs:(%rsi), (%dx)")
                                            INSN_SITE(s_outs32, "outsw (%esi), (%dx)") INSN_SITE(s_ins, "insb (%dx), %es:(%rdi)")
                                                INSN_SITE(s_rep_ins32, "rep insl (%dx), %es:(%edi)") "ud2\n");

struct icase {
  const char *name;
  const char *site, *end;
  u32 reason;
  u64 qual; /* ANY_VALUE: not checked */
  u32 info, mask;
};

/* The guest registers every case uses: each memory operand lands in `scratch`. */
static void set_regs(void) {
  struct vmx_regs *r = &vmx_guest_regs;
  u64 s = sc();
  r->rcx = 2;
  r->rbx = s - 0x10 - 2 * 4; /* lgdt 0x10(%rbx,%rcx,4) */
  r->rsi = 0x20;             /* sidt %fs:-0x20(%rsi) with FS.base = s */
  r->rbp = s - 0x18;
  r->r9 = 0;
  r->r13 = 4;
  r->r14 = s - 7 - 4 * 2;
  r->r15 = 0;
  r->rdx = 0x1234;
  r->rdi = s;
  r->rax = s;
}

static void run_icase(const struct icase *k, u32 ctl2) {
  char c[200];
  vmcs_init_guest64(0);
  if (ctl2) {
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
    vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, ctl2);
  }
  vmcs_write(GUEST_RIP, (u64)(ulong)k->site);
  vmcs_write(GUEST_FS_BASE, sc());
  vmcs_write(GUEST_GS_BASE, 0);
  set_regs();
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "%s: exit %u", k->name, k->reason);
  if (!check_exit(c, &e, k->reason)) return;
  snprintf(c, sizeof c, "%s: guest RIP is the instruction, length %u", k->name, (u32)(k->end - k->site));
  check_true(c, e.guest_rip == (u64)(ulong)k->site && e.insn_len == (u32)(k->end - k->site), "different RIP or length");
  if (k->qual != ANY_VALUE) {
    snprintf(c, sizeof c, "%s: qualification = the displacement (0 for a register operand)", k->name);
    check_eq(c, e.qual, k->qual);
  }
  if (k->mask) {
    snprintf(c, sizeof c, "%s: instruction information 0x%x (mask 0x%x)", k->name, k->info, k->mask);
    check_eq(c, e.insn_info & k->mask, k->info);
  }
}

static void test_insn_info(void) {
  u32 m;
  const u32 REG_LDT = (15u << 3) | BIT(10) | (3u << 28);
  if (HAS_PROC2(CPU2_DESC_TABLE)) {
    struct icase dt[] = {
        {"LGDT 0x10(%rbx,%rcx,4)", s_lgdt, s_lgdt_end, EXIT_REASON_GDTR_IDTR, 0x10, 0, 0},
        {"SIDT %fs:-0x20(%rsi)", s_sidt, s_sidt_end, EXIT_REASON_GDTR_IDTR, (u64)-0x20ll, 0, 0},
        {"SGDT 0x8(%ebx) (32-bit address size)", s_sgdt32, s_sgdt32_end, EXIT_REASON_GDTR_IDTR, 8, 0, 0},
        {"SGDT dt_target(%rip) (qualification = displacement + next RIP)", s_sgdt_rip, s_sgdt_rip_end, EXIT_REASON_GDTR_IDTR, (u64)(ulong)dt_target, 0, 0},
        {"LIDT 0x18(%rbp)", s_lidt_rbp, s_lidt_rbp_end, EXIT_REASON_GDTR_IDTR, 0x18, 0, 0},
        {"LLDT %r9w", s_lldt_reg, s_lldt_reg_end, EXIT_REASON_LDTR_TR, 0, (R9 << 3) | BIT(10) | (2u << 28), REG_LDT},
        {"LLDT 0x7(%r14,%r13,2)", s_lldt_mem, s_lldt_mem_end, EXIT_REASON_LDTR_TR, 7, 0, 0},
        {"STR (%rsp)", s_str_mem, s_str_mem_end, EXIT_REASON_LDTR_TR, 0, 0, 0},
        {"STR %r15d", s_str_reg, s_str_reg_end, EXIT_REASON_LDTR_TR, 0, (R15 << 3) | BIT(10) | (1u << 28), REG_LDT},
        {"LTR %dx", s_ltr_reg, s_ltr_reg_end, EXIT_REASON_LDTR_TR, 0, (RDX << 3) | BIT(10) | (3u << 28), REG_LDT},
    };
    /* Memory forms: instruction identity (bits 29:28) 2 LGDT, 1 SIDT, 0 SGDT, 3 LIDT, 2 LLDT, 1 STR. */
    dt[0].info = mem_info(2, 2, DS, RCX, RBX, &m) | (2u << 28), dt[0].mask = m | (3u << 28);
    dt[1].info = mem_info(0, 2, FS, NONE, RSI, &m) | (1u << 28), dt[1].mask = m | (3u << 28);
    dt[2].info = mem_info(0, 1, DS, NONE, RBX, &m) | (0u << 28), dt[2].mask = m | (3u << 28);
    dt[3].info = mem_info(0, 2, DS, NONE, NONE, &m) | (0u << 28), dt[3].mask = m | (3u << 28);
    dt[4].info = mem_info(0, 2, SS, NONE, RBP, &m) | (3u << 28), dt[4].mask = m | (3u << 28);
    dt[6].info = mem_info(1, 2, DS, R13, R14, &m) | (2u << 28), dt[6].mask = m | (3u << 28);
    dt[7].info = mem_info(0, 2, SS, NONE, RSP, &m) | (1u << 28), dt[7].mask = m | (3u << 28);
    for (u32 i = 0; i < ARRAY_SIZE(dt); i++) run_icase(&dt[i], CPU2_DESC_TABLE);
  } else {
    skip("descriptor-table exiting instruction information", "descriptor-table exiting not supported");
  }

  /* VMX instructions in VMX non-root operation exit unconditionally (§25.1.2). */
  const u32 REG_VMRW = (15u << 3) | BIT(10) | (15u << 28);
  struct icase vx[] = {
      {"VMCLEAR 0x40(%rbx)", s_vmclear, s_vmclear_end, EXIT_REASON_VMCLEAR, 0x40, 0, 0},
      {"VMPTRLD (%rax,%rcx,2)", s_vmptrld, s_vmptrld_end, EXIT_REASON_VMPTRLD, 0, 0, 0},
      {"VMPTRST %gs:0x10(%rbp)", s_vmptrst, s_vmptrst_end, EXIT_REASON_VMPTRST, 0x10, 0, 0},
      {"VMXON 0x8(%rdi)", s_vmxon, s_vmxon_end, EXIT_REASON_VMXON, 8, 0, 0},
      {"VMREAD %rax, %rbx (register destination)", s_vmread_reg, s_vmread_reg_end, EXIT_REASON_VMREAD, 0, (RBX << 3) | BIT(10) | (RAX << 28), REG_VMRW},
      {"VMREAD %rdx, 0x28(%rsi,%rdi,8)", s_vmread_mem, s_vmread_mem_end, EXIT_REASON_VMREAD, 0x28, 0, 0},
      {"VMWRITE 0x100(%rcx), %r10", s_vmwrite_mem, s_vmwrite_mem_end, EXIT_REASON_VMWRITE, 0x100, 0, 0},
      {"VMWRITE %r11, %r12 (register source)", s_vmwrite_reg, s_vmwrite_reg_end, EXIT_REASON_VMWRITE, 0, (R11 << 3) | BIT(10) | ((u32)R12 << 28), REG_VMRW},
      {"INVEPT 0x30(%rax,%rbx,1), %rcx", s_invept, s_invept_end, EXIT_REASON_INVEPT, 0x30, 0, 0},
      {"INVVPID -0x10(%rdx), %r8", s_invvpid, s_invvpid_end, EXIT_REASON_INVVPID, (u64)-0x10ll, 0, 0},
      {"VMLAUNCH", s_vmlaunch, s_vmlaunch_end, EXIT_REASON_VMLAUNCH, 0, 0, 0},
      {"VMRESUME", s_vmresume, s_vmresume_end, EXIT_REASON_VMRESUME, 0, 0, 0},
      {"VMXOFF", s_vmxoff, s_vmxoff_end, EXIT_REASON_VMXOFF, 0, 0, 0},
  };
  vx[0].info = mem_info(0, 2, DS, NONE, RBX, &m), vx[0].mask = m;
  vx[1].info = mem_info(1, 2, DS, RCX, RAX, &m), vx[1].mask = m;
  vx[2].info = mem_info(0, 2, GS, NONE, RBP, &m), vx[2].mask = m;
  vx[3].info = mem_info(0, 2, DS, NONE, RDI, &m), vx[3].mask = m;
  vx[5].info = mem_info(3, 2, DS, RDI, RSI, &m) | (RDX << 28), vx[5].mask = m | (15u << 28);
  vx[6].info = mem_info(0, 2, DS, NONE, RCX, &m) | ((u32)R10 << 28), vx[6].mask = m | (15u << 28);
  vx[8].info = mem_info(0, 2, DS, RBX, RAX, &m) | (RCX << 28), vx[8].mask = m | (15u << 28);
  vx[9].info = mem_info(0, 2, DS, NONE, RDX, &m) | ((u32)R8 << 28), vx[9].mask = m | (15u << 28);
  for (u32 i = 0; i < ARRAY_SIZE(vx); i++) {
    if (vx[i].reason == EXIT_REASON_INVEPT && !(vmx_caps.ept_vpid & EPT_CAP_INVEPT)) {
      skip("INVEPT in VMX non-root operation", "INVEPT not supported (IA32_VMX_EPT_VPID_CAP[20] = 0)");
      continue;
    }
    if (vx[i].reason == EXIT_REASON_INVVPID && !(vmx_caps.ept_vpid & VPID_CAP_INVVPID)) {
      skip("INVVPID in VMX non-root operation", "INVVPID not supported (IA32_VMX_EPT_VPID_CAP[32] = 0)");
      continue;
    }
    run_icase(&vx[i], 0);
  }
}

/* ---- VMX instructions at CPL 3 and in compatibility mode (chapter 30 "Operation") ------------------ */

DECLARE_SITE(s_vmclear32);
__asm__(".text\n .code32\n" SITE(s_vmclear32) "vmclear (%ebx)\n ud2\n .code64\n");

/* The guest at CPL 3: 64-bit user code (CS.L = 1) or compatibility mode (CS.L = 0, CS.D = 1). */
static void user_guest(const void *rip, int compat) {
  vmcs_init_guest64(0);
  vmcs_write(GUEST_CS_SELECTOR, compat ? UCODE32 : UCODE);
  vmcs_write(GUEST_CS_AR_BYTES, compat ? 0xc0fb : 0xa0fb);
  const u32 data[] = {GUEST_SS_SELECTOR, GUEST_DS_SELECTOR, GUEST_ES_SELECTOR};
  for (u32 i = 0; i < ARRAY_SIZE(data); i++) {
    vmcs_write(data[i], UDATA);
    vmcs_write(data[i] - GUEST_ES_SELECTOR + GUEST_ES_AR_BYTES, 0xc0f3);
  }
  vmcs_write(GUEST_RIP, (u64)(ulong)rip);
  vmcs_write(GUEST_RSP, (pa(vmx_guest_stack) + sizeof vmx_guest_stack) & 0xfffffff0u);
  set_regs();
}

static void test_cpl(void) {
  user_guest(s_vmclear, 0);
  struct vmx_exit e = vmx_enter();
  check_exit_qual("VMCLEAR at CPL 3 in VMX non-root operation: exit 19 (no #GP: the non-root check comes first)", &e, EXIT_REASON_VMCLEAR, 0x40);
  user_guest(s_vmxon, 0);
  e = vmx_enter();
  check_exit("VMXON at CPL 3 in VMX non-root operation: exit 27", &e, EXIT_REASON_VMXON);
  user_guest(s_vmcall, 0);
  vmcs_write(EXCEPTION_BITMAP, BIT(GP_VECTOR) | BIT(UD_VECTOR));
  e = vmx_enter();
  check_exit("VMCALL at CPL 3 in VMX non-root operation: exit 18", &e, EXIT_REASON_VMCALL);
  user_guest(s_vmclear32, 1);
  vmcs_write(EXCEPTION_BITMAP, BIT(GP_VECTOR) | BIT(UD_VECTOR));
  e = vmx_enter();
  check_exit("VMCLEAR in compatibility mode: #UD (exit 0 through the exception bitmap), not exit 19", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("VMCLEAR in compatibility mode: the exception is #UD", e.intr_info & 0x7ff, INTR_TYPE_HARD_EXCEPTION | UD_VECTOR);
}

/* ---- INS/OUTS: qualification, guest-linear address, instruction information (Table 27-8) --------- */

static void io_case(const char *name, const char *site, const char *end, u64 qual, u64 gla, u32 info, u32 mask) {
  char c[200];
  vmcs_init_guest64(0);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_IO);
  vmcs_write(GUEST_RIP, (u64)(ulong)site);
  vmcs_write(GUEST_FS_BASE, 0x10000);
  struct vmx_regs *r = &vmx_guest_regs;
  r->rdx = 0x1234;
  r->rcx = 3;
  r->rsi = site == s_outs_fs ? sc() - 0x10000 : 0xabcd000000000000ull | (u32)sc(); /* 32-bit forms use ESI only */
  r->rdi = site == s_ins ? sc() : 0x5a5a000000000000ull | (u32)(sc() + 8);
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "%s: exit 30 with qualification 0x%lx", name, (ulong)qual);
  check_exit_qual(c, &e, EXIT_REASON_IO_INSTRUCTION, qual);
  snprintf(c, sizeof c, "%s: guest RIP and instruction length", name);
  check_true(c, e.guest_rip == (u64)(ulong)site && e.insn_len == (u32)(end - site), "different RIP or length");
  snprintf(c, sizeof c, "%s: guest-linear address = segment base + (E/R)SI or (E/R)DI", name);
  check_eq(c, e.gla, gla);
  snprintf(c, sizeof c, "%s: instruction information 0x%x (mask 0x%x)", name, info, mask);
  if (vmx_caps.basic & BASIC_INOUT_INFO) check_eq(c, e.insn_info & mask, info);
  else skip(c, "IA32_VMX_BASIC[54] = 0");
}

static void test_ins_outs(void) {
  if (!HAS_PROC(CPU_IO)) {
    skip("INS/OUTS exits", "unconditional I/O exiting not supported");
    return;
  }
  const u32 ASZ = 7u << 7, SEG = 7u << 15;
  /* Qualification (Table 27-5): size - 1 in 2:0, IN = bit 3, string = bit 4, REP = bit 5, port in 31:16. */
  io_case("OUTSB %fs:(%rsi) (FS base 0x10000)", s_outs_fs, s_outs_fs_end, 0x12340010, sc(), (2u << 7) | (FS << 15), ASZ | SEG);
  io_case("OUTSW (%esi) (32-bit address size)", s_outs32, s_outs32_end, 0x12340011, (u32)sc(), (1u << 7) | (DS << 15), ASZ | SEG);
  io_case("INSB %es:(%rdi)", s_ins, s_ins_end, 0x12340018, sc(), 2u << 7, ASZ);
  io_case("REP INSL %es:(%edi) (32-bit address size)", s_rep_ins32, s_rep_ins32_end, 0x1234003b, (u32)(sc() + 8), 1u << 7, ASZ);
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("VMX events", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  int out = vmx_on();
  if (out != VMX_OK) panic("VMXON: %s", vmx_outcome_name(out));
  test_task_switch();
  test_delivery();
  test_ept_delivery();
  test_insn_info();
  test_cpl();
  test_ins_outs();
  vmx_off();
}
