/*
 * Boot code for 64-bit programs. The image is linked as ELF64 and converted to ELF32, so a
 * Multiboot 1 loader starts it in 32-bit protected mode (Multiboot 0.6.96 §3.2 "Machine
 * state"). _start builds identity page tables for the first 4 GiB (2 MiB pages), enables PAE,
 * sets IA32_EFER.LME and CR0.PG, and jumps to 64-bit code (SDM Vol. 3 §10.8.5,
 * "Initializing IA-32e Mode"). Then come the exception stubs, setjmp/longjmp for trap
 * recovery, the ring-3 entry and set_paging(), which leaves long mode to change CR4.LA57.
 */
#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x23
#define KCODE32 0x40

	.section .multiboot, "a"
	.align 4
	.long 0x1badb002
	.long 0x00000003
	.long -(0x1badb002 + 3)

	.section .bss
	.align 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4 * 4096
	.align 16
	.skip 65536
	.global stack_top
stack_top:
	.skip 16384
	.global kstack0_top
kstack0_top:
	.skip 16384
	.global ist1_top
ist1_top:
	.skip 16384
	.global user_stack_top
user_stack_top:
	.global multiboot_magic, multiboot_info
multiboot_magic: .long 0
multiboot_info: .long 0

	.text
	.code32
	.global _start
_start:
	cli
	cld
	mov $stack_top, %esp
	mov %eax, multiboot_magic
	mov %ebx, multiboot_info
	mov $0x80000000, %eax
	cpuid
	cmp $0x80000001, %eax
	jb no_long_mode
	mov $0x80000001, %eax
	cpuid
	test $(1 << 29), %edx
	jz no_long_mode
	/* PML4[0] -> PDPT; PDPT[0..3] -> four PDs; 2048 PDEs of 2 MiB: 0-4 GiB, U/S = 1. */
	mov $(boot_pdpt + 7), %eax
	mov %eax, boot_pml4
	mov $(boot_pd + 7), %eax
	mov $boot_pdpt, %edi
	mov $4, %ecx
1:	mov %eax, (%edi)
	add $4096, %eax
	add $8, %edi
	loop 1b
	mov $boot_pd, %edi
	mov $0x87, %eax
	xor %edx, %edx
	mov $2048, %ecx
2:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 2b
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax              /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax             /* EFER.LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax        /* PG | PE */
	mov %eax, %cr0
	lgdt boot_gdtr
	ljmp $KCODE, $start64
no_long_mode:
	mov $0x3f8, %dx
	mov $'!', %al
	out %al, %dx
	mov $2, %eax
	out %eax, $0xf4
3:	hlt
	jmp 3b

	.align 8
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff    /* 64-bit code */
	.quad 0x00cf92000000ffff    /* data */
boot_gdtr:
	.word 23
	.long boot_gdt

	.code64
start64:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $stack_top, %rsp
	pushq $2
	popfq
	call lib_start
4:	hlt
	jmp 4b

/* void gdt_load(const void *gdtr): LGDT, then reload CS (far return) and the data segments. */
	.global gdt_load
gdt_load:
	lgdt (%rdi)
	pushq $KCODE
	lea 1f(%rip), %rax
	push %rax
	lretq
1:	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	ret

	.align 16
	.global isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	cld
	mov %rsp, %rdi
	call trap_dispatch
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

/* struct jmpbuf { rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags; u16 ds, es, ss } */
	.global gsetjmp
gsetjmp:
	mov %rbx, 0(%rdi)
	mov %rbp, 8(%rdi)
	mov %r12, 16(%rdi)
	mov %r13, 24(%rdi)
	mov %r14, 32(%rdi)
	mov %r15, 40(%rdi)
	lea 8(%rsp), %rax
	mov %rax, 48(%rdi)
	mov (%rsp), %rax
	mov %rax, 56(%rdi)
	pushfq
	pop %rax
	mov %rax, 64(%rdi)
	mov %ds, 72(%rdi)
	mov %es, 74(%rdi)
	mov %ss, 76(%rdi)
	xor %eax, %eax
	ret

	.global glongjmp
glongjmp:
	mov 76(%rdi), %ss
	mov 48(%rdi), %rsp
	mov 72(%rdi), %ds
	mov 74(%rdi), %es
	mov 0(%rdi), %rbx
	mov 8(%rdi), %rbp
	mov 16(%rdi), %r12
	mov 24(%rdi), %r13
	mov 32(%rdi), %r14
	mov 40(%rdi), %r15
	pushq 64(%rdi)
	popfq
	mov %esi, %eax
	jmp *56(%rdi)

/* void enter_user(u64 rip, u64 rsp, u64 rflags, u64 cs): IRETQ to ring 3 (SS = UDATA). */
	.global enter_user
enter_user:
	mov $UDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	pushq $UDATA
	push %rsi
	push %rdx
	push %rcx
	push %rdi
	iretq

	.global user_exit_trampoline
user_exit_trampoline:
	int $0x81
	ud2

/*
 * void set_paging(u64 cr3, u64 cr4): switches page tables and CR4 (PAE, LA57) by way of
 * compatibility mode and legacy protected mode with paging off, since CR4.LA57 can change only
 * outside IA-32e mode (SDM Vol. 3 §4.1.1 and §10.8.5.4). Runs with interrupts off; the code and
 * stack must be identity mapped below 4 GiB in both the old and the new tables.
 */
	.global set_paging
set_paging:
	pushq $KCODE32
	lea 1f(%rip), %rax
	push %rax
	lretq
	.code32
1:	mov %cr0, %eax
	and $0x7fffffff, %eax       /* PG off: IA32_EFER.LMA drops to 0 */
	mov %eax, %cr0
	mov %esi, %cr4
	mov %edi, %cr3
	or $0x80000000, %eax        /* PG on again: LMA = 1, compatibility mode */
	mov %eax, %cr0
	ljmp $KCODE, $2f
	.code64
2:	ret

	.section .note.GNU-stack, "", @progbits
