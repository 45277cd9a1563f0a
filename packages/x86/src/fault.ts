/**
 * How an architectural exception leaves a handler.
 *
 * A handler that detects a fault records it on the CPU and throws the one preallocated
 * {@link CPU_FAULT} object. The run loop catches it, leaves RIP at the faulting instruction (a
 * fault) or after it (a trap), and delivers the exception. Throwing a preallocated non-Error
 * object captures no stack trace, so a fault costs no allocation.
 */
export const CPU_FAULT = Object.freeze({ kind: 'x86 exception' });

/** Thrown when a triple fault (or an unrecoverable condition) shuts the processor down. */
export const CPU_SHUTDOWN = Object.freeze({ kind: 'x86 shutdown' });

/**
 * Thrown by a virtualization extension when an intercept caused a VM exit: the run loop
 * abandons the current instruction without retiring it.
 */
export const CPU_VMEXIT = Object.freeze({ kind: 'x86 VM exit' });

/** A host-side error raised when the CPU is misused (bad options, bad state from the API). */
export class CpuConfigurationError extends Error {
  override name = 'CpuConfigurationError';
}
