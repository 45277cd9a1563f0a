/*
 * 64-bit (IA-32e) set-up: GDT, IDT with 16-byte gates, the 64-bit TSS (RSP0, IST1), the 8259
 * PICs, trap dispatch and recovery, ring-3 entry in 64-bit and compatibility mode.
 * SDM Vol. 3 §3.4.5 (descriptors), §6.14 (64-bit interrupt handling), §8.7 (64-bit TSS).
 */
#include "guest.h"
#include "guest64.h"

u64 gdt[GDT_ENTRIES] ALIGNED(16);
struct gate64 {
  u16 offset_lo, selector;
  u8 ist, type_attr;
  u16 offset_mid;
  u32 offset_hi, zero;
} PACKED;
static struct gate64 idt[256] ALIGNED(16);
struct tss64 main_tss ALIGNED(128);

extern char isr_stubs[];
extern char kstack0_top[], ist1_top[], user_stack_top[];
extern char user_exit_trampoline[];
void gdt_load(const void *gdtr);
NORETURN void enter_user(u64 rip, u64 rsp, u64 rflags, u64 cs);

volatile struct trap_info trap;
ulong boot_cr3;
static trap_handler_t handlers[256];
static struct jmpbuf catch_buf;
static volatile int catch_armed;

u64 seg_desc(u32 base, u32 limit, u8 access, u8 flags) {
  return (u64)(limit & 0xffff) | ((u64)(base & 0xffffff) << 16) | ((u64)access << 40) | ((u64)((limit >> 16) & 0xf) << 48) |
         ((u64)(flags & 0xf) << 52) | ((u64)(base >> 24) << 56);
}

void gdt_set(int index, u64 desc) { gdt[index] = desc; }

void load_tr(u16 sel) {
  gdt[sel >> 3] &= ~(2ull << 40);
  __asm__ volatile("ltr %0" : : "r"(sel) : "memory");
}

void idt_set(int vector, u16 selector, ulong offset, int type, int dpl, int present) {
  struct gate64 *g = &idt[vector];
  g->offset_lo = (u16)offset;
  g->offset_mid = (u16)(offset >> 16);
  g->offset_hi = (u32)(offset >> 32);
  g->selector = selector;
  g->ist = 0;
  g->zero = 0;
  g->type_attr = (u8)((present ? 0x80 : 0) | (dpl << 5) | type);
}

void idt_set_ist(int vector, int ist) { idt[vector].ist = (u8)ist; }

ulong isr_stub(int vector) { return (ulong)isr_stubs + 16 * (ulong)vector; }

void idt_restore(int vector) { idt_set(vector, KCODE, isr_stub(vector), GATE_INT, vector == USER_EXIT_VECTOR ? 3 : 0, 1); }

void set_trap_handler(int vector, trap_handler_t handler) { handlers[vector] = handler; }

static void pic_init(void) {
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
  outb(0x70, 0x80);
}

void lib_start(void) {
  boot_cr3 = read_cr3();
  gdt[KCODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE, FLG_G | FLG_L);
  gdt[KDATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DATA, FLG_G | FLG_DB);
  gdt[UCODE32 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL(3) | ACC_CODE, FLG_G | FLG_DB);
  gdt[UDATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL(3) | ACC_DATA, FLG_G | FLG_DB);
  gdt[UCODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_DPL(3) | ACC_CODE, FLG_G | FLG_L);
  gdt[KCODE32 >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_CODE, FLG_G | FLG_DB);
  main_tss.rsp0 = (u64)kstack0_top;
  main_tss.ist[0] = (u64)ist1_top;
  main_tss.iomap = sizeof(struct tss64);
  u64 base = (u64)&main_tss;
  gdt[TSS_SEL >> 3] = seg_desc((u32)base, sizeof(struct tss64) - 1, ACC_P | ACC_TSS32, 0);
  gdt[(TSS_SEL >> 3) + 1] = base >> 32;
  static struct PACKED {
    u16 limit;
    u64 base;
  } gdtr, idtr;
  gdtr.limit = sizeof gdt - 1;
  gdtr.base = (u64)gdt;
  gdt_load(&gdtr);
  load_tr(TSS_SEL);
  for (int v = 0; v < 256; v++) idt_restore(v);
  idtr.limit = sizeof idt - 1;
  idtr.base = (u64)idt;
  __asm__ volatile("lidt %0" : : "m"(idtr));
  pic_init();
  serial_init();
  cpu_identify();
  printf("\n");
  info("%s: 64-bit guest, CPU vendor %s%s", test_name, cpu.vendor, cpu.is_qemu_tcg ? " (QEMU TCG)" : "");
  test_main();
  finish();
}

static void record(struct frame *f) {
  trap.vector = (int)f->vector;
  trap.error = (u32)f->error;
  trap.ip = f->ip;
  trap.cs = f->cs & 0xffff;
  trap.flags = f->flags;
  trap.sp = f->sp;
  trap.ss = f->ss & 0xffff;
  trap.frame_addr = (ulong)&f->ip;
  trap.entry_ds = read_ds();
  trap.entry_es = read_es();
  trap.entry_fs = trap.entry_gs = 0;
  trap.v86_es = trap.v86_ds = trap.v86_fs = trap.v86_gs = 0;
  trap.cr2 = f->vector == PF_VECTOR ? read_cr2() : 0;
  trap.dr6 = f->vector == DB_VECTOR ? read_dr6() : 0;
  trap.ax = f->rax;
  trap.cx = f->rcx;
  trap.dx = f->rdx;
  trap.bx = f->rbx;
  trap.si = f->rsi;
  trap.di = f->rdi;
  trap.bp = f->rbp;
}

void trap_dispatch(struct frame *f) {
  trap_handler_t h = handlers[f->vector & 0xff];
  if (h && h(f)) return;
  record(f);
  if (catch_armed) {
    catch_armed = 0;
    glongjmp(&catch_buf, 1);
  }
  panic("unexpected exception %d error 0x%x at %04x:%016lx (rflags 0x%lx, rsp 0x%lx, cr2 0x%lx)", (int)f->vector, (u32)f->error,
        (u32)f->cs & 0xffff, f->ip, f->flags, f->sp, read_cr2());
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
  u64 *sp = (u64 *)((ulong)user_stack_top - 64);
  sp[0] = (u64)user_exit_trampoline;
  catch_armed = 1;
  enter_user((u64)fn, (u64)sp, flags | FL_FIXED, UCODE);
}

int run_user32(ulong eip, u32 flags) {
  if (gsetjmp(&catch_buf)) return trap.vector == USER_EXIT_VECTOR ? NO_TRAP : trap.vector;
  u32 *sp = (u32 *)((ulong)user_stack_top - 64);
  sp[0] = (u32)(ulong)user_exit_trampoline;
  catch_armed = 1;
  enter_user(eip, (u64)sp, flags | FL_FIXED, UCODE32);
}
