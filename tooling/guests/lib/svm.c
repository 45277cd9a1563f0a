/*
 * The hypervisor library of the SVM test programs (see svm.h). 64-bit only: linked into the
 * programs whose @guest line asks for `cpu=...,+svm`.
 */
#include "svm.h"

struct svm_caps svm_caps;
struct svm_regs svm_guest_regs;
struct svm_host_after svm_after_exit;
struct svm_host_before svm_before_vmrun;
int svm_keep_gif0;
u8 svm_hsave[4096] ALIGNED(4096);
u8 svm_host_vmcb[4096] ALIGNED(4096);
struct vmcb vmcbs[4] ALIGNED(4096);
u8 svm_iopm[3 * 4096] ALIGNED(4096);
u8 svm_msrpm[2 * 4096] ALIGNED(4096);
u8 svm_guest_stack[16384] ALIGNED(4096);

/* ---- MSRs that may fault -------------------------------------------------------------------- */

static volatile u32 safe_msr;
static volatile u64 safe_value;
static NOINLINE void safe_rd(void) { safe_value = rdmsr(safe_msr); }
static NOINLINE void safe_wr(void) { wrmsr(safe_msr, safe_value); }
int svm_rdmsr_safe(u32 msr, u64 *v) {
  safe_msr = msr;
  safe_value = 0;
  int got = trap_catch(safe_rd);
  if (v) *v = got == NO_TRAP ? safe_value : 0;
  return got;
}
int svm_wrmsr_safe(u32 msr, u64 v) {
  safe_msr = msr;
  safe_value = v;
  return trap_catch(safe_wr);
}

/* ---- capabilities (CPUID Fn8000_0001_ECX, Fn8000_000A) -------------------------------------- */

void svm_read_caps(void) {
  struct svm_caps *c = &svm_caps;
  memset(c, 0, sizeof *c);
  c->phys_bits = cpu.phys_bits;
  c->supported = (cpu.e1_ecx & CPUID_8000_0001_ECX_SVM) != 0;
  if (!c->supported || cpu.max_ext_leaf < 0x8000000au) return;
  u32 a, b, cx, d;
  cpuid(0x8000000au, 0, &a, &b, &cx, &d);
  c->revision = a & 0xff;
  c->nasid = b;
  c->features = d;
}

/* ---- the fault-catching wrapper ------------------------------------------------------------- */

static volatile int try_insn;
static volatile u64 try_a, try_b;
static NOINLINE void try_fn(void) {
  u64 a = try_a, b = try_b;
  switch (try_insn) {
  case S_VMRUN: svm_vmrun_raw(a); break;
  case S_VMLOAD: svm_vmload(a); break;
  case S_VMSAVE: svm_vmsave(a); break;
  case S_STGI: stgi(); break;
  case S_CLGI: clgi(); break;
  case S_VMMCALL: vmmcall(); break;
  case S_INVLPGA: invlpga(a, (u32)b); break;
  case S_SKINIT: skinit((u32)a); break;
  }
}

int svm_try(enum svm_insn insn, u64 a, u64 b) {
  try_insn = (int)insn;
  try_a = a;
  try_b = b;
  return trap_catch(try_fn);
}

int svm_try_user(enum svm_insn insn, u64 a, u64 b) {
  try_insn = (int)insn;
  try_a = a;
  try_b = b;
  return run_user(try_fn, 0);
}

const char *svm_insn_name(enum svm_insn insn) {
  static const char *const names[] = {"VMRUN", "VMLOAD", "VMSAVE", "STGI", "CLGI", "VMMCALL", "INVLPGA", "SKINIT"};
  return (unsigned)insn < ARRAY_SIZE(names) ? names[insn] : "?";
}

/* ---- enabling SVM (§15.4) --------------------------------------------------------------------- */

int svm_enable(void) {
  if (!svm_caps.supported) svm_read_caps();
  int got = svm_wrmsr_safe(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  if (got != NO_TRAP) return got;
  got = svm_wrmsr_safe(MSR_VM_HSAVE_PA, pa(svm_hsave));
  if (got != NO_TRAP) return got;
  return NO_TRAP;
}

void svm_disable(void) { wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(u64)EFER_SVME); }

/* ---- permission maps -------------------------------------------------------------------------- */

void iopm_set(u16 port, int intercept) {
  if (intercept) svm_iopm[port >> 3] |= (u8)(1u << (port & 7));
  else svm_iopm[port >> 3] &= (u8)~(1u << (port & 7));
}

/* §15.11: 2 bits per MSR (even = read, odd = write); three 2 KiB vectors at 000h, 800h and 1000h. */
int msrpm_set(u32 msr, int read, int write) {
  u32 base;
  if (msr <= 0x1fffu) base = 0;
  else if (msr >= 0xc0000000u && msr <= 0xc0001fffu) base = 0x800 * 8;
  else if (msr >= 0xc0010000u && msr <= 0xc0011fffu) base = 0x1000 * 8;
  else return 0;
  u32 bit = base + (msr & 0x1fffu) * 2;
  u8 *p = &svm_msrpm[bit >> 3];
  u8 rb = (u8)(1u << (bit & 7)), wb = (u8)(2u << (bit & 7));
  *p = (u8)(read ? *p | rb : *p & ~rb);
  *p = (u8)(write ? *p | wb : *p & ~wb);
  return 1;
}

void svm_maps_clear(void) {
  memset(svm_iopm, 0, sizeof svm_iopm);
  memset(svm_msrpm, 0, sizeof svm_msrpm);
}

/* ---- the VMCB ------------------------------------------------------------------------------- */

struct PACKED dtr {
  u16 limit;
  u64 base;
};

static void seg_from_gdt(struct vmcb_seg *s, u16 sel) {
  struct dtr g;
  __asm__ volatile("sgdt %0" : "=m"(g));
  s->selector = sel;
  if ((sel & ~3u) == 0) {
    s->attrib = 0;
    s->limit = 0;
    s->base = 0;
    return;
  }
  u64 d = ((u64 *)(ulong)g.base)[sel >> 3];
  u32 limit = (u32)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
  if (d & BIT64(55)) limit = (limit << 12) | 0xfff;
  s->attrib = svm_attr_of_desc(d);
  s->limit = limit;
  s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
}

void svm_vmcb_init_guest64(struct vmcb *vmcb, u64 rip, u64 rsp) {
  memset(vmcb, 0, sizeof *vmcb);
  /* FS, GS, TR, LDTR (with their hidden state), KernelGsBase, STAR/LSTAR/CSTAR/SFMASK and the
   * SYSENTER MSRs: what VMSAVE stores (Vol. 3 "VMSAVE"). */
  svm_vmsave(pa(vmcb));
  struct vmcb_control *c = &vmcb->control;
  c->intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL;
  c->iopm_base_pa = pa(svm_iopm);
  c->msrpm_base_pa = pa(svm_msrpm);
  c->guest_asid = 1;
  c->tlb_control = TLB_CONTROL_DO_NOTHING;
  struct vmcb_save *s = &vmcb->save;
  seg_from_gdt(&s->es, read_es());
  seg_from_gdt(&s->cs, read_cs());
  seg_from_gdt(&s->ss, read_ss());
  seg_from_gdt(&s->ds, read_ds());
  struct dtr g, i;
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
  s->gdtr.limit = g.limit;
  s->gdtr.base = g.base;
  s->idtr.limit = i.limit;
  s->idtr.base = i.base;
  s->cpl = 0;
  s->efer = rdmsr(MSR_EFER);
  s->cr0 = read_cr0();
  s->cr3 = read_cr3();
  s->cr4 = read_cr4();
  s->dr7 = 0x400;
  s->dr6 = 0xffff0ff0u;
  s->rflags = FL_FIXED;
  s->rip = rip;
  s->rsp = rsp;
  s->rax = 0;
  u64 pat = 0;
  if (svm_rdmsr_safe(MSR_IA32_PAT, &pat) != NO_TRAP || !pat) pat = 0x0007040600070406ull;
  s->g_pat = pat;
}

svm_guest_fn svm_guest_fn_ptr;
extern char svm_guest_trampoline[];

void svm_set_guest(struct vmcb *vmcb, svm_guest_fn fn) {
  svm_guest_fn_ptr = fn;
  vmcb->save.rip = (u64)(ulong)svm_guest_trampoline;
  vmcb->save.rsp = SVM_GUEST_STACK_TOP;
  vmcb->save.rflags = FL_FIXED;
  vmcb->control.eventinj = 0;
  vmcb->control.interrupt_shadow = 0;
}

void svm_vmcb_init_fn(struct vmcb *vmcb, svm_guest_fn fn) {
  svm_vmcb_init_guest64(vmcb, 0, 0);
  memset(&svm_guest_regs, 0, sizeof svm_guest_regs);
  svm_set_guest(vmcb, fn);
}

/* ---- VMRUN and #VMEXIT (§15.5, §15.6) ------------------------------------------------------- */

u64 svm_run_asm(u64 vmcb_pa);

/*
 * svm_run_asm(vmcb_pa): saves the callee-saved registers, loads the guest's GPRs (all but RAX
 * and RSP, which VMRUN takes from the VMCB) and executes VMRUN. #VMEXIT restores the host's
 * RAX, RSP and RIP from the host save area (§15.6) and resumes after VMRUN, where the guest's
 * GPRs are still in the registers: they are stored in svm_guest_regs, RFLAGS and RSP as the
 * #VMEXIT left them in svm_after_exit.
 */
__asm__(".text\n"
        ".global svm_run_asm\n"
        "svm_run_asm:\n"
        "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rdi, %rax\n"
        "  push %rax\n"
        "  lea svm_guest_regs(%rip), %rax\n"
        "  mov 8(%rax), %rcx\n  mov 16(%rax), %rdx\n  mov 24(%rax), %rbx\n  mov 40(%rax), %rbp\n"
        "  mov 48(%rax), %rsi\n  mov 56(%rax), %rdi\n  mov 64(%rax), %r8\n  mov 72(%rax), %r9\n"
        "  mov 80(%rax), %r10\n  mov 88(%rax), %r11\n  mov 96(%rax), %r12\n  mov 104(%rax), %r13\n"
        "  mov 112(%rax), %r14\n  mov 120(%rax), %r15\n"
        "  pop %rax\n"
        "  pushfq\n"
        "  popq svm_before_vmrun(%rip)\n"
        "  mov %rsp, svm_before_vmrun+8(%rip)\n"
        ".global svm_vmrun_site\n"
        "svm_vmrun_site:\n"
        "  vmrun %rax\n"
        "  pushfq\n"
        "  popq svm_after_exit(%rip)\n"
        "  mov %rsp, svm_after_exit+8(%rip)\n"
        "  lea svm_guest_regs(%rip), %rax\n"
        "  mov %rcx, 8(%rax)\n  mov %rdx, 16(%rax)\n  mov %rbx, 24(%rax)\n  mov %rbp, 40(%rax)\n"
        "  mov %rsi, 48(%rax)\n  mov %rdi, 56(%rax)\n  mov %r8, 64(%rax)\n  mov %r9, 72(%rax)\n"
        "  mov %r10, 80(%rax)\n  mov %r11, 88(%rax)\n  mov %r12, 96(%rax)\n  mov %r13, 104(%rax)\n"
        "  mov %r14, 112(%rax)\n  mov %r15, 120(%rax)\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n"
        "  ret\n"
        ".global svm_guest_trampoline\n"
        "svm_guest_trampoline:\n"
        "  call *svm_guest_fn_ptr(%rip)\n"
        "  mov $0x600d, %eax\n"
        "  vmmcall\n"
        "  ud2\n");

static void capture_after_exit(void) {
  struct svm_host_after *h = &svm_after_exit;
  h->cr0 = read_cr0();
  h->cr3 = read_cr3();
  h->cr4 = read_cr4();
  h->efer = rdmsr(MSR_EFER);
  h->cs = read_cs();
  h->ss = read_ss();
  h->ds = read_ds();
  h->es = read_es();
  __asm__ volatile("sgdt %0; sidt %1" : "=m"(h->gdtr), "=m"(h->idtr));
}

u64 svm_run_bare(struct vmcb *vmcb) {
  clgi();
  svm_run_asm(pa(vmcb));
  capture_after_exit();
  if (!svm_keep_gif0) stgi();
  return vmcb->control.exitcode;
}

u64 svm_run(struct vmcb *vmcb) {
  clgi();
  svm_vmsave(pa(svm_host_vmcb));
  svm_vmload(pa(vmcb));
  svm_run_asm(pa(vmcb));
  capture_after_exit();
  svm_vmsave(pa(vmcb));
  svm_vmload(pa(svm_host_vmcb));
  if (!svm_keep_gif0) stgi();
  return vmcb->control.exitcode;
}

void svm_skip(struct vmcb *vmcb, u32 len) {
  if (vmcb->control.nrip) vmcb->save.rip = vmcb->control.nrip;
  else vmcb->save.rip += len;
}

u64 svm_run_loop(struct vmcb *vmcb, svm_exit_handler handler, int max) {
  u64 code;
  for (;;) {
    code = svm_run(vmcb);
    if (code == SVM_EXIT_INVALID || svm_guest_done(vmcb)) return code;
    if (--max <= 0 || !handler || !handler(vmcb, &svm_guest_regs)) return code;
  }
}

void svm_describe(const struct vmcb *vmcb, char *buf, size_t size) {
  const struct vmcb_control *c = &vmcb->control;
  if (c->exitcode == SVM_EXIT_INVALID) snprintf(buf, size, "VMEXIT_INVALID");
  else if (svm_guest_done(vmcb)) snprintf(buf, size, "the guest ran to its end (VMMCALL)");
  else
    snprintf(buf, size, "EXITCODE 0x%lx (EXITINFO1 0x%lx, EXITINFO2 0x%lx, EXITINTINFO 0x%lx, nRIP 0x%lx, RIP 0x%lx)", (ulong)c->exitcode,
             (ulong)c->exitinfo1, (ulong)c->exitinfo2, (ulong)c->exitintinfo, (ulong)c->nrip, (ulong)vmcb->save.rip);
}

int check_exitcode(const char *check, const struct vmcb *vmcb, u64 code) {
  if (vmcb->control.exitcode == code && !(code == SVM_EXIT_VMMCALL && svm_guest_done(vmcb))) {
    pass(check);
    return 1;
  }
  char b[200];
  svm_describe(vmcb, b, sizeof b);
  fail(check, "got %s, want EXITCODE 0x%lx", b, (ulong)code);
  return 0;
}

int check_exit_info(const char *check, const struct vmcb *vmcb, u64 code, u64 info1, u64 info2) {
  const struct vmcb_control *c = &vmcb->control;
  if (c->exitcode == code && (info1 == ANY_VALUE || c->exitinfo1 == info1) && (info2 == ANY_VALUE || c->exitinfo2 == info2)) {
    pass(check);
    return 1;
  }
  char b[200];
  svm_describe(vmcb, b, sizeof b);
  fail(check, "got %s, want EXITCODE 0x%lx EXITINFO1 0x%lx EXITINFO2 0x%lx", b, (ulong)code, (ulong)info1, (ulong)info2);
  return 0;
}

int check_guest_done(const char *check, const struct vmcb *vmcb) {
  if (svm_guest_done(vmcb)) {
    pass(check);
    return 1;
  }
  char b[200];
  svm_describe(vmcb, b, sizeof b);
  fail(check, "got %s, want the guest to run to its end (VMMCALL)", b);
  return 0;
}

/* ---- nested page tables (§15.25): long-mode format, 4 levels ----------------------------- */

struct npt_tables {
  u64 pml4[512] ALIGNED(4096);
  u64 pdpt[512] ALIGNED(4096);
  u64 pd[4][512] ALIGNED(4096);
};
static struct npt_tables npt_main ALIGNED(4096);
#define NPT_POOL 32
static u64 npt_pool[NPT_POOL][512] ALIGNED(4096);
static int npt_pool_used;
u64 npt_ncr3;
#define NPT_ADDR_MASK 0x000ffffffffff000ull
/* Nested page-table accesses are user accesses (§15.25.5): every level has U = 1. */
#define NPT_RWU (PTE_P | PTE_W | PTE_U)

u64 npt_identity(void) {
  struct npt_tables *t = &npt_main;
  memset(t, 0, sizeof *t);
  npt_pool_used = 0;
  t->pml4[0] = pa(t->pdpt) | NPT_RWU;
  for (u64 g = 0; g < 4; g++) {
    t->pdpt[g] = pa(t->pd[g]) | NPT_RWU;
    for (u64 i = 0; i < 512; i++) t->pd[g][i] = ((g << 30) | (i << 21)) | NPT_RWU | PTE_PS;
  }
  npt_ncr3 = pa(t->pml4);
  return npt_ncr3;
}

u64 *npt_pde(u64 gpa) { return &npt_main.pd[(gpa >> 30) & 3][(gpa >> 21) & 511]; }

u64 *npt_pte(u64 gpa) {
  u64 *pde = npt_pde(gpa);
  if (*pde & PTE_PS) {
    if (npt_pool_used >= NPT_POOL) panic("nested page-table pool exhausted");
    u64 *pt = npt_pool[npt_pool_used++];
    u64 base = *pde & 0x000fffffffe00000ull, flags = *pde & ~(PTE_PS | 0x000fffffffe00000ull);
    for (u64 i = 0; i < 512; i++) pt[i] = (base + (i << 12)) | flags;
    *pde = pa(pt) | NPT_RWU;
  }
  return &((u64 *)(ulong)(*pde & NPT_ADDR_MASK))[(gpa >> 12) & 511];
}

void npt_set_perms(u64 gpa, u64 set, u64 clear) {
  u64 *e = npt_pte(gpa);
  *e = (*e & ~clear) | set;
}

void svm_enable_npt(struct vmcb *vmcb) {
  if (!npt_ncr3) npt_identity();
  vmcb->control.np_enable |= NP_ENABLE;
  vmcb->control.n_cr3 = npt_ncr3;
  vmcb->control.vmcb_clean = 0;
}
