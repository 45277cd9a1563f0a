import { VmxCpu } from '@hvkit/vmx';
import { AMD_ZEN, INTEL_CORE, type Cpu } from '@hvkit/x86';
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

  it('refuses an AMD model (VT-x is Intel; AMD has SVM) and SVM, with clear messages', () => {
    expect(() => createPc({ cpuModel: AMD_ZEN, virtualization: 'vmx' })).toThrow(PcConfigurationError);
    expect(() => createPc({ cpuModel: AMD_ZEN, virtualization: 'vmx' })).toThrow(/needs an Intel CPU model/);
    expect(() => createPc({ cpuModel: INTEL_CORE, virtualization: 'svm' })).toThrow('SVM is not implemented yet');
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

  it('refuses AMD models and SVM', () => {
    expect(() => new MinimalBoard({ model: AMD_ZEN, virtualization: 'vmx' })).toThrow(/needs an Intel CPU model/);
    expect(() => new MinimalBoard({ virtualization: 'svm' })).toThrow('SVM is not implemented yet');
  });
});
