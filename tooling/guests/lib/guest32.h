/*
 * What only 32-bit programs have: the TSS layout, virtual-8086 entry, the real-mode gateway
 * and the code copied below 64 KiB (.lowmem).
 */
#ifndef HVKIT_GUEST32_H
#define HVKIT_GUEST32_H

#include "guest.h"

/* The 32-bit TSS (SDM Vol. 3 §7.2.1, Figure 7-2). */
struct tss32 {
  u16 link, r0;
  u32 esp0;
  u16 ss0, r1;
  u32 esp1;
  u16 ss1, r2;
  u32 esp2;
  u16 ss2, r3;
  u32 cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  u16 es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10;
  u16 trap, iomap;
} PACKED;
_Static_assert(sizeof(struct tss32) == 104, "TSS layout");
extern struct tss32 main_tss;

struct jmpbuf {
  u32 ebx, esi, edi, ebp, esp, eip, eflags;
  u16 ds, es, fs, gs, ss, pad;
};
int gsetjmp(struct jmpbuf *b) __attribute__((returns_twice));
NORETURN void glongjmp(struct jmpbuf *b, int value);

/* Virtual-8086 mode entry (SDM Vol. 3 §20.2). */
struct v86_regs {
  u32 ip, cs, flags, sp, ss, es, ds, fs, gs;
};
/* IRETs into virtual-8086 mode; returns NO_TRAP when the code ends with `int $0x81` (IOPL 3),
   else the vector of the exception that stopped it (details in `trap`). */
int run_v86(const struct v86_regs *r);

/* Real mode: run the 16-bit routine at 0000:ip (see boot32.S). */
void real_call(u16 ip, int unreal);
extern volatile u16 rm_catch_vector, rm_catch_ip, rm_catch_cs, rm_catch_flags, rm_resume;
extern char rm_trap_0[], rm_trap_6[], rm_trap_12[], rm_trap_13[];
/* Sets IVT entry `vector` to 0000:ip. */
static inline void ivt_set(int vector, ulong ip) { ((volatile u32 *)0)[vector] = (u32)ip & 0xffff; }
/* A lowmem symbol's address as a 16-bit offset in segment 0. */
#define LOW16(sym) ((u16)(ulong)(sym))

#endif
