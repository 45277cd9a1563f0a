/*
 * Boot code for 32-bit programs: the Multiboot header, the entry point, the exception stubs,
 * setjmp/longjmp for trap recovery, the ring-3 and virtual-8086 entries, and the gateway to
 * real mode (whose 16-bit half lives in .lowmem, copied below 64 KiB at start-up).
 *
 * Multiboot 0.6.96 §3.2 "Machine state": EAX = 0x2BADB002, EBX = the information structure,
 * 32-bit protected mode with flat segments, paging off, interrupts off. The GDT register is
 * undefined, so the library loads its own GDT before anything else.
 */
#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define CODE16 0x30
#define DATA16 0x38
#define RM_STACK 0x7000

	.section .multiboot, "a"
	.align 4
	.long 0x1badb002            /* magic */
	.long 0x00000003            /* flags: page-aligned modules, memory information */
	.long -(0x1badb002 + 3)     /* checksum */

	.section .bss
	.align 16
	.skip 65536
	.global stack_top
stack_top:
	.skip 16384
	.global kstack0_top
kstack0_top:                    /* TSS.ESP0: the ring-0 stack for traps from ring 3 and v86 */
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
	pushl $2
	popf
	call lib_start
1:	hlt
	jmp 1b

/* void gdt_load(const void *gdtr): LGDT and reload every segment register. */
	.global gdt_load
gdt_load:
	mov 4(%esp), %eax
	lgdt (%eax)
	ljmp $KCODE, $1f
1:	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	ret

/*
 * 256 exception/interrupt stubs, 16 bytes apart. Vectors that push an error code (8, 10-14,
 * 17, 21, 29, 30; SDM Vol. 3 §6.13) get none from the stub; the others push a 0 so that every
 * frame has the same shape.
 */
	.align 16
	.global isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pusha
	push %ds
	push %es
	push %fs
	push %gs
	mov $KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	cld
	push %esp
	call trap_dispatch
	add $4, %esp
	pop %gs
	pop %fs
	pop %es
	pop %ds
	popa
	add $8, %esp
	iret

/* struct jmpbuf { ebx, esi, edi, ebp, esp, eip, eflags; u16 ds, es, fs, gs, ss } */
	.global gsetjmp
gsetjmp:
	mov 4(%esp), %eax
	mov %ebx, 0(%eax)
	mov %esi, 4(%eax)
	mov %edi, 8(%eax)
	mov %ebp, 12(%eax)
	lea 4(%esp), %ecx
	mov %ecx, 16(%eax)
	mov (%esp), %ecx
	mov %ecx, 20(%eax)
	pushf
	pop %ecx
	mov %ecx, 24(%eax)
	mov %ds, 28(%eax)
	mov %es, 30(%eax)
	mov %fs, 32(%eax)
	mov %gs, 34(%eax)
	mov %ss, 36(%eax)
	xor %eax, %eax
	ret

	.global glongjmp
glongjmp:
	mov 4(%esp), %edx
	mov 8(%esp), %eax
	mov 36(%edx), %ss
	mov 16(%edx), %esp
	mov 28(%edx), %ds
	mov 30(%edx), %es
	mov 32(%edx), %fs
	mov 34(%edx), %gs
	mov 0(%edx), %ebx
	mov 4(%edx), %esi
	mov 8(%edx), %edi
	mov 12(%edx), %ebp
	pushl 24(%edx)
	popf
	jmp *20(%edx)

/* void enter_user(u32 eip, u32 esp, u32 eflags): IRET to ring 3 (SDM Vol. 3 §6.12.1). */
	.global enter_user
enter_user:
	mov 4(%esp), %eax
	mov 8(%esp), %ecx
	mov 12(%esp), %edx
	mov $UDATA, %bx
	mov %bx, %ds
	mov %bx, %es
	mov %bx, %fs
	mov %bx, %gs
	pushl $UDATA
	push %ecx
	push %edx
	pushl $UCODE
	push %eax
	iret

/* Where user code returns to: leave through the DPL-3 exit vector. */
	.global user_exit_trampoline
user_exit_trampoline:
	int $0x81
	ud2

/*
 * void enter_v86(const u32 regs[9]): IRET to virtual-8086 mode with
 * { eip, cs, eflags (VM set), esp, ss, es, ds, fs, gs } (SDM Vol. 3 §20.2.5).
 */
	.global enter_v86
enter_v86:
	mov 4(%esp), %eax
	pushl 32(%eax)
	pushl 28(%eax)
	pushl 24(%eax)
	pushl 20(%eax)
	pushl 16(%eax)
	pushl 12(%eax)
	pushl 8(%eax)
	pushl 4(%eax)
	pushl 0(%eax)
	iret

/*
 * void real_call(u16 ip, int unreal): runs the 16-bit routine at 0000:ip in real mode and
 * comes back (SDM Vol. 3 §9.9.2, "Switching Back to Real-Address Mode"). The data segment
 * registers are loaded with 64 KiB descriptors (DATA16) before PE is cleared, or with the
 * flat 4 GiB KDATA when `unreal` is set, so that real mode keeps 4 GiB limits ("unreal mode").
 * The routine gets DS = ES = SS = 0, SP just below 0x7000, the real-mode IVT at 0, and
 * returns with RET.
 */
	.global real_call
real_call:
	push %ebp
	push %ebx
	push %esi
	push %edi
	mov 20(%esp), %eax
	mov %ax, rm_target
	mov 24(%esp), %eax
	mov %eax, rm_unreal
	mov %esp, rm_saved_esp
	sidt rm_saved_idt
	ljmp $CODE16, $rm_enter16
	.global pm_back
pm_back:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	mov rm_saved_esp, %esp
	lidt rm_saved_idt
	pop %edi
	pop %esi
	pop %ebx
	pop %ebp
	ret

	.section .lowmem, "awx"
	.code16
rm_enter16:                     /* 16-bit protected mode, CS = CODE16 */
	mov $DATA16, %ax
	cmpl $0, rm_unreal
	je 1f
	mov $KDATA, %ax
1:	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov $DATA16, %ax
	mov %ax, %ss
	mov $RM_STACK, %esp
	lidt rm_ivt
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $0, $rm_real
rm_real:                        /* real mode */
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	mov %ax, %ss
	mov $RM_STACK, %esp
	call *rm_target
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $KCODE, $pm_back

	.align 4
	.global rm_target, rm_unreal
rm_target: .word 0
	.align 4
rm_unreal: .long 0
rm_saved_esp: .long 0
rm_saved_idt: .word 0
	.long 0
rm_ivt:	.word 0x3ff
	.long 0

/*
 * Real-mode exception catching: rm_catch_vector is 0xFFFF until an IVT stub runs; the stub
 * records vector, IP, CS and FLAGS and resumes at CS = 0, IP = rm_resume.
 */
	.align 2
	.global rm_catch_vector, rm_catch_ip, rm_catch_cs, rm_catch_flags, rm_resume
rm_catch_vector: .word 0xffff
rm_catch_ip: .word 0
rm_catch_cs: .word 0
rm_catch_flags: .word 0
rm_resume: .word 0

	.macro RM_TRAP vec
	.global rm_trap_\vec
rm_trap_\vec:
	movw $\vec, %cs:rm_catch_vector
	jmp rm_trap_common
	.endm
	RM_TRAP 0
	RM_TRAP 6
	RM_TRAP 12
	RM_TRAP 13
rm_trap_common:
	push %bp
	mov %sp, %bp
	push %ax
	mov 2(%bp), %ax
	mov %ax, %cs:rm_catch_ip
	mov 4(%bp), %ax
	mov %ax, %cs:rm_catch_cs
	mov 6(%bp), %ax
	mov %ax, %cs:rm_catch_flags
	mov %cs:rm_resume, %ax
	mov %ax, 2(%bp)
	movw $0, 4(%bp)
	pop %ax
	pop %bp
	iret

	.text
	.code32

	.section .note.GNU-stack, "", @progbits
