import { createHash } from 'node:crypto';
import { DeviceExclusionVector } from '@hvkit/iommu';
import { DEFAULT_SVM_FEATURES, SvmCpu } from '@hvkit/svm';
import { VmxCpu } from '@hvkit/vmx';
import { AMD_ZEN, Efer, INTEL_CORE, type Cpu } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { MinimalBoard } from './board.js';
import { createPc, PcConfigurationError } from './pc.js';

/** `mov ecx, 3AH; rdmsr; hlt`: IA32_FEATURE_CONTROL into EDX:EAX, as the guest sees it. */
const READ_FEATURE_CONTROL = Uint8Array.from([0xb9, 0x3a, 0x00, 0x00, 0x00, 0x0f, 0x32, 0xf4]);

function vmxOf(cpu: Cpu): VmxCpu {
  const ext = cpu.ext;
  if (!(ext instanceof VmxCpu)) throw new Error('no VmxCpu attached');
  return ext;
}

describe("createPc({ virtualization: 'vmx' })", () => {
  it('gives every core its own VmxCpu, attached before the first instruction', () => {
    const pc = createPc({ cpus: 2, virtualization: 'vmx' });
    const [a, b] = [vmxOf(pc.cpus[0]!), vmxOf(pc.cpus[1]!)];
    expect(a).not.toBe(b);
    expect(a.cpu).toBe(pc.cpus[0]);
    expect(b.cpu).toBe(pc.cpus[1]);
    expect(a.inVmx).toBe(false);
    expect(pc.cpus[0]!.guestMode).toBe(false);
  });

  it('has no extension without the option', () => {
    const pc = createPc();
    expect(pc.cpu.ext).toBeNull();
    expect(pc.cpu.featureControlLo).toBe(0);
  });

  it('plays firmware: IA32_FEATURE_CONTROL reads 5 (locked, VMX outside SMX enabled; SDM Vol. 3C §23.7)', () => {
    const pc = createPc({ virtualization: 'vmx', devices: [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }] });
    for (const cpu of pc.cpus) expect(cpu.featureControlLo).toBe(5);
    pc.bootFlat(READ_FEATURE_CONTROL, 0x10_0000);
    expect(pc.cpu.featureControlLo).toBe(5);
    pc.run(100);
    expect(pc.cpu.gpr[0]).toBe(5); // EAX
    expect(pc.cpu.gpr[2]).toBe(0); // EDX
  });

  it('with a BIOS, hands the same value to it in fw_cfg etc/msr_feature_control (SeaBIOS writes it into the MSR)', () => {
    const bios = new Uint8Array(0x1_0000).fill(0xf4);
    const pc = createPc({ virtualization: 'vmx', bios });
    const key = pc.fwCfg.fileSelector('etc/msr_feature_control');
    expect(key).toBeDefined();
    pc.io.write(0x510, 2, key!);
    const bytes = Array.from({ length: 8 }, () => pc.io.read(0x511, 1));
    expect(bytes).toEqual([5, 0, 0, 0, 0, 0, 0, 0]);
    expect(createPc({ bios }).fwCfg.fileSelector('etc/msr_feature_control')).toBeUndefined();
  });

  it('refuses an AMD model (VT-x is Intel; AMD has SVM), with a clear message', () => {
    expect(() => createPc({ cpuModel: AMD_ZEN, virtualization: 'vmx' })).toThrow(PcConfigurationError);
    expect(() => createPc({ cpuModel: AMD_ZEN, virtualization: 'vmx' })).toThrow(/needs an Intel CPU model/);
  });

  it('refuses to snapshot a core in VMX operation, saves one outside it, and restores out of VMX operation', () => {
    const pc = createPc({ virtualization: 'vmx' });
    const vmx = vmxOf(pc.cpu);
    vmx.inVmx = true;
    expect(() => pc.saveState()).toThrow(/VMX operation/);
    vmx.inVmx = false;
    const snap = pc.saveState();
    expect(snap.config.virtualization).toBe('vmx');
    vmx.inVmx = true;
    pc.restoreState(snap);
    expect(vmxOf(pc.cpu).inVmx).toBe(false);
    expect(pc.cpu.featureControlLo).toBe(5);
    // Not into a machine without VT-x: a different machine.
    expect(() => createPc().restoreState(snap)).toThrow(/different machine/);
    // Snapshots of machines without VT-x keep their old configuration key.
    expect(createPc().saveState().config).not.toHaveProperty('virtualization');
  });

  it('RESET (power-on again) leaves VMX operation', () => {
    const pc = createPc({ virtualization: 'vmx' });
    vmxOf(pc.cpu).inVmx = true;
    pc.powerOn();
    expect(vmxOf(pc.cpu).inVmx).toBe(false);
  });
});

describe("MinimalBoard({ virtualization: 'vmx' })", () => {
  it('attaches a VmxCpu and leaves IA32_FEATURE_CONTROL at 5 (locked, VMX outside SMX)', () => {
    const board = new MinimalBoard({ virtualization: 'vmx' });
    expect(vmxOf(board.cpu).cpu).toBe(board.cpu);
    expect(board.cpu.featureControlLo).toBe(5);
  });

  it('refuses AMD models', () => {
    expect(() => new MinimalBoard({ model: AMD_ZEN, virtualization: 'vmx' })).toThrow(/needs an Intel CPU model/);
  });
});

function svmOf(cpu: Cpu): SvmCpu {
  const ext = cpu.ext;
  if (!(ext instanceof SvmCpu)) throw new Error('no SvmCpu attached');
  return ext;
}

/**
 * `mov ecx, C0000080h; rdmsr; or eax, 1000h; wrmsr; hlt`: sets EFER.SVME (bit 12), which WRMSR
 * accepts only on a processor with SVM (APM Vol. 2 §15.4; #GP otherwise).
 */
const SET_SVME = Uint8Array.from([0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x30, 0xf4]);

describe("createPc({ virtualization: 'svm' })", () => {
  it('gives every core its own SvmCpu, attached before the first instruction, as after RESET (GIF = 1, EFER.SVME = 0)', () => {
    const pc = createPc({ cpus: 2, cpuModel: AMD_ZEN, virtualization: 'svm' });
    const [a, b] = [svmOf(pc.cpus[0]!), svmOf(pc.cpus[1]!)];
    expect(a).not.toBe(b);
    expect(a.cpu).toBe(pc.cpus[0]);
    expect(b.cpu).toBe(pc.cpus[1]);
    expect(pc.svm(1)).toBe(b);
    expect(a.features).toBe(DEFAULT_SVM_FEATURES);
    for (const cpu of pc.cpus) {
      expect(cpu.guestMode).toBe(false);
      expect(cpu.gif).toBe(true);
      expect(cpu.efer & Efer.SVME).toBe(0);
    }
    expect(a.vmCr).toBe(0);
    expect(a.hsavePa).toBe(0);
    // No IA32_FEATURE_CONTROL business on AMD.
    expect(pc.cpu.featureControlLo).toBe(0);
    expect(createPc({ cpuModel: AMD_ZEN }).svm()).toBeNull();
  });

  it('lets the guest set EFER.SVME (without SVM the same WRMSR raises #GP)', () => {
    const run = (virtualization?: 'svm'): Cpu => {
      const pc = createPc({ cpuModel: AMD_ZEN, ...(virtualization ? { virtualization } : {}) });
      pc.bootFlat(SET_SVME, 0x10_0000);
      pc.run(100);
      return pc.cpu;
    };
    const withSvm = run('svm');
    expect(withSvm.efer & Efer.SVME).toBe(Efer.SVME);
    expect(withSvm.halted).toBe(true);
    // Without SVM: #GP(0) with no IDT -> triple fault, and EFER.SVME stays clear.
    const without = run();
    expect(without.efer & Efer.SVME).toBe(0);
  });

  it('takes its SVM features from svmFeatures', () => {
    const features = { ...DEFAULT_SVM_FEATURES, nasid: 8 };
    const pc = createPc({ cpuModel: AMD_ZEN, virtualization: 'svm', svmFeatures: features });
    expect(svmOf(pc.cpu).features).toBe(features);
  });

  it('refuses an Intel model (SVM is AMD; Intel has VT-x), with a clear message', () => {
    expect(() => createPc({ cpuModel: INTEL_CORE, virtualization: 'svm' })).toThrow(PcConfigurationError);
    expect(() => createPc({ virtualization: 'svm' })).toThrow(/AMD SVM \(virtualization: 'svm'\) needs an AMD CPU model; hvkit-intel is GenuineIntel/);
    expect(() => createPc({ cpuModel: AMD_ZEN, virtualization: 'bogus' as never })).toThrow(/unknown virtualization "bogus" \(hvkit has: vmx, svm\)/);
  });

  it('refuses to snapshot a core in guest mode, with GIF clear or with EFER.SVME set; keeps VM_CR and VM_HSAVE_PA', () => {
    const pc = createPc({ cpuModel: AMD_ZEN, virtualization: 'svm' });
    const cpu = pc.cpu;
    cpu.efer |= Efer.SVME;
    expect(() => pc.saveState()).toThrow(/CPU 0 has EFER.SVME set/);
    cpu.efer &= ~Efer.SVME;
    cpu.gif = false;
    expect(() => pc.saveState()).toThrow(/CPU 0 has GIF clear/);
    cpu.gif = true;
    cpu.guestMode = true;
    expect(() => pc.saveState()).toThrow(/CPU 0 is in SVM guest mode/);
    cpu.guestMode = false;
    svmOf(cpu).vmCr = 0x18; // LOCK | SVMDIS, as firmware that disables SVM leaves it
    svmOf(cpu).hsavePa = 0x7_f000;
    const snap = pc.saveState();
    expect(snap.config.virtualization).toBe('svm');
    expect(snap.svm).toEqual([{ vmCr: 0x18, hsavePa: 0x7_f000 }]);
    const old = svmOf(cpu);
    pc.restoreState(structuredClone(snap));
    const now = svmOf(pc.cpu);
    expect(now).not.toBe(old);
    expect(now.vmCr).toBe(0x18);
    expect(now.hsavePa).toBe(0x7_f000);
    expect(() => createPc({ cpuModel: AMD_ZEN }).restoreState(snap)).toThrow(/different machine/);
  });

  it('RESET (power-on again) brings SVM back to its reset state', () => {
    const pc = createPc({ cpuModel: AMD_ZEN, virtualization: 'svm' });
    const old = svmOf(pc.cpu);
    old.hsavePa = 0x1000;
    pc.cpu.gif = false;
    pc.powerOn();
    expect(svmOf(pc.cpu)).not.toBe(old);
    expect(svmOf(pc.cpu).hsavePa).toBe(0);
    expect(pc.cpu.gif).toBe(true);
  });

  it('exposes the SKINIT log of every core (empty until SKINIT runs; empty without SVM)', () => {
    const pc = createPc({ cpus: 2, cpuModel: AMD_ZEN, virtualization: 'svm' });
    expect(pc.skinitLog()).toEqual([]);
    const record = { slb: 0x10_0000, length: 0x100, sha1: '0'.repeat(40), entry: 0x10_0010, devProtected: true };
    svmOf(pc.cpus[1]!).skinitLog.push(record);
    expect(pc.skinitLog()).toEqual([record]);
    expect(createPc().skinitLog()).toEqual([]);
  });
});

/** The secure loader block of the SKINIT test: at 2 MiB (64 KiB aligned, APM Vol. 2 §15.27.3). */
const SLB = 0x20_0000;
/** SL header (§15.27.2): entry offset 4, image length 8; at the entry, `hlt`. */
const SL_IMAGE = Uint8Array.from([0x04, 0x00, 0x08, 0x00, 0xf4, 0x90, 0x90, 0x90]);
/** Sets EFER.SVME, then `mov eax, SLB; skinit` (0F 01 DE). */
const RUN_SKINIT = Uint8Array.from([...SET_SVME.subarray(0, SET_SVME.length - 1), 0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0x01, 0xde]);

describe("createPc({ virtualization: 'svm' }): the Device Exclusion Vector", () => {
  it('gives every core the one DEV, covering all of RAM; none without SVM', () => {
    const pc = createPc({ cpus: 2, cpuModel: AMD_ZEN, virtualization: 'svm' });
    expect(pc.dev).toBeInstanceOf(DeviceExclusionVector);
    expect(svmOf(pc.cpus[0]!).dev).toBe(pc.dev);
    expect(svmOf(pc.cpus[1]!).dev).toBe(pc.dev);
    expect(pc.dev!.coverage).toBe(2 ** 32);
    // 5 GiB of RAM: 3.5 GiB+ splits at 3 GiB, so RAM reaches 6 GiB: the DEV covers 8 GiB (4 GiB << 1).
    expect(createPc({ memoryMiB: 5 * 1024, cpuModel: AMD_ZEN, virtualization: 'svm' }).dev!.coverage).toBe(2 ** 33);
    expect(createPc({ cpuModel: AMD_ZEN }).dev).toBeNull();
  });

  it('checks device DMA against it: a protected page reads all ones and ignores writes (§15.24.3); the CPU is not checked', () => {
    const pc = createPc({ cpuModel: AMD_ZEN, virtualization: 'svm' });
    const dma = pc.dmaSpace(0x10);
    pc.memory.write32(0x30_0000 as never, 0x1234_5678);
    pc.memory.write32(0x30_1000 as never, 0x9abc_def0);
    pc.dev!.protect(0x30_0000, 0x1000);
    expect(dma.read32(0x30_0000 as never)).toBe(-1);
    expect(dma.write32(0x30_0000 as never, 0)).toBe(1); // DmaStatus.Blocked
    expect(pc.memory.read32(0x30_0000 as never)).toBe(0x1234_5678);
    expect(dma.read32(0x30_1000 as never) >>> 0).toBe(0x9abc_def0);
    expect(pc.dev!.blockedCount).toBe(2);
    // Without SVM: DMA reaches memory directly.
    const plain = createPc({ cpuModel: AMD_ZEN });
    plain.memory.write32(0x30_0000 as never, 7);
    expect(plain.dmaSpace().read32(0x30_0000 as never)).toBe(7);
  });

  it('SKINIT protects the 64 KiB SLB in the DEV, logs the SL measurement and enters the SL (§15.27); RESET clears the DEV', () => {
    const pc = createPc({ cpuModel: AMD_ZEN, virtualization: 'svm' });
    pc.memory.write(SLB as never, SL_IMAGE);
    pc.bootFlat(RUN_SKINIT, 0x10_0000);
    pc.run(1000);
    const cpu = pc.cpu;
    expect(cpu.halted).toBe(true);
    expect(cpu.ripLo).toBe(SLB + 5); // after the `hlt` at SLB + 4
    expect(cpu.gif).toBe(false);
    expect(pc.skinitLog()).toEqual([{ slb: SLB, length: 8, sha1: createHash('sha1').update(SL_IMAGE).digest('hex'), entry: SLB + 4, devProtected: true }]);
    const dev = pc.dev!;
    expect(dev.isProtected(SLB)).toBe(true);
    expect(dev.isProtected(SLB + 0xffff)).toBe(true);
    expect(dev.isProtected(SLB + 0x1_0000)).toBe(false);
    expect(dev.isProtected(SLB - 1)).toBe(false);
    expect(pc.dmaSpace().read32(SLB as never)).toBe(-1);
    // A snapshot refuses GIF = 0; after STGI's effect it keeps the DEV bits.
    expect(() => pc.saveState()).toThrow(/GIF clear/);
    cpu.gif = true;
    const snap = pc.saveState();
    // Page frames 200h-20Fh: bits 0-15 of word 10h (one bit per 4 KiB page, §15.24.2).
    expect(snap.dev).toEqual([0x10, 0xffff]);
    pc.powerOn();
    expect(dev.isProtected(SLB)).toBe(false);
    expect(pc.skinitLog()).toEqual([]);
    pc.restoreState(snap);
    expect(dev.isProtected(SLB)).toBe(true);
    expect(dev.isProtected(SLB + 0x1_0000)).toBe(false);
  });
});

describe("MinimalBoard({ virtualization: 'svm' })", () => {
  it('attaches an SvmCpu and exposes its SKINIT log', () => {
    const board = new MinimalBoard({ model: AMD_ZEN, virtualization: 'svm' });
    const svm = svmOf(board.cpu);
    expect(svm.cpu).toBe(board.cpu);
    expect(board.svm).toBe(svm);
    expect(board.skinitLog()).toBe(svm.skinitLog);
    expect(board.cpu.featureControlLo).toBe(0);
    expect(board.dev).toBeInstanceOf(DeviceExclusionVector);
    expect(svm.dev).toBe(board.dev);
    expect(new MinimalBoard({ model: AMD_ZEN }).svm).toBeNull();
    expect(new MinimalBoard({ model: AMD_ZEN }).dev).toBeNull();
  });

  it('refuses Intel models', () => {
    expect(() => new MinimalBoard({ virtualization: 'svm' })).toThrow(/needs an AMD CPU model/);
  });
});
