/**
 * `-cpu MODEL[,+feat,-feat,feat=on|off,...]`: a CPU model by name, with CPUID feature bits set
 * or cleared, QEMU-style.
 *
 * The result is a new `CpuModel` object (the base models are frozen): the core reads every
 * gated behaviour from the model it was built with, so clearing a bit here also turns the
 * feature off where the core checks it (the CR4 bits of SMEP, SMAP, PCIDE, LA57, UMIP and
 * FSGSBASE become reserved, EFER.LME/NXE/SCE too without `lm`/`nx`/`syscall`; INVPCID, RDTSCP,
 * RDPID, SYSENTER, SYSCALL, STAC/CLAC, MONITOR/MWAIT, RDRAND, RDSEED, BMI1/2, ADX, MOVBE,
 * POPCNT, CMPXCHG8B/16B and LAHF/SAHF in 64-bit mode raise #UD; LZCNT/TZCNT turn back into
 * BSR/BSF; 1-GByte pages become reserved; without `fxsr` FXSAVE/FXRSTOR and CR4.OSFXSR, without
 * `sse` LDMXCSR/STMXCSR and CR4.OSXMMEXCPT, without `xsave` the XSAVE family, XGETBV/XSETBV,
 * CR4.OSXSAVE and CPUID leaf 0DH go away; `pni`/`sse3`, `ssse3`, `sse4.1`, `sse4.2` gate their
 * instructions). The base x87/MMX/SSE/SSE2 instructions still run whatever CPUID says (see
 * {@link UNGATED_FEATURES}), as does CLFLUSHOPT.
 *
 * Bit positions: Intel SDM Vol. 2A, CPUID, Table 3-10 (CPUID.01H:ECX), Table 3-11 (01H:EDX),
 * Table 3-8 (leaf 07H, sub-leaf 0: EBX and ECX) and leaf 80000001H (ECX, EDX); AMD APM Vol. 3,
 * Appendix E.3.2 (80000001H, including CR8 legacy and SVM).
 */
import { AMD_ZEN, INTEL_CORE, type CpuModel } from '@hvkit/x86';
import { OptionError } from './option-values.js';

/** The `CpuModel` field a feature bit lives in. */
type FeatureWord = 'leaf1Ecx' | 'leaf1Edx' | 'leaf7Ebx' | 'leaf7Ecx' | 'ext1Ecx' | 'ext1Edx';

interface FeatureBit {
  readonly word: FeatureWord;
  readonly bit: number;
}

const f = (word: FeatureWord, bit: number): FeatureBit => ({ word, bit });

/**
 * CPUID feature bits by QEMU name (`target/i386/cpu.c` spells them so; `_` and `-` are
 * interchangeable, as there). A name is usable when one of hvkit's models advertises the bit,
 * i.e. when the core implements it; the others are known but refused as not implemented.
 */
const FEATURE_BITS: Readonly<Record<string, FeatureBit>> = {
  // CPUID.01H:EDX (SDM Vol. 2A Table 3-11)
  fpu: f('leaf1Edx', 0),
  vme: f('leaf1Edx', 1),
  de: f('leaf1Edx', 2),
  pse: f('leaf1Edx', 3),
  tsc: f('leaf1Edx', 4),
  msr: f('leaf1Edx', 5),
  pae: f('leaf1Edx', 6),
  mce: f('leaf1Edx', 7),
  cx8: f('leaf1Edx', 8),
  sep: f('leaf1Edx', 11),
  mtrr: f('leaf1Edx', 12),
  pge: f('leaf1Edx', 13),
  mca: f('leaf1Edx', 14),
  cmov: f('leaf1Edx', 15),
  pat: f('leaf1Edx', 16),
  pse36: f('leaf1Edx', 17),
  clflush: f('leaf1Edx', 19),
  mmx: f('leaf1Edx', 23),
  fxsr: f('leaf1Edx', 24),
  sse: f('leaf1Edx', 25),
  sse2: f('leaf1Edx', 26),
  ht: f('leaf1Edx', 28),
  // CPUID.01H:ECX (Table 3-10)
  pni: f('leaf1Ecx', 0),
  pclmulqdq: f('leaf1Ecx', 1),
  monitor: f('leaf1Ecx', 3),
  ssse3: f('leaf1Ecx', 9),
  cx16: f('leaf1Ecx', 13),
  pcid: f('leaf1Ecx', 17),
  'sse4.1': f('leaf1Ecx', 19),
  'sse4.2': f('leaf1Ecx', 20),
  movbe: f('leaf1Ecx', 22),
  popcnt: f('leaf1Ecx', 23),
  xsave: f('leaf1Ecx', 26),
  avx: f('leaf1Ecx', 28),
  rdrand: f('leaf1Ecx', 30),
  hypervisor: f('leaf1Ecx', 31),
  // CPUID.(EAX=07H,ECX=0):EBX (Table 3-8)
  fsgsbase: f('leaf7Ebx', 0),
  bmi1: f('leaf7Ebx', 3),
  smep: f('leaf7Ebx', 7),
  bmi2: f('leaf7Ebx', 8),
  erms: f('leaf7Ebx', 9),
  invpcid: f('leaf7Ebx', 10),
  rdseed: f('leaf7Ebx', 18),
  adx: f('leaf7Ebx', 19),
  smap: f('leaf7Ebx', 20),
  clflushopt: f('leaf7Ebx', 23),
  // CPUID.(EAX=07H,ECX=0):ECX (Table 3-8)
  umip: f('leaf7Ecx', 2),
  pku: f('leaf7Ecx', 3),
  la57: f('leaf7Ecx', 16),
  rdpid: f('leaf7Ecx', 22),
  // CPUID.80000001H:ECX (SDM; AMD APM Vol. 3 E.3.2)
  'lahf-lm': f('ext1Ecx', 0),
  cr8legacy: f('ext1Ecx', 4),
  abm: f('ext1Ecx', 5),
  '3dnowprefetch': f('ext1Ecx', 8),
  // CPUID.80000001H:EDX
  syscall: f('ext1Edx', 11),
  nx: f('ext1Edx', 20),
  pdpe1gb: f('ext1Edx', 26),
  mmxext: f('ext1Edx', 22),
  rdtscp: f('ext1Edx', 27),
  lm: f('ext1Edx', 29),
};

/** QEMU's alternative names. */
const ALIASES: Readonly<Record<string, string>> = {
  sse3: 'pni',
  xd: 'nx',
  i64: 'lm',
  'sse4-1': 'sse4.1',
  'sse4-2': 'sse4.2',
};

/**
 * Features the core advertises whatever the model says: the local APIC bits follow the board's
 * APIC (SDM Vol. 3 §11.4.3, §11.12.1), so they can be asked for but not removed.
 */
const APIC_FEATURES = ['apic', 'x2apic', 'tsc-deadline'];

/**
 * The virtualization extensions: not CPUID bits of a model but extensions plugged into the
 * cores (`createPc({ virtualization })`), which then report their own CPUID bit. `vmx` (Intel
 * VT-x, `@hvkit/vmx`) needs an Intel model, `svm` (AMD SVM, `@hvkit/svm`; CPUID
 * 8000_0001h:ECX[2] and leaf 8000_000Ah) an AMD one: on `max` and `host` it picks the AMD model.
 */
const VIRT_FEATURES = ['vmx', 'svm'];

/**
 * Features whose CPUID bit can be cleared but whose instructions the core still executes (it
 * does not check the model for them): CLFLUSHOPT (on CPUs without it, 66 0F AE /7 is not
 * documented as #UD either), and the x87, MMX, AMD MMX-extension, SSE and SSE2 instruction sets
 * (what every x86-64 processor has; the x87 answers to CR0.EM, SSE to CR4.OSFXSR instead).
 */
export const UNGATED_FEATURES: readonly string[] = ['clflushopt', 'fpu', 'mmx', 'mmxext', 'sse', 'sse2'];

/**
 * QEMU's `qemu64` (an AMD family 15 model 107 stepping 1 part with SSE2-era features, long
 * mode, NX and SYSCALL, 40 physical address bits), restricted to the features hvkit implements:
 * no MCE/MCA, no APIC bit from the model (the board's APIC reports it), no SVM.
 */
const QEMU64: CpuModel = Object.freeze({
  name: 'qemu64',
  vendor: 'amd',
  vendorString: 'AuthenticAMD',
  brand: 'QEMU Virtual CPU version 2.5+',
  family: 15,
  model: 107,
  stepping: 1,
  // FPU DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE36 CLFLUSH MMX FXSR SSE SSE2, less what hvkit lacks.
  leaf1Ecx: bits('pni', 'cx16'),
  leaf1Edx: bits('fpu', 'de', 'pse', 'tsc', 'msr', 'pae', 'cx8', 'sep', 'mtrr', 'pge', 'cmov', 'pat', 'pse36', 'clflush', 'mmx', 'fxsr', 'sse', 'sse2'),
  leaf7Ebx: 0,
  leaf7Ecx: 0,
  ext1Ecx: bits('lahf-lm'),
  ext1Edx: bits('syscall', 'nx', 'lm'),
  physAddrBits: 40,
  linearAddrBits: 48,
  threadsPerPackage: 1,
});

function bits(...names: string[]): number {
  let v = 0;
  for (const n of names) v |= 1 << FEATURE_BITS[n]!.bit;
  return v;
}

/**
 * `-cpu max,+svm` and `host,+svm`: SVM is AMD's, so these pick an AMD model with everything
 * hvkit implements on AMD: the Zen-class `amd` model (plus the SVM extension).
 */
export const AMD_MAX: CpuModel = AMD_ZEN;

/** The names that stand for "everything hvkit implements": Intel, or {@link AMD_MAX} with `+svm`. */
const MAX_NAMES = ['max', 'host'];

/** `-cpu` model names: `max` and `host` are everything hvkit implements (Intel vendor; AMD with +svm). */
export const CPU_MODELS: Readonly<Record<string, CpuModel>> = {
  max: INTEL_CORE,
  host: INTEL_CORE,
  intel: INTEL_CORE,
  amd: AMD_ZEN,
  qemu64: QEMU64,
};

/** Whether the core implements a feature: some hvkit model advertises it. */
function implemented(bit: FeatureBit): boolean {
  return ((INTEL_CORE[bit.word] | AMD_ZEN[bit.word]) & (1 << bit.bit)) !== 0;
}

/** The feature names `-cpu` accepts, sorted. */
export function cpuFeatureNames(): string[] {
  const names = Object.keys(FEATURE_BITS).filter((n) => implemented(FEATURE_BITS[n]!));
  return [...names, ...APIC_FEATURES, ...VIRT_FEATURES].sort();
}

/** The virtualization extension a `-cpu` value asks for. */
export type CpuVirtualization = 'vmx' | 'svm';

/** A parsed `-cpu` value: the model, and the virtualization extension its cores get. */
export interface CpuSpec {
  readonly model: CpuModel;
  /** `'vmx'` with `+vmx` (Intel VT-x), `'svm'` with `+svm` (AMD SVM); absent without. */
  readonly virtualization?: CpuVirtualization;
}

function canonicalFeature(name: string): string {
  const n = name.toLowerCase().replace(/_/g, '-');
  return ALIASES[n] ?? n;
}

function parseSwitch(value: string, item: string): boolean {
  if (['on', 'true', 'yes'].includes(value)) return true;
  if (['off', 'false', 'no'].includes(value)) return false;
  throw new OptionError(`-cpu: '${item}': a feature is turned on or off with on, off, true, false, yes or no`);
}

/**
 * Parses a `-cpu` value: `MODEL` then comma-separated features, each `+name`, `-name`,
 * `name=on|off` or a bare `name` (on). Later items win, as in QEMU. Throws {@link OptionError}
 * naming the model or feature it cannot use. Returns the base model itself when nothing changes.
 * `+vmx` does not change the model: it asks for the VT-x extension; `+svm` asks for SVM and, on
 * `max` and `host`, picks the AMD model ({@link parseCpuSpec}).
 */
export function parseCpuModel(spec: string): CpuModel {
  return parseCpuSpec(spec).model;
}

/** Splits a `-cpu` item into its feature name and whether it turns the feature on. */
function parseItem(item: string): { name: string; on: boolean } {
  if (item.startsWith('+') || item.startsWith('-')) return { name: item.slice(1), on: item.startsWith('+') };
  if (item.includes('=')) {
    const eq = item.indexOf('=');
    return { name: item.slice(0, eq), on: parseSwitch(item.slice(eq + 1).toLowerCase(), item) };
  }
  return { name: item, on: true };
}

/**
 * Parses a `-cpu` value as {@link parseCpuModel} does, and says which virtualization extension
 * it turns on: `vmx` (Intel VT-x: `-cpu max,+vmx`, `host,+vmx`, any Intel model) or `svm` (AMD
 * SVM: `-cpu max,+svm`, `host,+svm`, any AMD model; on `max` and `host` it picks
 * {@link AMD_MAX}, since SVM is AMD's). `vmx` on an AMD model, `svm` on an Intel one, and both
 * together are {@link OptionError}s.
 */
export function parseCpuSpec(spec: string): CpuSpec {
  const [modelName = '', ...items] = spec.split(',');
  let base = CPU_MODELS[modelName];
  if (base === undefined) throw new OptionError(`-cpu: unknown model '${modelName}' (hvkit has: ${Object.keys(CPU_MODELS).join(', ')})`);
  // The extensions first (later items win): +svm on max/host chooses the AMD model the
  // feature items then apply to.
  let vmx = false;
  let svm = false;
  for (const item of items) {
    if (item === '') continue;
    const { name, on } = parseItem(item);
    const feature = canonicalFeature(name);
    if (feature === 'vmx') vmx = on;
    else if (feature === 'svm') svm = on;
  }
  if (vmx && svm) throw new OptionError('-cpu: vmx and svm together: a CPU has one or the other (VT-x is Intel\'s extension, SVM is AMD\'s)');
  if (svm && MAX_NAMES.includes(modelName)) base = AMD_MAX;
  const words: Record<FeatureWord, number> = {
    leaf1Ecx: base.leaf1Ecx,
    leaf1Edx: base.leaf1Edx,
    leaf7Ebx: base.leaf7Ebx,
    leaf7Ecx: base.leaf7Ecx,
    ext1Ecx: base.ext1Ecx,
    ext1Edx: base.ext1Edx,
  };
  const changes: string[] = [];
  for (const item of items) {
    if (item === '') continue;
    const { name, on } = parseItem(item);
    const feature = canonicalFeature(name);
    if (VIRT_FEATURES.includes(feature)) continue; // handled above

    if (APIC_FEATURES.includes(feature)) {
      if (!on) throw new OptionError(`-cpu: ${feature} cannot be turned off: hvkit reports it whenever the local APIC is present`);
      continue; // always present
    }
    const bit = FEATURE_BITS[feature];
    if (bit === undefined) throw new OptionError(`-cpu: unknown feature '${name}' (hvkit has: ${cpuFeatureNames().join(', ')})`);
    if (!implemented(bit)) throw new OptionError(`-cpu: feature '${name}' is not implemented by hvkit yet`);
    const mask = 1 << bit.bit;
    const before = words[bit.word];
    words[bit.word] = on ? before | mask : before & ~mask;
    if (words[bit.word] !== before) changes.push(`${on ? '+' : '-'}${feature}`);
  }
  if (vmx && base.vendor !== 'intel') {
    throw new OptionError(`-cpu: vmx: VT-x is an Intel extension and '${modelName}' is an ${base.vendorString} model (use max, host or intel; AMD's extension is svm)`);
  }
  if (svm && base.vendor !== 'amd') {
    throw new OptionError(`-cpu: svm: SVM is an AMD extension and '${modelName}' is a ${base.vendorString} model (use max, host, amd or qemu64; Intel's extension is vmx)`);
  }
  const virt: { virtualization?: CpuVirtualization } = vmx ? { virtualization: 'vmx' } : svm ? { virtualization: 'svm' } : {};
  if (changes.length === 0) return { model: base, ...virt };
  const la57 = (words.leaf7Ecx & (1 << FEATURE_BITS['la57']!.bit)) !== 0;
  const model: CpuModel = Object.freeze({
    ...base,
    ...words,
    name: `${base.name},${changes.join(',')}`,
    // CPUID.80000008H:EAX[15:8] reports 57 linear-address bits exactly when 5-level paging is
    // available (SDM Vol. 3 §4.1.1); the core checks canonicality against this width.
    linearAddrBits: la57 ? 57 : 48,
  });
  return { model, ...virt };
}

/** `-cpu help`: the models and the features. */
export function cpuHelp(): string {
  const models = Object.entries(CPU_MODELS).map(([name, m]) => `  ${name.padEnd(8)} ${m.brand} (${m.vendorString})`);
  const features = cpuFeatureNames();
  const lines: string[] = [];
  let line = ' ';
  for (const name of features) {
    if (line.length + name.length + 1 > 90) {
      lines.push(line);
      line = ' ';
    }
    line += ` ${name}`;
  }
  lines.push(line);
  return `Available CPU models:\n${models.join('\n')}\n\nFeatures (+name, -name, name=on|off):\n${lines.join('\n')}\n\nvmx gives the cores Intel VT-x (Intel models: max,+vmx); svm gives them AMD SVM (AMD models: amd,+svm;\nmax,+svm and host,+svm pick the AMD model). A CPU has one or the other.\napic, x2apic and tsc-deadline follow the local APIC.\n`;
}
