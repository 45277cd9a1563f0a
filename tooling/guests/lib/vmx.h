/*
 * A small hypervisor library for the VMX test programs (64-bit only): capability MSRs,
 * the VMX instructions as C functions that return their outcome, VMCS field encodings by
 * their SDM names, a VMCS set-up whose guest is a copy of the current context, a
 * VMLAUNCH/VMRESUME loop that comes back to C on every VM exit, and EPT tables.
 *
 * References are to the Intel SDM Vol. 3C: chapter 24 (VMCS), 25 (VMX non-root operation),
 * 26 (VM entries), 27 (VM exits), 28 (EPT and VPID), 30 (VMX instruction reference),
 * Appendix A (VMX capability reporting), B (field encodings), C (exit reasons).
 *
 * Outcomes (§30.2, "Conventions"): every wrapper returns VMX_OK (VMsucceed: CF = PF = AF =
 * ZF = SF = OF = 0), VMX_FAIL_INVALID (VMfailInvalid: CF = 1) or, for VMfailValid (ZF = 1),
 * the VM-instruction error number read from the VMCS (a positive number, §30.4).
 * `vmx_last_flags` keeps the RFLAGS the instruction left.
 */
#ifndef HVKIT_VMX_H
#define HVKIT_VMX_H

#include "guest.h"
#include "guest64.h"

/* ---- MSRs (Appendix A; IA32_FEATURE_CONTROL: Vol. 3 §23.7 "Enabling and entering VMX operation") ---- */

#define MSR_IA32_FEATURE_CONTROL 0x3au
#define FC_LOCK BIT64(0)
#define FC_VMX_IN_SMX BIT64(1)
#define FC_VMX_OUTSIDE_SMX BIT64(2)
#define MSR_IA32_DEBUGCTL 0x1d9u
#define MSR_IA32_PAT 0x277u
#define MSR_IA32_VMX_BASIC 0x480u
#define MSR_IA32_VMX_PINBASED_CTLS 0x481u
#define MSR_IA32_VMX_PROCBASED_CTLS 0x482u
#define MSR_IA32_VMX_EXIT_CTLS 0x483u
#define MSR_IA32_VMX_ENTRY_CTLS 0x484u
#define MSR_IA32_VMX_MISC 0x485u
#define MSR_IA32_VMX_CR0_FIXED0 0x486u
#define MSR_IA32_VMX_CR0_FIXED1 0x487u
#define MSR_IA32_VMX_CR4_FIXED0 0x488u
#define MSR_IA32_VMX_CR4_FIXED1 0x489u
#define MSR_IA32_VMX_VMCS_ENUM 0x48au
#define MSR_IA32_VMX_PROCBASED_CTLS2 0x48bu
#define MSR_IA32_VMX_EPT_VPID_CAP 0x48cu
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS 0x48du
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48eu
#define MSR_IA32_VMX_TRUE_EXIT_CTLS 0x48fu
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS 0x490u
#define MSR_IA32_VMX_VMFUNC 0x491u

#define CR4_VMXE BIT(13)
#define CR4_OSXSAVE BIT(18)
#define CR4_PCIDE BIT(17)

/* IA32_VMX_BASIC (Appendix A.1). */
#define BASIC_REVISION(b) ((u32)(b) & 0x7fffffffu)
#define BASIC_VMCS_SIZE(b) ((u32)((b) >> 32) & 0x1fffu)
#define BASIC_32BIT_ADDR BIT64(48)
#define BASIC_INOUT_INFO BIT64(54)
#define BASIC_TRUE_CTLS BIT64(55)
#define BASIC_NO_HW_ERRCODE_CC BIT64(56)
/* IA32_VMX_MISC (Appendix A.6). */
#define MISC_TIMER_RATE(m) ((u32)(m) & 0x1f)
#define MISC_EFER_LMA_SAVED BIT64(5)
#define MISC_ACT_HLT BIT64(6)
#define MISC_ACT_SHUTDOWN BIT64(7)
#define MISC_ACT_WAIT_SIPI BIT64(8)
#define MISC_CR3_TARGETS(m) ((u32)((m) >> 16) & 0x1ff)
#define MISC_MSR_LIST_MAX(m) (512u * ((u32)(((m) >> 25) & 7) + 1))
#define MISC_VMWRITE_ALL BIT64(29)
#define MISC_ZERO_LEN_INJECT BIT64(30)
/* IA32_VMX_EPT_VPID_CAP (Appendix A.10). */
#define EPT_CAP_EXEC_ONLY BIT64(0)
#define EPT_CAP_PWL4 BIT64(6)
#define EPT_CAP_PWL5 BIT64(7)
#define EPT_CAP_UC BIT64(8)
#define EPT_CAP_WB BIT64(14)
#define EPT_CAP_2M BIT64(16)
#define EPT_CAP_1G BIT64(17)
#define EPT_CAP_INVEPT BIT64(20)
#define EPT_CAP_AD BIT64(21)
#define EPT_CAP_ADV_INFO BIT64(22)
#define EPT_CAP_INVEPT_SINGLE BIT64(25)
#define EPT_CAP_INVEPT_ALL BIT64(26)
#define VPID_CAP_INVVPID BIT64(32)
#define VPID_CAP_INDIV BIT64(40)
#define VPID_CAP_SINGLE BIT64(41)
#define VPID_CAP_ALL BIT64(42)
#define VPID_CAP_SINGLE_GLOBALS BIT64(43)

/* The capability MSRs, read once by vmx_read_caps(). */
struct vmx_caps {
  int supported; /* CPUID.1:ECX.VMX */
  u64 basic, misc, cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1, vmcs_enum;
  /* The control MSRs used for the allowed-0/allowed-1 rule: the TRUE_ ones where BASIC[55] = 1. */
  u64 pin, proc, proc2, exit, entry;
  /* The non-TRUE ones (default1 bits forced). */
  u64 pin_legacy, proc_legacy, exit_legacy, entry_legacy;
  u64 ept_vpid, vmfunc;
  u32 revision;
  u32 phys_bits; /* addresses usable in VMX structures: 32 if BASIC[48], else MAXPHYADDR */
};
extern struct vmx_caps vmx_caps;
void vmx_read_caps(void);
/* Whether a control may be 1 / may be 0 (Appendix A.3: bits 63:32 allowed-1, 31:0 allowed-0). */
static inline int ctl_allowed1(u64 cap, u32 bit) { return (int)((cap >> 32) & bit) != 0; }
static inline int ctl_allowed0(u64 cap, u32 bit) { return ((u32)cap & bit) == 0; }
/* `want` adjusted: bits that must be 1 set, bits that must be 0 cleared. */
static inline u32 ctl_adjust(u64 cap, u32 want) { return (want | (u32)cap) & (u32)(cap >> 32); }
#define HAS_PIN(bit) ctl_allowed1(vmx_caps.pin, bit)
#define HAS_PROC(bit) ctl_allowed1(vmx_caps.proc, bit)
#define HAS_PROC2(bit) (HAS_PROC(CPU_SECONDARY) && ctl_allowed1(vmx_caps.proc2, bit))
#define HAS_EXIT(bit) ctl_allowed1(vmx_caps.exit, bit)
#define HAS_ENTRY(bit) ctl_allowed1(vmx_caps.entry, bit)

/* ---- VMCS field encodings (Appendix B) ---------------------------------------------------- */

enum vmcs_field {
  /* 16-bit control (B.1.1) */
  VIRTUAL_PROCESSOR_ID = 0x0000,
  POSTED_INTR_NV = 0x0002,
  EPTP_INDEX = 0x0004,
  /* 16-bit guest state (B.1.2) */
  GUEST_ES_SELECTOR = 0x0800,
  GUEST_CS_SELECTOR = 0x0802,
  GUEST_SS_SELECTOR = 0x0804,
  GUEST_DS_SELECTOR = 0x0806,
  GUEST_FS_SELECTOR = 0x0808,
  GUEST_GS_SELECTOR = 0x080a,
  GUEST_LDTR_SELECTOR = 0x080c,
  GUEST_TR_SELECTOR = 0x080e,
  GUEST_INTR_STATUS = 0x0810,
  /* 16-bit host state (B.1.3) */
  HOST_ES_SELECTOR = 0x0c00,
  HOST_CS_SELECTOR = 0x0c02,
  HOST_SS_SELECTOR = 0x0c04,
  HOST_DS_SELECTOR = 0x0c06,
  HOST_FS_SELECTOR = 0x0c08,
  HOST_GS_SELECTOR = 0x0c0a,
  HOST_TR_SELECTOR = 0x0c0c,
  /* 64-bit control (B.2.1) */
  IO_BITMAP_A = 0x2000,
  IO_BITMAP_B = 0x2002,
  MSR_BITMAP = 0x2004,
  VM_EXIT_MSR_STORE_ADDR = 0x2006,
  VM_EXIT_MSR_LOAD_ADDR = 0x2008,
  VM_ENTRY_MSR_LOAD_ADDR = 0x200a,
  EXECUTIVE_VMCS_POINTER = 0x200c,
  PML_ADDRESS = 0x200e,
  TSC_OFFSET = 0x2010,
  VIRTUAL_APIC_PAGE_ADDR = 0x2012,
  APIC_ACCESS_ADDR = 0x2014,
  POSTED_INTR_DESC_ADDR = 0x2016,
  VM_FUNCTION_CONTROL = 0x2018,
  EPT_POINTER = 0x201a,
  EPTP_LIST_ADDR = 0x2024,
  VMREAD_BITMAP = 0x2026,
  VMWRITE_BITMAP = 0x2028,
  /* 64-bit read-only data (B.2.2) */
  GUEST_PHYSICAL_ADDRESS = 0x2400,
  /* 64-bit guest state (B.2.3) */
  VMCS_LINK_POINTER = 0x2800,
  GUEST_IA32_DEBUGCTL = 0x2802,
  GUEST_IA32_PAT = 0x2804,
  GUEST_IA32_EFER = 0x2806,
  GUEST_IA32_PERF_GLOBAL_CTRL = 0x2808,
  GUEST_PDPTE0 = 0x280a,
  /* 64-bit host state (B.2.4) */
  HOST_IA32_PAT = 0x2c00,
  HOST_IA32_EFER = 0x2c02,
  HOST_IA32_PERF_GLOBAL_CTRL = 0x2c04,
  /* 32-bit control (B.3.1) */
  PIN_BASED_VM_EXEC_CONTROL = 0x4000,
  CPU_BASED_VM_EXEC_CONTROL = 0x4002,
  EXCEPTION_BITMAP = 0x4004,
  PAGE_FAULT_ERROR_CODE_MASK = 0x4006,
  PAGE_FAULT_ERROR_CODE_MATCH = 0x4008,
  CR3_TARGET_COUNT = 0x400a,
  VM_EXIT_CONTROLS = 0x400c,
  VM_EXIT_MSR_STORE_COUNT = 0x400e,
  VM_EXIT_MSR_LOAD_COUNT = 0x4010,
  VM_ENTRY_CONTROLS = 0x4012,
  VM_ENTRY_MSR_LOAD_COUNT = 0x4014,
  VM_ENTRY_INTR_INFO_FIELD = 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE = 0x4018,
  VM_ENTRY_INSTRUCTION_LEN = 0x401a,
  TPR_THRESHOLD = 0x401c,
  SECONDARY_VM_EXEC_CONTROL = 0x401e,
  PLE_GAP = 0x4020,
  PLE_WINDOW = 0x4022,
  /* 32-bit read-only data (B.3.2) */
  VM_INSTRUCTION_ERROR = 0x4400,
  VM_EXIT_REASON = 0x4402,
  VM_EXIT_INTR_INFO = 0x4404,
  VM_EXIT_INTR_ERROR_CODE = 0x4406,
  IDT_VECTORING_INFO_FIELD = 0x4408,
  IDT_VECTORING_ERROR_CODE = 0x440a,
  VM_EXIT_INSTRUCTION_LEN = 0x440c,
  VMX_INSTRUCTION_INFO = 0x440e,
  /* 32-bit guest state (B.3.3) */
  GUEST_ES_LIMIT = 0x4800,
  GUEST_CS_LIMIT = 0x4802,
  GUEST_SS_LIMIT = 0x4804,
  GUEST_DS_LIMIT = 0x4806,
  GUEST_FS_LIMIT = 0x4808,
  GUEST_GS_LIMIT = 0x480a,
  GUEST_LDTR_LIMIT = 0x480c,
  GUEST_TR_LIMIT = 0x480e,
  GUEST_GDTR_LIMIT = 0x4810,
  GUEST_IDTR_LIMIT = 0x4812,
  GUEST_ES_AR_BYTES = 0x4814,
  GUEST_CS_AR_BYTES = 0x4816,
  GUEST_SS_AR_BYTES = 0x4818,
  GUEST_DS_AR_BYTES = 0x481a,
  GUEST_FS_AR_BYTES = 0x481c,
  GUEST_GS_AR_BYTES = 0x481e,
  GUEST_LDTR_AR_BYTES = 0x4820,
  GUEST_TR_AR_BYTES = 0x4822,
  GUEST_INTERRUPTIBILITY_INFO = 0x4824,
  GUEST_ACTIVITY_STATE = 0x4826,
  GUEST_SMBASE = 0x4828,
  GUEST_SYSENTER_CS = 0x482a,
  VMX_PREEMPTION_TIMER_VALUE = 0x482e,
  /* 32-bit host state (B.3.4) */
  HOST_IA32_SYSENTER_CS = 0x4c00,
  /* natural-width control (B.4.1) */
  CR0_GUEST_HOST_MASK = 0x6000,
  CR4_GUEST_HOST_MASK = 0x6002,
  CR0_READ_SHADOW = 0x6004,
  CR4_READ_SHADOW = 0x6006,
  CR3_TARGET_VALUE0 = 0x6008,
  CR3_TARGET_VALUE1 = 0x600a,
  CR3_TARGET_VALUE2 = 0x600c,
  CR3_TARGET_VALUE3 = 0x600e,
  /* natural-width read-only data (B.4.2) */
  EXIT_QUALIFICATION = 0x6400,
  IO_RCX = 0x6402,
  IO_RSI = 0x6404,
  IO_RDI = 0x6406,
  IO_RIP = 0x6408,
  GUEST_LINEAR_ADDRESS = 0x640a,
  /* natural-width guest state (B.4.3) */
  GUEST_CR0 = 0x6800,
  GUEST_CR3 = 0x6802,
  GUEST_CR4 = 0x6804,
  GUEST_ES_BASE = 0x6806,
  GUEST_CS_BASE = 0x6808,
  GUEST_SS_BASE = 0x680a,
  GUEST_DS_BASE = 0x680c,
  GUEST_FS_BASE = 0x680e,
  GUEST_GS_BASE = 0x6810,
  GUEST_LDTR_BASE = 0x6812,
  GUEST_TR_BASE = 0x6814,
  GUEST_GDTR_BASE = 0x6816,
  GUEST_IDTR_BASE = 0x6818,
  GUEST_DR7 = 0x681a,
  GUEST_RSP = 0x681c,
  GUEST_RIP = 0x681e,
  GUEST_RFLAGS = 0x6820,
  GUEST_PENDING_DBG_EXCEPTIONS = 0x6822,
  GUEST_SYSENTER_ESP = 0x6824,
  GUEST_SYSENTER_EIP = 0x6826,
  /* natural-width host state (B.4.4) */
  HOST_CR0 = 0x6c00,
  HOST_CR3 = 0x6c02,
  HOST_CR4 = 0x6c04,
  HOST_FS_BASE = 0x6c06,
  HOST_GS_BASE = 0x6c08,
  HOST_TR_BASE = 0x6c0a,
  HOST_GDTR_BASE = 0x6c0c,
  HOST_IDTR_BASE = 0x6c0e,
  HOST_IA32_SYSENTER_ESP = 0x6c10,
  HOST_IA32_SYSENTER_EIP = 0x6c12,
  HOST_RSP = 0x6c14,
  HOST_RIP = 0x6c16,
};
/* The high half of a 64-bit field (§24.11.2: access type, bit 0 = 1). */
#define VMCS_HIGH(f) ((u32)(f) | 1u)

/* ---- control bits (§24.6-§24.8) -------------------------------------------------------------- */

/* Pin-based VM-execution controls (Table 24-5). */
#define PIN_EXTINT BIT(0)
#define PIN_NMI BIT(3)
#define PIN_VIRT_NMI BIT(5)
#define PIN_PREEMPT BIT(6)
#define PIN_POSTED BIT(7)
/* Primary processor-based VM-execution controls (Table 24-6). */
#define CPU_INTR_WINDOW BIT(2)
#define CPU_TSC_OFFSET BIT(3)
#define CPU_HLT BIT(7)
#define CPU_INVLPG BIT(9)
#define CPU_MWAIT BIT(10)
#define CPU_RDPMC BIT(11)
#define CPU_RDTSC BIT(12)
#define CPU_CR3_LOAD BIT(15)
#define CPU_CR3_STORE BIT(16)
#define CPU_CR8_LOAD BIT(19)
#define CPU_CR8_STORE BIT(20)
#define CPU_TPR_SHADOW BIT(21)
#define CPU_NMI_WINDOW BIT(22)
#define CPU_MOV_DR BIT(23)
#define CPU_IO BIT(24)
#define CPU_IO_BITMAP BIT(25)
#define CPU_MTF BIT(27)
#define CPU_MSR_BITMAP BIT(28)
#define CPU_MONITOR BIT(29)
#define CPU_PAUSE BIT(30)
#define CPU_SECONDARY BIT(31)
/* Secondary processor-based VM-execution controls (Table 24-7). */
#define CPU2_VIRT_APIC_ACCESS BIT(0)
#define CPU2_EPT BIT(1)
#define CPU2_DESC_TABLE BIT(2)
#define CPU2_RDTSCP BIT(3)
#define CPU2_VIRT_X2APIC BIT(4)
#define CPU2_VPID BIT(5)
#define CPU2_WBINVD BIT(6)
#define CPU2_UNRESTRICTED BIT(7)
#define CPU2_APIC_REG_VIRT BIT(8)
#define CPU2_VINTR_DELIVERY BIT(9)
#define CPU2_PLE BIT(10)
#define CPU2_VMFUNC BIT(13)
#define CPU2_SHADOW_VMCS BIT(14)
#define CPU2_PML BIT(17)
#define CPU2_EPT_VE BIT(18)
/* VM-exit controls (Table 24-11). */
#define EXIT_SAVE_DEBUG BIT(2)
#define EXIT_HOST_ADDR_SPACE BIT(9)
#define EXIT_LOAD_PERF BIT(12)
#define EXIT_ACK_INTR BIT(15)
#define EXIT_SAVE_PAT BIT(18)
#define EXIT_LOAD_PAT BIT(19)
#define EXIT_SAVE_EFER BIT(20)
#define EXIT_LOAD_EFER BIT(21)
#define EXIT_SAVE_PREEMPT BIT(22)
/* VM-entry controls (Table 24-13). */
#define ENTRY_LOAD_DEBUG BIT(2)
#define ENTRY_IA32E BIT(9)
#define ENTRY_SMM BIT(10)
#define ENTRY_DUAL_MONITOR BIT(11)
#define ENTRY_LOAD_PERF BIT(13)
#define ENTRY_LOAD_PAT BIT(14)
#define ENTRY_LOAD_EFER BIT(15)

/* Interruption-information fields (Tables 24-15, 24-18, 24-19). */
#define INTR_INFO_VALID BIT(31)
#define INTR_INFO_ERROR_CODE BIT(11)
#define INTR_INFO_NMI_UNBLOCK BIT(12)
#define INTR_TYPE_EXT_INTR (0u << 8)
#define INTR_TYPE_NMI (2u << 8)
#define INTR_TYPE_HARD_EXCEPTION (3u << 8)
#define INTR_TYPE_SOFT_INTR (4u << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION (5u << 8)
#define INTR_TYPE_SOFT_EXCEPTION (6u << 8)
#define INTR_TYPE_OTHER (7u << 8)
/* Guest interruptibility state (Table 24-3). */
#define GUEST_INTR_STI BIT(0)
#define GUEST_INTR_MOV_SS BIT(1)
#define GUEST_INTR_SMI BIT(2)
#define GUEST_INTR_NMI BIT(3)
/* Activity states (§24.4.2). */
#define ACTIVITY_ACTIVE 0
#define ACTIVITY_HLT 1
#define ACTIVITY_SHUTDOWN 2
#define ACTIVITY_WAIT_SIPI 3
/* Segment access rights in the VMCS format (Table 24-2). */
#define AR_UNUSABLE BIT(16)
#define AR_CODE64 0xa09bu /* G, L, P, S, type 11 (execute/read, accessed) */
#define AR_DATA 0xc093u   /* G, D/B, P, S, type 3 (read/write, accessed) */
#define AR_TSS64_BUSY 0x008bu

/* Exit reasons (Appendix C). */
enum {
  EXIT_REASON_EXCEPTION_NMI = 0,
  EXIT_REASON_EXTERNAL_INTERRUPT = 1,
  EXIT_REASON_TRIPLE_FAULT = 2,
  EXIT_REASON_INIT = 3,
  EXIT_REASON_SIPI = 4,
  EXIT_REASON_INTERRUPT_WINDOW = 7,
  EXIT_REASON_NMI_WINDOW = 8,
  EXIT_REASON_TASK_SWITCH = 9,
  EXIT_REASON_CPUID = 10,
  EXIT_REASON_GETSEC = 11,
  EXIT_REASON_HLT = 12,
  EXIT_REASON_INVD = 13,
  EXIT_REASON_INVLPG = 14,
  EXIT_REASON_RDPMC = 15,
  EXIT_REASON_RDTSC = 16,
  EXIT_REASON_VMCALL = 18,
  EXIT_REASON_VMCLEAR = 19,
  EXIT_REASON_VMLAUNCH = 20,
  EXIT_REASON_VMPTRLD = 21,
  EXIT_REASON_VMPTRST = 22,
  EXIT_REASON_VMREAD = 23,
  EXIT_REASON_VMRESUME = 24,
  EXIT_REASON_VMWRITE = 25,
  EXIT_REASON_VMXOFF = 26,
  EXIT_REASON_VMXON = 27,
  EXIT_REASON_CR_ACCESS = 28,
  EXIT_REASON_DR_ACCESS = 29,
  EXIT_REASON_IO_INSTRUCTION = 30,
  EXIT_REASON_MSR_READ = 31,
  EXIT_REASON_MSR_WRITE = 32,
  EXIT_REASON_INVALID_STATE = 33,
  EXIT_REASON_MSR_LOAD_FAIL = 34,
  EXIT_REASON_MWAIT = 36,
  EXIT_REASON_MTF = 37,
  EXIT_REASON_MONITOR = 39,
  EXIT_REASON_PAUSE = 40,
  EXIT_REASON_MCE_DURING_ENTRY = 41,
  EXIT_REASON_TPR_BELOW_THRESHOLD = 43,
  EXIT_REASON_APIC_ACCESS = 44,
  EXIT_REASON_EOI_INDUCED = 45,
  EXIT_REASON_GDTR_IDTR = 46,
  EXIT_REASON_LDTR_TR = 47,
  EXIT_REASON_EPT_VIOLATION = 48,
  EXIT_REASON_EPT_MISCONFIG = 49,
  EXIT_REASON_INVEPT = 50,
  EXIT_REASON_RDTSCP = 51,
  EXIT_REASON_PREEMPTION_TIMER = 52,
  EXIT_REASON_INVVPID = 53,
  EXIT_REASON_WBINVD = 54,
  EXIT_REASON_XSETBV = 55,
  EXIT_REASON_VMFUNC = 59,
};
#define EXIT_REASON_FAILED_ENTRY BIT(31)

/* VM-instruction error numbers (§30.4, Table 30-1). */
enum {
  VMXERR_VMCALL_IN_ROOT = 1,
  VMXERR_VMCLEAR_INVALID_ADDR = 2,
  VMXERR_VMCLEAR_VMXON_PTR = 3,
  VMXERR_VMLAUNCH_NONCLEAR = 4,
  VMXERR_VMRESUME_NONLAUNCHED = 5,
  VMXERR_VMRESUME_AFTER_VMXOFF = 6,
  VMXERR_ENTRY_INVALID_CONTROL = 7,
  VMXERR_ENTRY_INVALID_HOST_STATE = 8,
  VMXERR_VMPTRLD_INVALID_ADDR = 9,
  VMXERR_VMPTRLD_VMXON_PTR = 10,
  VMXERR_VMPTRLD_BAD_REVISION = 11,
  VMXERR_UNSUPPORTED_COMPONENT = 12,
  VMXERR_VMWRITE_READ_ONLY = 13,
  VMXERR_VMXON_IN_ROOT = 15,
  VMXERR_ENTRY_MOV_SS = 26,
  VMXERR_INVALID_OPERAND = 28,
};

/* ---- the instructions (chapter 30) -------------------------------------------------------- */

#define VMX_OK 0
#define VMX_FAIL_INVALID (-1)
extern u64 vmx_last_flags;

int vmxon(u64 pa);
int vmxoff(void);
int vmclear(u64 pa);
int vmptrld(u64 pa);
int vmptrst(u64 *pa);
int vmread(u32 field, u64 *value);
int vmwrite(u32 field, u64 value);
int invept(u64 type, u64 eptp);
int invvpid(u64 type, u64 vpid, u64 gla);
int invvpid_desc(u64 type, u64 desc_lo, u64 desc_hi);
int vmcall(void);
/* VMFUNC with EAX = leaf, ECX = index (in VMX non-root operation). */
void vmfunc(u32 leaf, u32 index);
/* VMREAD/VMWRITE that ignore the outcome (the value, or 0 on failure). */
u64 vmcs_read(u32 field);
void vmcs_write(u32 field, u64 value);
static inline void vmcs_set_bits(u32 field, u64 bits) { vmcs_write(field, vmcs_read(field) | bits); }
static inline void vmcs_clear_bits(u32 field, u64 bits) { vmcs_write(field, vmcs_read(field) & ~bits); }
/* "VMsucceed", "VMfailInvalid" or "VMfailValid(n)" for messages. */
const char *vmx_outcome_name(int outcome);
/* One check line: the outcome must be `want`. */
int check_vmx(const char *check, int got, int want);

/* The instructions a test can run under trap_catch (the fault-catching wrapper). */
enum vmx_insn {
  I_VMXON, I_VMXOFF, I_VMCLEAR, I_VMPTRLD, I_VMPTRST, I_VMREAD, I_VMWRITE, I_INVEPT, I_INVVPID, I_VMCALL, I_VMLAUNCH, I_VMRESUME,
};
/*
 * Runs one instruction (operands a, b) under trap_catch: returns NO_TRAP with the outcome in
 * *outcome, or the vector of the exception it raised. VMLAUNCH/VMRESUME here must fail or
 * fault (a successful entry would not come back here): they are for #UD/#GP checks.
 */
int vmx_try(enum vmx_insn insn, u64 a, u64 b, int *outcome);
/* The same at CPL 3 (64-bit) through run_user. */
int vmx_try_user(enum vmx_insn insn, u64 a, u64 b);
/* MSR accesses that may fault: NO_TRAP or the vector. */
int vmx_rdmsr_safe(u32 msr, u64 *v);
int vmx_wrmsr_safe(u32 msr, u64 v);

/* ---- regions -------------------------------------------------------------------------------- */

/* Page-aligned regions the programs use (physical address = virtual address). */
extern u8 vmxon_region[4096];
extern u8 vmcs_pages[4][4096];
/* Writes the revision identifier (bit 31 clear) into a VMXON or VMCS region and zeroes the rest. */
void vmx_init_region(void *region);
static inline u64 pa(const void *p) { return (u64)(ulong)p; }
/* Sets CR4.VMXE, checks IA32_FEATURE_CONTROL (locking it with VMX outside SMX if unlocked) and
 * executes VMXON. Returns the outcome (or -2 when a #GP/#UD occurred). */
int vmx_on(void);
void vmx_off(void);

/* ---- running a guest ---------------------------------------------------------------------- */

/* The guest's general registers, loaded before VM entry and saved after a VM exit. */
struct vmx_regs {
  u64 rax, rcx, rdx, rbx, rsp_unused, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};
extern struct vmx_regs vmx_guest_regs;
/* What vmx_enter() returns: a VM exit, or the failure of VMLAUNCH/VMRESUME. */
struct vmx_exit {
  int outcome;          /* VMX_OK (a VM exit happened) or the VMfail outcome */
  u32 reason;           /* full exit reason (bit 31: VM-entry failure) */
  u64 qual;             /* exit qualification */
  u32 intr_info, intr_error, idt_info, idt_error, insn_len, insn_info;
  u64 guest_rip, gla, gpa;
  /* Host state right after the exit (before vmx_enter restores the library's tables). */
  u64 host_rflags;
  u16 host_gdtr_limit, host_idtr_limit;
};
/* The guest entry point: a trampoline calls the C function, then executes VMCALL with RAX = VMX_GUEST_DONE. */
#define VMX_GUEST_DONE 0x600dull
typedef void (*vmx_guest_fn)(void);
/*
 * Fills the current VMCS: the guest is a copy of the current context (64-bit, same CR3, GDT,
 * IDT, TR, segments; its own stack; RIP = the trampoline calling `fn`), the host is the
 * current context too, returning into vmx_enter(); the controls are the defaults adjusted by
 * the capability MSRs (Appendix A.3) plus `IA-32e mode guest` and `host address-space size`.
 */
void vmcs_init_guest64(vmx_guest_fn fn);
/* Restarts the guest at the trampoline calling fn (RIP, RSP, RFLAGS = 2, no pending events). */
void vmx_set_guest(vmx_guest_fn fn);
/* The adjusted control values vmcs_init_guest64 wrote. */
extern u32 vmx_default_pin, vmx_default_proc, vmx_default_exit, vmx_default_entry;
/* Sets a control field to `want` adjusted by its capability MSR. */
void vmx_set_controls(u32 field, u32 want);
/* Enters the guest (VMLAUNCH if the current VMCS is not launched, else VMRESUME) and comes back
 * at the next VM exit or entry failure. */
struct vmx_exit vmx_enter(void);
/* The same with the instruction forced: VMRESUME if resume, else VMLAUNCH (launch-state checks). */
struct vmx_exit vmx_enter_with(int resume);
/* Forgets the launch state (VMCLEAR + VMPTRLD of the current VMCS, so the next entry is VMLAUNCH). */
void vmx_relaunch(void);
/* Whether the last exit was the guest function returning (VMCALL with RAX = VMX_GUEST_DONE). */
static inline int vmx_guest_done(const struct vmx_exit *e) {
  return e->outcome == VMX_OK && e->reason == EXIT_REASON_VMCALL && vmx_guest_regs.rax == VMX_GUEST_DONE;
}
/* Advances GUEST_RIP past the exiting instruction (VM-exit instruction length). */
void vmx_skip_insn(void);
/* A C exit handler: return 1 to resume the guest, 0 to stop. */
typedef int (*vmx_exit_handler)(struct vmx_exit *e, struct vmx_regs *regs);
/* Enters and re-enters the guest while the handler returns 1; returns the last exit. At most `max` entries. */
struct vmx_exit vmx_run(vmx_exit_handler handler, int max);
/* "exit 10 (qual 0x0)" or "VMfailValid(7)" for messages. */
void vmx_describe(const struct vmx_exit *e, char *buf, size_t size);
/* One check line: a VM exit with this reason (full, with bit 31 for entry failures). */
int check_exit(const char *check, const struct vmx_exit *e, u32 reason);
/* One check line: an exit with this reason and qualification. */
int check_exit_qual(const char *check, const struct vmx_exit *e, u32 reason, u64 qual);
/* One check line: VMLAUNCH/VMRESUME failed with this outcome. */
int check_entry_fail(const char *check, const struct vmx_exit *e, int outcome);
/* One check line: the guest ran to completion (exit 18 with RAX = VMX_GUEST_DONE). */
int check_guest_done(const char *check, const struct vmx_exit *e);
/* The guest stack (guest RSP starts at its top). */
extern u8 vmx_guest_stack[16384];

/* ---- EPT (chapter 28) --------------------------------------------------------------------- */

#define EPT_R BIT64(0)
#define EPT_W BIT64(1)
#define EPT_X BIT64(2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_IGNORE_PAT BIT64(6)
#define EPT_LARGE BIT64(7)
#define EPT_ACCESSED BIT64(8)
#define EPT_DIRTY BIT64(9)
#define EPTP_AD BIT64(6)
/* Builds an identity map of 0-4 GiB (2 MiB pages, RWX, write-back where supported) and returns the EPTP. */
u64 ept_identity(void);
/* The EPT leaf for guest-physical `gpa`, splitting its 2 MiB page into 4 KiB pages on first use. */
u64 *ept_pte(u64 gpa);
/* The EPTP for the identity map (memory type and walk length). */
extern u64 ept_eptp;
/* Sets the R/W/X bits of the 4 KiB page at gpa. */
void ept_set_perms(u64 gpa, u64 perms);
/* Makes the entry for gpa misconfigured (write without read, §28.3.3.1). */
void ept_misconfigure(u64 gpa);
/* A second set of tables (for EPTP switching): identity too, returns its EPTP. */
u64 ept_identity_alt(void);
u64 *ept_pte_alt(u64 gpa);
/* Uses the EPT identity map in the current VMCS (secondary controls, EPTP). */
void vmx_enable_ept(void);

#endif
