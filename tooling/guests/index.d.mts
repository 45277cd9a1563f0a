/** What a program declares in its `@guest` line. */
export interface GuestInfo {
  readonly name: string;
  /** 64-bit programs are ELF64 converted to ELF32; both boot through Multiboot 1. */
  readonly bits: 32 | 64;
  /** Extra QEMU arguments the program needs, for example `['-cpu', 'max']`. */
  readonly qemuArgs: string[];
  /** How many CPUs the program wants (`smp=N`). */
  readonly smp: number;
  /** Extra devices by QEMU `-device` name (`devices=pc-testdev`). */
  readonly devices: string[];
  /** Whether it needs the full PC (`machine=pc`, implied by `smp` > 1 or `devices`). */
  readonly pc: boolean;
  /**
   * Whether it needs VT-x (`cpu=max,+vmx`): linked with lib/vmx.c, run on hvkit with
   * `virtualization: 'vmx'`, never on QEMU (TCG has no VMX).
   */
  readonly vmx: boolean;
  /**
   * Whether it needs AMD SVM (`cpu=max,+svm`): linked with lib/svm.c, run on hvkit with
   * `virtualization: 'svm'` on the AMD CPU model, and on QEMU TCG with `-cpu max,+svm`.
   */
  readonly svm: boolean;
  /** How long a run may take on QEMU TCG. */
  readonly timeoutMs: number;
  readonly description: string;
  /** The program's C source. */
  readonly source: string;
}

export interface BuiltGuest extends GuestInfo {
  /** The ELF32 Multiboot image. */
  readonly path: string;
  /** Whether the image came from the cache. */
  readonly cached: boolean;
}

/** This package's directory. */
export const GUESTS_DIR: string;
/** The tools a build runs: gcc, ld, objcopy. */
export const TOOLCHAIN: readonly string[];
/** Whether gcc, ld and objcopy can be started. */
export function toolchainAvailable(): boolean;
/** Every program name, sorted. */
export function guestNames(): string[];
export function guestInfo(name: string): GuestInfo;
/** `os.tmpdir()/hvkit-guests`, or `$HVKIT_GUESTS_CACHE`. */
export function defaultCacheDir(): string;
/** Builds one program (or takes it from the cache); with `outDir` also copies it to `outDir/<name>.elf`. */
export function buildGuest(name: string, options?: { outDir?: string; cacheDir?: string }): Promise<BuiltGuest>;
/** Builds every program (or the ones named). */
export function buildGuests(outDir?: string, options?: { names?: string[]; cacheDir?: string }): Promise<BuiltGuest[]>;

/** The QEMU binary: `$HVKIT_QEMU` or `qemu-system-x86_64`. */
export const QEMU: string;
export function qemuAvailable(qemu?: string): boolean;

export interface QemuRun {
  /** QEMU's exit status: 1 when the guest wrote 0 to isa-debug-exit. */
  readonly status: number | null;
  /** The guest's COM1 output (LF line ends). */
  readonly serial: string;
  readonly timedOut: boolean;
  readonly stderr: string;
}
export function runOnQemu(elf: string, options?: { qemuArgs?: string[]; timeoutMs?: number; qemu?: string }): Promise<QemuRun>;

export interface SerialCheck {
  readonly kind: 'ok' | 'FAIL' | 'SKIP';
  readonly check: string;
  readonly detail: string;
  readonly line: string;
}
export interface SerialLog {
  readonly checks: SerialCheck[];
  /** The `PASS <name>` / `FAIL <name>: <reason>` line. */
  readonly final: { readonly passed: boolean; readonly name: string; readonly reason: string } | null;
  /** The compared lines (checks and the final line), in order. */
  readonly lines: string[];
}
export function parseSerial(serial: string): SerialLog;
/**
 * Differences between a candidate's output (hvkit) and the reference (QEMU): checks the
 * reference skipped are not compared, and checks only the candidate ran count when they fail.
 */
export function compareSerial(reference: string, candidate: string): string[];

export interface ConformanceResult {
  readonly name: string;
  readonly passed: boolean;
  readonly run: QemuRun;
  readonly log: SerialLog;
  readonly logPath: string;
}
/** Builds and runs one program on QEMU, saving its serial output to `outDir/<name>.qemu.log`. */
export function runGuestOnQemu(name: string, options?: { outDir?: string; qemu?: string }): Promise<ConformanceResult>;

/** The Bochs binary: `$HVKIT_BOCHS` or `bochs` (scripts/bochs-conformance.mjs). */
export const BOCHS: string;
/** The Bochs CPU model the VT-x programs run on (VMX with EPT, VPID, unrestricted guest, preemption timer). */
export const DEFAULT_BOCHS_CPU: string;
/** What is missing to boot the guests on Bochs (Bochs, its BIOS, grub-mkrescue for BIOS, xorriso); empty when nothing is. */
export function bochsMissing(): string[];

/** When a serial line was seen (`performance.now()`) and Bochs' CPU time then (null where /proc is missing). */
export interface SerialMark {
  readonly wallMs: number;
  readonly cpuSeconds: number | null;
}

export interface BochsRun {
  /** Everything the guest wrote to COM1, CR LF turned into LF. */
  readonly serial: string;
  /** A triple fault (the programs' last act), the verdict line not followed by one, the time limit, or Bochs exiting by itself. */
  readonly ended: 'exit' | 'triple-fault' | 'verdict' | 'timeout';
  readonly timedOut: boolean;
  readonly status: number | null;
  readonly serialPath: string;
  /** Bochs' own log. */
  readonly logPath: string;
  readonly wallMs: number;
}

/**
 * Boots a Multiboot image on Bochs from a GRUB rescue CD (`multiboot /boot/kernel.elf <cmdline>`);
 * `onLine` sees each serial line as Bochs writes it. Check `bochsMissing()` first.
 */
export function runOnBochs(
  elf: string,
  options: {
    name: string;
    workDir: string;
    cpu?: string;
    smp?: number;
    megs?: number;
    cmdline?: string;
    timeoutMs: number;
    onLine?: (line: string, mark: SerialMark) => void;
  },
): Promise<BochsRun>;

export * from './linux.mjs';
