/**
 * Virtualization of the TPR through the APIC-access page (SDM Vol. 3C §29.4 "Virtualizing
 * Memory-Mapped APIC Accesses" with "use TPR shadow" = 1 and "APIC-register virtualization" =
 * "virtual-interrupt delivery" = 0): real guest MOV instructions in VMX non-root operation
 * (`nonRootEnter`, the core's run loop, the real `boundary` and `vmExit`) against the virtual-APIC
 * page, the TPR-below-threshold exit of APIC-write emulation (§29.4.3.2, §29.1.2) and the
 * APIC-access exits (Table 27-6) of the accesses that are not virtualized.
 */
import { Reg, StopReason } from '@hvkit/x86';
import { beforeEach, describe, expect, it } from 'vitest';
import { Proc2Ctl, ProcCtl, VmxExitReason } from './constants.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { nonRootEnter } from './nonroot.js';
import { CODE, PT_ROOT, VmxMachine } from './test-harness.js';
import { HOST_RIP, validControls, validHost64, withEpt, withSecondary } from './vmcs-fixture.js';

const VMCS_AT = 0x100000;
const APIC_PAGE = 0x53000;
const VAPIC = 0x54000;
/** What the APIC-access page itself holds at 080H: never what a virtualized access sees. */
const UNDER = 0xdeadbeef;

let m: VmxMachine;
let vmcs: Vmcs;
let exits: number;

const get = (f: number): number => vmcs.get(f) >>> 0;
const HLT = 0xf4;
/** The 4 displacement bytes of `a`. */
const d32 = (a: number): number[] => [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
/** mov eax, [disp32] (7 bytes) */
const load32 = (a: number): number[] => [0x8b, 0x04, 0x25, ...d32(a)];
/** mov rax, [disp32] (8 bytes) */
const load64 = (a: number): number[] => [0x48, 0x8b, 0x04, 0x25, ...d32(a)];
/** mov al, [disp32] */
const load8 = (a: number): number[] => [0x8a, 0x04, 0x25, ...d32(a)];
/** mov dword [disp32], imm32 (11 bytes) */
const store32 = (a: number, v: number): number[] => [0xc7, 0x04, 0x25, ...d32(a), ...d32(v)];
/** mov word [disp32], imm16 */
const store16 = (a: number, v: number): number[] => [0x66, 0xc7, 0x04, 0x25, ...d32(a), v & 0xff, (v >>> 8) & 0xff];
/** mov byte [disp32], imm8 */
const store8 = (a: number, v: number): number[] => [0xc6, 0x04, 0x25, ...d32(a), v & 0xff];

beforeEach(() => {
  m = new VmxMachine().long64().enableVmx();
  vmcs = new Vmcs();
  vmcs.address = VMCS_AT;
  m.region(VMCS_AT);
  m.vmx.inVmx = true;
  m.vmx.current = vmcs;
  validControls(vmcs, m.vmx.caps);
  validHost64(vmcs);
  vmcs.set(F.CpuBasedVmExecControl, vmcs.get(F.CpuBasedVmExecControl) | ProcCtl.UseTprShadow);
  withSecondary(vmcs, Proc2Ctl.VirtualizeApicAccesses);
  vmcs.set64(F.ApicAccessAddress, APIC_PAGE);
  vmcs.set64(F.VirtualApicAddress, VAPIC);
  vmcs.set(F.TprThreshold, 3);
  m.fill(APIC_PAGE, 4096);
  m.fill(VAPIC, 4096);
  m.w32(APIC_PAGE + 0x80, UNDER);
  m.w32(VAPIC + 0x80, 0x40);
  m.bytes(HOST_RIP, [HLT]); // the host halts after the exit
  exits = 0;
  m.vmx.onExit = () => {
    exits++;
  };
});

/** Enters non-root operation at CODE with the current VMCS (the controls part of VM entry). */
function enterGuest(code: number[]): void {
  m.code(code);
  m.cpu.guestMode = true;
  nonRootEnter(m.vmx, m.cpu);
}

function run(): StopReason {
  return m.cpu.run(1000);
}

function expectNoExit(): void {
  expect(m.fault).toBe(null);
  expect(exits).toBe(0);
  expect(m.cpu.guestMode).toBe(true);
  expect(m.cpu.halted).toBe(true);
}

function expectExit(reason: number, qualification: number, guestRip: number): void {
  expect(exits).toBe(1);
  expect(get(F.VmExitReason)).toBe(reason);
  expect(get(F.ExitQualification)).toBe(qualification);
  expect(get(F.GuestRip)).toBe(guestRip);
  expect(m.cpu.guestMode).toBe(false);
  expect(m.cpu.ripLo).toBe(HOST_RIP + 1); // the host's HLT ran
}

describe('virtualized reads (§29.4.2)', () => {
  it('a 32-bit read at 080H returns the 4 bytes at 080H of the virtual-APIC page, without a VM exit', () => {
    m.w32(VAPIC + 0x80, 0x12345650);
    enterGuest([...load32(APIC_PAGE + 0x80), HLT]);
    expect(run()).toBe(StopReason.Halt);
    expectNoExit();
    expect(m.cpu.gpr[Reg.RAX]! >>> 0).toBe(0x12345650);
  });

  it('an 8-bit read at 080H is virtualized too (page offset 080H, within the low 4 bytes of its 16-byte region)', () => {
    m.w32(VAPIC + 0x80, 0x77);
    enterGuest([0x31, 0xc0, ...load8(APIC_PAGE + 0x80), HLT]); // xor eax, eax; mov al, [..]
    run();
    expectNoExit();
    expect(m.cpu.gpr[Reg.RAX]).toBe(0x77);
  });

  it('the page is never cached: a read at 080H, then one at 0F0H exits (offset 0F0H, linear read)', () => {
    const second = 7;
    enterGuest([...load32(APIC_PAGE + 0x80), ...load32(APIC_PAGE + 0xf0), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x0f0, CODE + second);
    expect(m.cpu.gpr[Reg.RAX]).toBe(0x40); // the first read completed from VTPR (VM exits leave RAX alone)
  });

  it('a read at 081H (page offset not 080H) exits: qualification 081H', () => {
    enterGuest([...load8(APIC_PAGE + 0x81), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x081, CODE);
  });

  it('a 64-bit read at 080H (more than 32 bits) exits', () => {
    enterGuest([...load64(APIC_PAGE + 0x80), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x080, CODE);
  });

  it('an instruction fetch at 080H exits: access type 2', () => {
    enterGuest([0xb8, ...d32(APIC_PAGE + 0x80), 0xff, 0xe0]); // mov eax, imm32; jmp rax
    run();
    expectExit(VmxExitReason.ApicAccess, 0x2080, APIC_PAGE + 0x80);
  });

  it('with "use TPR shadow" = 0 every access exits, 080H included', () => {
    vmcs.set(F.CpuBasedVmExecControl, vmcs.get(F.CpuBasedVmExecControl) & ~ProcCtl.UseTprShadow);
    enterGuest([...load32(APIC_PAGE + 0x80), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x080, CODE);
  });
});

describe('virtualized writes and APIC-write emulation (§29.4.3, §29.1.2)', () => {
  it('a 32-bit write at 080H goes to the virtual-APIC page; emulation clears VTPR bytes 3:1; no exit at or above the threshold', () => {
    enterGuest([...store32(APIC_PAGE + 0x80, 0x12345630), HLT]);
    run();
    expectNoExit();
    expect(m.r32(VAPIC + 0x80)).toBe(0x30);
    expect(m.r32(APIC_PAGE + 0x80)).toBe(UNDER);
  });

  it('VTPR[7:4] below the TPR threshold: a trap-like TPR-below-threshold VM exit (43), RIP at the next instruction', () => {
    vmcs.set(F.TprThreshold, 5);
    m.w32(VAPIC + 0x80, 0x60);
    enterGuest([...store32(APIC_PAGE + 0x80, 0xaaaaaa20), HLT]);
    run();
    expectExit(VmxExitReason.TprBelowThreshold, 0, CODE + 11);
    expect(m.r32(VAPIC + 0x80)).toBe(0x20);
  });

  it('VTPR[7:4] equal to the threshold is not below it', () => {
    vmcs.set(F.TprThreshold, 5);
    m.w32(VAPIC + 0x80, 0x60);
    enterGuest([...store32(APIC_PAGE + 0x80, 0x5f), HLT]);
    run();
    expectNoExit();
    expect(m.r32(VAPIC + 0x80)).toBe(0x5f);
  });

  it('8- and 16-bit writes at 080H are virtualized: the bytes written, then bytes 3:1 cleared', () => {
    m.w32(VAPIC + 0x80, 0xffffff70);
    enterGuest([...store8(APIC_PAGE + 0x80, 0x41), HLT]);
    run();
    expectNoExit();
    expect(m.r32(VAPIC + 0x80)).toBe(0x41);

    m.w32(VAPIC + 0x80, 0xffffff70);
    exits = 0;
    enterGuest([...store16(APIC_PAGE + 0x80, 0x9952), HLT]);
    m.cpu.halted = false;
    run();
    expectNoExit();
    expect(m.r32(VAPIC + 0x80)).toBe(0x52);
  });

  it('a write at 081H exits (access type 1, offset 081H) and writes nothing', () => {
    enterGuest([...store8(APIC_PAGE + 0x81, 0x41), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x1081, CODE);
    expect(m.r32(VAPIC + 0x80)).toBe(0x40);
    expect(m.r32(APIC_PAGE + 0x80)).toBe(UNDER);
  });

  it('a write at 0F0H exits: qualification 10F0H', () => {
    enterGuest([...store32(APIC_PAGE + 0xf0, 0x1ff), HLT]);
    run();
    expectExit(VmxExitReason.ApicAccess, 0x10f0, CODE);
  });

  it('a 64-bit write at 080H exits', () => {
    enterGuest([0x48, 0xc7, 0x04, 0x25, ...d32(APIC_PAGE + 0x80), 0x10, 0, 0, 0, HLT]); // mov qword [..], 10h
    run();
    expectExit(VmxExitReason.ApicAccess, 0x1080, CODE);
  });

  it('a read-modify-write at 080H (ADD) reads and writes VTPR, then emulation runs once', () => {
    m.w32(VAPIC + 0x80, 0x30);
    enterGuest([0x81, 0x04, 0x25, ...d32(APIC_PAGE + 0x80), ...d32(0x40), HLT]); // add dword [..], 40h (11 bytes)
    run();
    expectNoExit();
    expect(m.r32(VAPIC + 0x80)).toBe(0x70);
  });

  it('a read that follows a virtualized write in the same operation exits, and that write gets no APIC-write emulation (ENTER)', () => {
    // 16-bit ENTER 0, 2 with RSP = RBP = APIC+82H: PUSH BP writes 080H-081H (virtualized), then
    // the frame-pointer copy reads [BP-2] = 080H: a read after a virtualized write exits.
    const top = APIC_PAGE + 0x82;
    enterGuest([0x48, 0xc7, 0xc4, ...d32(top), 0x48, 0x89, 0xe5, 0x66, 0xc8, 0, 0, 2, HLT]); // mov rsp, imm; mov rbp, rsp; enter 0, 2
    run();
    expectExit(VmxExitReason.ApicAccess, 0x080, CODE + 10);
    // The write reached the virtual-APIC page; the VM exit came before APIC-write emulation
    // (§29.4.3.2), so bytes 3:1 of VTPR were not cleared.
    expect(m.r32(VAPIC + 0x80)).toBe(top & 0xffff);
  });
});

describe('repeated string instructions: each iteration is an operation (§29.4)', () => {
  /** mov rdi, APIC+80H; mov ecx, 2; mov eax, value; cld; rep stosd (at CODE + 18) */
  const repStos = (value: number): number[] => [0x48, 0xc7, 0xc7, ...d32(APIC_PAGE + 0x80), 0xb9, 2, 0, 0, 0, 0xb8, ...d32(value), 0xfc, 0xf3, 0xab, HLT];

  it('the TPR-below-threshold exit of the first iteration comes before the second: RIP at REP STOSD, RCX/RDI for the next iteration', () => {
    vmcs.set(F.TprThreshold, 5);
    m.w32(VAPIC + 0x80, 0x60);
    enterGuest(repStos(0xabcdef20));
    run();
    expectExit(VmxExitReason.TprBelowThreshold, 0, CODE + 18);
    expect(m.r32(VAPIC + 0x80)).toBe(0x20);
    expect(m.cpu.gpr[Reg.RCX]).toBe(1);
    expect(m.cpu.gpr[Reg.RDI]).toBe(APIC_PAGE + 0x84);
  });

  it('without that exit, the emulation of the first iteration runs, then the second iteration (offset 084H) exits', () => {
    vmcs.set(F.TprThreshold, 2); // VTPR[7:4] = 2 is not below it
    enterGuest(repStos(0xabcdef20));
    run();
    expectExit(VmxExitReason.ApicAccess, 0x1084, CODE + 18);
    expect(m.r32(VAPIC + 0x80)).toBe(0x20);
    expect(m.cpu.gpr[Reg.RCX]).toBe(1);
  });
});

describe('accesses that are never virtualized (§29.4.6)', () => {
  const PML4 = 0x400000;
  const PDPT = 0x401000;
  const PD = 0x402000;
  const PT = 0x403000;
  const WB = 6 << 3;

  it('a guest paging-structure access at offset 080H of the APIC-access page exits (access type 15, the guest-physical address)', () => {
    // EPT: identity map of the first 8 MiB (4 KiB pages below 2 MiB).
    m.fill(PML4, 0x4000);
    m.w64(PML4, PDPT | 7);
    m.w64(PDPT, PD | 7);
    m.w64(PD, PT | 7);
    for (let i = 1; i < 4; i++) m.w64(PD + 8 * i, i * 0x200000 + (0x80 | WB | 7));
    for (let i = 0; i < 512; i++) m.w64(PT + 8 * i, i * 0x1000 + (WB | 7));
    withEpt(vmcs, PML4);
    // Guest PML4[1] -> a guest PDPT at guest-physical 60000H, which EPT maps onto the APIC-access
    // page: the walk of linear 84_0000_0000H reads its entry 16, at offset 080H.
    m.w64(PT + 8 * 0x60, APIC_PAGE + (WB | 3));
    m.w64(PT_ROOT + 8, 0x60000 | 7);
    enterGuest([0x48, 0xb8, 0, 0, 0, 0, 0x84, 0, 0, 0, 0x8b, 0x00, HLT]); // mov rax, 84_0000_0000h; mov eax, [rax]
    run();
    expectExit(VmxExitReason.ApicAccess, (15 << 12) | 0x080, CODE + 10);
    expect(get(F.GuestPhysicalAddress)).toBe(0x60080);
  });
});
