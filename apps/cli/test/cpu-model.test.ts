import { buildGuest, toolchainAvailable } from '@hvkit/guests';
import { AMD_ZEN, INTEL_CORE, type CpuModel } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { cpuFeatureNames, cpuHelp, CPU_MODELS, OptionError, parseCpuModel, parseCpuSpec, systemMain } from '../src/index.js';
import { asm, capture, DEBUG_EXIT, ELF_CODE, elf32, EXIT_AL, exitWith, scratchFile, u32 } from './helpers.js';

type Word = 'leaf1Ecx' | 'leaf1Edx' | 'leaf7Ebx' | 'leaf7Ecx' | 'ext1Ecx' | 'ext1Edx';

/**
 * Where each feature's CPUID bit is, written out from the SDM (Vol. 2A, CPUID: Table 3-10
 * leaf 01H ECX, Table 3-11 leaf 01H EDX, Table 3-8 leaf 07H EBX/ECX, leaf 80000001H ECX/EDX)
 * and AMD APM Vol. 3 E.3.2 (cr8legacy, mmxext), independently of the table in src/cpu-model.ts.
 */
const SDM: Record<string, [Word, number]> = {
  fpu: ['leaf1Edx', 0],
  vme: ['leaf1Edx', 1],
  de: ['leaf1Edx', 2],
  pse: ['leaf1Edx', 3],
  tsc: ['leaf1Edx', 4],
  msr: ['leaf1Edx', 5],
  pae: ['leaf1Edx', 6],
  cx8: ['leaf1Edx', 8],
  sep: ['leaf1Edx', 11],
  mtrr: ['leaf1Edx', 12],
  pge: ['leaf1Edx', 13],
  cmov: ['leaf1Edx', 15],
  pat: ['leaf1Edx', 16],
  pse36: ['leaf1Edx', 17],
  clflush: ['leaf1Edx', 19],
  mmx: ['leaf1Edx', 23],
  fxsr: ['leaf1Edx', 24],
  sse: ['leaf1Edx', 25],
  sse2: ['leaf1Edx', 26],
  pni: ['leaf1Ecx', 0],
  monitor: ['leaf1Ecx', 3],
  ssse3: ['leaf1Ecx', 9],
  cx16: ['leaf1Ecx', 13],
  pcid: ['leaf1Ecx', 17],
  'sse4.1': ['leaf1Ecx', 19],
  'sse4.2': ['leaf1Ecx', 20],
  movbe: ['leaf1Ecx', 22],
  popcnt: ['leaf1Ecx', 23],
  xsave: ['leaf1Ecx', 26],
  rdrand: ['leaf1Ecx', 30],
  fsgsbase: ['leaf7Ebx', 0],
  bmi1: ['leaf7Ebx', 3],
  smep: ['leaf7Ebx', 7],
  bmi2: ['leaf7Ebx', 8],
  erms: ['leaf7Ebx', 9],
  invpcid: ['leaf7Ebx', 10],
  rdseed: ['leaf7Ebx', 18],
  adx: ['leaf7Ebx', 19],
  smap: ['leaf7Ebx', 20],
  clflushopt: ['leaf7Ebx', 23],
  umip: ['leaf7Ecx', 2],
  la57: ['leaf7Ecx', 16],
  rdpid: ['leaf7Ecx', 22],
  'lahf-lm': ['ext1Ecx', 0],
  cr8legacy: ['ext1Ecx', 4],
  abm: ['ext1Ecx', 5],
  syscall: ['ext1Edx', 11],
  nx: ['ext1Edx', 20],
  mmxext: ['ext1Edx', 22],
  pdpe1gb: ['ext1Edx', 26],
  rdtscp: ['ext1Edx', 27],
  lm: ['ext1Edx', 29],
};
const WORDS: Word[] = ['leaf1Ecx', 'leaf1Edx', 'leaf7Ebx', 'leaf7Ecx', 'ext1Ecx', 'ext1Edx'];
const APIC_FEATURES = ['apic', 'tsc-deadline', 'x2apic'];
const has = (m: CpuModel, name: string) => (m[SDM[name]![0]] & (1 << SDM[name]![1])) !== 0;

describe('-cpu models and feature flags', () => {
  it('offers exactly the features some hvkit model advertises, plus the APIC ones', () => {
    const names = cpuFeatureNames();
    expect(names.filter((n) => !APIC_FEATURES.includes(n) && n !== 'vmx' && n !== 'svm').sort()).toEqual(Object.keys(SDM).sort());
    expect(names).toContain('vmx');
    expect(names).toContain('svm');
    for (const name of Object.keys(SDM)) expect(has(INTEL_CORE, name) || has(AMD_ZEN, name), name).toBe(true);
  });

  it('returns the base model itself when nothing changes, and max/host are the Intel model', () => {
    expect(parseCpuModel('max')).toBe(INTEL_CORE);
    expect(parseCpuModel('host')).toBe(INTEL_CORE);
    expect(parseCpuModel('amd')).toBe(AMD_ZEN);
    expect(parseCpuModel('max,+smep,smap=on')).toBe(INTEL_CORE); // already there
    expect(parseCpuModel('amd,-vmx,+x2apic')).toBe(AMD_ZEN);
  });

  it.each(Object.keys(SDM))('clears and sets the CPUID bit of %s, and only that bit', (name) => {
    const [word, bit] = SDM[name]!;
    for (const base of ['max', 'amd', 'qemu64']) {
      const baseModel = CPU_MODELS[base]!;
      for (const [spec, on] of [
        [`${base},-${name}`, false],
        [`${base},${name}=off`, false],
        [`${base},+${name}`, true],
        [`${base},${name}=on`, true],
        [`${base},${name}`, true],
        [`${base},-${name},+${name},-${name}`, false], // the last one wins
      ] as const) {
        const m = parseCpuModel(spec);
        expect((m[word] >>> bit) & 1, spec).toBe(on ? 1 : 0);
        for (const other of WORDS) {
          const mask = other === word ? ~(1 << bit) : -1;
          expect(m[other] & mask, `${spec}: ${other}`).toBe(baseModel[other] & mask);
        }
        expect(m.vendor).toBe(baseModel.vendor);
        expect(m.family).toBe(baseModel.family);
        expect(Object.isFrozen(m)).toBe(true);
      }
    }
  });

  it('names a derived model after its changes (snapshots compare model names)', () => {
    expect(parseCpuModel('max,-smep,+cr8legacy').name).toBe('hvkit-intel,-smep,+cr8legacy');
    expect(parseCpuModel('qemu64,+smep').name).toBe('qemu64,+smep');
  });

  it('accepts QEMU spellings: underscores, aliases, true/false/yes/no', () => {
    expect(has(parseCpuModel('max,-lahf_lm'), 'lahf-lm')).toBe(false);
    expect(has(parseCpuModel('max,-xd'), 'nx')).toBe(false);
    expect(has(parseCpuModel('max,-i64'), 'lm')).toBe(false);
    expect(has(parseCpuModel('qemu64,smep=yes,smap=true'), 'smap')).toBe(true);
    expect(has(parseCpuModel('max,smep=no'), 'smep')).toBe(false);
    expect(has(parseCpuModel('max,SMEP=false'), 'smep')).toBe(false);
    expect(has(parseCpuModel('max,-sse3'), 'pni')).toBe(false);
    expect(has(parseCpuModel('max,-sse4_1'), 'sse4.1')).toBe(false);
    expect(has(parseCpuModel('max,-sse4-2'), 'sse4.2')).toBe(false);
    expect(has(parseCpuModel('max,sse4.2=off'), 'sse4.2')).toBe(false);
  });

  it('follows la57 with the linear-address width (CPUID.80000008H:EAX[15:8])', () => {
    expect(INTEL_CORE.linearAddrBits).toBe(57);
    expect(parseCpuModel('max,-la57').linearAddrBits).toBe(48);
    expect(parseCpuModel('amd,+la57').linearAddrBits).toBe(57);
    expect(parseCpuModel('amd,-smep').linearAddrBits).toBe(48);
  });

  it('models qemu64 as QEMU does, less what hvkit lacks', () => {
    const m = parseCpuModel('qemu64');
    expect(m).toMatchObject({ vendor: 'amd', vendorString: 'AuthenticAMD', family: 15, model: 107, stepping: 1, physAddrBits: 40, linearAddrBits: 48 });
    const on = Object.keys(SDM).filter((n) => has(m, n)).sort();
    expect(on).toEqual(
      ['clflush', 'cmov', 'cx16', 'cx8', 'de', 'fpu', 'fxsr', 'lahf-lm', 'lm', 'mmx', 'msr', 'mtrr', 'nx', 'pae', 'pat', 'pge', 'pni', 'pse', 'pse36', 'sse', 'sse2', 'syscall', 'tsc', 'sep'].sort(),
    );
  });

  it.each([
    ['intel,+svm', "-cpu: svm: SVM is an AMD extension and 'intel' is a GenuineIntel model (use max, host, amd or qemu64; Intel's extension is vmx)"],
    ['intel,svm=on,-smep', "-cpu: svm: SVM is an AMD extension and 'intel' is a GenuineIntel model (use max, host, amd or qemu64; Intel's extension is vmx)"],
    ['max,+vmx,+svm', "-cpu: vmx and svm together: a CPU has one or the other (VT-x is Intel's extension, SVM is AMD's)"],
    ['amd,svm,vmx=on', "-cpu: vmx and svm together: a CPU has one or the other (VT-x is Intel's extension, SVM is AMD's)"],
    ['amd,+vmx', "-cpu: vmx: VT-x is an Intel extension and 'amd' is an AuthenticAMD model (use max, host or intel; AMD's extension is svm)"],
    ['qemu64,vmx=on', "-cpu: vmx: VT-x is an Intel extension and 'qemu64' is an AuthenticAMD model (use max, host or intel; AMD's extension is svm)"],
    ['max,-x2apic', '-cpu: x2apic cannot be turned off: hvkit reports it whenever the local APIC is present'],
    ['max,apic=off', '-cpu: apic cannot be turned off: hvkit reports it whenever the local APIC is present'],
    ['max,+pclmulqdq', "-cpu: feature 'pclmulqdq' is not implemented by hvkit yet"],
    ['max,-avx', "-cpu: feature 'avx' is not implemented by hvkit yet"],
    ['max,smep=maybe', "-cpu: 'smep=maybe': a feature is turned on or off with on, off, true, false, yes or no"],
    ['core2duo', "-cpu: unknown model 'core2duo' (hvkit has: max, host, intel, amd, qemu64)"],
    ['', "-cpu: unknown model '' (hvkit has: max, host, intel, amd, qemu64)"],
  ])('refuses -cpu %s', (spec, message) => {
    expect(() => parseCpuModel(spec)).toThrow(OptionError);
    expect(() => parseCpuModel(spec)).toThrow(message);
  });

  it('turns VT-x on with +vmx on any Intel model, leaving the model itself alone (the extension reports CPUID.1:ECX.VMX)', () => {
    for (const spec of ['max,+vmx', 'host,+vmx', 'intel,vmx=on', 'max,vmx', 'max,-vmx,+vmx']) {
      expect(parseCpuSpec(spec), spec).toEqual({ model: INTEL_CORE, virtualization: 'vmx' });
    }
    expect(parseCpuSpec('max,+vmx,-smep')).toMatchObject({ virtualization: 'vmx', model: { name: 'hvkit-intel,-smep' } });
    // Off, or turned off again (the last item wins): no extension.
    expect(parseCpuSpec('max')).toEqual({ model: INTEL_CORE });
    expect(parseCpuSpec('max,+vmx,-vmx')).toEqual({ model: INTEL_CORE });
    expect(parseCpuSpec('amd,-vmx')).toEqual({ model: AMD_ZEN });
    expect(parseCpuModel('max,+vmx')).toBe(INTEL_CORE);
  });

  it('turns SVM on with +svm on any AMD model; on max and host it picks the AMD model (SVM is AMD\'s)', () => {
    for (const spec of ['max,+svm', 'host,+svm', 'amd,svm=on', 'amd,+svm', 'max,svm', 'max,-svm,+svm', 'max,+vmx,-vmx,+svm']) {
      expect(parseCpuSpec(spec), spec).toEqual({ model: AMD_ZEN, virtualization: 'svm' });
    }
    expect(parseCpuModel('max,+svm')).toBe(AMD_ZEN);
    expect(AMD_ZEN.vendor).toBe('amd');
    // Feature items apply to the AMD model the extension chose, whatever their order.
    expect(parseCpuSpec('max,-smep,+svm')).toMatchObject({ virtualization: 'svm', model: { name: 'hvkit-amd,-smep', vendor: 'amd' } });
    expect(parseCpuSpec('qemu64,+svm')).toMatchObject({ virtualization: 'svm', model: { name: 'qemu64' } });
    // Turned off again: no extension, and max stays Intel.
    expect(parseCpuSpec('max,+svm,-svm')).toEqual({ model: INTEL_CORE });
    expect(parseCpuSpec('amd,-svm')).toEqual({ model: AMD_ZEN });
  });

  it('lists vmx and svm in -cpu help', () => {
    expect(cpuHelp()).toMatch(/ vmx\b/);
    expect(cpuHelp()).toMatch(/ svm\b/);
    expect(cpuHelp()).toContain('vmx gives the cores Intel VT-x (Intel models: max,+vmx); svm gives them AMD SVM (AMD models: amd,+svm;\nmax,+svm and host,+svm pick the AMD model). A CPU has one or the other.');
  });

  it('refuses an unknown feature, listing the known ones', () => {
    expect(() => parseCpuModel('max,+warp')).toThrow(`-cpu: unknown feature 'warp' (hvkit has: ${cpuFeatureNames().join(', ')})`);
    expect(cpuFeatureNames()).toContain('smep');
    expect(cpuFeatureNames()).toContain('x2apic');
  });
});

/** Runs a tiny ELF guest under hvkit-system-x86_64 with `-cpu spec`; returns the exit status. */
async function runTiny(code: number[], cpu: string, name: string): Promise<number> {
  const kernel = scratchFile(`${name}.elf`, elf32(Uint8Array.from(code)));
  const io = capture();
  const status = await systemMain([...DEBUG_EXIT, '-no-reboot', '-m', '16', '-cpu', cpu, '-kernel', kernel], io, { signals: false });
  expect(io.stderr()).toBe('');
  return status;
}

/** CPUID(leaf, 0), then bit `bit` of register `reg` to isa-debug-exit: status 3 if set, 1 if clear. */
function cpuidBit(leaf: number, reg: 'ebx' | 'ecx' | 'edx', bit: number): number[] {
  const movEaxReg = { ebx: [0x89, 0xd8], ecx: [0x89, 0xc8], edx: [0x89, 0xd0] }[reg];
  return [0xb8, ...u32(leaf), 0x31, 0xc9, 0x0f, 0xa2, ...movEaxReg, 0xc1, 0xe8, bit, 0x83, 0xe0, 0x01, ...EXIT_AL];
}

/**
 * MOV to CR4 with bit `bit` set, then exit with 1 (status 3). Without the feature the bit is
 * reserved: #GP, and with no IDT a triple fault, which -no-reboot turns into status 0
 * (SDM Vol. 3 §2.5 "CR4", Vol. 2B "MOV—Move to/from Control Registers": #GP(0) for a
 * reserved CR4 bit).
 */
function setCr4Bit(bit: number): number[] {
  return [0x0f, 0x20, 0xe0, 0x0d, ...u32(1 << bit), 0x0f, 0x22, 0xe0, ...exitWith(1)];
}

describe('-cpu in a running guest', () => {
  it.each([
    ['smep', 7, 'ebx', 7],
    ['la57', 7, 'ecx', 16],
    ['pcid', 1, 'ecx', 17],
    ['rdrand', 1, 'ecx', 30],
    ['nx', 0x80000001, 'edx', 20],
    ['rdtscp', 0x80000001, 'edx', 27],
    ['xsave', 1, 'ecx', 26],
    ['ssse3', 1, 'ecx', 9],
  ] as const)('CPUID shows %s when the model has it, and not after -%s', async (name, leaf, reg, bit) => {
    expect(await runTiny(cpuidBit(leaf, reg, bit), 'max', `cpuid-${name}-on`)).toBe(3);
    expect(await runTiny(cpuidBit(leaf, reg, bit), `max,-${name}`, `cpuid-${name}-off`)).toBe(1);
    expect(await runTiny(cpuidBit(leaf, reg, bit), `qemu64,+${name}`, `cpuid-${name}-qemu64`)).toBe(3);
  });

  it.each([
    ['smep', 20],
    ['smap', 21],
    ['umip', 11],
    ['fsgsbase', 16],
    ['la57', 12],
    ['xsave', 18], // CR4.OSXSAVE
  ])('CR4 takes the %s bit only when the model has the feature', async (name, bit) => {
    expect(await runTiny(setCr4Bit(bit), 'max', `cr4-${name}-on`)).toBe(3);
    expect(await runTiny(setCr4Bit(bit), `max,-${name}`, `cr4-${name}-off`)).toBe(0);
    expect(await runTiny(setCr4Bit(bit), 'qemu64', `cr4-${name}-qemu64`)).toBe(0);
    expect(await runTiny(setCr4Bit(bit), `qemu64,+${name}`, `cr4-${name}-qemu64-on`)).toBe(3);
  });

  it('-cpu max,+vmx: CPUID.1:ECX.VMX[bit 5] = 1 (SDM Vol. 3C §23.6 "Discovering Support for VMX"), 0 without +vmx', async () => {
    expect(await runTiny(cpuidBit(1, 'ecx', 5), 'max,+vmx', 'cpuid-vmx-on')).toBe(3);
    expect(await runTiny(cpuidBit(1, 'ecx', 5), 'max', 'cpuid-vmx-off')).toBe(1);
  });

  it('-cpu max,+svm: CPUID.80000001H:ECX.SVM[bit 2] = 1 and the vendor is AMD (APM Vol. 2 §15.4 "Enabling SVM"); 0 on amd without +svm', async () => {
    expect(await runTiny(cpuidBit(0x80000001, 'ecx', 2), 'max,+svm', 'cpuid-svm-on')).toBe(3);
    expect(await runTiny(cpuidBit(0x80000001, 'ecx', 2), 'amd', 'cpuid-svm-off')).toBe(1);
    // CPUID.0:ECX = "cAMD" (the last four characters of AuthenticAMD): its bit 0 ('c' = 63h) is set, Intel's "ntel" ('n' = 6Eh) has it clear.
    expect(await runTiny(cpuidBit(0, 'ecx', 0), 'max,+svm', 'cpuid-svm-vendor')).toBe(3);
    expect(await runTiny(cpuidBit(0, 'ecx', 0), 'max', 'cpuid-intel-vendor')).toBe(1);
  });

  it('-cpu max,+vmx: the board, as firmware, leaves IA32_FEATURE_CONTROL = 5 (locked, VMX outside SMX enabled)', async () => {
    // mov ecx, 3AH; rdmsr; out 0xf4, al: status = (EAX << 1) | 1.
    const code = [0xb9, ...u32(0x3a), 0x0f, 0x32, ...EXIT_AL];
    expect(await runTiny(code, 'max,+vmx', 'featctl-vmx')).toBe((5 << 1) | 1);
    expect(await runTiny(code, 'max', 'featctl-novmx')).toBe(1);
  });

  it('reports 48 linear-address bits after -la57 (CPUID.80000008H:EAX[15:8])', async () => {
    // mov eax, 0x80000008; cpuid; shr eax, 8; out 0xf4, al: status = (width << 1) | 1.
    const code = [0xb8, ...u32(0x80000008), 0x0f, 0xa2, 0xc1, 0xe8, 0x08, ...EXIT_AL];
    expect(await runTiny(code, 'max', 'la-57')).toBe(((57 << 1) | 1) & 0xff);
    expect(await runTiny(code, 'max,-la57', 'la-48')).toBe((48 << 1) | 1);
  });

  it('raises #UD for RDTSCP after -rdtscp, and INVPCID after -invpcid', async () => {
    const rdtscp = asm(ELF_CODE, [[0x0f, 0x01, 0xf9], exitWith(1)]);
    expect(await runTiny([...rdtscp], 'max', 'rdtscp-on')).toBe(3);
    expect(await runTiny([...rdtscp], 'max,-rdtscp', 'rdtscp-off')).toBe(0);
    // INVPCID type 2 (all contexts, with globals) from a 16-byte descriptor at [eax].
    const invpcid = asm(ELF_CODE, [[0xb8], { abs32: 'desc' }, [0xba, ...u32(2), 0x66, 0x0f, 0x38, 0x82, 0x10], exitWith(1), { label: 'desc' }, new Array<number>(16).fill(0)]);
    expect(await runTiny([...invpcid], 'max', 'invpcid-on')).toBe(3);
    expect(await runTiny([...invpcid], 'max,-invpcid', 'invpcid-off')).toBe(0);
  });

  it('CPUID shows mmxext on the AMD model, and not after -mmxext', async () => {
    expect(await runTiny(cpuidBit(0x80000001, 'edx', 22), 'amd', 'cpuid-mmxext-on')).toBe(3);
    expect(await runTiny(cpuidBit(0x80000001, 'edx', 22), 'amd,-mmxext', 'cpuid-mmxext-off')).toBe(1);
    expect(await runTiny(cpuidBit(0x80000001, 'edx', 22), 'max', 'cpuid-mmxext-intel')).toBe(1);
  });

  it('raises #UD for FXSAVE after -fxsr, and XGETBV after -xsave', async () => {
    // fxsave [0x200000] (16-byte aligned, in RAM)
    const fxsave = [0x0f, 0xae, 0x05, ...u32(0x200000), ...exitWith(1)];
    expect(await runTiny(fxsave, 'max', 'fxsave-on')).toBe(3);
    expect(await runTiny(fxsave, 'max,-fxsr', 'fxsave-off')).toBe(0);
    // mov eax, cr4; or eax, OSXSAVE; mov cr4, eax; xor ecx, ecx; xgetbv; out 0xf4, al (XCR0 = 1: status 3).
    const xgetbv = [0x0f, 0x20, 0xe0, 0x0d, ...u32(1 << 18), 0x0f, 0x22, 0xe0, 0x31, 0xc9, 0x0f, 0x01, 0xd0, ...EXIT_AL];
    expect(await runTiny(xgetbv, 'max', 'xgetbv-on')).toBe(3);
    expect(await runTiny(xgetbv, 'max,-xsave', 'xgetbv-off')).toBe(0);
  });

  it.each([
    ['lm', 8], // EFER.LME
    ['nx', 11], // EFER.NXE
    ['syscall', 0], // EFER.SCE
  ])('WRMSR to IA32_EFER takes the bit of %s only when the model has it', async (name, bit) => {
    // mov ecx, 0xC0000080; rdmsr; or eax, 1 << bit; wrmsr: #GP for a reserved EFER bit (SDM Vol. 4, IA32_EFER; Vol. 2B WRMSR).
    const code = [0xb9, ...u32(0xc0000080), 0x0f, 0x32, 0x0d, ...u32(1 << bit), 0x0f, 0x30, ...exitWith(1)];
    expect(await runTiny(code, 'max', `efer-${name}-on`)).toBe(3);
    expect(await runTiny(code, `max,-${name}`, `efer-${name}-off`)).toBe(0);
  });

  it.skipIf(!toolchainAvailable())('keeps a 64-bit guest out of long mode after -lm', async () => {
    const guest = await buildGuest('smoke64');
    const io = capture();
    expect(await systemMain([...DEBUG_EXIT, '-no-reboot', '-m', '32', '-kernel', guest.path], io, { signals: false })).toBe(1);
    expect(io.stdout()).toContain('PASS smoke64');
    // The boot stub checks CPUID.80000001H:EDX.LM, finds it clear and gives up with 2: status 5.
    const io2 = capture();
    expect(await systemMain([...DEBUG_EXIT, '-no-reboot', '-m', '32', '-cpu', 'max,-lm', '-kernel', guest.path], io2, { signals: false })).toBe(5);
    expect(io2.stdout()).not.toContain('PASS');
  }, 30_000);
});
