/*
 * A small hypervisor library for the SVM test programs (64-bit only): CPUID Fn8000_000A, EFER.SVME
 * and the SVM MSRs, the VMCB by the names of the AMD APM, intercept bits and exit codes, the SVM
 * instructions as inline functions (and under trap_catch for #UD/#GP checks), a VMCB whose
 * guest is a copy of the current 64-bit context, a VMRUN stub that comes back to C at every
 * #VMEXIT with the guest registers, the I/O and MSR permission maps, and nested page tables.
 *
 * References are to the AMD64 Architecture Programmer's Manual Vol. 2, chapter 15 "Secure
 * Virtual Machine": §15.4 (enabling SVM), §15.5 (VMRUN, §15.5.1 consistency checks), §15.6
 * (#VMEXIT), §15.7-§15.14 (intercepts), §15.10 (IOPM), §15.11 (MSRPM), §15.15 (VMCB clean
 * bits), §15.16 (TLB control), §15.17 (GIF), §15.20 (event injection), §15.21 (interrupt
 * virtualization), §15.25 (nested paging), §15.30 (MSRs); Appendix B (VMCB layout), Appendix C
 * (exit codes); Vol. 3 for the instructions (VMRUN, VMLOAD, VMSAVE, STGI, CLGI, VMMCALL,
 * INVLPGA, SKINIT).
 */
#ifndef HVKIT_SVM_H
#define HVKIT_SVM_H

#include "guest.h"
#include "guest64.h"

/* ---- CPUID and MSRs (§15.4, §15.30; CPUID Fn8000_000A in Vol. 3 Appendix E) ---------------- */

#define CPUID_8000_0001_ECX_SVM BIT(2)
#define EFER_SVME BIT(12)
#define MSR_VM_CR 0xc0010114u
#define MSR_IGNNE 0xc0010115u
#define MSR_SMM_CTL 0xc0010116u
#define MSR_VM_HSAVE_PA 0xc0010117u
#define MSR_SVM_KEY 0xc0010118u
#define MSR_IA32_PAT 0x277u
#define MSR_DEBUGCTL 0x1d9u
#define MSR_TSC 0x10u
#define MSR_TSC_AUX 0xc0000103u
/* VM_CR (§15.30.1). */
#define VM_CR_DPD BIT64(0)
#define VM_CR_R_INIT BIT64(1)
#define VM_CR_DIS_A20M BIT64(2)
#define VM_CR_LOCK BIT64(3)
#define VM_CR_SVMDIS BIT64(4)
/* CPUID Fn8000_000A_EDX feature bits. */
#define SVM_FEAT_NP BIT(0)
#define SVM_FEAT_LBRV BIT(1)
#define SVM_FEAT_SVML BIT(2)
#define SVM_FEAT_NRIPS BIT(3)
#define SVM_FEAT_TSC_RATE BIT(4)
#define SVM_FEAT_VMCB_CLEAN BIT(5)
#define SVM_FEAT_FLUSH_BY_ASID BIT(6)
#define SVM_FEAT_DECODE_ASSISTS BIT(7)
#define SVM_FEAT_PAUSE_FILTER BIT(10)
#define SVM_FEAT_PAUSE_FILTER_THRESHOLD BIT(12)
#define SVM_FEAT_AVIC BIT(13)
#define SVM_FEAT_VMSAVE_VIRT BIT(15)
#define SVM_FEAT_VGIF BIT(16)
#define SVM_FEAT_GMET BIT(17)
#define SVM_FEAT_VNMI BIT(25)

/* What CPUID reports, read once by svm_read_caps(). */
struct svm_caps {
  int supported;    /* CPUID Fn8000_0001_ECX[SVM] */
  u32 revision;     /* Fn8000_000A_EAX[7:0] SvmRev */
  u32 nasid;        /* Fn8000_000A_EBX NASID */
  u32 features;     /* Fn8000_000A_EDX */
  u32 phys_bits;    /* MAXPHYADDR */
};
extern struct svm_caps svm_caps;
void svm_read_caps(void);
#define SVM_HAS(f) ((svm_caps.features & (f)) != 0)

/* ---- the VMCB (Appendix B) ------------------------------------------------------------------ */

/* A segment register in the state save area (Table B-2): attrib is descriptor bits 47:40 in
 * bits 7:0 and bits 55:52 in bits 11:8. */
struct vmcb_seg {
  u16 selector;
  u16 attrib;
  u32 limit;
  u64 base;
} PACKED;
_Static_assert(sizeof(struct vmcb_seg) == 16, "VMCB segment layout");

/* The control area (Table B-1), 000h-3FFh. */
struct vmcb_control {
  u16 intercept_cr_read;        /* 000h */
  u16 intercept_cr_write;       /* 002h */
  u16 intercept_dr_read;        /* 004h */
  u16 intercept_dr_write;       /* 006h */
  u32 intercept_exceptions;     /* 008h */
  u32 intercept_misc1;          /* 00Ch: INTERCEPT_INTR .. INTERCEPT_SHUTDOWN */
  u32 intercept_misc2;          /* 010h: INTERCEPT_VMRUN .. */
  u32 intercept_misc3;          /* 014h: INVLPGB .. */
  u8 reserved_018[0x03c - 0x018];
  u16 pause_filter_threshold;   /* 03Ch */
  u16 pause_filter_count;       /* 03Eh */
  u64 iopm_base_pa;             /* 040h */
  u64 msrpm_base_pa;            /* 048h */
  u64 tsc_offset;               /* 050h */
  u32 guest_asid;               /* 058h */
  u8 tlb_control;               /* 05Ch */
  u8 reserved_05d[3];
  u64 v_intr;                   /* 060h: V_TPR, V_IRQ, V_GIF, V_NMI, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, V_INTR_VECTOR (39:32) */
  u64 interrupt_shadow;         /* 068h: INTERRUPT_SHADOW, GUEST_INTERRUPT_MASK */
  u64 exitcode;                 /* 070h */
  u64 exitinfo1;                /* 078h */
  u64 exitinfo2;                /* 080h */
  u64 exitintinfo;              /* 088h */
  u64 np_enable;                /* 090h */
  u64 avic_apic_bar;            /* 098h */
  u64 ghcb_pa;                  /* 0A0h */
  u64 eventinj;                 /* 0A8h */
  u64 n_cr3;                    /* 0B0h */
  u64 lbr_virtualization;       /* 0B8h */
  u32 vmcb_clean;               /* 0C0h */
  u32 reserved_0c4;
  u64 nrip;                     /* 0C8h */
  u8 guest_insn_bytes_count;    /* 0D0h */
  u8 guest_insn_bytes[15];      /* 0D1h */
  u8 reserved_0e0[0x400 - 0x0e0];
} PACKED;

/* The state save area (Table B-2), 400h-FFFh. */
struct vmcb_save {
  struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 400h-49Fh */
  u8 reserved_4a0[0x4cb - 0x4a0];
  u8 cpl;                       /* 4CBh */
  u32 reserved_4cc;
  u64 efer;                     /* 4D0h */
  u8 reserved_4d8[0x548 - 0x4d8];
  u64 cr4;                      /* 548h */
  u64 cr3;                      /* 550h */
  u64 cr0;                      /* 558h */
  u64 dr7;                      /* 560h */
  u64 dr6;                      /* 568h */
  u64 rflags;                   /* 570h */
  u64 rip;                      /* 578h */
  u8 reserved_580[0x5d8 - 0x580];
  u64 rsp;                      /* 5D8h */
  u64 s_cet, ssp, isst_addr;    /* 5E0h-5F7h */
  u64 rax;                      /* 5F8h */
  u64 star;                     /* 600h */
  u64 lstar;                    /* 608h */
  u64 cstar;                    /* 610h */
  u64 sfmask;                   /* 618h */
  u64 kernel_gs_base;           /* 620h */
  u64 sysenter_cs;              /* 628h */
  u64 sysenter_esp;             /* 630h */
  u64 sysenter_eip;             /* 638h */
  u64 cr2;                      /* 640h */
  u8 reserved_648[0x668 - 0x648];
  u64 g_pat;                    /* 668h */
  u64 dbgctl;                   /* 670h */
  u64 br_from;                  /* 678h */
  u64 br_to;                    /* 680h */
  u64 lastexcpfrom;             /* 688h */
  u64 lastexcpto;               /* 690h */
  u8 reserved_698[0x1000 - 0x698];
} PACKED;

struct vmcb {
  struct vmcb_control control;
  struct vmcb_save save;
} PACKED;

#define VMCB_OFF(f) __builtin_offsetof(struct vmcb, f)
_Static_assert(sizeof(struct vmcb) == 4096, "VMCB size");
_Static_assert(VMCB_OFF(control.intercept_exceptions) == 0x008, "VMCB 008h");
_Static_assert(VMCB_OFF(control.intercept_misc1) == 0x00c, "VMCB 00Ch");
_Static_assert(VMCB_OFF(control.intercept_misc2) == 0x010, "VMCB 010h");
_Static_assert(VMCB_OFF(control.pause_filter_threshold) == 0x03c, "VMCB 03Ch");
_Static_assert(VMCB_OFF(control.pause_filter_count) == 0x03e, "VMCB 03Eh");
_Static_assert(VMCB_OFF(control.iopm_base_pa) == 0x040, "VMCB 040h");
_Static_assert(VMCB_OFF(control.msrpm_base_pa) == 0x048, "VMCB 048h");
_Static_assert(VMCB_OFF(control.tsc_offset) == 0x050, "VMCB 050h");
_Static_assert(VMCB_OFF(control.guest_asid) == 0x058, "VMCB 058h");
_Static_assert(VMCB_OFF(control.tlb_control) == 0x05c, "VMCB 05Ch");
_Static_assert(VMCB_OFF(control.v_intr) == 0x060, "VMCB 060h");
_Static_assert(VMCB_OFF(control.interrupt_shadow) == 0x068, "VMCB 068h");
_Static_assert(VMCB_OFF(control.exitcode) == 0x070, "VMCB 070h");
_Static_assert(VMCB_OFF(control.exitinfo1) == 0x078, "VMCB 078h");
_Static_assert(VMCB_OFF(control.exitinfo2) == 0x080, "VMCB 080h");
_Static_assert(VMCB_OFF(control.exitintinfo) == 0x088, "VMCB 088h");
_Static_assert(VMCB_OFF(control.np_enable) == 0x090, "VMCB 090h");
_Static_assert(VMCB_OFF(control.eventinj) == 0x0a8, "VMCB 0A8h");
_Static_assert(VMCB_OFF(control.n_cr3) == 0x0b0, "VMCB 0B0h");
_Static_assert(VMCB_OFF(control.lbr_virtualization) == 0x0b8, "VMCB 0B8h");
_Static_assert(VMCB_OFF(control.vmcb_clean) == 0x0c0, "VMCB 0C0h");
_Static_assert(VMCB_OFF(control.nrip) == 0x0c8, "VMCB 0C8h");
_Static_assert(VMCB_OFF(control.guest_insn_bytes_count) == 0x0d0, "VMCB 0D0h");
_Static_assert(VMCB_OFF(save.es) == 0x400, "VMCB 400h");
_Static_assert(VMCB_OFF(save.cs) == 0x410, "VMCB 410h");
_Static_assert(VMCB_OFF(save.gdtr) == 0x460, "VMCB 460h");
_Static_assert(VMCB_OFF(save.ldtr) == 0x470, "VMCB 470h");
_Static_assert(VMCB_OFF(save.idtr) == 0x480, "VMCB 480h");
_Static_assert(VMCB_OFF(save.tr) == 0x490, "VMCB 490h");
_Static_assert(VMCB_OFF(save.cpl) == 0x4cb, "VMCB 4CBh");
_Static_assert(VMCB_OFF(save.efer) == 0x4d0, "VMCB 4D0h");
_Static_assert(VMCB_OFF(save.cr4) == 0x548, "VMCB 548h");
_Static_assert(VMCB_OFF(save.cr3) == 0x550, "VMCB 550h");
_Static_assert(VMCB_OFF(save.cr0) == 0x558, "VMCB 558h");
_Static_assert(VMCB_OFF(save.dr7) == 0x560, "VMCB 560h");
_Static_assert(VMCB_OFF(save.dr6) == 0x568, "VMCB 568h");
_Static_assert(VMCB_OFF(save.rflags) == 0x570, "VMCB 570h");
_Static_assert(VMCB_OFF(save.rip) == 0x578, "VMCB 578h");
_Static_assert(VMCB_OFF(save.rsp) == 0x5d8, "VMCB 5D8h");
_Static_assert(VMCB_OFF(save.rax) == 0x5f8, "VMCB 5F8h");
_Static_assert(VMCB_OFF(save.star) == 0x600, "VMCB 600h");
_Static_assert(VMCB_OFF(save.kernel_gs_base) == 0x620, "VMCB 620h");
_Static_assert(VMCB_OFF(save.sysenter_cs) == 0x628, "VMCB 628h");
_Static_assert(VMCB_OFF(save.cr2) == 0x640, "VMCB 640h");
_Static_assert(VMCB_OFF(save.g_pat) == 0x668, "VMCB 668h");
_Static_assert(VMCB_OFF(save.dbgctl) == 0x670, "VMCB 670h");
_Static_assert(VMCB_OFF(save.lastexcpto) == 0x690, "VMCB 690h");

/* Segment attributes in the VMCB format. */
#define SVM_ATTR_CODE64 0x29bu /* L, P, S, type 11 (execute/read, accessed) */
#define SVM_ATTR_DATA 0xc93u   /* G, D/B, P, S, type 3 */
#define SVM_ATTR_TSS64_BUSY 0x08bu
/* The VMCB attrib of a GDT descriptor. */
static inline u16 svm_attr_of_desc(u64 desc) { return (u16)(((desc >> 40) & 0xff) | ((desc >> 44) & 0xf00)); }

/* ---- intercepts (Table B-1) ------------------------------------------------------------------ */

/* intercept_misc1 (offset 00Ch). */
#define INTERCEPT_INTR BIT(0)
#define INTERCEPT_NMI BIT(1)
#define INTERCEPT_SMI BIT(2)
#define INTERCEPT_INIT BIT(3)
#define INTERCEPT_VINTR BIT(4)
#define INTERCEPT_CR0_SEL_WRITE BIT(5)
#define INTERCEPT_IDTR_READ BIT(6)
#define INTERCEPT_GDTR_READ BIT(7)
#define INTERCEPT_LDTR_READ BIT(8)
#define INTERCEPT_TR_READ BIT(9)
#define INTERCEPT_IDTR_WRITE BIT(10)
#define INTERCEPT_GDTR_WRITE BIT(11)
#define INTERCEPT_LDTR_WRITE BIT(12)
#define INTERCEPT_TR_WRITE BIT(13)
#define INTERCEPT_RDTSC BIT(14)
#define INTERCEPT_RDPMC BIT(15)
#define INTERCEPT_PUSHF BIT(16)
#define INTERCEPT_POPF BIT(17)
#define INTERCEPT_CPUID BIT(18)
#define INTERCEPT_RSM BIT(19)
#define INTERCEPT_IRET BIT(20)
#define INTERCEPT_INTN BIT(21)
#define INTERCEPT_INVD BIT(22)
#define INTERCEPT_PAUSE BIT(23)
#define INTERCEPT_HLT BIT(24)
#define INTERCEPT_INVLPG BIT(25)
#define INTERCEPT_INVLPGA BIT(26)
#define INTERCEPT_IOIO_PROT BIT(27)
#define INTERCEPT_MSR_PROT BIT(28)
#define INTERCEPT_TASK_SWITCH BIT(29)
#define INTERCEPT_FERR_FREEZE BIT(30)
#define INTERCEPT_SHUTDOWN BIT(31)
/* intercept_misc2 (offset 010h). */
#define INTERCEPT_VMRUN BIT(0)
#define INTERCEPT_VMMCALL BIT(1)
#define INTERCEPT_VMLOAD BIT(2)
#define INTERCEPT_VMSAVE BIT(3)
#define INTERCEPT_STGI BIT(4)
#define INTERCEPT_CLGI BIT(5)
#define INTERCEPT_SKINIT BIT(6)
#define INTERCEPT_RDTSCP BIT(7)
#define INTERCEPT_ICEBP BIT(8)
#define INTERCEPT_WBINVD BIT(9)
#define INTERCEPT_MONITOR BIT(10)
#define INTERCEPT_MWAIT BIT(11)
#define INTERCEPT_MWAIT_COND BIT(12)
#define INTERCEPT_XSETBV BIT(13)
#define INTERCEPT_RDPRU BIT(14)
#define INTERCEPT_EFER_WRITE_TRAP BIT(15)

/* TLB_CONTROL (§15.16.1). */
#define TLB_CONTROL_DO_NOTHING 0
#define TLB_CONTROL_FLUSH_ALL 1
#define TLB_CONTROL_FLUSH_ASID 3
#define TLB_CONTROL_FLUSH_ASID_NONGLOBAL 7
/* V_INTR word (offset 060h; §15.21). */
#define V_TPR_MASK 0xffull
#define V_IRQ BIT64(8)
#define V_GIF BIT64(9)
#define V_NMI BIT64(11)
#define V_NMI_MASK BIT64(12)
#define V_INTR_PRIO(p) ((u64)((p) & 0xf) << 16)
#define V_IGN_TPR BIT64(20)
#define V_INTR_MASKING BIT64(24)
#define V_GIF_ENABLE BIT64(25)
#define V_NMI_ENABLE BIT64(26)
#define V_INTR_VECTOR(v) ((u64)((v) & 0xff) << 32)
/* Offset 068h. */
#define INTERRUPT_SHADOW BIT64(0)
#define GUEST_INTERRUPT_MASK BIT64(1)
/* Offset 090h. */
#define NP_ENABLE BIT64(0)
/* Offset 0B8h. */
#define LBR_VIRTUALIZATION_ENABLE BIT64(0)
/* VMCB clean bits (offset 0C0h; §15.15.3, Table 15-8). */
#define VMCB_CLEAN_I BIT(0)
#define VMCB_CLEAN_IOPM BIT(1)
#define VMCB_CLEAN_ASID BIT(2)
#define VMCB_CLEAN_TPR BIT(3)
#define VMCB_CLEAN_NP BIT(4)
#define VMCB_CLEAN_CRX BIT(5)
#define VMCB_CLEAN_DRX BIT(6)
#define VMCB_CLEAN_DT BIT(7)
#define VMCB_CLEAN_SEG BIT(8)
#define VMCB_CLEAN_CR2 BIT(9)
#define VMCB_CLEAN_LBR BIT(10)
#define VMCB_CLEAN_AVIC BIT(11)

/* EVENTINJ and EXITINTINFO (§15.20, Figure 15-4). */
#define SVM_EVTINJ_VEC_MASK 0xffull
#define SVM_EVTINJ_TYPE_INTR (0ull << 8)
#define SVM_EVTINJ_TYPE_NMI (2ull << 8)
#define SVM_EVTINJ_TYPE_EXEPT (3ull << 8)
#define SVM_EVTINJ_TYPE_SOFT (4ull << 8)
#define SVM_EVTINJ_TYPE_MASK (7ull << 8)
#define SVM_EVTINJ_EV BIT64(11)
#define SVM_EVTINJ_V BIT64(31)
#define SVM_EVTINJ_ERR(e) ((u64)(u32)(e) << 32)

/* #VMEXIT codes (Appendix C, Table C-1). */
enum {
  SVM_EXIT_READ_CR0 = 0x00,
  SVM_EXIT_WRITE_CR0 = 0x10,
  SVM_EXIT_READ_DR0 = 0x20,
  SVM_EXIT_WRITE_DR0 = 0x30,
  SVM_EXIT_EXCP_BASE = 0x40,
  SVM_EXIT_INTR = 0x60,
  SVM_EXIT_NMI = 0x61,
  SVM_EXIT_SMI = 0x62,
  SVM_EXIT_INIT = 0x63,
  SVM_EXIT_VINTR = 0x64,
  SVM_EXIT_CR0_SEL_WRITE = 0x65,
  SVM_EXIT_IDTR_READ = 0x66,
  SVM_EXIT_GDTR_READ = 0x67,
  SVM_EXIT_LDTR_READ = 0x68,
  SVM_EXIT_TR_READ = 0x69,
  SVM_EXIT_IDTR_WRITE = 0x6a,
  SVM_EXIT_GDTR_WRITE = 0x6b,
  SVM_EXIT_LDTR_WRITE = 0x6c,
  SVM_EXIT_TR_WRITE = 0x6d,
  SVM_EXIT_RDTSC = 0x6e,
  SVM_EXIT_RDPMC = 0x6f,
  SVM_EXIT_PUSHF = 0x70,
  SVM_EXIT_POPF = 0x71,
  SVM_EXIT_CPUID = 0x72,
  SVM_EXIT_RSM = 0x73,
  SVM_EXIT_IRET = 0x74,
  SVM_EXIT_SWINT = 0x75,
  SVM_EXIT_INVD = 0x76,
  SVM_EXIT_PAUSE = 0x77,
  SVM_EXIT_HLT = 0x78,
  SVM_EXIT_INVLPG = 0x79,
  SVM_EXIT_INVLPGA = 0x7a,
  SVM_EXIT_IOIO = 0x7b,
  SVM_EXIT_MSR = 0x7c,
  SVM_EXIT_TASK_SWITCH = 0x7d,
  SVM_EXIT_FERR_FREEZE = 0x7e,
  SVM_EXIT_SHUTDOWN = 0x7f,
  SVM_EXIT_VMRUN = 0x80,
  SVM_EXIT_VMMCALL = 0x81,
  SVM_EXIT_VMLOAD = 0x82,
  SVM_EXIT_VMSAVE = 0x83,
  SVM_EXIT_STGI = 0x84,
  SVM_EXIT_CLGI = 0x85,
  SVM_EXIT_SKINIT = 0x86,
  SVM_EXIT_RDTSCP = 0x87,
  SVM_EXIT_ICEBP = 0x88,
  SVM_EXIT_WBINVD = 0x89,
  SVM_EXIT_MONITOR = 0x8a,
  SVM_EXIT_MWAIT = 0x8b,
  SVM_EXIT_MWAIT_COND = 0x8c,
  SVM_EXIT_XSETBV = 0x8d,
  SVM_EXIT_RDPRU = 0x8e,
  SVM_EXIT_NPF = 0x400,
};
/* VMEXIT_INVALID: EXITCODE = -1 (all 64 bits). */
#define SVM_EXIT_INVALID (~0ull)

/* IOIO EXITINFO1 (§15.10.2, Figure 15-2). */
#define IOIO_TYPE_IN BIT64(0)
#define IOIO_STR BIT64(2)
#define IOIO_REP BIT64(3)
#define IOIO_SZ8 BIT64(4)
#define IOIO_SZ16 BIT64(5)
#define IOIO_SZ32 BIT64(6)
#define IOIO_A16 BIT64(7)
#define IOIO_A32 BIT64(8)
#define IOIO_A64 BIT64(9)
#define IOIO_SEG(s) ((u64)(s) << 10)
#define IOIO_PORT(p) ((u64)(u16)(p) << 16)

/* #NPF EXITINFO1 (§15.25.6). */
#define NPF_P BIT64(0)
#define NPF_W BIT64(1)
#define NPF_U BIT64(2)
#define NPF_RSVD BIT64(3)
#define NPF_ID BIT64(4)
#define NPF_FINAL BIT64(32)
#define NPF_WALK BIT64(33)

/* ---- the instructions (Vol. 3) --------------------------------------------------------------- */

static inline void svm_vmload(u64 vmcb_pa) { __asm__ volatile("vmload %%rax" : : "a"(vmcb_pa) : "memory"); }
static inline void svm_vmsave(u64 vmcb_pa) { __asm__ volatile("vmsave %%rax" : : "a"(vmcb_pa) : "memory"); }
static inline void stgi(void) { __asm__ volatile("stgi" : : : "memory"); }
static inline void clgi(void) { __asm__ volatile("clgi" : : : "memory"); }
static inline void vmmcall(void) { __asm__ volatile("vmmcall" : : : "memory"); }
/* INVLPGA: rAX = virtual address, ECX = ASID. */
static inline void invlpga(u64 va, u32 asid) { __asm__ volatile("invlpga %%rax, %%ecx" : : "a"(va), "c"(asid) : "memory"); }
/* SKINIT: EAX = physical address of the SLB. */
static inline void skinit(u32 slb) { __asm__ volatile("skinit %%eax" : : "a"(slb) : "memory"); }
/* A bare VMRUN (rAX = VMCB); the general registers other than RAX/RSP keep the guest's values
 * after #VMEXIT: use svm_run() to run a guest, this only for #UD/#GP checks. */
static inline void svm_vmrun_raw(u64 vmcb_pa) {
  __asm__ volatile("vmrun %%rax" : "+a"(vmcb_pa) : : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc", "memory");
}

/* The instructions a test can run under trap_catch. */
enum svm_insn { S_VMRUN, S_VMLOAD, S_VMSAVE, S_STGI, S_CLGI, S_VMMCALL, S_INVLPGA, S_SKINIT };
/* Runs one instruction with rAX = a (and ECX = b for INVLPGA) under trap_catch: NO_TRAP or the
 * vector it raised. VMRUN here must fault (a successful VMRUN would come back with the guest's
 * registers): it is for #UD/#GP checks. */
int svm_try(enum svm_insn insn, u64 a, u64 b);
/* The same at CPL 3 (64-bit) through run_user. */
int svm_try_user(enum svm_insn insn, u64 a, u64 b);
const char *svm_insn_name(enum svm_insn insn);
/* MSR accesses that may fault: NO_TRAP or the vector. */
int svm_rdmsr_safe(u32 msr, u64 *v);
int svm_wrmsr_safe(u32 msr, u64 v);

/* ---- enabling SVM (§15.4) ------------------------------------------------------------------- */

/* The host save area (VM_HSAVE_PA) and the VMCBs the programs use (physical = virtual). */
extern u8 svm_hsave[4096];
extern u8 svm_host_vmcb[4096]; /* VMSAVE/VMLOAD area for the host's FS/GS/TR/LDTR/... around svm_run */
extern struct vmcb vmcbs[4];
/* The I/O permission map (12 KiB, §15.10.1) and the MSR permission map (8 KiB, §15.11). */
extern u8 svm_iopm[3 * 4096];
extern u8 svm_msrpm[2 * 4096];
static inline u64 pa(const void *p) { return (u64)(ulong)p; }
/* Sets EFER.SVME and VM_HSAVE_PA = svm_hsave. Returns NO_TRAP or the vector of the fault (#GP
 * when VM_CR.SVMDIS is set). */
int svm_enable(void);
/* Clears EFER.SVME. */
void svm_disable(void);

/* ---- running a guest -------------------------------------------------------------------------- */

/* The guest's general registers other than RAX (VMCB) and RSP (VMCB): loaded before VMRUN and
 * saved after #VMEXIT by svm_run. */
struct svm_regs {
  u64 rax_unused, rcx, rdx, rbx, rsp_unused, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};
extern struct svm_regs svm_guest_regs;
/* The guest stack (RSP starts at its top). */
extern u8 svm_guest_stack[16384];
#define SVM_GUEST_STACK_TOP (((u64)(ulong)svm_guest_stack + sizeof svm_guest_stack) & ~15ull)
/*
 * Fills `vmcb` with a guest that is a copy of the current 64-bit context: same CR0/CR3/CR4/EFER,
 * GDT/IDT, CS/SS/DS/ES (from the descriptors), FS/GS/TR/LDTR and the syscall MSRs (VMSAVE of
 * the current state into the VMCB), CPL 0, RFLAGS = 2, RIP = rip, RSP = rsp, DR7 = 400h,
 * DR6 = FFFF0FF0h, G_PAT = the host PAT; controls: only INTERCEPT_VMRUN and INTERCEPT_VMMCALL,
 * IOPM_BASE_PA/MSRPM_BASE_PA = the library's (all zero: nothing intercepted), ASID 1,
 * no nested paging, no event injection, VMCB clean bits 0.
 */
void svm_vmcb_init_guest64(struct vmcb *vmcb, u64 rip, u64 rsp); /* needs EFER.SVME (svm_enable) */
/* The guest entry point: a trampoline calls the C function, then VMMCALL with RAX = SVM_GUEST_DONE. */
#define SVM_GUEST_DONE 0x600dull
typedef void (*svm_guest_fn)(void);
/* svm_vmcb_init_guest64 with RIP = the trampoline calling fn and RSP = the guest stack. */
void svm_vmcb_init_fn(struct vmcb *vmcb, svm_guest_fn fn);
/* Restarts the guest at the trampoline calling fn (RIP, RSP, RFLAGS = 2, no event injection). */
void svm_set_guest(struct vmcb *vmcb, svm_guest_fn fn);
/*
 * VMRUN of `vmcb` (the guest's GPRs from svm_guest_regs, RAX from the VMCB) and, after #VMEXIT,
 * the guest GPRs back into svm_guest_regs; returns EXITCODE. Around VMRUN it does VMLOAD of the
 * guest VMCB / VMSAVE back into it, and VMSAVE/VMLOAD of the host's own state (svm_host_vmcb),
 * so FS/GS/TR/LDTR/KernelGsBase/STAR.../SYSENTER are per side. GIF: CLGI before VMRUN, STGI after
 * #VMEXIT unless svm_keep_gif0 is set (then GIF stays 0, as #VMEXIT left it).
 */
u64 svm_run(struct vmcb *vmcb);
/* The same without VMLOAD/VMSAVE (VMRUN alone: what VMRUN itself loads and saves). */
u64 svm_run_bare(struct vmcb *vmcb);
extern int svm_keep_gif0;
/* Host state seen right after #VMEXIT (before the library touches anything). */
struct svm_host_after {
  u64 rflags, rsp, cr0, cr3, cr4, efer;
  u16 cs, ss, ds, es;
  struct PACKED { u16 limit; u64 base; } gdtr, idtr;
};
extern struct svm_host_after svm_after_exit;
/* RFLAGS and RSP right before VMRUN (what the host save area should give back). */
struct svm_host_before {
  u64 rflags, rsp;
};
extern struct svm_host_before svm_before_vmrun;
/* Whether the last exit was the guest function returning (VMMCALL with RAX = SVM_GUEST_DONE). */
static inline int svm_guest_done(const struct vmcb *vmcb) { return vmcb->control.exitcode == SVM_EXIT_VMMCALL && vmcb->save.rax == SVM_GUEST_DONE; }
/* Advances the guest RIP to nRIP (NRIPS), or by `len` if nRIP is 0. */
void svm_skip(struct vmcb *vmcb, u32 len);
/* A C exit handler: return 1 to resume the guest, 0 to stop. */
typedef int (*svm_exit_handler)(struct vmcb *vmcb, struct svm_regs *regs);
/* Runs and re-runs the guest while the handler returns 1; at most `max` VMRUNs. Returns the last EXITCODE. */
u64 svm_run_loop(struct vmcb *vmcb, svm_exit_handler handler, int max);
/* "EXITCODE 0x72 (EXITINFO1 0x.. EXITINFO2 0x.. nRIP 0x..)" or "VMEXIT_INVALID" for messages. */
void svm_describe(const struct vmcb *vmcb, char *buf, size_t size);
/* One check line: EXITCODE = code. */
int check_exitcode(const char *check, const struct vmcb *vmcb, u64 code);
/* One check line: EXITCODE, EXITINFO1 and EXITINFO2 (ANY_VALUE to ignore one). */
int check_exit_info(const char *check, const struct vmcb *vmcb, u64 code, u64 info1, u64 info2);
/* One check line: the guest ran to its end. */
int check_guest_done(const char *check, const struct vmcb *vmcb);

/* ---- permission maps (§15.10.1, §15.11) -------------------------------------------------------- */

/* Sets or clears the IOPM bit of `port`. */
void iopm_set(u16 port, int intercept);
/* Sets or clears the MSRPM read/write bits of `msr`; returns 0 if the MSR is outside the three
 * ranges (00000000h-00001FFFh, C0000000h-C0001FFFh, C0010000h-C0011FFFh). */
int msrpm_set(u32 msr, int read, int write);
/* Clears both maps (nothing intercepted). */
void svm_maps_clear(void);

/* ---- nested paging (§15.25) ------------------------------------------------------------------ */

/* Builds an identity map of 0-4 GiB (2 MiB pages, P/W/U: nested accesses are user accesses,
 * §15.25.5) and returns nCR3. */
u64 npt_identity(void);
extern u64 npt_ncr3;
/* The nested PTE for gpa, splitting its 2 MiB page into 4 KiB pages on first use. */
u64 *npt_pte(u64 gpa);
/* The nested PDE (2 MiB level) for gpa. */
u64 *npt_pde(u64 gpa);
/* Sets/clears bits of the 4 KiB nested entry of gpa (PTE_P, PTE_W, PTE_U, PTE_NX, reserved bits...). */
void npt_set_perms(u64 gpa, u64 set, u64 clear);
/* Uses the identity map in `vmcb` (NP_ENABLE, N_CR3). */
void svm_enable_npt(struct vmcb *vmcb);

#endif
