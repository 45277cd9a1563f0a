/* @guest bits=32 cpu=max -- every exception vector with its error code, pushed EIP and CR2 */
/*
 * Each check raises one exception and compares the vector, the error code (SDM Vol. 3 §6.13,
 * "Error Code") and the pushed EIP (faults point at the faulting instruction, traps after it;
 * §6.5, "Exception Classifications") with what §6.15 ("Exception and Interrupt Reference")
 * says for that cause.
 */
#include "guest.h"
#include "guest32.h"

const char test_name[] = "exceptions";

/* Test descriptors (selectors). */
#define SEL_NP_DATA (16 << 3)  /* data segment, P = 0 */
#define SEL_XO_CODE (17 << 3)  /* execute-only code segment */
#define SEL_RO_DATA (18 << 3)  /* read-only data segment */
#define SEL_NP_CODE (19 << 3)  /* code segment, P = 0 */
#define SEL_SHORT_TSS (20 << 3) /* TSS descriptor with limit 0x66 */
#define SEL_SMALL_SS (21 << 3) /* flat writable data, limit 4 MiB */
#define SEL_SMALL_DS (22 << 3) /* writable data, limit 0xFFF */
#define SEL_PAST_GDT (GDT_ENTRIES << 3)

static struct tss32 short_tss;

/* ---- #DE ---------------------------------------------------------------------------------- */

DECLARE_SITE(de_div0);
static NOINLINE void de_div0_fn(void) {
  __asm__ volatile("mov $0x1234, %%eax; xor %%edx, %%edx; xor %%ecx, %%ecx\n" SITE(de_div0) "div %%ecx" ::: "eax", "ecx", "edx");
}
DECLARE_SITE(de_idiv);
static NOINLINE void de_idiv_fn(void) {
  __asm__ volatile("mov $0x80000000, %%eax; mov $-1, %%edx; mov $-1, %%ecx\n" SITE(de_idiv) "idiv %%ecx" ::: "eax", "ecx", "edx");
}
DECLARE_SITE(de_div8);
static NOINLINE void de_div8_fn(void) {
  __asm__ volatile("mov $0x1000, %%eax; mov $2, %%cl\n" SITE(de_div8) "div %%cl" ::: "eax", "ecx");
}

static void test_de(void) {
  check_trap("#DE div by zero: fault at the DIV, no error code", trap_catch(de_div0_fn), DE_VECTOR, 0, (ulong)de_div0);
  check_eq("#DE div by zero: EAX and EDX unchanged", ((u64)trap.ax << 32) | trap.dx, 0x123400000000ull);
  check_trap("#DE IDIV of EDX:EAX = -2^31 by -1 overflows", trap_catch(de_idiv_fn), DE_VECTOR, 0, (ulong)de_idiv);
  check_trap("#DE div r/m8 with a quotient above 0xFF", trap_catch(de_div8_fn), DE_VECTOR, 0, (ulong)de_div8);
  check_eq("#DE div r/m8: AX unchanged", trap.ax & 0xffff, 0x1000);
}

/* ---- #DB, #BP, #OF, #BR ------------------------------------------------------------------- */

DECLARE_SITE(db_after_nop);
static NOINLINE void db_tf_fn(void) {
  /* POPF sets TF: the instruction after POPF runs, then the single-step trap (SDM §18.3.1.4). */
  __asm__ volatile("pushf; orl $0x100, (%%esp); popf; nop\n" SITE(db_after_nop) "nop" ::: "memory", "cc");
}
DECLARE_SITE(db_icebp_after);
static NOINLINE void db_icebp_fn(void) { __asm__ volatile(".byte 0xf1\n" SITE(db_icebp_after) "nop"); }
DECLARE_SITE(bp_after);
static NOINLINE void bp_fn(void) { __asm__ volatile("int3\n" SITE(bp_after) "nop"); }
DECLARE_SITE(bp_cd03_after);
static NOINLINE void bp_cd03_fn(void) { __asm__ volatile(".byte 0xcd, 0x03\n" SITE(bp_cd03_after) "nop"); }
DECLARE_SITE(of_after);
static NOINLINE void of_fn(void) { __asm__ volatile("mov $0x7f, %%al; add $1, %%al; into\n" SITE(of_after) "nop" ::: "eax", "cc"); }
static NOINLINE void of_clear_fn(void) { __asm__ volatile("xor %%eax, %%eax; into" ::: "eax", "cc"); }
static s32 bounds[2] = {10, 20};
DECLARE_SITE(br_above);
static NOINLINE void br_above_fn(void) { __asm__ volatile("mov $21, %%eax\n" SITE(br_above) "bound %%eax, %0" : : "m"(bounds) : "eax"); }
DECLARE_SITE(br_below);
static NOINLINE void br_below_fn(void) { __asm__ volatile("mov $-1, %%eax\n" SITE(br_below) "bound %%eax, %0" : : "m"(bounds) : "eax"); }
static NOINLINE void br_inside_fn(void) { __asm__ volatile("mov $20, %%eax; bound %%eax, %0; mov $10, %%eax; bound %%eax, %0" : : "m"(bounds) : "eax"); }

static void test_db_bp_of_br(void) {
  write_dr6(0);
  check_trap("#DB single-step trap after the instruction following POPF", trap_catch(db_tf_fn), DB_VECTOR, 0, (ulong)db_after_nop);
  check_eq("#DB single-step: DR6.BS set, B0-B3 clear", trap.dr6 & 0xe00f, 0x4000);
  write_dr6(0);
  check_trap_tcg("#DB ICEBP (F1) is a trap", trap_catch(db_icebp_fn), DB_VECTOR, 0, (ulong)db_icebp_after, UD_VECTOR,
                 "7.2 raises #UD for ICEBP");
  check_trap("#BP INT3 is a trap: EIP after the CC byte", trap_catch(bp_fn), BP_VECTOR, 0, (ulong)bp_after);
  check_trap("#BP INT 3 (CD 03): EIP after both bytes", trap_catch(bp_cd03_fn), BP_VECTOR, 0, (ulong)bp_cd03_after);
  check_trap("#OF INTO with OF = 1 is a trap", trap_catch(of_fn), OF_VECTOR, 0, (ulong)of_after);
  check_trap("no #OF INTO with OF = 0", trap_catch(of_clear_fn), NO_TRAP, 0, 0);
  check_trap("#BR BOUND above the upper bound is a fault", trap_catch(br_above_fn), BR_VECTOR, 0, (ulong)br_above);
  check_trap("#BR BOUND below the lower bound (signed)", trap_catch(br_below_fn), BR_VECTOR, 0, (ulong)br_below);
  check_trap("no #BR BOUND on either bound", trap_catch(br_inside_fn), NO_TRAP, 0, 0);
}

/* ---- #UD, #NM ----------------------------------------------------------------------------- */

DECLARE_SITE(ud_ud2);
static NOINLINE void ud_ud2_fn(void) { __asm__ volatile(SITE(ud_ud2) "ud2"); }
DECLARE_SITE(ud_lock);
static NOINLINE void ud_lock_fn(void) { __asm__ volatile(SITE(ud_lock) ".byte 0xf0, 0x01, 0xc3" ::: "ebx", "cc"); } /* lock add %eax,%ebx */
DECLARE_SITE(ud_cr1);
static NOINLINE void ud_cr1_fn(void) { __asm__ volatile(SITE(ud_cr1) ".byte 0x0f, 0x22, 0xc8"); } /* mov %eax,%cr1 */
DECLARE_SITE(ud_ud0);
static NOINLINE void ud_ud0_fn(void) { __asm__ volatile(SITE(ud_ud0) ".byte 0x0f, 0xff, 0xc0"); }
DECLARE_SITE(nm_site);
static NOINLINE void nm_fninit_fn(void) { __asm__ volatile(SITE(nm_site) "fninit"); }
DECLARE_SITE(nm_wait);
static NOINLINE void nm_wait_fn(void) { __asm__ volatile(SITE(nm_wait) "fwait"); }

static void test_ud_nm(void) {
  check_trap("#UD UD2", trap_catch(ud_ud2_fn), UD_VECTOR, 0, (ulong)ud_ud2);
  check_trap("#UD LOCK prefix on a register-destination ADD", trap_catch(ud_lock_fn), UD_VECTOR, 0, (ulong)ud_lock);
  check_trap("#UD MOV to CR1", trap_catch(ud_cr1_fn), UD_VECTOR, 0, (ulong)ud_cr1);
  check_trap("#UD UD0 (0F FF)", trap_catch(ud_ud0_fn), UD_VECTOR, 0, (ulong)ud_ud0);
  ulong cr0 = read_cr0();
  write_cr0((cr0 & ~(CR0_EM | CR0_MP)) | CR0_TS);
  check_trap("#NM x87 instruction with CR0.TS = 1", trap_catch(nm_fninit_fn), NM_VECTOR, 0, (ulong)nm_site);
  check_trap("no #NM WAIT with CR0.TS = 1, MP = 0", trap_catch(nm_wait_fn), NO_TRAP, 0, 0);
  write_cr0(read_cr0() | CR0_MP);
  check_trap("#NM WAIT with CR0.TS = 1, MP = 1", trap_catch(nm_wait_fn), NM_VECTOR, 0, (ulong)nm_wait);
  write_cr0((cr0 & ~(CR0_TS | CR0_MP)) | CR0_EM);
  check_trap("#NM x87 instruction with CR0.EM = 1", trap_catch(nm_fninit_fn), NM_VECTOR, 0, (ulong)nm_site);
  write_cr0(cr0 & ~(CR0_TS | CR0_EM));
  check_trap("no #NM x87 instruction with TS = EM = 0", trap_catch(nm_fninit_fn), has_x87() ? NO_TRAP : UD_VECTOR, 0, has_x87() ? 0 : (ulong)nm_site);
  write_cr0(cr0);
}

/* ---- #DF, #TS, #NP, #SS ------------------------------------------------------------------- */

static NOINLINE void load_ds_past_gdt_fn(void) {
  __asm__ volatile("mov %0, %%ax; mov %%ax, %%ds; mov %%ss, %%ax; mov %%ax, %%ds" : : "i"(SEL_PAST_GDT) : "eax", "memory");
}
DECLARE_SITE(gp_ds_past_gdt);
static NOINLINE void gp_ds_past_gdt_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(gp_ds_past_gdt) "mov %%ax, %%ds; mov %%ss, %%ax; mov %%ax, %%ds" : : "i"(SEL_PAST_GDT) : "eax", "memory");
}
DECLARE_SITE(ts_jmp);
static NOINLINE void ts_short_tss_fn(void) { __asm__ volatile(SITE(ts_jmp) "ljmp %0, $0" : : "i"(SEL_SHORT_TSS)); }
DECLARE_SITE(np_ds);
static NOINLINE void np_ds_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(np_ds) "mov %%ax, %%ds; mov %%ss, %%ax; mov %%ax, %%ds" : : "i"(SEL_NP_DATA) : "eax", "memory");
}
DECLARE_SITE(np_call);
static NOINLINE void np_call_fn(void) { __asm__ volatile(SITE(np_call) "lcall %0, $0" : : "i"(SEL_NP_CODE) : "memory"); }
DECLARE_SITE(np_int);
static NOINLINE void np_int_fn(void) { __asm__ volatile(SITE(np_int) "int $0x50"); }
DECLARE_SITE(ss_np);
static NOINLINE void ss_np_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(ss_np) "mov %%ax, %%ss" : : "i"(SEL_NP_DATA) : "eax", "memory");
}
DECLARE_SITE(ss_limit);
static NOINLINE void ss_limit_fn(void) {
  __asm__ volatile("mov %0, %%ax; mov %%ax, %%ss\n" SITE(ss_limit) "mov %%ss:0x800000, %%eax\n"
                   "mov %1, %%ax; mov %%ax, %%ss" : : "i"(SEL_SMALL_SS), "i"(KDATA) : "eax", "memory");
}

static void test_df_ts_np_ss(void) {
  idt_set(GP_VECTOR, KCODE, isr_stub(GP_VECTOR), GATE_INT, 0, 0);
  /* #GP, then #NP delivering it through the not-present gate: both contributory (SDM Table 6-5). */
  check_trap("#DF #GP through a not-present IDT gate: error code 0", trap_catch(load_ds_past_gdt_fn), DF_VECTOR, 0, ANY_VALUE);
  idt_restore(GP_VECTOR);
  check_trap("#GP load DS with a selector past the GDT limit: error = selector", trap_catch(gp_ds_past_gdt_fn), GP_VECTOR, SEL_PAST_GDT,
             (ulong)gp_ds_past_gdt);

  check_trap("#TS JMP to a TSS whose limit is below 0x67: error = TSS selector", trap_catch(ts_short_tss_fn), TS_VECTOR, SEL_SHORT_TSS,
             (ulong)ts_jmp);
  check_eq("#TS short TSS: TR unchanged", read_tr(), TSS_SEL);

  check_trap("#NP load DS with a not-present segment: error = selector", trap_catch(np_ds_fn), NP_VECTOR, SEL_NP_DATA, (ulong)np_ds);
  check_trap("#NP far CALL to a not-present code segment", trap_catch(np_call_fn), NP_VECTOR, SEL_NP_CODE, (ulong)np_call);
  idt_set(0x50, KCODE, isr_stub(0x50), GATE_INT, 0, 0);
  check_trap("#NP INT through a not-present gate: error = vector * 8 + 2 (IDT)", trap_catch(np_int_fn), NP_VECTOR, 0x50 * 8 + 2,
             (ulong)np_int);
  idt_restore(0x50);

  check_trap("#SS load SS with a not-present segment: error = selector", trap_catch(ss_np_fn), SS_VECTOR, SEL_NP_DATA, (ulong)ss_np);
  check_trap_tcg("#SS stack access past the SS limit: error 0", trap_catch(ss_limit_fn), SS_VECTOR, 0, (ulong)ss_limit,
                 NO_TRAP, "does not check segment limits");
}

/* ---- #GP ---------------------------------------------------------------------------------- */

DECLARE_SITE(gp_xo);
static NOINLINE void gp_xo_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(gp_xo) "mov %%ax, %%ds; mov %%ss, %%ax; mov %%ax, %%ds" : : "i"(SEL_XO_CODE) : "eax", "memory");
}
DECLARE_SITE(gp_ss_null);
static NOINLINE void gp_ss_null_fn(void) { __asm__ volatile("xor %%eax, %%eax\n" SITE(gp_ss_null) "mov %%ax, %%ss" ::: "eax", "memory"); }
DECLARE_SITE(gp_ro_write);
static NOINLINE void gp_ro_write_fn(void) {
  static u32 target;
  __asm__ volatile("mov %0, %%ax; mov %%ax, %%es\n" SITE(gp_ro_write) "movl $1, %%es:(%1)\n"
                   "mov %%ds, %%ax; mov %%ax, %%es" : : "i"(SEL_RO_DATA), "r"(&target) : "eax", "memory");
}
DECLARE_SITE(gp_ds_limit);
static NOINLINE void gp_ds_limit_fn(void) {
  __asm__ volatile("mov %0, %%ax; mov %%ax, %%es\n" SITE(gp_ds_limit) "mov %%es:0x1ffe, %%eax\n"
                   "mov %%ds, %%ax; mov %%ax, %%es" : : "i"(SEL_SMALL_DS) : "eax", "memory");
}
DECLARE_SITE(gp_cr4);
static NOINLINE void gp_cr4_fn(void) {
  __asm__ volatile("mov %%cr4, %%eax; or $0x8000, %%eax\n" SITE(gp_cr4) "mov %%eax, %%cr4" ::: "eax", "memory");
}
DECLARE_SITE(gp_cr0);
static NOINLINE void gp_cr0_fn(void) {
  /* PG = 1 with PE = 0 (SDM MOV CR: #GP(0) "if an attempt is made to set PG while PE is 0"). */
  __asm__ volatile("mov %%cr0, %%eax; and $~1, %%eax; or $0x80000000, %%eax\n" SITE(gp_cr0) "mov %%eax, %%cr0" ::: "eax", "memory");
}
DECLARE_SITE(gp_jmp_data);
static NOINLINE void gp_jmp_data_fn(void) { __asm__ volatile(SITE(gp_jmp_data) "ljmp %0, $0" : : "i"(KDATA)); }
DECLARE_SITE(gp_idt_limit);
static NOINLINE void gp_idt_limit_fn(void) { __asm__ volatile(SITE(gp_idt_limit) "int $0x50"); }
DECLARE_SITE(gp_user_hlt);
static void gp_user_hlt_fn(void) { __asm__ volatile(SITE(gp_user_hlt) "hlt"); }
DECLARE_SITE(gp_user_int);
static void gp_user_int_fn(void) { __asm__ volatile(SITE(gp_user_int) "int $0x30"); }
DECLARE_SITE(gp_user_ds);
static void gp_user_ds_fn(void) {
  __asm__ volatile("mov %0, %%ax\n" SITE(gp_user_ds) "mov %%ax, %%ds" : : "i"(KDATA) : "eax", "memory");
}

static void test_gp(void) {
  check_trap("#GP load DS with an execute-only code segment: error = selector", trap_catch(gp_xo_fn), GP_VECTOR, SEL_XO_CODE,
             (ulong)gp_xo);
  check_trap("#GP load SS with the null selector: error 0", trap_catch(gp_ss_null_fn), GP_VECTOR, 0, (ulong)gp_ss_null);
  check_trap_tcg("#GP write through a read-only data segment: error 0", trap_catch(gp_ro_write_fn), GP_VECTOR, 0, (ulong)gp_ro_write,
                 NO_TRAP, "does not check segment types on data accesses");
  check_trap_tcg("#GP read past a data segment limit (ES): error 0", trap_catch(gp_ds_limit_fn), GP_VECTOR, 0, (ulong)gp_ds_limit,
                 NO_TRAP, "does not check segment limits");
  if (!tcg_skip("#GP set a reserved CR4 bit (15): error 0", "does not check reserved CR4 bits (and hangs)"))
    check_trap("#GP set a reserved CR4 bit (15): error 0", trap_catch(gp_cr4_fn), GP_VECTOR, 0, (ulong)gp_cr4);
  if (!tcg_skip("#GP set CR0.PG with CR0.PE = 0: error 0", "does not check CR0.PG without PE (and crashes)"))
    check_trap("#GP set CR0.PG with CR0.PE = 0: error 0", trap_catch(gp_cr0_fn), GP_VECTOR, 0, (ulong)gp_cr0);
  check_trap("#GP far JMP to a data segment: error = selector", trap_catch(gp_jmp_data_fn), GP_VECTOR, KDATA, (ulong)gp_jmp_data);

  static struct PACKED {
    u16 limit;
    u32 base;
  } small_idtr, idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  small_idtr.base = idtr.base;
  small_idtr.limit = 0x50 * 8 - 1; /* vectors 0-0x4F only */
  __asm__ volatile("lidt %0" : : "m"(small_idtr));
  int v = trap_catch(gp_idt_limit_fn);
  __asm__ volatile("lidt %0" : : "m"(idtr));
  check_trap("#GP INT past the IDT limit: error = vector * 8 + 2", v, GP_VECTOR, 0x50 * 8 + 2, (ulong)gp_idt_limit);

  check_trap("#GP HLT at CPL 3: error 0", run_user(gp_user_hlt_fn, 0), GP_VECTOR, 0, (ulong)gp_user_hlt);
  check_eq("#GP HLT at CPL 3: pushed CS is the user selector", trap.cs, UCODE);
  check_trap("#GP INT n from CPL 3 to a DPL-0 gate: error = vector * 8 + 2", run_user(gp_user_int_fn, 0), GP_VECTOR, 0x30 * 8 + 2,
             (ulong)gp_user_int);
  check_trap("#GP load DS with a DPL-0 segment at CPL 3: error = selector", run_user(gp_user_ds_fn, 0), GP_VECTOR, KDATA, (ulong)gp_user_ds);
}

/* ---- #PF, #AC ----------------------------------------------------------------------------- */

#define PF_ADDR (WINDOW_BASE + 0x123)
DECLARE_SITE(pf_read);
static NOINLINE void pf_read_fn(void) { __asm__ volatile(SITE(pf_read) "mov (%0), %%eax" : : "r"(PF_ADDR) : "eax", "memory"); }
DECLARE_SITE(pf_write);
static NOINLINE void pf_write_fn(void) { __asm__ volatile(SITE(pf_write) "movl $7, (%0)" : : "r"(PF_ADDR + 0x1000) : "memory"); }
DECLARE_SITE(pf_user);
static void pf_user_fn(void) { __asm__ volatile(SITE(pf_user) "mov (%0), %%eax" : : "r"(PF_ADDR + 0x2000) : "eax", "memory"); }
static u32 ac_word[2];
DECLARE_SITE(ac_user);
static void ac_user_fn(void) { __asm__ volatile(SITE(ac_user) "mov (%0), %%eax" : : "r"((ulong)ac_word + 1) : "eax", "memory"); }
static NOINLINE void ac_kernel_fn(void) {
  __asm__ volatile("pushf; orl $0x40000, (%%esp); popf; mov (%0), %%eax; pushf; andl $~0x40000, (%%esp); popf"
                   : : "r"((ulong)ac_word + 1) : "eax", "memory", "cc");
}

static void test_pf_ac(void) {
  ulong cr3 = paging_build(PG_32);
  window_set(0, 0);                                      /* not present */
  window_set(1, window_phys(1) | PTE_P | PTE_U);         /* read-only */
  window_set(2, window_phys(2) | PTE_P | PTE_W);         /* supervisor */
  write_cr3(cr3);
  write_cr4(read_cr4() | CR4_PSE);
  write_cr0(read_cr0() | CR0_PG | CR0_WP);
  check_trap("#PF read of a not-present page: error 0", trap_catch(pf_read_fn), PF_VECTOR, 0, (ulong)pf_read);
  check_eq("#PF not-present read: CR2 = the linear address", trap.cr2, PF_ADDR);
  check_trap("#PF CPL-0 write to a read-only page with CR0.WP = 1: error P|W", trap_catch(pf_write_fn), PF_VECTOR, PFERR_P | PFERR_W,
             (ulong)pf_write);
  check_eq("#PF read-only write: CR2", trap.cr2, PF_ADDR + 0x1000);
  check_trap("#PF CPL-3 read of a supervisor page: error P|U", run_user(pf_user_fn, 0), PF_VECTOR, PFERR_P | PFERR_U, (ulong)pf_user);
  check_eq("#PF supervisor page: CR2", trap.cr2, PF_ADDR + 0x2000);
  write_cr0(read_cr0() & ~CR0_PG);

  write_cr0(read_cr0() | CR0_AM);
  check_trap_tcg("#AC misaligned read at CPL 3 with CR0.AM = EFLAGS.AC = 1: error 0", run_user(ac_user_fn, FL_AC), AC_VECTOR, 0,
                 (ulong)ac_user, NO_TRAP, "does not check alignment");
  check_trap("no #AC misaligned read at CPL 3 with EFLAGS.AC = 0", run_user(ac_user_fn, 0), NO_TRAP, 0, 0);
  check_trap("no #AC misaligned read at CPL 0", trap_catch(ac_kernel_fn), NO_TRAP, 0, 0);
  write_cr0(read_cr0() & ~CR0_AM);
  check_trap("no #AC with CR0.AM = 0", run_user(ac_user_fn, FL_AC), NO_TRAP, 0, 0);
}

void test_main(void) {
  gdt_set(SEL_NP_DATA >> 3, seg_desc(0, 0xfffff, ACC_DATA, FLG_G | FLG_DB));
  gdt_set(SEL_XO_CODE >> 3, seg_desc(0, 0xfffff, ACC_P | 0x18, FLG_G | FLG_DB));
  gdt_set(SEL_RO_DATA >> 3, seg_desc(0, 0xfffff, ACC_P | 0x10, FLG_G | FLG_DB));
  gdt_set(SEL_NP_CODE >> 3, seg_desc(0, 0xfffff, ACC_CODE, FLG_G | FLG_DB));
  gdt_set(SEL_SHORT_TSS >> 3, seg_desc((u32)&short_tss, 0x66, ACC_P | ACC_TSS32, 0));
  gdt_set(SEL_SMALL_SS >> 3, seg_desc(0, 0x3ff, ACC_P | ACC_DATA, FLG_G | FLG_DB));
  gdt_set(SEL_SMALL_DS >> 3, seg_desc(0, 0xfff, ACC_P | ACC_DATA, FLG_DB));
  test_de();
  test_db_bp_of_br();
  test_ud_nm();
  test_df_ts_np_ss();
  test_gp();
  test_pf_ac();
}
