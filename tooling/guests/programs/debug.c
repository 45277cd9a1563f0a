/* @guest bits=32 cpu=max -- debug exceptions: TF single-step, DR0-DR3 execution and data breakpoints, DR7.GD, ICEBP/INT1, INT3 */
/*
 * SDM Vol. 3 chapter 18 ("Debug, Branch Profile, TSC, and Intel Resource Director
 * Technology Features"): §18.2.3 (DR6), §18.2.4 (DR7), §18.2.5 (breakpoint field
 * recognition), §18.3.1 (#DB conditions: instruction breakpoints are faults, data breakpoints
 * and single-step are traps, general detect is a fault), §18.3.1.1 (RF), §18.3.2 (#BP),
 * §6.8.3 (MOV SS/POP SS delay debug exceptions by one instruction).
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "debug";

#define DR6_CLEAN 0xffff0ff0u
#define DR6_BD BIT(13)
#define DR6_BS BIT(14)
#define DR7_FIXED BIT(10)
#define DR7_GD BIT(13)
#define DR7_L(n) BIT(2 * (n))
#define DR7_RW(n, rw) ((u32)(rw) << (16 + 4 * (n)))
#define DR7_LEN(n, len) ((u32)(len) << (18 + 4 * (n)))
#define RW_EXEC 0
#define RW_WRITE 1
#define RW_ACCESS 3
#define LEN_1 0
#define LEN_2 1
#define LEN_4 3

/* A #DB handler that records each exception and resumes (with RF set, for instruction breakpoints). */
static volatile int db_count;
static u32 db_ip[16], db_dr6[16], db_flags[16];
static int db_handler(struct frame *f) {
  if (db_count < 16) {
    db_ip[db_count] = f->ip;
    db_dr6[db_count] = (u32)read_dr6();
    db_flags[db_count] = f->flags;
  }
  if (++db_count > 8) write_dr7(DR7_FIXED); /* runaway (RF not honoured): stop */
  write_dr6(DR6_CLEAN);
  f->flags |= FL_RF;
  return 1;
}
static void db_reset(void) {
  db_count = 0;
  memset(db_ip, 0, sizeof db_ip);
  write_dr6(DR6_CLEAN);
}

/* ---- single-step -------------------------------------------------------------------------- */

extern char ss_after_nop[], ss_after_mov[], ss_after_add[], ss_after_pushf[], ss_after_popf[];
static NOINLINE void single_step_fn(void) {
  __asm__ volatile("pushf\n orl $0x100, (%%esp)\n popf\n"
                   "nop\n .global ss_after_nop\n ss_after_nop:\n"
                   "mov $1, %%eax\n .global ss_after_mov\n ss_after_mov:\n"
                   "add $2, %%eax\n .global ss_after_add\n ss_after_add:\n"
                   "pushf\n .global ss_after_pushf\n ss_after_pushf:\n"
                   "andl $~0x100, (%%esp)\n popf\n .global ss_after_popf\n ss_after_popf:\n"
                   "nop" ::: "eax", "memory", "cc");
}
extern char ss_movss_after_nop[];
static NOINLINE void single_step_mov_ss_fn(void) {
  __asm__ volatile("pushf\n orl $0x100, (%%esp)\n popf\n"
                   "mov %%ss, %%ax\n mov %%ax, %%ss\n nop\n .global ss_movss_after_nop\n ss_movss_after_nop:\n"
                   "pushf\n andl $~0x100, (%%esp)\n popf" ::: "eax", "memory", "cc");
}

static void test_single_step(void) {
  set_trap_handler(DB_VECTOR, db_handler);
  db_reset();
  single_step_fn();
  const u32 want[] = {(u32)ss_after_nop, (u32)ss_after_mov, (u32)ss_after_add, (u32)ss_after_pushf, (u32)ss_after_popf - 1,
                      (u32)ss_after_popf};
  /* After POPF sets TF, the next instruction is the first one trapped; the instruction that
     clears TF (POPF) is trapped too. */
  check_eq("TF: one #DB after each instruction from the one following POPF to the POPF that clears TF", db_count, 6);
  int order_ok = 1;
  for (int i = 0; i < 6; i++)
    if (db_ip[i] != want[i]) order_ok = 0;
  check_true("TF: each #DB is a trap (EIP = the next instruction)", order_ok, "pushed EIPs differ from the instruction boundaries");
  check_eq("TF: DR6.BS set for single-step", db_dr6[0] & (DR6_BS | 0xf), DR6_BS);
  check_eq("TF: the pushed EFLAGS has TF = 1 while stepping", db_flags[0] & FL_TF, FL_TF);
  check_eq("TF: the POPF that clears TF is itself trapped, with TF = 0 pushed", (db_ip[5] == (u32)ss_after_popf) | ((db_flags[5] & FL_TF) << 1), 1);
  db_reset();
  single_step_mov_ss_fn();
  /* Traps after MOV AX,SS (EIP = the MOV SS), then none after MOV SS: the next one is after the NOP. */
  check_eq("MOV SS delays the single-step trap past the next instruction", db_ip[1], (u32)ss_movss_after_nop);
  check_eq("MOV SS: the trap before it is at the MOV SS instruction", db_ip[0], (u32)ss_movss_after_nop - 3);
  set_trap_handler(DB_VECTOR, 0);
}

/* ---- instruction breakpoints -------------------------------------------------------------- */

static volatile u32 exec_counter;
extern char bp_target[];
static NOINLINE void bp_exec_fn(void) { __asm__ volatile(".global bp_target\n bp_target: incl %0" : "+m"(exec_counter) : : "memory", "cc"); }

static void set_dr(int n, ulong v) {
  switch (n) {
    case 0: write_dr0(v); break;
    case 1: write_dr1(v); break;
    case 2: write_dr2(v); break;
    default: write_dr3(v); break;
  }
}

/* B0-B3 may be set for matching breakpoints that DR7 does not enable (SDM §18.2.3): keep the unused ones elsewhere. */
static void clear_drs(void) {
  for (int n = 0; n < 4; n++) set_dr(n, 0);
}

static void test_exec_breakpoints(void) {
  set_trap_handler(DB_VECTOR, db_handler);
  char name[120];
  for (int n = 0; n < 4; n++) {
    db_reset();
    clear_drs();
    exec_counter = 0;
    set_dr(n, (ulong)bp_target);
    write_dr7(DR7_FIXED | DR7_L(n) | DR7_RW(n, RW_EXEC) | DR7_LEN(n, LEN_1));
    bp_exec_fn();
    write_dr7(DR7_FIXED);
    snprintf(name, sizeof name, "DR%d execution breakpoint: one #DB, a fault (EIP = the instruction)", n);
    check_eq(name, ((u64)db_count << 32) | db_ip[0], ((u64)1 << 32) | (u32)bp_target);
    snprintf(name, sizeof name, "DR%d execution breakpoint: DR6 = 0x%08x (B%d)", n, DR6_CLEAN | (1u << n), n);
    check_eq(name, db_dr6[0], DR6_CLEAN | (1u << n));
    snprintf(name, sizeof name, "DR%d execution breakpoint: with RF set the instruction runs once", n);
    check_eq(name, exec_counter, 1);
  }
  db_reset();
  write_dr0((ulong)bp_target);
  write_dr7(DR7_FIXED | DR7_RW(0, RW_EXEC) | DR7_LEN(0, LEN_1)); /* L0 = G0 = 0 */
  bp_exec_fn();
  write_dr7(DR7_FIXED);
  check_eq("a breakpoint not enabled in DR7 does not fire", db_count, 0);
  set_trap_handler(DB_VECTOR, 0);
}

/* ---- data breakpoints --------------------------------------------------------------------- */

static volatile u32 data_words[4] ALIGNED(16);
extern char dbp_after_store[], dbp_after_load[], dbp_after_wide[];
static NOINLINE void data_store_fn(void) {
  __asm__ volatile("movl $5, %0\n .global dbp_after_store\n dbp_after_store: nop" : "=m"(data_words[1]) : : "memory");
}
static NOINLINE void data_load_fn(void) {
  __asm__ volatile("mov %0, %%eax\n .global dbp_after_load\n dbp_after_load: nop" : : "m"(data_words[1]) : "eax", "memory");
}
static NOINLINE void data_wide_fn(void) {
  __asm__ volatile("movl $0x01020304, %0\n .global dbp_after_wide\n dbp_after_wide: nop" : "=m"(data_words[2]) : : "memory");
}

static void test_data_breakpoints(void) {
  set_trap_handler(DB_VECTOR, db_handler);
  clear_drs();
  db_reset();
  write_dr1((ulong)&data_words[1]);
  write_dr7(DR7_FIXED | DR7_L(1) | DR7_RW(1, RW_WRITE) | DR7_LEN(1, LEN_4));
  data_store_fn();
  check_eq("DR1 write breakpoint: a store fires it as a trap (EIP = the next instruction)", ((u64)db_count << 32) | db_ip[0],
           ((u64)1 << 32) | (u32)dbp_after_store);
  check_eq("DR1 write breakpoint: DR6 = B1", db_dr6[0], DR6_CLEAN | 2);
  check_eq("DR1 write breakpoint: the store completed before the trap", data_words[1], 5);
  db_reset();
  data_load_fn();
  check_eq("DR1 write breakpoint: a load does not fire it", db_count, 0);
  write_dr7(DR7_FIXED | DR7_L(1) | DR7_RW(1, RW_ACCESS) | DR7_LEN(1, LEN_4));
  data_load_fn();
  check_eq("DR1 read/write breakpoint: a load fires it", ((u64)db_count << 32) | db_ip[0], ((u64)1 << 32) | (u32)dbp_after_load);
  db_reset();
  clear_drs();
  write_dr2((ulong)&data_words[2] + 2);
  write_dr7(DR7_FIXED | DR7_L(2) | DR7_RW(2, RW_WRITE) | DR7_LEN(2, LEN_1));
  data_wide_fn();
  check_eq("DR2 1-byte write breakpoint inside a 4-byte store fires", ((u64)db_count << 32) | db_dr6[0], ((u64)1 << 32) | (DR6_CLEAN | 4));
  db_reset();
  clear_drs();
  write_dr3((ulong)&data_words[3]);
  write_dr7(DR7_FIXED | DR7_L(3) | DR7_RW(3, RW_WRITE) | DR7_LEN(3, LEN_2));
  data_wide_fn();
  check_eq("DR3 write breakpoint on the next word: a store to the word before does not fire it", db_count, 0);
  write_dr7(DR7_FIXED);
  set_trap_handler(DB_VECTOR, 0);
}

/* ---- general detect, ICEBP, INT1, INT3 ---------------------------------------------------- */

DECLARE_SITE(gd_site);
static NOINLINE void gd_fn(void) { __asm__ volatile(SITE(gd_site) "mov %%db0, %%eax" ::: "eax", "memory"); }
DECLARE_SITE(icebp_after);
static NOINLINE void icebp_fn(void) { __asm__ volatile(".byte 0xf1\n" SITE(icebp_after) "nop"); }
DECLARE_SITE(int1_site);
static NOINLINE void int1_fn(void) { __asm__ volatile(SITE(int1_site) "int $1"); }
DECLARE_SITE(int3_after);
static NOINLINE void int3_fn(void) { __asm__ volatile("int3\n" SITE(int3_after) "nop"); }

static void test_gd_icebp_int3(void) {
  write_dr6(DR6_CLEAN);
  write_dr7(DR7_FIXED | DR7_GD);
  int v = trap_catch(gd_fn);
  u32 dr7_after = (u32)read_dr7();
  write_dr7(DR7_FIXED);
  check_trap_tcg("DR7.GD: a MOV from a debug register is a #DB fault", v, DB_VECTOR, 0, (ulong)gd_site, NO_TRAP, "does not implement DR7.GD");
  if (v == DB_VECTOR || !cpu.is_qemu_tcg) {
    check_eq("DR7.GD: DR6.BD set", trap.dr6 & (DR6_BD | DR6_BS | 0xf), DR6_BD);
    check_eq("DR7.GD: the processor clears GD on entry to the handler", dr7_after & DR7_GD, 0);
  }

  write_dr6(DR6_CLEAN);
  check_trap_tcg("ICEBP (F1): #DB trap", trap_catch(icebp_fn), DB_VECTOR, 0, (ulong)icebp_after, UD_VECTOR, "raises #UD for ICEBP");
  check_trap_tcg("ICEBP at CPL 3 with a DPL-0 IDT gate: #DB, no gate DPL check", run_user(icebp_fn, 0), DB_VECTOR, 0, (ulong)icebp_after,
                 UD_VECTOR, "raises #UD for ICEBP");
  check_trap("INT 1 (CD 01) at CPL 3 with a DPL-0 gate: #GP(1 * 8 + 2)", run_user(int1_fn, 0), GP_VECTOR, 1 * 8 + 2, (ulong)int1_site);
  write_dr6(DR6_CLEAN);
  check_trap("INT3: #BP trap, EIP after the INT3", trap_catch(int3_fn), BP_VECTOR, 0, (ulong)int3_after);
  check_eq("INT3 leaves DR6 alone", read_dr6() & 0xffffffffu, DR6_CLEAN);
  idt_set(BP_VECTOR, KCODE, isr_stub(BP_VECTOR), GATE_INT, 3, 1);
  check_trap("INT3 at CPL 3 through a DPL-3 gate: #BP", run_user(int3_fn, 0), BP_VECTOR, 0, (ulong)int3_after);
  idt_restore(BP_VECTOR);
  check_trap("INT3 at CPL 3 through a DPL-0 gate: #GP(3 * 8 + 2)", run_user(int3_fn, 0), GP_VECTOR, 3 * 8 + 2, (ulong)int3_after - 1);
}

void test_main(void) {
  test_single_step();
  test_exec_breakpoints();
  test_data_breakpoints();
  test_gd_icebp_int3();
}
