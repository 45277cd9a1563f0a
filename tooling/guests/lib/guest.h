/*
 * hvkit bare-metal test guests: the library every program includes.
 *
 * A program is a Multiboot 1 kernel. It defines `test_name` and `test_main()`; the library
 * boots (32-bit protected mode, or long mode for programs built 64-bit), sets up COM1, a GDT,
 * an IDT with a stub for every vector and a TSS, masks the 8259 PICs, runs `test_main()` and
 * reports. Every check prints one line on COM1:
 *
 *     ok <check>
 *     FAIL <check> -- <what was seen and what was expected>
 *     SKIP <check> -- <why the check cannot run here>
 *
 * (check names never contain " -- "), and the program ends with `PASS <name>` or
 * `FAIL <name>: <reason>` (program names are single words), then writes the
 * isa-debug-exit port (0xF4): 0 on success (QEMU exit status 1), 1 on failure (status 3).
 * Lines starting with "#" are information that a comparison of two runs ignores.
 *
 * Faults are caught with trap_catch()/run_user()/run_v86(): the handler records the vector,
 * error code, pushed frame and CR2/DR6 in `trap` and resumes after the call (a longjmp from
 * the handler), so a check can compare exact values.
 */
#ifndef HVKIT_GUEST_H
#define HVKIT_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;
typedef unsigned long ulong; /* pointer-sized on both targets */

#define NOINLINE __attribute__((noinline))
#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))
#define ALIGNED(n) __attribute__((aligned(n)))
#define USED __attribute__((used))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1u << (n))
#define BIT64(n) (1ull << (n))

/* ---- the program ------------------------------------------------------------------------ */

/* Defined by each program. */
extern const char test_name[];
void test_main(void);

/* ---- reporting -------------------------------------------------------------------------- */

void serial_init(void);
void serial_putc(char c);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintf(const char *fmt, va_list ap);
void snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "ok <check>". */
void pass(const char *check);
/* "FAIL <check> -- ...". */
void fail(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "SKIP <check> -- ...". */
void skip(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# ..." (information, not compared). */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line: ok when got == want, else FAIL with both values. Returns whether it passed. */
int check_eq(const char *check, u64 got, u64 want);
/* One line: ok when cond holds, else FAIL with `why`. */
int check_true(const char *check, int cond, const char *why);
/* Ends the program with PASS/FAIL and the isa-debug-exit port. */
NORETURN void finish(void);
/* Ends the program at once: "FAIL <name>: <message>". */
NORETURN void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes `code` to the isa-debug-exit port (0 = pass), then stops the machine. */
NORETURN void exit_code(u32 code);
extern int checks_failed;

/* ---- string ----------------------------------------------------------------------------- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* ---- port I/O and CPU registers --------------------------------------------------------- */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

#define DEFINE_CR(n)                                                                          \
  static inline ulong read_cr##n(void) { ulong v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
  static inline void write_cr##n(ulong v) { __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#define DEFINE_DR(n)                                                                          \
  static inline ulong read_dr##n(void) { ulong v; __asm__ volatile("mov %%db" #n ", %0" : "=r"(v)); return v; } \
  static inline void write_dr##n(ulong v) { __asm__ volatile("mov %0, %%db" #n : : "r"(v) : "memory"); }
DEFINE_DR(0)
DEFINE_DR(1)
DEFINE_DR(2)
DEFINE_DR(3)
DEFINE_DR(6)
DEFINE_DR(7)

static inline u64 rdmsr(u32 msr) {
  u32 lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v) { __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory"); }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d) {
  __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline ulong read_flags(void) { ulong f; __asm__ volatile("pushf; pop %0" : "=r"(f)); return f; }
static inline void write_flags(ulong f) { __asm__ volatile("push %0; popf" : : "r"(f) : "cc", "memory"); }
static inline void invlpg(ulong addr) { __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory"); }
static inline u16 read_cs(void) { u16 v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
static inline u16 read_ds(void) { u16 v; __asm__ volatile("mov %%ds, %0" : "=r"(v)); return v; }
static inline u16 read_es(void) { u16 v; __asm__ volatile("mov %%es, %0" : "=r"(v)); return v; }
static inline u16 read_ss(void) { u16 v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
static inline u16 read_tr(void) { u16 v; __asm__ volatile("str %0" : "=r"(v)); return v; }
static inline u16 read_ldtr(void) { u16 v; __asm__ volatile("sldt %0" : "=r"(v)); return v; }

#define CR0_PE BIT(0)
#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR0_PG BIT(31)
#define CR4_VME BIT(0)
#define CR4_PVI BIT(1)
#define CR4_TSD BIT(2)
#define CR4_DE BIT(3)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_PGE BIT(7)
#define CR4_PCE BIT(8)
#define CR4_LA57 BIT(12)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define FL_CF BIT(0)
#define FL_FIXED BIT(1)
#define FL_TF BIT(8)
#define FL_IF BIT(9)
#define FL_DF BIT(10)
#define FL_OF BIT(11)
#define FL_IOPL(n) ((u32)(n) << 12)
#define FL_IOPL_MASK (3u << 12)
#define FL_NT BIT(14)
#define FL_RF BIT(16)
#define FL_VM BIT(17)
#define FL_AC BIT(18)
#define MSR_EFER 0xc0000080u
#define EFER_SCE BIT(0)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_FMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u

/* Exception vectors (SDM Vol. 3 §6.15, "Exception and Interrupt Reference"). */
enum {
  DE_VECTOR = 0, DB_VECTOR = 1, NMI_VECTOR = 2, BP_VECTOR = 3, OF_VECTOR = 4, BR_VECTOR = 5, UD_VECTOR = 6,
  NM_VECTOR = 7, DF_VECTOR = 8, TS_VECTOR = 10, NP_VECTOR = 11, SS_VECTOR = 12, GP_VECTOR = 13, PF_VECTOR = 14,
  MF_VECTOR = 16, AC_VECTOR = 17,
};

/* ---- CPU identification ----------------------------------------------------------------- */

struct cpu_features {
  char vendor[13];
  u32 max_leaf, max_ext_leaf;
  u32 l1_ecx, l1_edx, l7_ebx, l7_ecx, l7_edx, e1_ecx, e1_edx;
  u32 phys_bits;
  int is_qemu_tcg;
};
extern struct cpu_features cpu;
void cpu_identify(void);
#define HAS_SEP() ((cpu.l1_edx >> 11) & 1)
#define HAS_PSE() ((cpu.l1_edx >> 3) & 1)
#define HAS_PAE() ((cpu.l1_edx >> 6) & 1)
#define HAS_NX() ((cpu.e1_edx >> 20) & 1)
#define HAS_LM() ((cpu.e1_edx >> 29) & 1)
#define HAS_SMEP() ((cpu.l7_ebx >> 7) & 1)
#define HAS_SMAP() ((cpu.l7_ebx >> 20) & 1)
#define HAS_LA57() ((cpu.l7_ecx >> 16) & 1)
#define HAS_SYSCALL() ((cpu.e1_edx >> 11) & 1)

/* ---- descriptors ------------------------------------------------------------------------ */

/* Segment selectors set up by the library. */
#ifdef __x86_64__
#define KCODE 0x08 /* 64-bit ring 0 */
#define KDATA 0x10
#define UCODE32 0x1b /* compatibility-mode ring 3 */
#define UDATA 0x23
#define UCODE 0x2b /* 64-bit ring 3 */
#define TSS_SEL 0x30 /* 16-byte descriptor, entries 6-7 */
#define KCODE32 0x40 /* 32-bit ring 0, for leaving long mode */
#else
#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28
#define CODE16 0x30 /* 16-bit ring 0 code, base 0, limit 0xFFFF: the way back to real mode */
#define DATA16 0x38
#define KCODE64 0x40 /* 64-bit ring 0 code, for the long-mode round trip */
#endif
/* GDT entries from this index on are free for the programs. */
#define GDT_FREE 16
#define GDT_ENTRIES 64
extern u64 gdt[GDT_ENTRIES];

/* Descriptor access bytes (SDM Vol. 3 §3.4.5). */
#define ACC_P 0x80
#define ACC_DPL(n) ((n) << 5)
#define ACC_S 0x10
#define ACC_CODE 0x1a /* S | code | readable */
#define ACC_DATA 0x12 /* S | data | writable */
#define ACC_TSS32 0x09
#define ACC_TSS_BUSY 0x0b
#define ACC_LDT 0x02
#define ACC_CALLGATE32 0x0c
/* Flags nibble: G, D/B, L, AVL. */
#define FLG_G 0x8
#define FLG_DB 0x4
#define FLG_L 0x2

u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags);
/* A 32-bit call gate (SDM Vol. 3 §5.8.3). */
u64 call_gate(u16 selector, u32 offset, int dpl, int params);
void gdt_set(int index, u64 desc);
/* Clears the busy bit of the TSS descriptor `sel` and loads TR with it. */
void load_tr(u16 sel);

#define GATE_INT 0xe
#define GATE_TRAP 0xf
#define GATE_TASK 0x5
/* IDT entry `vector`: a gate of `type` to selector:offset with `dpl`, present or not. */
void idt_set(int vector, u16 selector, ulong offset, int type, int dpl, int present);
/* The library's stub for `vector` (what idt_set needs to restore an entry). */
ulong isr_stub(int vector);
/* Restores the library's gate for `vector` (interrupt gate, DPL 0, present). */
void idt_restore(int vector);

/* ---- traps ------------------------------------------------------------------------------ */

/* What the handler saw. `sp`/`ss` are the pushed stack pointer (ring change, v86 or 64-bit). */
struct trap_info {
  int vector;
  u32 error;
  ulong ip, cs, flags, sp, ss;
  ulong cr2, dr6;
  /* Segment registers pushed on entry from virtual-8086 mode. */
  u32 v86_es, v86_ds, v86_fs, v86_gs;
  /* Data segment selectors the handler found loaded (what the CPU left in DS/ES/FS/GS). */
  u32 entry_ds, entry_es, entry_fs, entry_gs;
  /* The handler's stack pointer at the first pushed word (EIP/RIP) of the frame. */
  ulong frame_addr;
  /* General registers at the exception. */
  ulong ax, cx, dx, bx, si, di, bp;
};
extern volatile struct trap_info trap;
#define NO_TRAP (-1)
#define ANY_VALUE (~0ull)

/* Runs fn at CPL 0; returns NO_TRAP, or the vector of the exception that stopped it. */
int trap_catch(void (*fn)(void));
/* Runs fn at CPL 3 with EFLAGS = flags (IOPL etc.) on the user stack; a `ret` from fn comes back. */
int run_user(void (*fn)(void), u32 flags);
/* The vector user code (or virtual-8086 code) uses to end: `int $0x81` (a DPL-3 gate). */
#define USER_EXIT_VECTOR 0x81
/*
 * One line checking a trap: the vector, the error code (unless ANY_VALUE) and the pushed
 * instruction pointer (unless ANY_VALUE).
 */
int check_trap(const char *check, int got, int vector, u64 error, u64 ip);
/* Whether CPUID.01H:EDX.FPU is set. Without an FPU, x87 instructions that pass the CR0.EM/TS
 * checks raise #UD on hvkit (its x87 unit is not implemented yet); with one they run. */
static inline int has_x87(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  return (int)(d & 1);
}
/*
 * check_trap for a rule QEMU's TCG does not emulate faithfully (segment limits and types on
 * data accesses, alignment checks, ICEBP): on TCG, the known wrong outcome `tcg_got` (a
 * vector, or NO_TRAP) is reported as SKIP with `why`; anything else is checked as usual.
 */
int check_trap_tcg(const char *check, int got, int vector, u64 error, u64 ip, int tcg_got, const char *why);
/* One line checking a #PF: error code, pushed instruction pointer and CR2. */
int check_pf(const char *check, int got, u32 error, u64 ip, u64 cr2);
/* For a check that would hang or crash QEMU TCG: on TCG prints SKIP and returns 1. */
int tcg_skip(const char *check, const char *why);

/* A global label inside inline assembly, so C can compare a pushed EIP with it. */
#define SITE(name) ".global " #name "\n" #name ":\n"
#define DECLARE_SITE(name) extern char name[]

/* The exception frame the stubs build. */
#ifdef __x86_64__
struct frame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error;
  u64 ip, cs, flags, sp, ss;
};
#else
struct frame {
  u32 gs, fs, es, ds;
  u32 edi, esi, ebp, esp_unused, ebx, edx, ecx, eax;
  u32 vector, error;
  u32 ip, cs, flags;
  u32 sp, ss;                         /* on a privilege change (or from v86) */
  u32 v86_es, v86_ds, v86_fs, v86_gs; /* from v86 */
};
#endif
/*
 * A handler that runs before the catch logic: return 1 to resume the interrupted code (the
 * handler may edit the frame), 0 to fall through to trap_catch's recording.
 */
typedef int (*trap_handler_t)(struct frame *f);
void set_trap_handler(int vector, trap_handler_t handler);

/* ---- paging ----------------------------------------------------------------------------- */

/* Page-table entry bits (SDM Vol. 3 §4.3-§4.5). */
#define PTE_P BIT64(0)
#define PTE_W BIT64(1)
#define PTE_U BIT64(2)
#define PTE_PWT BIT64(3)
#define PTE_PCD BIT64(4)
#define PTE_A BIT64(5)
#define PTE_D BIT64(6)
#define PTE_PS BIT64(7)
#define PTE_G BIT64(8)
#define PTE_NX BIT64(63)
/* #PF error code bits (SDM Vol. 3 §4.7). */
#define PFERR_P BIT(0)
#define PFERR_W BIT(1)
#define PFERR_U BIT(2)
#define PFERR_RSVD BIT(3)
#define PFERR_ID BIT(4)

/* Paging modes the test window can be built for. */
enum paging_mode { PG_32 = 1, PG_PAE = 2, PG_4L = 3, PG_5L = 4 };
/*
 * The test window: virtual WINDOW_BASE..+WINDOW_PAGES pages mapped through a page table of
 * its own (4 KiB pages), above an identity map of the first 1 GiB (large pages, U=1, W=1).
 * Tests edit the window's entries with window_set().
 */
#define WINDOW_BASE 0x40000000ul
#define WINDOW_PAGES 16
extern u8 window_frames[WINDOW_PAGES][4096];
/* Builds the tables for `mode` and returns the CR3 value (does not load it). */
ulong paging_build(enum paging_mode mode);
/* Sets window entry `i` (mapping WINDOW_BASE + i * 4096) to `pte` and flushes its TLB entry. */
void window_set(int i, u64 pte);
u64 window_get(int i);
/* The physical address of window frame `i`, for building entries. */
ulong window_phys(int i);
/* The directory-level entry above the window (PDE), for U/S and R/W combination checks. */
void window_pde_set(u64 flags_to_set, u64 flags_to_clear);
u64 window_pde_get(void);
/* The entries that hold the identity map: set or clear U/S on them (SMEP/SMAP checks). */
void identity_user(int user);
/*
 * The paging-structure entry at `level` (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E) on
 * the path to window page 0 through paging_alias(level), for 64-bit entries (PAE, 4-level,
 * 5-level). Entries at levels 1-3 map only the window; the alias addresses used for levels 4
 * and 5 (WINDOW_BASE + 512 GiB, WINDOW_BASE + 256 TiB) go through entries of their own, so
 * a test can break them without breaking the identity map.
 */
u64 *paging_entry(int level);
ulong paging_alias(int level);
/* 32-bit paging: page directory entry `index` (each maps 4 MiB). */
u32 *paging_pde32(int index);
/* Reloads CR3 (flushes every non-global TLB entry). */
void paging_flush(void);

#endif
