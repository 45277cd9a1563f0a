/* @guest bits=32 cpu=max -- 32-bit hardware task switches: JMP/CALL to a TSS, task gates, IRET with NT, busy/NT/link/TS rules */
/*
 * SDM Vol. 3 chapter 7 ("Task Management"): §7.3 (task switching), Table 7-2 (effect of a task
 * switch on the busy flag, NT, the previous task link and CR0.TS), §7.4 (task linking), and
 * the exceptions a task switch raises (Table 7-1).
 *
 * Task A is the program itself (TR = the library's TSS). Tasks B, C and D start at small
 * assembly entries that record the registers the switch loaded and then run C code on their
 * own stacks; each test re-initialises the TSS it switches to.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "tasks";

#define SEL_A TSS_SEL
#define SEL_B (16 << 3)
#define SEL_C (17 << 3)
#define SEL_D (18 << 3)
#define SEL_ALT_DATA (19 << 3)
#define SEL_LDT (20 << 3)
#define SEL_GATE_B (21 << 3) /* a task gate in the GDT, to B */
#define SEL_NP_DATA (22 << 3)
#define LDT_DATA ((0 << 3) | 4) /* LDT entry 0, TI = 1 */

static struct tss32 tss_b, tss_c, tss_d;
static u8 stack_b[4096] ALIGNED(16), stack_c[4096] ALIGNED(16), stack_d[4096] ALIGNED(16);
static u64 ldt[4] ALIGNED(8);

/* What a task saw when it started: the registers the switch loaded, TR, EFLAGS, CR0, busy bits. */
struct seen {
  u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, flags;
  u32 tr, ldtr, ds, cr0, link, busy_a, busy_b, busy_c, error;
};
struct seen seen_b, seen_c, seen_d;
u32 d_a_eip;

static int busy(u16 sel) { return (int)((gdt[sel >> 3] >> 41) & 1); }

/* Task entries: record the registers first (struct seen layout), then run the C body. */
#define TASK_ENTRY(name, seen, body)                                                                   \
  __asm__(".text\n.global " #name "\n" #name ":\n"                                                     \
          "mov %eax, " #seen "+0\n mov %ecx, " #seen "+4\n mov %edx, " #seen "+8\n mov %ebx, " #seen "+12\n" \
          "mov %esp, " #seen "+16\n mov %ebp, " #seen "+20\n mov %esi, " #seen "+24\n mov %edi, " #seen "+28\n" \
          "pushf\n pop " #seen "+32\n call " #body "\n ud2\n");
void task_b_body(void);
void task_c_body(void);
TASK_ENTRY(task_b_entry, seen_b, task_b_body)
TASK_ENTRY(task_c_entry, seen_c, task_c_body)
extern char task_b_entry[], task_c_entry[];

static void observe(struct seen *s) {
  s->tr = read_tr();
  s->ldtr = read_ldtr();
  s->ds = read_ds();
  s->cr0 = (u32)read_cr0();
  s->busy_a = (u32)busy(SEL_A);
  s->busy_b = (u32)busy(SEL_B);
  s->busy_c = (u32)busy(SEL_C);
}

static volatile int b_exit_by_iret;
static u32 b_ldt_word;
static u32 ldt_probe = 0x1d71d7;
void task_b_body(void) {
  observe(&seen_b);
  seen_b.link = tss_b.link;
  /* A selector from the LDT the switch loaded. */
  __asm__ volatile("mov %1, %%ax; mov %%ax, %%es; mov %%es:(%2), %%eax; mov %%eax, %0; mov %%ds, %%ax; mov %%ax, %%es"
                   : "=m"(b_ldt_word) : "i"(LDT_DATA), "r"(&ldt_probe) : "eax", "memory");
  if (b_exit_by_iret) __asm__ volatile(".global b_iret_site\n b_iret_site: iret");
  else __asm__ volatile(".global b_jmp_site\n b_jmp_site: ljmp %0, $0" : : "i"(SEL_A));
  for (;;) __asm__ volatile("ud2");
}
extern char b_iret_site[], b_jmp_site[];

void task_c_body(void) {
  observe(&seen_c);
  seen_c.link = tss_c.link;
  __asm__ volatile("iret");
  for (;;) __asm__ volatile("ud2");
}

/* Task D handles #NP through a task gate: the error code is on its stack (SDM §6.12.2). */
__asm__(".text\n.global task_d_entry\n task_d_entry:\n"
        "  mov (%esp), %eax\n mov %eax, seen_d+68\n"
        "  mov %esp, seen_d+16\n"
        "  pushf\n pop seen_d+32\n"
        "  str seen_d+36\n"
        "  mov main_tss+32, %eax\n mov %eax, d_a_eip\n"
        "  movl $np_recover, main_tss+32\n"
        "  add $4, %esp\n"
        "  iret\n"
        "  jmp task_d_entry\n");
extern char task_d_entry[];

static void init_task(struct tss32 *t, void *entry, u8 *stack, size_t stack_size, u16 ldt_sel, u16 ds) {
  memset(t, 0, sizeof *t);
  t->eip = (u32)entry;
  t->esp = (u32)(stack + stack_size);
  t->eflags = FL_FIXED;
  t->cs = KCODE;
  t->ss = KDATA;
  t->ds = ds;
  t->es = KDATA;
  t->fs = KDATA;
  t->gs = KDATA;
  t->cr3 = (u32)read_cr3();
  t->ldt = ldt_sel;
  t->iomap = sizeof *t;
  t->ss0 = KDATA;
  t->esp0 = (u32)(stack + stack_size);
}

static void install(u16 sel, struct tss32 *t, int dpl) { gdt_set(sel >> 3, seg_desc((u32)t, sizeof *t - 1, ACC_P | ACC_DPL(dpl) | ACC_TSS32, 0)); }

static void reset_b(void) {
  init_task(&tss_b, task_b_entry, stack_b, sizeof stack_b, SEL_LDT, SEL_ALT_DATA);
  tss_b.eax = 0xb0000001;
  tss_b.ecx = 0xb0000002;
  tss_b.edx = 0xb0000003;
  tss_b.ebx = 0xb0000004;
  tss_b.ebp = 0xb0000006;
  tss_b.esi = 0xb0000007;
  tss_b.edi = 0xb0000008;
  tss_b.eflags = FL_FIXED | FL_CF | FL_OF;
  install(SEL_B, &tss_b, 0);
  memset(&seen_b, 0, sizeof seen_b);
}

/* ---- JMP ---------------------------------------------------------------------------------- */

static u32 after_regs[4];
static NOINLINE void jmp_to_b(void) {
  __asm__ volatile("push %%ebp\n mov $0xa0000001, %%eax\n mov $0xa0000004, %%ebx\n mov $0xa0000007, %%esi\n mov $0xa0000008, %%edi\n"
                   "ljmp %4, $0\n"
                   ".global a_after_jmp\n a_after_jmp:\n"
                   "pop %%ebp\n mov %%eax, %0\n mov %%ebx, %1\n mov %%esi, %2\n mov %%edi, %3"
                   : "=m"(after_regs[0]), "=m"(after_regs[1]), "=m"(after_regs[2]), "=m"(after_regs[3])
                   : "i"(SEL_B)
                   : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
}
extern char a_after_jmp[];

static void test_jmp(void) {
  reset_b();
  b_exit_by_iret = 0;
  ldt[0] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA, FLG_G | FLG_DB);
  __asm__ volatile("clts");
  jmp_to_b();
  check_eq("JMP to a TSS: the new task runs with TR = its selector", seen_b.tr, SEL_B);
  check_eq("JMP: EAX..EDI are loaded from the new TSS", ((u64)seen_b.eax << 32) | seen_b.edi, 0xb0000001b0000008ull);
  check_eq("JMP: ECX, EDX, EBX, EBP, ESI as well", seen_b.ecx ^ seen_b.edx ^ seen_b.ebx ^ seen_b.ebp ^ seen_b.esi,
           0xb0000002u ^ 0xb0000003u ^ 0xb0000004u ^ 0xb0000006u ^ 0xb0000007u);
  check_eq("JMP: ESP is loaded from the new TSS", seen_b.esp, (u32)(stack_b + sizeof stack_b));
  const char *flags_check = "JMP: EFLAGS is loaded from the new TSS (CF and OF set there)";
  if (cpu.is_qemu_tcg && (seen_b.flags & (FL_CF | FL_OF)) == 0) skip(flags_check, "QEMU TCG does not load the arithmetic flags from the TSS");
  else check_eq(flags_check, seen_b.flags & (FL_CF | FL_OF), FL_CF | FL_OF);
  check_eq("JMP: NT stays 0 in the new task", seen_b.flags & FL_NT, 0);
  check_eq("JMP: DS is loaded from the new TSS", seen_b.ds, SEL_ALT_DATA);
  check_eq("JMP: LDTR is loaded from the new TSS", seen_b.ldtr, SEL_LDT);
  check_eq("JMP: a selector in the new LDT is usable", b_ldt_word, 0x1d71d7);
  check_eq("JMP: CR0.TS is set", seen_b.cr0 & CR0_TS, CR0_TS);
  check_eq("JMP: the new task's busy flag is set", seen_b.busy_b, 1);
  check_eq("JMP: the old task's busy flag is cleared", seen_b.busy_a, 0);
  check_eq("JMP: the previous task link of the new TSS is not written", seen_b.link, 0);
  check_eq("JMP: the old TSS holds the EIP after the JMP", main_tss.eip, (u32)a_after_jmp);
  check_eq("JMP: the old TSS holds the old task's EAX and EDI", ((u64)main_tss.eax << 32) | main_tss.edi, 0xa0000001a0000008ull);
  check_eq("JMP back: the old task resumes with its registers", ((u64)after_regs[0] << 32) | after_regs[3], 0xa0000001a0000008ull);
  check_eq("JMP back: EBX and ESI too", ((u64)after_regs[1] << 32) | after_regs[2], 0xa0000004a0000007ull);
  check_eq("JMP back: TR is the old task's selector again", read_tr(), SEL_A);
  check_eq("JMP back: the old task is busy, the new one not", (u32)(busy(SEL_A) << 1 | busy(SEL_B)), 2);
  check_eq("JMP back: B's TSS holds the EIP after B's JMP", tss_b.eip, (u32)b_jmp_site + 7);
  check_eq("JMP back: CR0.TS is set again", read_cr0() & CR0_TS, CR0_TS);
  __asm__ volatile("clts");
  /* A task gate in the GDT leads to the same TSS. */
  reset_b();
  gdt_set(SEL_GATE_B >> 3, (u64)SEL_B << 16 | (u64)(ACC_P | GATE_TASK) << 40);
  __asm__ volatile("push %%ebp; ljmp %0, $0; pop %%ebp" : : "i"(SEL_GATE_B) : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
  check_eq("JMP to a task gate in the GDT switches to the gate's TSS", seen_b.tr, SEL_B);
  __asm__ volatile("clts");
}

/* ---- CALL and IRET ------------------------------------------------------------------------ */

static void test_call_iret(void) {
  reset_b();
  b_exit_by_iret = 1;
  __asm__ volatile("push %%ebp; lcall %0, $0\n .global a_after_call\n a_after_call: pop %%ebp"
                   : : "i"(SEL_B) : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
  extern char a_after_call[];
  check_eq("CALL to a TSS: the new task runs", seen_b.tr, SEL_B);
  check_eq("CALL: NT is set in the new task", seen_b.flags & FL_NT, FL_NT);
  check_eq("CALL: the previous task link = the old TSS selector", seen_b.link, SEL_A);
  check_eq("CALL: the old task stays busy, the new one is busy", (seen_b.busy_a << 1) | seen_b.busy_b, 3);
  check_eq("CALL: the old TSS holds the EIP after the CALL", main_tss.eip, (u32)a_after_call);
  check_eq("IRET with NT: back to the linked task", read_tr(), SEL_A);
  check_eq("IRET: the returning task's busy flag is cleared", busy(SEL_B), 0);
  check_eq("IRET: the linked task is still busy", busy(SEL_A), 1);
  check_eq("IRET: NT is cleared in the EFLAGS saved in the returning task's TSS", tss_b.eflags & FL_NT, 0);
  check_eq("IRET: the returning task's TSS holds the EIP after its IRET", tss_b.eip, (u32)b_iret_site + 1);
  check_eq("IRET: the resumed task's NT is its saved value (0)", read_flags() & FL_NT, 0);
  check_eq("IRET: CR0.TS is set", read_cr0() & CR0_TS, CR0_TS);
  __asm__ volatile("clts");
}

/* ---- task gates in the IDT ---------------------------------------------------------------- */

DECLARE_SITE(np_site);
static NOINLINE void np_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(np_site) "mov %%ax, %%ds\n .global np_recover\n np_recover:\n" : : "i"(SEL_NP_DATA) : "eax", "memory");
}

static void test_task_gates(void) {
  init_task(&tss_c, task_c_entry, stack_c, sizeof stack_c, 0, KDATA);
  install(SEL_C, &tss_c, 0);
  idt_set(0x60, SEL_C, 0, GATE_TASK, 0, 1);
  __asm__ volatile("push %%ebp; int $0x60; pop %%ebp" : : : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
  check_eq("INT n through a task gate switches to the gate's TSS", seen_c.tr, SEL_C);
  check_eq("task gate: NT set and the link = the interrupted task", ((u64)(seen_c.flags & FL_NT) << 16) | seen_c.link, ((u64)FL_NT << 16) | SEL_A);
  check_eq("task gate: IRET returns to the interrupted task", read_tr(), SEL_A);
  idt_restore(0x60);
  __asm__ volatile("clts");

  /* #NP through a task gate: the error code goes on the handler task's stack. */
  init_task(&tss_d, task_d_entry, stack_d, sizeof stack_d, 0, KDATA);
  install(SEL_D, &tss_d, 0);
  idt_set(NP_VECTOR, SEL_D, 0, GATE_TASK, 0, 1);
  np_fn();
  idt_restore(NP_VECTOR);
  check_eq("#NP through a task gate runs the handler task", seen_d.tr & 0xffff, SEL_D);
  check_eq("#NP through a task gate: the error code (selector) is pushed on the new task's stack", seen_d.error, SEL_NP_DATA);
  check_eq("#NP through a task gate: ESP = the TSS's ESP - 4 (the error code)", seen_d.esp, (u32)(stack_d + sizeof stack_d) - 4);
  check_eq("#NP through a task gate: the faulting task's TSS holds the EIP of the faulting MOV", d_a_eip, (u32)np_site);
  check_eq("#NP through a task gate: NT set in the handler task", seen_d.flags & FL_NT, FL_NT);
  __asm__ volatile("clts");
}

/* ---- faults of task switches -------------------------------------------------------------- */

DECLARE_SITE(iret_nt_site);
static NOINLINE void iret_nt_fn(void) {
  __asm__ volatile("pushf; orl $0x4000, (%%esp); popf\n" SITE(iret_nt_site) "iret" ::: "memory", "cc");
}
DECLARE_SITE(jmp_busy_site);
static NOINLINE void jmp_busy_fn(void) { __asm__ volatile(SITE(jmp_busy_site) "ljmp %0, $0" : : "i"(SEL_A) : "memory"); }
DECLARE_SITE(user_call_tss_site);
static NOINLINE void user_call_tss_fn(void) { __asm__ volatile(SITE(user_call_tss_site) "lcall %0, $0" : : "i"(SEL_B | 3) : "memory"); }
DECLARE_SITE(nm_site);
static NOINLINE void nm_fn(void) { __asm__ volatile(SITE(nm_site) "fninit"); }

static void test_faults(void) {
  reset_b();
  main_tss.link = SEL_B; /* B is not busy */
  check_trap("IRET with NT = 1 to a back link whose TSS is not busy: #TS(back link)", trap_catch(iret_nt_fn), TS_VECTOR, SEL_B,
             (ulong)iret_nt_site);
  main_tss.link = 0;
  check_trap("JMP to a busy TSS (the current task): #GP(selector)", trap_catch(jmp_busy_fn), GP_VECTOR, SEL_A, (ulong)jmp_busy_site);
  check_trap("CALL from CPL 3 to a DPL-0 TSS: #GP(selector)", run_user(user_call_tss_fn, 0), GP_VECTOR, SEL_B, (ulong)user_call_tss_site);
  reset_b();
  b_exit_by_iret = 0;
  jmp_to_b();
  check_trap("#NM: an x87 instruction after a task switch (CR0.TS = 1)", trap_catch(nm_fn), NM_VECTOR, 0, (ulong)nm_site);
  __asm__ volatile("clts");
  check_trap("no #NM after CLTS", trap_catch(nm_fn), has_x87() ? NO_TRAP : UD_VECTOR, 0, has_x87() ? 0 : (ulong)nm_site);
}

void test_main(void) {
  main_tss.cr3 = (u32)read_cr3();
  main_tss.ldt = 0;
  gdt_set(SEL_ALT_DATA >> 3, seg_desc(0, 0xfffff, ACC_P | ACC_DATA, FLG_G | FLG_DB));
  gdt_set(SEL_LDT >> 3, seg_desc((u32)ldt, sizeof ldt - 1, ACC_P | ACC_LDT, 0));
  gdt_set(SEL_NP_DATA >> 3, seg_desc(0, 0xfffff, ACC_DATA, FLG_G | FLG_DB));
  test_jmp();
  test_call_iret();
  test_task_gates();
  test_faults();
}
