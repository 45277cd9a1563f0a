/*
 * What only 64-bit programs have: the 64-bit TSS, IST, compatibility-mode user code and the
 * paging-mode switch.
 */
#ifndef HVKIT_GUEST64_H
#define HVKIT_GUEST64_H

#include "guest.h"

/* The 64-bit TSS (SDM Vol. 3 §8.7, Figure 8-11). */
struct tss64 {
  u32 r0;
  u64 rsp0, rsp1, rsp2;
  u64 r1;
  u64 ist[7];
  u64 r2;
  u16 r3, iomap;
} PACKED;
_Static_assert(sizeof(struct tss64) == 104, "TSS layout");
extern struct tss64 main_tss;
extern char ist1_top[], kstack0_top[];

struct jmpbuf {
  u64 rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags;
  u16 ds, es, ss, pad;
};
int gsetjmp(struct jmpbuf *b) __attribute__((returns_twice));
NORETURN void glongjmp(struct jmpbuf *b, int value);

/* Sets the IST index (1-7, 0 = none) of IDT entry `vector`. */
void idt_set_ist(int vector, int ist);
/* Runs 32-bit code at `eip` in compatibility mode at CPL 3 (a 32-bit `ret` comes back). */
int run_user32(ulong eip, u32 flags);
/* The boot page tables (identity map of 0-4 GiB, 2 MiB pages, U/S = 1). */
extern ulong boot_cr3;
/* Loads CR3 and CR4 by way of legacy protected mode (see boot64.S). */
void set_paging(u64 cr3, u64 cr4);

#endif
