/*
 * 32-bit protected-mode set-up: GDT, IDT, TSS, the 8259 PICs, trap dispatch and recovery,
 * ring-3 and virtual-8086 entry. SDM Vol. 3 chapters 3 (segmentation), 6 (interrupts and
 * exceptions), 7 (task management) and 20 (8086 emulation).
 */
#include "guest.h"
#include "guest32.h"

u64 gdt[GDT_ENTRIES] ALIGNED(16);
struct gate32 {
  u16 offset_lo, selector;
  u8 zero, type_attr;
  u16 offset_hi;
} PACKED;
static struct gate32 idt[256] ALIGNED(16);
struct tss32 main_tss ALIGNED(128);

extern char isr_stubs[];
extern char kstack0_top[], user_stack_top[];
extern char user_exit_trampoline[];
extern char __lowmem_start[], __lowmem_end[], __lowmem_load[];
void gdt_load(const void *gdtr);
void enter_user(u32 eip, u32 esp, u32 eflags) NORETURN;
void enter_v86(const u32 *regs) NORETURN;

volatile struct trap_info trap;
static trap_handler_t handlers[256];
static struct jmpbuf catch_buf;
static volatile int catch_armed;

u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags) {
  return (u64)(limit & 0xffff) | ((u64)(base & 0xffffff) << 16) | ((u64)access << 40) | ((u64)((limit >> 16) & 0xf) << 48) |
         ((u64)(flags & 0xf) << 52) | ((u64)(base >> 24) << 56);
}

u64 call_gate(u16 selector, u32 offset, int dpl, int params) {
  return (u64)(offset & 0xffff) | ((u64)selector << 16) | ((u64)(params & 0x1f) << 32) | ((u64)(ACC_P | ACC_DPL(dpl) | ACC_CALLGATE32) << 40) |
         ((u64)(offset >> 16) << 48);
}

void gdt_set(int index, u64 desc) { gdt[index] = desc; }

void load_tr(u16 sel) {
  gdt[sel >> 3] &= ~(2ull << 40); /* busy -> available */
  __asm__ volatile("ltr %0" : : "r"(sel) : "memory");
}

void idt_set(int vector, u16 selector, ulong offset, int type, int dpl, int present) {
  struct gate32 *g = &idt[vector];
  g->offset_lo = (u16)offset;
  g->offset_hi = (u16)(offset >> 16);
  g->selector = selector;
  g->zero = 0;
  g->type_attr = (u8)((present ? 0x80 : 0) | (dpl << 5) | type);
}

ulong isr_stub(int vector) { return (ulong)isr_stubs + 16 * (ulong)vector; }

void idt_restore(int vector) { idt_set(vector, KCODE, isr_stub(vector), GATE_INT, vector == USER_EXIT_VECTOR ? 3 : 0, 1); }

void set_trap_handler(int vector, trap_handler_t handler) { handlers[vector] = handler; }

static void pic_init(void) {
  /* ICW1-4: edge-triggered, cascaded, vectors 0x20-0x2F; then mask every line (8259A datasheet). */
  outb(0x20, 0x11);
  outb(0xa0, 0x11);
  outb(0x21, 0x20);
  outb(0xa1, 0x28);
  outb(0x21, 0x04);
  outb(0xa1, 0x02);
  outb(0x21, 0x01);
  outb(0xa1, 0x01);
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  outb(0x70, 0x80); /* NMI off (CMOS index port bit 7) */
}

void lib_start(void) {
  memcpy(__lowmem_start, __lowmem_load, (size_t)(__lowmem_end - __lowmem_start));
  gdt[KCODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE, FLG_G | FLG_DB);
  gdt[KDATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA, FLG_G | FLG_DB);
  gdt[UCODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL(3) | ACC_CODE, FLG_G | FLG_DB);
  gdt[UDATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL(3) | ACC_DATA, FLG_G | FLG_DB);
  gdt[CODE16 >> 3] = seg_desc(0, 0xffff, ACC_P | ACC_CODE, 0);
  gdt[DATA16 >> 3] = seg_desc(0, 0xffff, ACC_P | ACC_DATA, 0);
  gdt[KCODE64 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE, FLG_G | FLG_L);
  main_tss.ss0 = KDATA;
  main_tss.esp0 = (u32)kstack0_top;
  main_tss.iomap = sizeof(struct tss32); /* past the limit: no I/O permission bitmap */
  gdt[TSS_SEL >> 3] = seg_desc((u32)&main_tss, sizeof(struct tss32) - 1, ACC_P | ACC_TSS32, 0);
  static struct PACKED {
    u16 limit;
    u32 base;
  } gdtr, idtr;
  gdtr.limit = sizeof gdt - 1;
  gdtr.base = (u32)gdt;
  gdt_load(&gdtr);
  load_tr(TSS_SEL);
  for (int v = 0; v < 256; v++) idt_restore(v);
  idtr.limit = sizeof idt - 1;
  idtr.base = (u32)idt;
  __asm__ volatile("lidt %0" : : "m"(idtr));
  pic_init();
  serial_init();
  cpu_identify();
  printf("\n");
  info("%s: 32-bit guest, CPU vendor %s%s", test_name, cpu.vendor, cpu.is_qemu_tcg ? " (QEMU TCG)" : "");
  test_main();
  finish();
}

static void record(struct frame *f) {
  trap.vector = (int)f->vector;
  trap.error = f->error;
  trap.ip = f->ip;
  trap.cs = f->cs & 0xffff;
  trap.flags = f->flags;
  trap.frame_addr = (ulong)&f->ip;
  trap.entry_ds = f->ds & 0xffff;
  trap.entry_es = f->es & 0xffff;
  trap.entry_fs = f->fs & 0xffff;
  trap.entry_gs = f->gs & 0xffff;
  if ((f->flags & FL_VM) || (f->cs & 3)) {
    trap.sp = f->sp;
    trap.ss = f->ss & 0xffff;
  } else {
    trap.sp = (ulong)&f->sp;
    trap.ss = read_ss();
  }
  if (f->flags & FL_VM) {
    trap.v86_es = f->v86_es & 0xffff;
    trap.v86_ds = f->v86_ds & 0xffff;
    trap.v86_fs = f->v86_fs & 0xffff;
    trap.v86_gs = f->v86_gs & 0xffff;
  } else {
    trap.v86_es = trap.v86_ds = trap.v86_fs = trap.v86_gs = 0;
  }
  trap.cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
  trap.dr6 = f->vector == DB_VECTOR ? read_dr6() : 0;
  trap.ax = f->eax;
  trap.cx = f->ecx;
  trap.dx = f->edx;
  trap.bx = f->ebx;
  trap.si = f->esi;
  trap.di = f->edi;
  trap.bp = f->ebp;
}

void trap_dispatch(struct frame *f) {
  trap_handler_t h = handlers[f->vector & 0xff];
  if (h && h(f)) return;
  record(f);
  if (catch_armed) {
    catch_armed = 0;
    glongjmp(&catch_buf, 1);
  }
  panic("unexpected exception %d error 0x%x at %04x:%08x (flags 0x%x, cr2 0x%lx)", (int)f->vector, f->error, f->cs & 0xffff, f->ip, f->flags,
        read_cr2());
}

int trap_catch(void (*fn)(void)) {
  if (gsetjmp(&catch_buf)) return trap.vector;
  catch_armed = 1;
  fn();
  catch_armed = 0;
  return NO_TRAP;
}

int run_user(void (*fn)(void), u32 flags) {
  if (gsetjmp(&catch_buf)) return trap.vector == USER_EXIT_VECTOR ? NO_TRAP : trap.vector;
  u32 *sp = (u32 *)((ulong)user_stack_top - 16);
  sp[0] = (u32)user_exit_trampoline;
  catch_armed = 1;
  enter_user((u32)fn, (u32)sp, flags | FL_FIXED);
}

int run_v86(const struct v86_regs *r) {
  if (gsetjmp(&catch_buf)) return trap.vector == USER_EXIT_VECTOR ? NO_TRAP : trap.vector;
  static u32 regs[9];
  regs[0] = r->ip;
  regs[1] = r->cs;
  regs[2] = r->flags | FL_VM | FL_FIXED;
  regs[3] = r->sp;
  regs[4] = r->ss;
  regs[5] = r->es;
  regs[6] = r->ds;
  regs[7] = r->fs;
  regs[8] = r->gs;
  catch_armed = 1;
  enter_v86(regs);
}
