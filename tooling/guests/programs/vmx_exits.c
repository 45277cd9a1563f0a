/* @guest bits=64 cpu=max,+vmx machine=pc timeout=60 -- VMX non-root operation: instruction exits and qualifications, CR shadows, I/O and MSR bitmaps, exception bitmap, interrupt/NMI windows, MTF, preemption timer, event injection, IDT vectoring, exit MSR lists, saved and loaded state */
/*
 * VMX non-root operation (SDM Vol. 3C chapter 25), the VM-exit information it produces
 * (chapter 27: §27.2.1 exit qualifications, Tables 27-3 (CR access), 27-4 (MOV DR), 27-5 (I/O);
 * §27.2.2 interruption information; §27.2.4 IDT-vectoring information; §27.2.5 instruction
 * information, Tables 27-10/27-11), event injection on VM entry (§26.6), the VM-exit MSR-store
 * and MSR-load lists (§27.4, §27.6) and the host state a VM exit loads (§27.5). The guest is a
 * copy of the host context (lib/vmx.c), so guest and host share memory, IDT and code; guest
 * functions leave their results in globals.
 */
#include "apic_hw.h"
#include "vmx.h"

const char test_name[] = "vmx_exits";

static volatile u64 g_out[4];
static u8 io_a[4096] ALIGNED(4096), io_b[4096] ALIGNED(4096), msr_bitmap[4096] ALIGNED(4096);
static struct {
  u32 index, reserved;
  u64 value;
} msr_store[2] ALIGNED(16), msr_load[2] ALIGNED(16);

static struct vmx_exit start(vmx_guest_fn fn) {
  vmcs_init_guest64(fn);
  return vmx_enter();
}
/* Skips the exiting instruction and runs the guest to its end. */
static void finish_guest(const char *check) {
  vmx_skip_insn();
  struct vmx_exit e = vmx_enter();
  check_guest_done(check, &e);
}
static int check_rip(const char *check, const struct vmx_exit *e, const void *site) {
  return check_eq(check, e->guest_rip, (u64)(ulong)site);
}

/* ---- unconditional and instruction exits (§25.1.2, §25.1.3) ------------------------------------ */

DECLARE_SITE(s_cpuid);
static NOINLINE void g_cpuid(void) {
  u32 a = 0, b, c = 0, d;
  __asm__ volatile(SITE(s_cpuid) "cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  g_out[0] = a;
  g_out[1] = b;
  g_out[2] = c;
  g_out[3] = d;
}
DECLARE_SITE(s_invd);
static NOINLINE void g_invd(void) { __asm__ volatile(SITE(s_invd) "invd" ::: "memory"); }
DECLARE_SITE(s_xsetbv);
static NOINLINE void g_xsetbv(void) { __asm__ volatile(SITE(s_xsetbv) "xsetbv" : : "a"(1), "d"(0), "c"(0)); }
DECLARE_SITE(s_hlt);
static NOINLINE void g_hlt(void) { __asm__ volatile(SITE(s_hlt) "hlt"); }
DECLARE_SITE(s_invlpg);
static NOINLINE void g_invlpg(void) { __asm__ volatile(SITE(s_invlpg) "invlpg (%0)" : : "r"(0x12345000ul) : "memory"); }
DECLARE_SITE(s_rdtsc);
static NOINLINE void g_rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile(SITE(s_rdtsc) "rdtsc" : "=a"(lo), "=d"(hi));
  g_out[0] = ((u64)hi << 32) | lo;
}
DECLARE_SITE(s_rdpmc);
static NOINLINE void g_rdpmc(void) {
  u32 lo, hi;
  __asm__ volatile(SITE(s_rdpmc) "rdpmc" : "=a"(lo), "=d"(hi) : "c"(0));
}
static u8 monitor_line[64] ALIGNED(64);
DECLARE_SITE(s_monitor);
DECLARE_SITE(s_mwait);
static NOINLINE void g_monitor_mwait(void) {
  __asm__ volatile(SITE(s_monitor) "monitor" : : "a"(monitor_line), "c"(0), "d"(0));
  __asm__ volatile(SITE(s_mwait) "mwait" : : "a"(0), "c"(0));
}
DECLARE_SITE(s_pause);
static NOINLINE void g_pause(void) { __asm__ volatile(SITE(s_pause) "pause"); }
DECLARE_SITE(s_wbinvd);
static NOINLINE void g_wbinvd(void) { __asm__ volatile(SITE(s_wbinvd) "wbinvd" ::: "memory"); }

static void one_exit(const char *name, vmx_guest_fn fn, u32 reason, const void *site, u32 len) {
  char c[120];
  struct vmx_exit e = start(fn);
  snprintf(c, sizeof c, "%s: VM exit with reason %u", name, reason);
  check_exit(c, &e, reason);
  snprintf(c, sizeof c, "%s: guest RIP is the instruction", name);
  check_rip(c, &e, site);
  snprintf(c, sizeof c, "%s: VM-exit instruction length %u", name, len);
  check_eq(c, e.insn_len, len);
  snprintf(c, sizeof c, "%s: the guest resumes after it", name);
  finish_guest(c);
}

static void test_instructions(void) {
  one_exit("CPUID", g_cpuid, EXIT_REASON_CPUID, s_cpuid, 2);
  vmcs_init_guest64(g_cpuid);
  struct vmx_exit e = vmx_enter();
  vmx_guest_regs.rax = 0x11;
  vmx_guest_regs.rbx = 0x22;
  vmx_guest_regs.rcx = 0x33;
  vmx_guest_regs.rdx = 0x44;
  vmx_skip_insn();
  e = vmx_enter();
  check_guest_done("CPUID exit: the guest runs on", &e);
  check_true("CPUID exit: the guest sees the registers the host set", g_out[0] == 0x11 && g_out[1] == 0x22 && g_out[2] == 0x33 && g_out[3] == 0x44,
             "different values");
  one_exit("INVD", g_invd, EXIT_REASON_INVD, s_invd, 2);
  if ((cpu.l1_ecx & BIT(26)) && (vmx_caps.cr4_fixed1 & CR4_OSXSAVE)) {
    vmcs_init_guest64(g_xsetbv);
    vmcs_set_bits(GUEST_CR4, CR4_OSXSAVE);
    e = vmx_enter();
    check_exit("XSETBV: VM exit with reason 55", &e, EXIT_REASON_XSETBV);
    check_rip("XSETBV: guest RIP is the instruction", &e, s_xsetbv);
    check_eq("XSETBV: VM-exit instruction length 3", e.insn_len, 3);
    finish_guest("XSETBV: the guest resumes after it");
  } else {
    skip("XSETBV: VM exit with reason 55", "no XSAVE (CPUID.01H:ECX[26]) or CR4.OSXSAVE fixed to 0");
  }
  const struct {
    const char *name;
    u32 ctl, ctl2;
    vmx_guest_fn fn;
    u32 reason;
    const void *site;
    u32 len;
  } t[] = {
      {"INVLPG exiting", CPU_INVLPG, 0, g_invlpg, EXIT_REASON_INVLPG, s_invlpg, 3},
      {"RDTSC exiting", CPU_RDTSC, 0, g_rdtsc, EXIT_REASON_RDTSC, s_rdtsc, 2},
      {"RDPMC exiting", CPU_RDPMC, 0, g_rdpmc, EXIT_REASON_RDPMC, s_rdpmc, 2},
      {"PAUSE exiting", CPU_PAUSE, 0, g_pause, EXIT_REASON_PAUSE, s_pause, 2},
      {"WBINVD exiting", CPU_SECONDARY, CPU2_WBINVD, g_wbinvd, EXIT_REASON_WBINVD, s_wbinvd, 2},
      {"HLT exiting", CPU_HLT, 0, g_hlt, EXIT_REASON_HLT, s_hlt, 1},
  };
  for (u32 i = 0; i < ARRAY_SIZE(t); i++) {
    char c[120];
    snprintf(c, sizeof c, "%s: VM exit with reason %u", t[i].name, t[i].reason);
    if (!HAS_PROC(t[i].ctl) || (t[i].ctl2 && !HAS_PROC2(t[i].ctl2))) {
      skip(c, "control not supported");
      continue;
    }
    vmcs_init_guest64(t[i].fn);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, t[i].ctl);
    if (t[i].ctl2) vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, t[i].ctl2);
    e = vmx_enter();
    check_exit(c, &e, t[i].reason);
    snprintf(c, sizeof c, "%s: guest RIP is the instruction", t[i].name);
    check_rip(c, &e, t[i].site);
    snprintf(c, sizeof c, "%s: VM-exit instruction length %u", t[i].name, t[i].len);
    check_eq(c, e.insn_len, t[i].len);
    if (t[i].reason == EXIT_REASON_INVLPG) check_eq("INVLPG exiting: the qualification is the linear address", e.qual, 0x12345000);
    snprintf(c, sizeof c, "%s: the guest resumes after it", t[i].name);
    finish_guest(c);
  }
  if ((cpu.l1_ecx & BIT(3)) && HAS_PROC(CPU_MONITOR) && HAS_PROC(CPU_MWAIT)) {
    vmcs_init_guest64(g_monitor_mwait);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MONITOR | CPU_MWAIT);
    e = vmx_enter();
    check_exit("MONITOR exiting: VM exit with reason 39", &e, EXIT_REASON_MONITOR);
    check_rip("MONITOR exiting: guest RIP is the instruction", &e, s_monitor);
    vmx_skip_insn();
    e = vmx_enter();
    check_exit("MWAIT exiting: VM exit with reason 36", &e, EXIT_REASON_MWAIT);
    check_rip("MWAIT exiting: guest RIP is the instruction", &e, s_mwait);
    finish_guest("MWAIT exiting: the guest resumes after it");
  } else {
    skip("MONITOR exiting: VM exit with reason 39", "no MONITOR/MWAIT (CPUID.01H:ECX[3]) or no exiting controls");
  }
  /* TSC offsetting (§25.3): RDTSC returns TSC + offset when RDTSC exiting is 0. */
  if (HAS_PROC(CPU_TSC_OFFSET)) {
    const u64 off = 1ull << 48;
    vmcs_init_guest64(g_rdtsc);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_TSC_OFFSET);
    vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_RDTSC);
    vmcs_write(TSC_OFFSET, off);
    u64 t0 = rdtsc();
    e = vmx_enter();
    u64 t1 = rdtsc();
    check_guest_done("use TSC offsetting: RDTSC does not exit", &e);
    check_true("use TSC offsetting: the guest's RDTSC = host TSC + TSC offset", g_out[0] >= t0 + off && g_out[0] <= t1 + off, "outside [t0, t1] + offset");
    vmcs_init_guest64(g_rdtsc);
    vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_TSC_OFFSET | CPU_RDTSC);
    vmcs_write(TSC_OFFSET, off);
    t0 = rdtsc();
    e = vmx_enter();
    t1 = rdtsc();
    check_true("without 'use TSC offsetting' the offset is ignored", g_out[0] >= t0 && g_out[0] <= t1, "outside [t0, t1]");
  }
}

/* ---- control registers (§25.1.3, §25.3, Table 27-3) ------------------------------------------- */

#define CRQ(cr, type, reg) ((u64)(cr) | ((u64)(type) << 4) | ((u64)(reg) << 8))
static volatile ulong host_cr3;
DECLARE_SITE(s_cr3w);
static NOINLINE void g_cr3_write(void) { __asm__ volatile(SITE(s_cr3w) "mov %0, %%cr3" : : "b"(host_cr3) : "memory"); }
DECLARE_SITE(s_cr3r);
static NOINLINE void g_cr3_read(void) {
  ulong v;
  __asm__ volatile(SITE(s_cr3r) "mov %%cr3, %0" : "=c"(v));
  g_out[0] = v;
}
DECLARE_SITE(s_cr8w);
static NOINLINE void g_cr8_write(void) { __asm__ volatile(SITE(s_cr8w) "mov %0, %%cr8" : : "d"(0ul)); }
DECLARE_SITE(s_cr8r);
static NOINLINE void g_cr8_read(void) {
  ulong v;
  __asm__ volatile(SITE(s_cr8r) "mov %%cr8, %0" : "=S"(v));
  g_out[0] = v;
}
static NOINLINE void g_cr0_read(void) { g_out[0] = read_cr0(); }
static NOINLINE void g_cr4_read(void) { g_out[0] = read_cr4(); }
DECLARE_SITE(s_cr0w);
static volatile ulong cr_value;
static NOINLINE void g_cr0_write(void) { __asm__ volatile(SITE(s_cr0w) "mov %0, %%cr0" : : "D"(cr_value) : "memory"); }
DECLARE_SITE(s_cr4w);
static NOINLINE void g_cr4_write(void) { __asm__ volatile(SITE(s_cr4w) "mov %0, %%cr4" : : "r"(cr_value) : "memory"); }
DECLARE_SITE(s_clts);
static NOINLINE void g_clts(void) { __asm__ volatile(SITE(s_clts) "clts" ::: "memory"); }
DECLARE_SITE(s_lmsw);
static NOINLINE void g_lmsw(void) { __asm__ volatile(SITE(s_lmsw) "lmsw %w0" : : "a"((u16)cr_value) : "memory"); }
static volatile u16 lmsw_mem;
DECLARE_SITE(s_lmsw_m);
static NOINLINE void g_lmsw_mem(void) { __asm__ volatile(SITE(s_lmsw_m) "lmsw %0" : : "m"(lmsw_mem) : "memory"); }

static void test_cr(void) {
  struct vmx_exit e;
  ulong cr3 = read_cr3();
  host_cr3 = cr3;
  if (HAS_PROC(CPU_CR3_LOAD)) {
    vmcs_init_guest64(g_cr3_write);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_LOAD);
    e = vmx_enter();
    check_exit_qual("CR3-load exiting, count 0: exit 28, CR 3, MOV to CR, register RBX (3)", &e, EXIT_REASON_CR_ACCESS, CRQ(3, 0, 3));
    check_rip("CR3-load exiting: guest RIP is the MOV", &e, s_cr3w);
    finish_guest("CR3-load exiting: the guest resumes after it");
    vmcs_init_guest64(g_cr3_write);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_LOAD);
    u32 n = MISC_CR3_TARGETS(vmx_caps.misc);
    if (n > 4) n = 4;
    if (n) {
      vmcs_write(CR3_TARGET_VALUE0 + 2 * (n - 1), cr3);
      vmcs_write(CR3_TARGET_COUNT, n);
      e = vmx_enter();
      check_guest_done("CR3-load exiting: MOV to CR3 of a CR3-target value does not exit", &e);
      vmcs_init_guest64(g_cr3_write);
      vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_LOAD);
      vmcs_write(CR3_TARGET_VALUE0 + 2 * (n - 1), cr3);
      vmcs_write(CR3_TARGET_COUNT, n - 1);
      e = vmx_enter();
      check_exit("CR3-load exiting: a target value beyond the CR3-target count is not used", &e, EXIT_REASON_CR_ACCESS);
    }
  }
  if (HAS_PROC(CPU_CR3_STORE)) {
    vmcs_init_guest64(g_cr3_read);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_STORE);
    e = vmx_enter();
    check_exit_qual("CR3-store exiting: exit 28, CR 3, MOV from CR, register RCX (1)", &e, EXIT_REASON_CR_ACCESS, CRQ(3, 1, 1));
    check_rip("CR3-store exiting: guest RIP is the MOV", &e, s_cr3r);
    vmx_guest_regs.rcx = 0xabc000;
    vmx_skip_insn();
    e = vmx_enter();
    check_eq("CR3-store exiting: the guest sees the value the host put in RCX", g_out[0], 0xabc000);
  }
  if (ctl_allowed0(vmx_caps.proc, CPU_CR3_LOAD) && ctl_allowed0(vmx_caps.proc, CPU_CR3_STORE)) {
    vmcs_init_guest64(g_cr3_read);
    vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_LOAD | CPU_CR3_STORE);
    e = vmx_enter();
    check_guest_done("without CR3-store exiting MOV from CR3 does not exit", &e);
    check_eq("without CR3-store exiting the guest reads its CR3", g_out[0], cr3);
  }
  if (HAS_PROC(CPU_CR8_LOAD) && HAS_PROC(CPU_CR8_STORE)) {
    vmcs_init_guest64(g_cr8_write);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR8_LOAD);
    e = vmx_enter();
    check_exit_qual("CR8-load exiting: exit 28, CR 8, MOV to CR, register RDX (2)", &e, EXIT_REASON_CR_ACCESS, CRQ(8, 0, 2));
    check_rip("CR8-load exiting: guest RIP is the MOV", &e, s_cr8w);
    vmcs_init_guest64(g_cr8_read);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_CR8_STORE);
    e = vmx_enter();
    check_exit_qual("CR8-store exiting: exit 28, CR 8, MOV from CR, register RSI (6)", &e, EXIT_REASON_CR_ACCESS, CRQ(8, 1, 6));
    check_rip("CR8-store exiting: guest RIP is the MOV", &e, s_cr8r);
  }

  /* CR0/CR4 guest/host masks and read shadows (§25.3 "MOV from CR0/CR4", §25.1.3). */
  ulong cr0 = read_cr0(), cr4 = read_cr4();
  vmcs_init_guest64(g_cr0_read);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_TS | CR0_MP);
  vmcs_write(CR0_READ_SHADOW, (cr0 & ~(ulong)(CR0_TS | CR0_MP)) | CR0_TS);
  vmcs_write(GUEST_CR0, cr0 & ~(ulong)(CR0_TS | CR0_MP));
  e = vmx_enter();
  check_guest_done("CR0 guest/host mask: MOV from CR0 does not exit", &e);
  check_eq("MOV from CR0: owned bits come from the read shadow (TS = 1, MP = 0)", g_out[0] & (CR0_TS | CR0_MP), CR0_TS);
  check_eq("MOV from CR0: other bits come from the guest CR0", g_out[0] & ~(u64)(CR0_TS | CR0_MP), cr0 & ~(u64)(CR0_TS | CR0_MP));
  /* A write that keeps the owned bits equal to the shadow does not exit; owned bits stay. */
  vmcs_init_guest64(g_cr0_write);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_TS);
  vmcs_write(CR0_READ_SHADOW, cr0 | CR0_TS);
  vmcs_write(GUEST_CR0, cr0 & ~(ulong)(CR0_TS | CR0_MP));
  cr_value = cr0 | CR0_TS | CR0_MP;
  e = vmx_enter();
  check_guest_done("MOV to CR0 with owned bits equal to the shadow does not exit", &e);
  check_eq("MOV to CR0 does not change owned bits of the guest CR0 (TS stays 0)", vmcs_read(GUEST_CR0) & CR0_TS, 0);
  check_eq("MOV to CR0 changes the bits the guest owns (MP = 1)", vmcs_read(GUEST_CR0) & CR0_MP, CR0_MP);
  vmcs_init_guest64(g_cr0_write);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_TS);
  vmcs_write(CR0_READ_SHADOW, cr0 | CR0_TS);
  cr_value = cr0 & ~(ulong)CR0_TS;
  e = vmx_enter();
  check_exit_qual("MOV to CR0 changing an owned bit: exit 28, CR 0, MOV to CR, register RDI (7)", &e, EXIT_REASON_CR_ACCESS, CRQ(0, 0, 7));
  check_rip("MOV to CR0 exit: guest RIP is the MOV", &e, s_cr0w);
  vmcs_init_guest64(g_clts);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_TS);
  vmcs_write(CR0_READ_SHADOW, cr0 | CR0_TS);
  e = vmx_enter();
  check_exit_qual("CLTS with TS owned and shadow TS = 1: exit 28, access type 2 (CLTS)", &e, EXIT_REASON_CR_ACCESS, CRQ(0, 2, 0));
  check_rip("CLTS exit: guest RIP is CLTS", &e, s_clts);
  vmcs_init_guest64(g_clts);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_TS);
  vmcs_write(CR0_READ_SHADOW, cr0 & ~(ulong)CR0_TS);
  e = vmx_enter();
  check_guest_done("CLTS with TS owned and shadow TS = 0 does not exit", &e);
  vmcs_init_guest64(g_lmsw);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_MP);
  vmcs_write(CR0_READ_SHADOW, cr0 & ~(ulong)CR0_MP);
  cr_value = (cr0 & 0xffff) | CR0_MP;
  e = vmx_enter();
  check_exit_qual("LMSW setting an owned bit: exit 28, access type 3, register operand, source data in bits 31:16", &e, EXIT_REASON_CR_ACCESS,
                  CRQ(0, 3, 0) | ((cr_value & 0xffff) << 16));
  check_rip("LMSW exit: guest RIP is LMSW", &e, s_lmsw);
  vmcs_init_guest64(g_lmsw_mem);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_MP);
  vmcs_write(CR0_READ_SHADOW, cr0 & ~(ulong)CR0_MP);
  lmsw_mem = (u16)((cr0 & 0xffff) | CR0_MP);
  e = vmx_enter();
  check_exit_qual("LMSW from memory: exit 28 with LMSW operand type 1 (bit 6)", &e, EXIT_REASON_CR_ACCESS,
                  CRQ(0, 3, 0) | BIT(6) | ((u64)lmsw_mem << 16));
  check_eq("LMSW from memory: the guest-linear address field holds the operand's address", e.gla, (u64)(ulong)&lmsw_mem);
  vmcs_init_guest64(g_lmsw);
  vmcs_write(CR0_GUEST_HOST_MASK, CR0_PE);
  vmcs_write(CR0_READ_SHADOW, cr0);
  cr_value = cr0 & 0xfffe;
  e = vmx_enter();
  check_guest_done("LMSW cannot clear PE: clearing an owned PE whose shadow is 1 does not exit", &e);
  /* CR4. */
  vmcs_init_guest64(g_cr4_read);
  vmcs_write(CR4_GUEST_HOST_MASK, CR4_TSD);
  vmcs_write(CR4_READ_SHADOW, cr4 | CR4_TSD);
  e = vmx_enter();
  check_eq("MOV from CR4: an owned bit (TSD) comes from the read shadow", g_out[0] & CR4_TSD, CR4_TSD);
  vmcs_init_guest64(g_cr4_write);
  vmcs_write(CR4_GUEST_HOST_MASK, CR4_TSD);
  vmcs_write(CR4_READ_SHADOW, cr4 | CR4_TSD);
  cr_value = cr4 & ~(ulong)CR4_TSD;
  e = vmx_enter();
  check_exit("MOV to CR4 changing an owned bit: exit 28", &e, EXIT_REASON_CR_ACCESS);
  check_eq("MOV to CR4 exit: qualification CR 4, MOV to CR", e.qual & 0xff, 4);
  check_rip("MOV to CR4 exit: guest RIP is the MOV", &e, s_cr4w);
  u64 reg = (e.qual >> 8) & 15;
  u64 regs[16];
  memcpy(regs, &vmx_guest_regs, sizeof regs);
  check_eq("MOV to CR4 exit: the register field names the source register", regs[reg], cr_value);
}

/* ---- MOV DR (Table 27-4) ------------------------------------------------------------------ */

DECLARE_SITE(s_drr);
static NOINLINE void g_dr_read(void) {
  ulong v;
  __asm__ volatile(SITE(s_drr) "mov %%db0, %0" : "=b"(v));
}
DECLARE_SITE(s_drw);
static NOINLINE void g_dr_write(void) { __asm__ volatile(SITE(s_drw) "mov %0, %%db3" : : "c"(0ul)); }

static void test_dr(void) {
  if (!HAS_PROC(CPU_MOV_DR)) {
    skip("MOV-DR exiting", "not supported");
    return;
  }
  vmcs_init_guest64(g_dr_read);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MOV_DR);
  struct vmx_exit e = vmx_enter();
  check_exit_qual("MOV from DR0: exit 29, DR 0, direction 1 (from DR), register RBX (3)", &e, EXIT_REASON_DR_ACCESS, 0 | BIT(4) | (3 << 8));
  check_rip("MOV from DR0 exit: guest RIP is the MOV", &e, s_drr);
  check_eq("MOV from DR0 exit: instruction length 3", e.insn_len, 3);
  vmcs_init_guest64(g_dr_write);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MOV_DR);
  e = vmx_enter();
  check_exit_qual("MOV to DR3: exit 29, DR 3, direction 0, register RCX (1)", &e, EXIT_REASON_DR_ACCESS, 3 | (1 << 8));
  finish_guest("MOV DR exit: the guest resumes after it");
}

/* ---- I/O (§25.1.3, Table 27-5) ------------------------------------------------------------ */

DECLARE_SITE(s_out80);
static NOINLINE void g_out80(void) { __asm__ volatile(SITE(s_out80) "outb %%al, $0x80" : : "a"(0)); }
static NOINLINE void g_inw(void) { __asm__ volatile("inw %%dx, %%ax" : : "d"(0x1234) : "rax"); }
static NOINLINE void g_inl71(void) { __asm__ volatile("inl $0x71, %%eax" : : : "rax"); }
static u8 outs_buf[4] = {1, 2, 3, 4};
static NOINLINE void g_rep_outsb(void) {
  __asm__ volatile("rep outsb" : : "d"(0x3456), "S"(outs_buf), "c"(2ul) : "memory");
}
static NOINLINE void g_out_port(void) { __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"((u16)g_out[1])); }
static NOINLINE void g_outw_port(void) { __asm__ volatile("outw %%ax, %%dx" : : "a"(0), "d"((u16)g_out[1])); }

static void io_case(const char *check, vmx_guest_fn fn, u32 ctl, u64 qual) {
  vmcs_init_guest64(fn);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, ctl);
  vmcs_write(IO_BITMAP_A, pa(io_a));
  vmcs_write(IO_BITMAP_B, pa(io_b));
  struct vmx_exit e = vmx_enter();
  if (qual == ~0ull) check_guest_done(check, &e);
  else check_exit_qual(check, &e, EXIT_REASON_IO_INSTRUCTION, qual);
}

static void test_io(void) {
  if (HAS_PROC(CPU_IO)) {
    io_case("unconditional I/O exiting: OUT imm8 0x80, 1 byte: exit 30, qualification 0x00800040", g_out80, CPU_IO, 0x00800040);
    struct vmx_exit e;
    vmcs_init_guest64(g_out80);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_IO);
    e = vmx_enter();
    check_rip("I/O exit: guest RIP is the OUT", &e, s_out80);
    check_eq("I/O exit: instruction length 2", e.insn_len, 2);
    finish_guest("I/O exit: the guest resumes after it");
    io_case("IN DX 0x1234, 2 bytes: qualification size 1, IN, DX operand", g_inw, CPU_IO, 0x12340009);
    io_case("IN imm8 0x71, 4 bytes: qualification size 3, IN, immediate", g_inl71, CPU_IO, 0x0071004b);
    io_case("REP OUTSB to DX 0x3456: qualification string and REP bits", g_rep_outsb, CPU_IO, 0x34560030);
    vmcs_init_guest64(g_rep_outsb);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_IO);
    e = vmx_enter();
    check_eq("OUTS exit: the guest-linear address is the source operand's (RSI)", e.gla, (u64)(ulong)outs_buf);
    if (vmx_caps.basic & BASIC_INOUT_INFO)
      check_eq("OUTS exit (IA32_VMX_BASIC[54]): instruction information address size 64-bit (2), segment DS (3)", e.insn_info & ((7u << 7) | (7u << 15)),
               (2u << 7) | (3u << 15));
    else skip("OUTS exit (IA32_VMX_BASIC[54]): instruction information address size 64-bit (2), segment DS (3)", "IA32_VMX_BASIC[54] = 0");
  } else {
    skip("unconditional I/O exiting", "not supported");
  }
  if (HAS_PROC(CPU_IO_BITMAP)) {
    memset(io_a, 0, sizeof io_a);
    memset(io_b, 0, sizeof io_b);
    io_a[0x80 / 8] |= 1 << (0x80 % 8);
    io_b[(0x8001 - 0x8000) / 8] |= 1 << (0x8001 % 8);
    io_b[0] |= 1; /* port 0x8000 */
    io_case("I/O bitmap A bit set for port 0x80: OUT exits", g_out80, CPU_IO_BITMAP, 0x00800040);
    io_case("'use I/O bitmaps' overrides unconditional I/O exiting", g_out80, CPU_IO_BITMAP | (HAS_PROC(CPU_IO) ? CPU_IO : 0), 0x00800040);
    g_out[1] = 0x8c;
    io_case("I/O bitmap A bit clear for port 0x8C: no exit", g_out_port, CPU_IO_BITMAP | (HAS_PROC(CPU_IO) ? CPU_IO : 0), ~0ull);
    g_out[1] = 0x8001;
    io_case("I/O bitmap B bit set for port 0x8001: OUT DX exits", g_out_port, CPU_IO_BITMAP, 0x80010000);
    g_out[1] = 0x8002;
    io_case("I/O bitmap B bit clear for port 0x8002: no exit", g_out_port, CPU_IO_BITMAP, ~0ull);
    io_b[0] = 0;
    io_b[0x7fff / 8] = 0;
    io_a[0x7fff / 8] = 0;
    io_b[0] = 1;
    g_out[1] = 0x7fff;
    io_case("a 2-byte OUT at 0x7FFF exits when the bit of port 0x8000 (bitmap B) is set", g_outw_port, CPU_IO_BITMAP, 0x7fff0001);
  } else {
    skip("I/O bitmaps", "not supported");
  }
}

/* ---- MSR bitmaps (§24.6.9, §25.1.3) ------------------------------------------------------- */

static volatile u32 msr_ix;
static volatile u64 msr_val;
DECLARE_SITE(s_rdmsr);
static NOINLINE void g_rdmsr(void) {
  u32 lo, hi;
  __asm__ volatile(SITE(s_rdmsr) "rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr_ix));
  msr_val = ((u64)hi << 32) | lo;
}
static NOINLINE void g_wrmsr(void) { wrmsr(msr_ix, msr_val); }

static struct vmx_exit msr_case(vmx_guest_fn fn, u32 msr, u64 value, int bitmaps) {
  vmcs_init_guest64(fn);
  if (bitmaps) {
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP);
    vmcs_write(MSR_BITMAP, pa(msr_bitmap));
  } else {
    vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP);
  }
  msr_ix = msr;
  msr_val = value;
  return vmx_enter();
}

static void test_msr(void) {
  struct vmx_exit e = msr_case(g_rdmsr, MSR_SYSENTER_CS, 0, 0);
  check_exit("without MSR bitmaps RDMSR exits (reason 31)", &e, EXIT_REASON_MSR_READ);
  check_rip("RDMSR exit: guest RIP is RDMSR", &e, s_rdmsr);
  check_eq("RDMSR exit: instruction length 2", e.insn_len, 2);
  check_eq("RDMSR exit: guest RCX holds the MSR index", vmx_guest_regs.rcx & 0xffffffff, MSR_SYSENTER_CS);
  vmx_guest_regs.rax = 0x89abcdef;
  vmx_guest_regs.rdx = 0x01234567;
  finish_guest("RDMSR exit: the guest resumes after it");
  check_eq("RDMSR exit: the guest reads EDX:EAX as the host set them", msr_val, 0x0123456789abcdefull);
  e = msr_case(g_wrmsr, MSR_SYSENTER_CS, 0x10, 0);
  check_exit("without MSR bitmaps WRMSR exits (reason 32)", &e, EXIT_REASON_MSR_WRITE);
  if (!HAS_PROC(CPU_MSR_BITMAP)) {
    skip("MSR bitmaps", "not supported");
    return;
  }
  memset(msr_bitmap, 0, sizeof msr_bitmap);
  msr_bitmap[0x000 + MSR_SYSENTER_CS / 8] |= 1 << (MSR_SYSENTER_CS % 8);           /* read, low */
  msr_bitmap[0xc00 + (MSR_KERNEL_GS_BASE & 0x1fff) / 8] |= 1 << (MSR_KERNEL_GS_BASE % 8); /* write, high */
  e = msr_case(g_rdmsr, MSR_SYSENTER_CS, 0, 1);
  check_exit("MSR bitmap read-low bit set: RDMSR 0x174 exits", &e, EXIT_REASON_MSR_READ);
  e = msr_case(g_wrmsr, MSR_SYSENTER_ESP, 0x5550, 1);
  check_guest_done("MSR bitmap write-low bit clear: WRMSR 0x175 does not exit", &e);
  check_eq("WRMSR without exit reaches the guest MSR (saved in the guest IA32_SYSENTER_ESP field)", vmcs_read(GUEST_SYSENTER_ESP), 0x5550);
  e = msr_case(g_wrmsr, MSR_KERNEL_GS_BASE, 0x7000, 1);
  check_exit("MSR bitmap write-high bit set: WRMSR 0xC0000102 exits", &e, EXIT_REASON_MSR_WRITE);
  check_eq("WRMSR exit: guest EDX:EAX hold the value", (vmx_guest_regs.rdx << 32) | (vmx_guest_regs.rax & 0xffffffff), 0x7000);
  e = msr_case(g_rdmsr, MSR_KERNEL_GS_BASE, 0, 1);
  check_guest_done("MSR bitmap read-high bit clear: RDMSR 0xC0000102 does not exit", &e);
  e = msr_case(g_rdmsr, MSR_SYSENTER_EIP, 0, 1);
  check_guest_done("MSR bitmap read-low bit clear: RDMSR 0x176 does not exit", &e);
  e = msr_case(g_rdmsr, 0x2000, 0, 1);
  check_exit("RDMSR of 0x2000 (outside both bitmap ranges) exits", &e, EXIT_REASON_MSR_READ);
  e = msr_case(g_rdmsr, 0xc0002000u, 0, 1);
  check_exit("RDMSR of 0xC0002000 (outside both bitmap ranges) exits", &e, EXIT_REASON_MSR_READ);
}

/* ---- exception bitmap and #PF error-code mask/match (§25.2) ----------------------------------- */

#define UNMAPPED 0x200000000ul /* 8 GiB: the boot page tables map 0-4 GiB */
DECLARE_SITE(s_ud2);
static NOINLINE void g_ud2(void) { __asm__ volatile(SITE(s_ud2) "ud2"); }
DECLARE_SITE(s_gp);
static NOINLINE void g_gp(void) { __asm__ volatile(SITE(s_gp) "movq (%0), %%rax" : : "r"(0x4000000000000000ul) : "rax", "memory"); }
DECLARE_SITE(s_int3);
static NOINLINE void g_int3(void) { __asm__ volatile(SITE(s_int3) "int3"); }
DECLARE_SITE(s_pf_read);
static NOINLINE void pf_read(void) { __asm__ volatile(SITE(s_pf_read) "movb (%0), %%al" : : "r"(UNMAPPED) : "rax", "memory"); }
DECLARE_SITE(s_pf_write);
static NOINLINE void pf_write(void) { __asm__ volatile(SITE(s_pf_write) "movb %%al, (%0)" : : "r"(UNMAPPED), "a"(0) : "memory"); }
static volatile int g_vec;
static volatile u64 g_err, g_cr2;
static NOINLINE void g_pf_read(void) {
  g_vec = trap_catch(pf_read);
  g_err = trap.error;
  g_cr2 = trap.cr2;
}
static NOINLINE void g_pf_write(void) {
  g_vec = trap_catch(pf_write);
  g_err = trap.error;
  g_cr2 = trap.cr2;
}

static void exc_exit(const char *name, vmx_guest_fn fn, u32 bitmap, u32 info, u32 error, const void *site) {
  char c[200];
  vmcs_init_guest64(fn);
  vmcs_write(EXCEPTION_BITMAP, bitmap);
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "%s: exit 0", name);
  check_exit(c, &e, EXIT_REASON_EXCEPTION_NMI);
  snprintf(c, sizeof c, "%s: interruption information 0x%x", name, info);
  check_eq(c, e.intr_info & ~INTR_INFO_NMI_UNBLOCK, info);
  if (info & INTR_INFO_ERROR_CODE) {
    snprintf(c, sizeof c, "%s: VM-exit interruption error code 0x%x", name, error);
    check_eq(c, e.intr_error, error);
  }
  snprintf(c, sizeof c, "%s: guest RIP is the faulting instruction", name);
  check_rip(c, &e, site);
}

static void pf_case(const char *check, vmx_guest_fn fn, int bit14, u32 mask, u32 match, int exits, u32 error) {
  vmcs_init_guest64(fn);
  vmcs_write(EXCEPTION_BITMAP, bit14 ? BIT(PF_VECTOR) : 0);
  vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, mask);
  vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, match);
  g_vec = -1;
  struct vmx_exit e = vmx_enter();
  if (exits) {
    if (check_exit(check, &e, EXIT_REASON_EXCEPTION_NMI)) {
      char c[160];
      snprintf(c, sizeof c, "%s (interruption information, error code, qualification = linear address)", check);
      check_true(c, (e.intr_info & 0xfff) == (INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | PF_VECTOR) && e.intr_error == error && e.qual == UNMAPPED,
                 "different #PF information");
    }
  } else {
    check_guest_done(check, &e);
    char c[160];
    snprintf(c, sizeof c, "%s (the guest's handler sees error code and CR2)", check);
    check_true(c, g_vec == PF_VECTOR && g_err == error && g_cr2 == UNMAPPED, "the guest did not see the #PF");
  }
}

static void test_exceptions(void) {
  const u32 V = INTR_INFO_VALID;
  exc_exit("#UD with bit 6 set", g_ud2, BIT(UD_VECTOR), V | INTR_TYPE_HARD_EXCEPTION | UD_VECTOR, 0, s_ud2);
  exc_exit("#GP (non-canonical access) with bit 13 set", g_gp, BIT(GP_VECTOR), V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0, s_gp);
  exc_exit("INT3 with bit 3 set (software exception)", g_int3, BIT(BP_VECTOR), V | INTR_TYPE_SOFT_EXCEPTION | BP_VECTOR, 0, s_int3);
  vmcs_init_guest64(g_int3);
  vmcs_write(EXCEPTION_BITMAP, BIT(BP_VECTOR));
  struct vmx_exit e = vmx_enter();
  check_eq("INT3 exit: instruction length 1", e.insn_len, 1);
  pf_case("#PF, bit 14 = 1, mask 0, match 0: every #PF exits (read)", g_pf_read, 1, 0, 0, 1, 0);
  pf_case("#PF, bit 14 = 1, mask W, match W: a write #PF exits", g_pf_write, 1, PFERR_W, PFERR_W, 1, PFERR_W);
  pf_case("#PF, bit 14 = 1, mask W, match W: a read #PF goes to the guest", g_pf_read, 1, PFERR_W, PFERR_W, 0, 0);
  pf_case("#PF, bit 14 = 0, mask W, match 0: a write #PF exits (no match)", g_pf_write, 0, PFERR_W, 0, 1, PFERR_W);
  pf_case("#PF, bit 14 = 0, mask W, match 0: a read #PF goes to the guest", g_pf_read, 0, PFERR_W, 0, 0, 0);
}

/* ---- interrupts, windows, NMIs, MTF, preemption timer (§25.2, §25.5) ------------------------- */

#define V_EXT 0x50
static NOINLINE void g_self_ipi(void) {
  __asm__ volatile("sti" ::: "memory");
  apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT);
  for (int i = 0; i < 100; i++) cpu_pause();
  __asm__ volatile("cli" ::: "memory");
}
static NOINLINE void g_self_ipi_noif(void) {
  apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT);
  for (int i = 0; i < 100; i++) cpu_pause();
}
static volatile int host_irqs;
static int host_irq(struct frame *f) {
  host_irqs++;
  apic_eoi();
  return 1;
}
static u32 apic_id;
static NOINLINE void g_self_nmi(void) {
  apic_icr(apic_id, ICR_NMI | ICR_ASSERT);
  for (int i = 0; i < 100; i++) cpu_pause();
}
DECLARE_SITE(s_win);
static NOINLINE void g_window(void) { __asm__ volatile("nop; sti; nop\n" SITE(s_win) "nop; cli" ::: "memory"); }
DECLARE_SITE(s_after_iret);
static NOINLINE void g_iret(void) {
  __asm__ volatile("mov %%rsp, %%rax\n pushq %0\n push %%rax\n pushfq\n pushq %1\n lea 1f(%%rip), %%rax\n push %%rax\n iretq\n1:\n" SITE(s_after_iret) "nop"
                   :
                   : "i"(KDATA), "i"(KCODE)
                   : "rax", "memory");
}
DECLARE_SITE(s_mtf0);
DECLARE_SITE(s_mtf1);
DECLARE_SITE(s_mtf2);
__asm__(".text\n" SITE(s_mtf0) "nop\n" SITE(s_mtf1) "nop\n" SITE(s_mtf2) "mov $0x600d, %eax\n vmcall\n ud2\n");
static volatile u32 spin_n;
static NOINLINE void g_spin(void) {
  for (volatile u32 i = 0; i < spin_n; i++) {
  }
  u32 a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}

static void test_interrupts(void) {
  struct vmx_exit e;
  apic_setup_xapic(1);
  apic_id = apic_read(APIC_ID) >> 24;
  set_trap_handler(V_EXT, host_irq);
  /* External-interrupt exiting without acknowledge-interrupt-on-exit (§27.2.2: information not valid). */
  vmcs_init_guest64(g_self_ipi);
  vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
  vmcs_clear_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
  e = vmx_enter();
  check_exit("external-interrupt exiting: a self IPI exits with reason 1", &e, EXIT_REASON_EXTERNAL_INTERRUPT);
  check_eq("without acknowledge-interrupt-on-exit the interruption information is not valid", e.intr_info & INTR_INFO_VALID, 0);
  check_eq("without acknowledge-interrupt-on-exit the interrupt stays requested (IRR)", (u64)apic_vec_bit(APIC_IRR, V_EXT), 1);
  host_irqs = 0;
  irq_window();
  check_eq("the host takes the interrupt when it sets IF", host_irqs, 1);
  if (HAS_EXIT(EXIT_ACK_INTR)) {
    vmcs_init_guest64(g_self_ipi);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
    vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
    e = vmx_enter();
    check_exit("acknowledge interrupt on exit: exit reason 1", &e, EXIT_REASON_EXTERNAL_INTERRUPT);
    check_eq("acknowledge interrupt on exit: interruption information = valid | external | vector", e.intr_info, INTR_INFO_VALID | INTR_TYPE_EXT_INTR | V_EXT);
    check_eq("acknowledge interrupt on exit: the vector is in service (ISR)", (u64)apic_vec_bit(APIC_ISR, V_EXT), 1);
    check_eq("acknowledge interrupt on exit: no longer requested (IRR)", (u64)apic_vec_bit(APIC_IRR, V_EXT), 0);
    apic_eoi();
  }
  vmcs_init_guest64(g_self_ipi_noif);
  vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
  vmcs_clear_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
  e = vmx_enter();
  check_exit("external-interrupt exiting: RFLAGS.IF = 0 does not block the exit (Table 24-5)", &e, EXIT_REASON_EXTERNAL_INTERRUPT);
  irq_window();
  /* VM entry to the HLT activity state (§26.7.4 "Activity State"): a requested interrupt ends it with an exit (§27.1). */
  if (vmx_caps.misc & MISC_ACT_HLT) {
    apic_icr(0, ICR_SELF | ICR_FIXED | V_EXT); /* requested, not taken: the host runs with IF = 0 */
    vmcs_init_guest64(g_self_ipi_noif);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_EXTINT);
    vmcs_clear_bits(VM_EXIT_CONTROLS, EXIT_ACK_INTR);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF); /* IF = 1: this case does not depend on the IF rule above */
    extern char vmx_guest_trampoline[];
    e = vmx_enter();
    check_exit("entry in the HLT activity state with an interrupt requested: exit 1", &e, EXIT_REASON_EXTERNAL_INTERRUPT);
    check_eq("the exit from the HLT state saves activity state HLT (1)", vmcs_read(GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    check_rip("the exit from the HLT state: guest RIP unchanged", &e, vmx_guest_trampoline);
    irq_window();
  }
  /* Interrupt-window exiting (§25.2). */
  if (HAS_PROC(CPU_INTR_WINDOW)) {
    vmcs_init_guest64(g_window);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_INTR_WINDOW);
    vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF);
    extern char vmx_guest_trampoline[];
    e = vmx_enter();
    check_exit("interrupt-window exiting with RFLAGS.IF = 1: exit 7 before the first instruction", &e, EXIT_REASON_INTERRUPT_WINDOW);
    check_rip("interrupt-window exit at once: guest RIP is the entry point", &e, vmx_guest_trampoline);
    vmcs_init_guest64(g_window);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_INTR_WINDOW);
    e = vmx_enter();
    check_exit("interrupt-window exiting: the guest's STI opens the window", &e, EXIT_REASON_INTERRUPT_WINDOW);
    check_rip("interrupt-window exit after STI and one more instruction (blocking by STI)", &e, s_win);
  }
  /* NMI exiting and NMI-window exiting with virtual NMIs. */
  if (HAS_PIN(PIN_NMI)) {
    vmcs_init_guest64(g_self_nmi);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI);
    e = vmx_enter();
    check_exit("NMI exiting: an NMI exits with reason 0", &e, EXIT_REASON_EXCEPTION_NMI);
    check_eq("NMI exit: interruption information = valid | NMI (type 2) | vector 2", e.intr_info & ~INTR_INFO_NMI_UNBLOCK, INTR_INFO_VALID | INTR_TYPE_NMI | 2);
  }
  if (HAS_PIN(PIN_VIRT_NMI) && HAS_PROC(CPU_NMI_WINDOW)) {
    vmcs_init_guest64(g_iret);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI | PIN_VIRT_NMI);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_NMI_WINDOW);
    vmcs_write(GUEST_INTERRUPTIBILITY_INFO, GUEST_INTR_NMI);
    e = vmx_enter();
    check_exit("NMI-window exiting with virtual-NMI blocking: exit 8 after IRET unblocks", &e, EXIT_REASON_NMI_WINDOW);
    check_rip("NMI-window exit: guest RIP is the instruction after IRET", &e, s_after_iret);
  }
  /* Monitor trap flag (§25.5.2). */
  if (HAS_PROC(CPU_MTF)) {
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_mtf0);
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MTF);
    e = vmx_enter();
    check_exit("monitor trap flag: exit 37 after one instruction", &e, EXIT_REASON_MTF);
    check_rip("MTF exit: guest RIP is the next instruction", &e, s_mtf1);
    e = vmx_enter();
    check_rip("MTF: the next exit follows the next instruction", &e, s_mtf2);
    vmcs_clear_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MTF);
    e = vmx_enter();
    check_guest_done("MTF cleared: the guest runs on", &e);
  }
  /* VMX-preemption timer (§25.5.1). */
  if (HAS_PIN(PIN_PREEMPT)) {
    vmcs_init_guest64(g_spin);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0);
    extern char vmx_guest_trampoline[];
    e = vmx_enter();
    check_exit("VMX-preemption timer value 0: exit 52 before any instruction", &e, EXIT_REASON_PREEMPTION_TIMER);
    check_rip("preemption-timer exit at once: guest RIP is the entry point", &e, vmx_guest_trampoline);
    /* A bounded loop: a timer that never fires shows up as a CPUID exit instead of a hang. */
    vmcs_init_guest64(g_spin);
    spin_n = 1000000;
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
    vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 2000);
    e = vmx_enter();
    check_exit("VMX-preemption timer 2000: a guest looping for a million iterations exits with reason 52", &e, EXIT_REASON_PREEMPTION_TIMER);
    spin_n = 0;
    if (HAS_EXIT(EXIT_SAVE_PREEMPT)) {
      vmcs_init_guest64(g_spin);
      spin_n = 100000;
      vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
      vmcs_set_bits(VM_EXIT_CONTROLS, EXIT_SAVE_PREEMPT);
      vmcs_write(VMX_PREEMPTION_TIMER_VALUE, 0xffffffffu);
      e = vmx_enter();
      check_exit("save VMX-preemption timer value: a CPUID exit after a loop", &e, EXIT_REASON_CPUID);
      u64 left = vmcs_read(VMX_PREEMPTION_TIMER_VALUE);
      check_true("save VMX-preemption timer value: the saved value decreased", left < 0xffffffffu && left > 0, "not decreased");
      spin_n = 0;
    }
  }
  set_trap_handler(V_EXT, 0);
}

/* ---- descriptor-table exiting (Tables 27-10, 27-11) ------------------------------------------ */

static u8 dt_buf[16];
static NOINLINE void g_sgdt(void) { __asm__ volatile("sgdt 8(%0)" : : "a"(dt_buf - 8) : "memory"); }
static NOINLINE void g_sidt(void) { __asm__ volatile("sidt (%0)" : : "a"(dt_buf) : "memory"); }
static NOINLINE void g_sldt(void) { __asm__ volatile("sldt %%cx" : : : "rcx"); }
static NOINLINE void g_str(void) { __asm__ volatile("str %%dx" : : : "rdx"); }

static void test_desc(void) {
  if (!HAS_PROC2(CPU2_DESC_TABLE)) {
    skip("descriptor-table exiting", "not supported");
    return;
  }
  const u32 mask46 = (7u << 7) | (7u << 15) | BIT(22) | (15u << 23) | BIT(27) | (3u << 28);
  const u32 want_mem = (2u << 7) | (3u << 15) | BIT(22) | (0u << 23); /* 64-bit address, DS, no index, base RAX */
  vmcs_init_guest64(g_sgdt);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_DESC_TABLE);
  struct vmx_exit e = vmx_enter();
  check_exit("SGDT with descriptor-table exiting: exit 46", &e, EXIT_REASON_GDTR_IDTR);
  check_eq("SGDT exit: instruction information (identity 0, 64-bit address, DS, base RAX, no index)", e.insn_info & mask46, want_mem);
  check_eq("SGDT exit: qualification = displacement 8", e.qual, 8);
  finish_guest("SGDT exit: the guest resumes after it");
  vmcs_init_guest64(g_sidt);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_DESC_TABLE);
  e = vmx_enter();
  check_exit("SIDT: exit 46", &e, EXIT_REASON_GDTR_IDTR);
  check_eq("SIDT exit: instruction identity 1", (e.insn_info >> 28) & 3, 1);
  vmcs_init_guest64(g_sldt);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_DESC_TABLE);
  e = vmx_enter();
  check_exit("SLDT: exit 47", &e, EXIT_REASON_LDTR_TR);
  check_eq("SLDT CX exit: instruction information (identity 0, register operand, reg1 = RCX)", e.insn_info & ((15u << 3) | BIT(10) | (3u << 28)), (1u << 3) | BIT(10));
  vmcs_init_guest64(g_str);
  vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_SECONDARY);
  vmcs_set_bits(SECONDARY_VM_EXEC_CONTROL, CPU2_DESC_TABLE);
  e = vmx_enter();
  check_exit("STR: exit 47", &e, EXIT_REASON_LDTR_TR);
  check_eq("STR DX exit: instruction information (identity 1, register operand, reg1 = RDX)", e.insn_info & ((15u << 3) | BIT(10) | (3u << 28)),
           (2u << 3) | BIT(10) | (1u << 28));
}

/* ---- triple fault, event injection, IDT vectoring (§26.6, §27.2.4) --------------------------- */

static volatile int inj_vector;
static volatile u64 inj_error, inj_ip;
static int inj_handler(struct frame *f) {
  inj_vector = (int)f->vector;
  inj_error = f->error;
  inj_ip = f->ip;
  return 1;
}
static int nmi_cpuid_handler(struct frame *f) {
  u32 a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return 1;
}
DECLARE_SITE(s_inj);
__asm__(".text\n" SITE(s_inj) "nop\n nop\n mov $0x600d, %eax\n vmcall\n ud2\n");

static void inject_case(const char *name, u32 info, u32 error, u32 len, u64 want_ip, u64 want_error) {
  char c[200];
  vmcs_init_guest64(0);
  vmcs_write(GUEST_RIP, (u64)(ulong)s_inj);
  vmcs_write(GUEST_RFLAGS, FL_FIXED | FL_IF);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
  vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, len);
  inj_vector = -1;
  struct vmx_exit e = vmx_enter();
  snprintf(c, sizeof c, "inject %s: the guest runs", name);
  check_guest_done(c, &e);
  snprintf(c, sizeof c, "inject %s: delivered through the guest IDT (vector, error code, pushed RIP)", name);
  if (inj_vector == (int)(info & 0xff) && inj_ip == want_ip && (want_error == ANY_VALUE || inj_error == want_error)) pass(c);
  else fail(c, "vector %d error 0x%lx RIP 0x%lx, want vector %u RIP 0x%lx", inj_vector, (ulong)inj_error, (ulong)inj_ip, info & 0xff, (ulong)want_ip);
  snprintf(c, sizeof c, "inject %s: the VM exit clears the valid bit of the VM-entry interruption-information field", name);
  check_eq(c, vmcs_read(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID, 0);
}

DECLARE_SITE(s_idtv);
static NOINLINE void g_idt_vectoring(void) {
  __asm__ volatile("mov %%rsp, %%rbx\n mov %0, %%rsp\n" SITE(s_idtv) "int $0x62\n mov %%rbx, %%rsp" : : "r"(UNMAPPED) : "rbx", "memory");
}

static void test_events(void) {
  const u32 V = INTR_INFO_VALID;
  u64 site = (u64)(ulong)s_inj;
  /* Triple fault (§25.2): an exception with an IDT that cannot deliver anything. */
  vmcs_init_guest64(g_ud2);
  vmcs_write(GUEST_IDTR_LIMIT, 0);
  struct vmx_exit e = vmx_enter();
  check_exit("triple fault in the guest (IDT limit 0, #UD): exit 2", &e, EXIT_REASON_TRIPLE_FAULT);
  for (int v = 0; v < 256; v++) set_trap_handler(v, 0);
  set_trap_handler(0x60, inj_handler);
  set_trap_handler(0x61, inj_handler);
  set_trap_handler(0x62, inj_handler);
  set_trap_handler(NMI_VECTOR, inj_handler);
  set_trap_handler(GP_VECTOR, inj_handler);
  set_trap_handler(BP_VECTOR, inj_handler);
  set_trap_handler(DB_VECTOR, inj_handler);
  inject_case("external interrupt 0x60", V | INTR_TYPE_EXT_INTR | 0x60, 0, 0, site, ANY_VALUE);
  inject_case("NMI", V | INTR_TYPE_NMI | NMI_VECTOR, 0, 0, site, ANY_VALUE);
  if (HAS_PIN(PIN_VIRT_NMI)) {
    /* With virtual NMIs, an injected NMI sets virtual-NMI blocking until the guest's IRET (§25.3, §27.3.4). */
    set_trap_handler(NMI_VECTOR, nmi_cpuid_handler);
    vmcs_init_guest64(0);
    vmcs_write(GUEST_RIP, (u64)(ulong)s_inj);
    vmcs_set_bits(PIN_BASED_VM_EXEC_CONTROL, PIN_NMI | PIN_VIRT_NMI);
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, V | INTR_TYPE_NMI | NMI_VECTOR);
    struct vmx_exit x = vmx_enter();
    check_exit("virtual NMIs: CPUID in the handler of an injected NMI exits", &x, EXIT_REASON_CPUID);
    check_eq("virtual NMIs: the exit saves virtual-NMI blocking (interruptibility bit 3)", vmcs_read(GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_NMI, GUEST_INTR_NMI);
    vmx_skip_insn();
    x = vmx_enter();
    check_guest_done("virtual NMIs: the handler's IRET returns to the guest", &x);
    check_eq("virtual NMIs: IRET cleared virtual-NMI blocking", vmcs_read(GUEST_INTERRUPTIBILITY_INFO) & GUEST_INTR_NMI, 0);
    set_trap_handler(NMI_VECTOR, inj_handler);
  }
  inject_case("#GP with error code 0x18", V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | GP_VECTOR, 0x18, 0, site, 0x18);
  inject_case("software interrupt 0x61, length 2 (pushed RIP + 2)", V | INTR_TYPE_SOFT_INTR | 0x61, 0, 2, site + 2, ANY_VALUE);
  inject_case("software exception #BP, length 1 (pushed RIP + 1)", V | INTR_TYPE_SOFT_EXCEPTION | BP_VECTOR, 0, 1, site + 1, ANY_VALUE);
  inject_case("privileged software exception #DB, length 1 (pushed RIP + 1)", V | INTR_TYPE_PRIV_SW_EXCEPTION | DB_VECTOR, 0, 1, site + 1, ANY_VALUE);
  /* IDT-vectoring information: a #PF while delivering INT 0x62 on an unmapped stack. */
  vmcs_init_guest64(g_idt_vectoring);
  vmcs_write(EXCEPTION_BITMAP, BIT(PF_VECTOR));
  inj_vector = -1;
  e = vmx_enter();
  check_exit("#PF during delivery of INT 0x62: exit 0", &e, EXIT_REASON_EXCEPTION_NMI);
  check_eq("#PF during delivery: interruption information #PF with error code", e.intr_info & ~INTR_INFO_NMI_UNBLOCK,
           V | INTR_INFO_ERROR_CODE | INTR_TYPE_HARD_EXCEPTION | PF_VECTOR);
  check_eq("#PF during delivery: error code W (a not-present supervisor write)", e.intr_error, PFERR_W);
  check_eq("#PF during delivery: qualification in the page below the unmapped stack", e.qual >> 12, (UNMAPPED - 8) >> 12);
  check_eq("IDT-vectoring information: valid | software interrupt | 0x62", e.idt_info & ~INTR_INFO_NMI_UNBLOCK, V | INTR_TYPE_SOFT_INTR | 0x62);
  check_eq("IDT-vectoring exit: instruction length of INT 0x62 (2)", e.insn_len, 2);
  check_rip("IDT-vectoring exit: guest RIP is the INT instruction", &e, s_idtv);
  /* Reinject it with a good stack. */
  vmcs_write(GUEST_RSP, (u64)(ulong)vmx_guest_stack + 4096);
  vmcs_write(VM_ENTRY_INTR_INFO_FIELD, e.idt_info & ~INTR_INFO_NMI_UNBLOCK);
  vmcs_write(VM_ENTRY_INSTRUCTION_LEN, e.insn_len);
  e = vmx_enter();
  check_guest_done("reinjecting the vectoring event: the guest runs on", &e);
  check_true("reinjected INT 0x62 reaches its handler with RIP after the INT", inj_vector == 0x62 && inj_ip == (u64)(ulong)s_idtv + 2, "not delivered");
  for (int v = 0; v < 256; v++) set_trap_handler(v, 0);
}

/* ---- VM-exit MSR lists, saved guest state, loaded host state (§27.3, §27.4, §27.5, §27.6) ------ */

static NOINLINE void g_write_kgs(void) { wrmsr(MSR_KERNEL_GS_BASE, 0xfeed000); }
static volatile u64 g_rsp;
DECLARE_SITE(s_state);
static NOINLINE void g_state(void) {
  __asm__ volatile("mov %%fs, %%r8\n mov %%ds, %%r9\n mov %2, %%ds\n xor %%eax, %%eax\n mov %%ax, %%fs\n"
                   "mov %%rsp, %0\n mov $0x1234, %%eax\n stc\n" SITE(s_state) "vmcall\n"
                   "mov %%r8, %%fs\n mov %%r9, %%ds\n mov %%rsp, %1"
                   : "=m"(g_rsp), "=m"(g_out[0])
                   : "r"((u64)UDATA)
                   : "rax", "r8", "r9", "memory", "cc");
}

static u8 no_msr_exits[4096] ALIGNED(4096);

static void test_state(void) {
  memset(msr_store, 0, sizeof msr_store);
  memset(msr_load, 0, sizeof msr_load);
  u64 kgs = rdmsr(MSR_KERNEL_GS_BASE);
  msr_store[0].index = MSR_KERNEL_GS_BASE;
  msr_load[0].index = MSR_KERNEL_GS_BASE;
  msr_load[0].value = 0xbeef000;
  vmcs_init_guest64(g_write_kgs);
  if (HAS_PROC(CPU_MSR_BITMAP)) {
    vmcs_set_bits(CPU_BASED_VM_EXEC_CONTROL, CPU_MSR_BITMAP); /* the guest's WRMSR must not exit */
    vmcs_write(MSR_BITMAP, pa(no_msr_exits));
  }
  vmcs_write(VM_EXIT_MSR_STORE_COUNT, 1);
  vmcs_write(VM_EXIT_MSR_STORE_ADDR, pa(msr_store));
  vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 1);
  vmcs_write(VM_EXIT_MSR_LOAD_ADDR, pa(msr_load));
  struct vmx_exit e = vmx_enter();
  check_guest_done("VM-exit MSR-store and MSR-load lists: the guest runs", &e);
  check_eq("VM-exit MSR-store list: the guest's IA32_KERNEL_GS_BASE is stored", msr_store[0].value, 0xfeed000);
  check_eq("VM-exit MSR-load list: the host's IA32_KERNEL_GS_BASE is loaded", rdmsr(MSR_KERNEL_GS_BASE), 0xbeef000);
  wrmsr(MSR_KERNEL_GS_BASE, kgs);

  /* Guest state saved (§27.3). */
  vmcs_init_guest64(g_state);
  ulong dr7 = read_dr7();
  write_dr0(0x1000);
  write_dr7(0x401); /* L0: an execution breakpoint at 0x1000, never reached */
  u64 fsbase = rdmsr(MSR_FS_BASE), sysenter_cs = rdmsr(MSR_SYSENTER_CS);
  vmcs_write(HOST_FS_BASE, 0x5000);
  vmcs_write(HOST_IA32_SYSENTER_CS, 0x77);
  vmcs_write(HOST_CR4, read_cr4() | CR4_TSD);
  e = vmx_enter();
  ulong dr7_after = read_dr7(), cr4_after = read_cr4();
  u64 fs_after = rdmsr(MSR_FS_BASE), sysenter_after = rdmsr(MSR_SYSENTER_CS);
  write_dr7(dr7);
  wrmsr(MSR_FS_BASE, fsbase);
  wrmsr(MSR_SYSENTER_CS, sysenter_cs);
  write_cr4(cr4_after & ~(ulong)CR4_TSD);
  check_exit("VMCALL in the guest: exit 18", &e, EXIT_REASON_VMCALL);
  check_rip("saved guest RIP is the VMCALL", &e, s_state);
  check_eq("VMCALL exit: instruction length 3", e.insn_len, 3);
  check_eq("saved guest RSP", vmcs_read(GUEST_RSP), g_rsp);
  check_eq("saved guest RFLAGS (CF set by STC)", vmcs_read(GUEST_RFLAGS) & (FL_CF | FL_FIXED), FL_CF | FL_FIXED);
  check_eq("saved guest RAX", vmx_guest_regs.rax, 0x1234);
  check_eq("saved guest DS selector", vmcs_read(GUEST_DS_SELECTOR), UDATA);
  check_eq("saved guest DS access rights (DPL 3 data, accessed)", vmcs_read(GUEST_DS_AR_BYTES), 0xc0f3);
  check_eq("saved guest FS selector (null)", vmcs_read(GUEST_FS_SELECTOR), 0);
  check_eq("saved guest FS is unusable (access rights bit 16)", vmcs_read(GUEST_FS_AR_BYTES) & AR_UNUSABLE, AR_UNUSABLE);
  /* Host state loaded (§27.5). */
  check_eq("host RFLAGS after a VM exit = 0x2", e.host_rflags, FL_FIXED);
  check_eq("host GDTR limit after a VM exit = 0xFFFF", e.host_gdtr_limit, 0xffff);
  check_eq("host IDTR limit after a VM exit = 0xFFFF", e.host_idtr_limit, 0xffff);
  check_eq("host DR7 after a VM exit = 0x400", dr7_after, 0x400);
  check_eq("host FS base loaded from the host-state area", fs_after, 0x5000);
  check_eq("host IA32_SYSENTER_CS loaded from the host-state area", sysenter_after, 0x77);
  check_eq("host CR4 loaded from the host-state area", cr4_after & CR4_TSD, CR4_TSD);
  vmcs_write(HOST_FS_BASE, fsbase);
  vmcs_write(HOST_IA32_SYSENTER_CS, sysenter_cs);
  vmcs_write(HOST_CR4, read_cr4());
  vmx_skip_insn();
  e = vmx_enter();
  check_guest_done("the guest resumes after VMCALL", &e);
  check_eq("the guest sees its RSP unchanged across the exit", g_out[0], g_rsp);
}

void test_main(void) {
  vmx_read_caps();
  if (!vmx_caps.supported) {
    skip("VMX non-root operation", "CPUID.01H:ECX.VMX = 0");
    return;
  }
  int out = vmx_on();
  if (out != VMX_OK) panic("VMXON: %s", vmx_outcome_name(out));
  test_instructions();
  test_cr();
  test_dr();
  test_io();
  test_msr();
  test_exceptions();
  test_interrupts();
  test_desc();
  test_events();
  test_state();
  vmx_off();
}
