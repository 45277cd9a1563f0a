/**
 * `@hvkit/x86`: the x86-64 CPU core (decoder, interpreter, modes, exceptions, MSRs, CPUID) and
 * the virtualization extension interface that `@hvkit/vmx` and `@hvkit/svm` implement.
 *
 * Nothing is exported yet: the core arrives with the x86 core issue.
 */
export {};
