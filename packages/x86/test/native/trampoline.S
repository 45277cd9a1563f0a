/*
 * Entry and exit stubs of the native differential-testing oracle (see oracle.c).
 *
 * oracle_enter() saves the C callee-saved registers and the host stack pointer, loads RFLAGS
 * and all 16 GPRs from oracle_state.in_* and jumps to the snippet in the code page. The
 * snippet ends with `jmp [rip+slot]` to oracle_exit, which stores all 16 GPRs and RFLAGS to
 * oracle_state.out_*, switches back to the host stack and falls into oracle_resume. The
 * signal handler in oracle.c sends faulting snippets to oracle_resume too (RIP/RSP rewritten
 * in the ucontext), so both paths repair the state the C runtime relies on: RFLAGS (DF, AC,
 * NT, ID), the DS/ES/FS/GS selectors, the FS/GS bases, MXCSR and the x87 control word.
 * In BATCH_FP mode (oracle_state.fp_mode) oracle_enter first loads the case's FXSAVE64 image
 * (FXRSTOR64) and oracle_resume first stores the snippet's (FXSAVE64), then reloads the host's.
 *
 * Offsets into `struct oracle_state` are checked by _Static_assert in oracle.c.
 */
        .intel_syntax noprefix
        .text

#define S oracle_state
#define IN_GPR     0
#define IN_RFLAGS  128
#define OUT_GPR    136
#define OUT_RFLAGS 264
#define HOST_RSP   272
#define CODE_ADDR  280
#define HOST_FSB   288
#define HOST_GSB   296
#define HOST_MXCSR 304
#define HOST_FCW   308
#define HOST_FS    310
#define HOST_GS    312
#define HOST_DS    314
#define HOST_ES    316
#define IN_SNIPPET 318
#define HAVE_FSGS  319
#define SCRATCH    320
#define FP_MODE    324
#define IN_FX      384
#define OUT_FX     896
#define HOST_FX    1408

        .globl  oracle_enter
        .type   oracle_enter, @function
oracle_enter:
        push    rbx
        push    rbp
        push    r12
        push    r13
        push    r14
        push    r15
        mov     [rip + S + HOST_RSP], rsp
        cmp     byte ptr [rip + S + FP_MODE], 0
        je      1f
        fxrstor64 [rip + S + IN_FX]                /* the case's x87/SSE state (BATCH_FP) */
1:      mov     rax, [rip + S + IN_RFLAGS]
        push    rax
        popfq                                   /* flags first: the movs below keep them */
        mov     byte ptr [rip + S + IN_SNIPPET], 1
        mov     rax, [rip + S + IN_GPR + 0*8]
        mov     rcx, [rip + S + IN_GPR + 1*8]
        mov     rdx, [rip + S + IN_GPR + 2*8]
        mov     rbx, [rip + S + IN_GPR + 3*8]
        mov     rbp, [rip + S + IN_GPR + 5*8]
        mov     rsi, [rip + S + IN_GPR + 6*8]
        mov     rdi, [rip + S + IN_GPR + 7*8]
        mov     r8,  [rip + S + IN_GPR + 8*8]
        mov     r9,  [rip + S + IN_GPR + 9*8]
        mov     r10, [rip + S + IN_GPR + 10*8]
        mov     r11, [rip + S + IN_GPR + 11*8]
        mov     r12, [rip + S + IN_GPR + 12*8]
        mov     r13, [rip + S + IN_GPR + 13*8]
        mov     r14, [rip + S + IN_GPR + 14*8]
        mov     r15, [rip + S + IN_GPR + 15*8]
        mov     rsp, [rip + S + IN_GPR + 4*8]
        jmp     qword ptr [rip + S + CODE_ADDR]
        .size   oracle_enter, .-oracle_enter

        .globl  oracle_exit
        .type   oracle_exit, @function
oracle_exit:
        mov     [rip + S + OUT_GPR + 0*8], rax
        mov     [rip + S + OUT_GPR + 1*8], rcx
        mov     [rip + S + OUT_GPR + 2*8], rdx
        mov     [rip + S + OUT_GPR + 3*8], rbx
        mov     [rip + S + OUT_GPR + 4*8], rsp
        mov     [rip + S + OUT_GPR + 5*8], rbp
        mov     [rip + S + OUT_GPR + 6*8], rsi
        mov     [rip + S + OUT_GPR + 7*8], rdi
        mov     [rip + S + OUT_GPR + 8*8], r8
        mov     [rip + S + OUT_GPR + 9*8], r9
        mov     [rip + S + OUT_GPR + 10*8], r10
        mov     [rip + S + OUT_GPR + 11*8], r11
        mov     [rip + S + OUT_GPR + 12*8], r12
        mov     [rip + S + OUT_GPR + 13*8], r13
        mov     [rip + S + OUT_GPR + 14*8], r14
        mov     [rip + S + OUT_GPR + 15*8], r15
        mov     rsp, [rip + S + HOST_RSP]
        pushfq
        pop     qword ptr [rip + S + OUT_RFLAGS]
        .size   oracle_exit, .-oracle_exit

        .globl  oracle_resume
        .type   oracle_resume, @function
oracle_resume:
        /* rsp == host_rsp here on both paths */
        cmp     byte ptr [rip + S + FP_MODE], 0
        je      12f
        fxsave64 [rip + S + OUT_FX]                /* state at the end (or as sigreturn restored it) */
        fxrstor64 [rip + S + HOST_FX]              /* then the oracle's own: FCW 037F, MXCSR 1F80, empty stack */
12:     push    0x202
        popfq                                   /* clears DF, AC, NT, ID, RF; IF stays set */
        mov     byte ptr [rip + S + IN_SNIPPET], 0
        xor     r8d, r8d                        /* r8: "FS changed", r9: "GS changed" */
        xor     r9d, r9d
        mov     ax, fs
        cmp     ax, [rip + S + HOST_FS]
        je      1f
        mov     ax, [rip + S + HOST_FS]
        mov     fs, ax
        mov     r8d, 1
1:      mov     ax, gs
        cmp     ax, [rip + S + HOST_GS]
        je      2f
        mov     ax, [rip + S + HOST_GS]
        mov     gs, ax
        mov     r9d, 1
2:      mov     ax, ds
        cmp     ax, [rip + S + HOST_DS]
        je      3f
        mov     ax, [rip + S + HOST_DS]
        mov     ds, ax
3:      mov     ax, es
        cmp     ax, [rip + S + HOST_ES]
        je      4f
        mov     ax, [rip + S + HOST_ES]
        mov     es, ax
4:      cmp     byte ptr [rip + S + HAVE_FSGS], 0
        je      7f
        /* FSGSBASE enabled by the kernel: check and repair the bases directly. */
        rdfsbase rax
        cmp     rax, [rip + S + HOST_FSB]
        je      5f
        mov     rax, [rip + S + HOST_FSB]
        wrfsbase rax
5:      rdgsbase rax
        cmp     rax, [rip + S + HOST_GSB]
        je      8f
        mov     rax, [rip + S + HOST_GSB]
        wrgsbase rax
        jmp     8f
7:      /* No FSGSBASE: a base can only have changed through a selector load; arch_prctl. */
        test    r8d, r8d
        jz      6f
        mov     eax, 158                        /* SYS_arch_prctl */
        mov     edi, 0x1002                     /* ARCH_SET_FS */
        mov     rsi, [rip + S + HOST_FSB]
        syscall
6:      test    r9d, r9d
        jz      8f
        mov     eax, 158
        mov     edi, 0x1001                     /* ARCH_SET_GS */
        mov     rsi, [rip + S + HOST_GSB]
        syscall
8:      stmxcsr [rip + S + SCRATCH]
        mov     eax, [rip + S + SCRATCH]
        cmp     eax, [rip + S + HOST_MXCSR]
        je      9f
        ldmxcsr [rip + S + HOST_MXCSR]
9:      fnstcw  [rip + S + SCRATCH]
        fnstsw  ax
        and     ax, 0x3800                      /* TOP */
        mov     cx, [rip + S + SCRATCH]
        cmp     cx, [rip + S + HOST_FCW]
        jne     10f
        test    ax, ax
        jz      11f
10:     fninit
        fldcw   [rip + S + HOST_FCW]
11:     cld
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbp
        pop     rbx
        ret
        .size   oracle_resume, .-oracle_resume

        .section .note.GNU-stack,"",@progbits
