/**
 * EPT violations and misconfigurations, APIC-access exits, EPTP switching and the TLB contexts
 * (SDM Vol. 3C ch. 28, §27.2.1 Tables 27-6/27-7, §25.5.6.3), with real guest code running in
 * VMX non-root operation over real guest page tables (the harness's 4-level identity map) and
 * EPT tables built here.
 */
import { Cr0, Cr4, Efer, StopReason } from '@hvkit/x86';
import { beforeEach, describe, expect, it } from 'vitest';
import { Proc2Ctl, VmxExitReason } from './constants.js';
import { eptActivate, eptpSwitch } from './ept.js';
import { Vmcs, VmcsField as F } from './fields.js';
import { CODE, PT_ROOT, VmxMachine } from './test-harness.js';
import { vmEntry } from './entry.js';
import { eptp, GUEST_IDT, GUEST_RIP, HOST_RIP, validControls, validGuest64, validHost64, withEpt, withSecondary, writeGuestTables } from './vmcs-fixture.js';

const VMCS_AT = 0x100000;
const PML4 = 0x400000;
const PDPT = 0x401000;
const PD = 0x402000;
const PT = 0x403000;
const EPTP_LIST = 0x404000;
/** EPT leaf rights: read, write, execute; memory type WB (6) in bits 5:3. */
const R = 1;
const W = 2;
const X = 4;
const WB = 6 << 3;

let m: VmxMachine;
let vmcs: Vmcs;
let exits: number;

/** EPT identity map of the first 8 MiB: 4 KiB pages for the first 2 MiB (PT), 2 MiB pages above. */
function buildEpt(): void {
  m.fill(PML4, 0x4000);
  m.w64(PML4, PDPT | 7);
  m.w64(PDPT, PD | 7);
  m.w64(PD, PT | 7);
  for (let i = 1; i < 4; i++) m.w64(PD + 8 * i, i * 0x200000 + (0x80 | WB | 7));
  for (let i = 0; i < 512; i++) m.w64(PT + 8 * i, i * 0x1000 + (WB | 7));
}

/** Sets the EPT leaf of the 4 KiB guest-physical page `page` (page number below 512). */
function leaf(page: number, hpa: number, rights: number): void {
  m.w64(PT + 8 * page, rights === 0 ? 0 : hpa + rights);
}

/** Puts the CPU in non-root operation at CODE with the current VMCS (what VM entry would do for this module). */
function enterGuest(code: number[]): void {
  m.code(code);
  m.cpu.guestMode = true;
  m.cpu.initBlocked = false;
  eptActivate(m.vmx, m.cpu);
}

function run(): StopReason {
  return m.cpu.run(1000);
}

beforeEach(() => {
  m = new VmxMachine().long64().enableVmx();
  vmcs = new Vmcs();
  vmcs.address = VMCS_AT;
  m.region(VMCS_AT);
  m.vmx.inVmx = true;
  m.vmx.current = vmcs;
  validControls(vmcs, m.vmx.caps);
  validHost64(vmcs);
  withEpt(vmcs, PML4);
  buildEpt();
  m.bytes(HOST_RIP, [0xf4]); // the host halts after the exit
  exits = 0;
  m.vmx.onExit = () => {
    exits++;
  };
});

const get = (f: number): number => vmcs.get(f) >>> 0;

/** mov eax, [disp32] */
const load = (a: number): number[] => [0x8b, 0x04, 0x25, a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
/** mov [disp32], eax */
const store = (a: number): number[] => [0x89, 0x04, 0x25, a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
const HLT = 0xf4;

function expectExitAtHost(reason: number): void {
  expect(exits).toBe(1);
  expect(get(F.VmExitReason)).toBe(reason);
  expect(m.cpu.guestMode).toBe(false);
  expect(m.cpu.ripLo).toBe(HOST_RIP + 1); // the host's HLT ran
  expect(m.fault).toBe(null);
}

describe('EPT violations (exit 48, Table 27-7)', () => {
  it('a read of a not-present page: bits 0, 7, 8; guest-physical and guest-linear addresses; RIP at the instruction', () => {
    leaf(0x50, 0, 0);
    enterGuest([...load(0x50010), HLT]);
    expect(run()).toBe(StopReason.Halt);
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x181);
    expect(get(F.GuestPhysicalAddress)).toBe(0x50010);
    expect(get(F.GuestLinearAddress)).toBe(0x50010);
    expect(get(F.GuestRip)).toBe(CODE);
    expect(get(F.IdtVectoringInfo)).toBe(0);
    // RF = 1 for an EPT violation outside event delivery (§27.3.3).
    expect(get(F.GuestRflags) & (1 << 16)).toBe(1 << 16);
  });

  it('a write to a read-only page: bit 1 with the readable bit 3', () => {
    leaf(0x51, 0x51000, R | WB);
    enterGuest([...store(0x51008), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x18a);
    expect(get(F.GuestPhysicalAddress)).toBe(0x51008);
  });

  it('a fetch from a readable, writable, not executable page: bit 2 with bits 3 and 4', () => {
    leaf(0x52, 0x52000, R | W | WB);
    enterGuest([0xb8, 0x00, 0x20, 0x05, 0x00, 0xff, 0xe0]); // mov eax, 52000h; jmp rax
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x19c);
    expect(get(F.GuestRip)).toBe(0x52000);
    expect(get(F.GuestLinearAddress)).toBe(0x52000);
  });

  it('a guest paging-structure read (the PD of the page walk): bit 7 set, bit 8 clear', () => {
    leaf(0x72, 0, 0); // the guest PD (harness page tables at 70000H-72FFFH)
    enterGuest([...load(0x600000), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    // The first access (the fetch at CODE) walks PML4 -> PDPT -> PD entry 0.
    expect(get(F.ExitQualification)).toBe(0x81);
    expect(get(F.GuestPhysicalAddress)).toBe(0x72000);
    expect(get(F.GuestLinearAddress)).toBe(CODE);
    expect(get(F.GuestRip)).toBe(CODE);
  });

  it('with EPT accessed/dirty flags a guest paging-structure access counts as a write (bits 0 and 1)', () => {
    vmcs.set64(F.EptPointer, eptp(PML4) | 0x40);
    leaf(0x72, 0x72000, R | X | WB);
    enterGuest([...load(0x600000), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x83 | 0x28);
  });

  it('a push to a not-present stack page leaves the saved RSP as before the instruction', () => {
    leaf(0x50, 0, 0);
    enterGuest([0x50, HLT]); // push rax
    m.cpu.gpr[4] = 0x50100;
    m.cpu.gprHi[4] = 0;
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x182);
    expect(get(F.GuestRsp)).toBe(0x50100);
    expect(get(F.GuestPhysicalAddress)).toBe(0x500f8);
  });

  it('during delivery of INT n: IDT-vectoring information with the instruction length, RIP at the INT', () => {
    m.cpu.onEvent = null; // deliver through the IDT
    m.cpu.idtrBaseLo = 0x57000;
    m.cpu.idtrLimit = 0xfff;
    leaf(0x57, 0, 0);
    enterGuest([0xcd, 0x80, HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x181);
    expect(get(F.GuestPhysicalAddress)).toBe(0x57800);
    expect(get(F.IdtVectoringInfo)).toBe(0x80000480);
    expect(get(F.VmExitInstructionLength)).toBe(2);
    expect(get(F.GuestRip)).toBe(CODE);
  });

  // Cpu.injectEvent restores RIP for a VM exit during the delivery as for a fault (§27.3.3).
  it('during delivery of an injected INT n (VM entry): RIP saved as the guest RIP field, the entry instruction length reported', () => {
    m.cpu.onEvent = null;
    writeGuestTables(m);
    validGuest64(vmcs);
    // The EPT of this file maps the first 8 MiB; the fixture's IDT page is made not present.
    m.w64(PD + 8, PT + 0x1000 + 7);
    for (let i = 0; i < 512; i++) m.w64(PT + 0x1000 + 8 * i, 0x200000 + i * 0x1000 + (WB | 7));
    m.w64(PT + 0x1000 + 8 * ((GUEST_IDT - 0x200000) >>> 12), 0);
    vmcs.set(F.VmEntryInterruptionInfo, 0x80000000 | (4 << 8) | 0x80);
    vmcs.set(F.VmEntryInstructionLength, 2);
    vmEntry(m.vmx, m.cpu, true);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.IdtVectoringInfo)).toBe(0x80000480);
    expect(get(F.VmExitInstructionLength)).toBe(2);
    expect(get(F.GuestRip)).toBe(GUEST_RIP);
  });

  it('a read through a cached read-only mapping, then a write to it, still exits (the cache keeps rights)', () => {
    leaf(0x51, 0x51000, R | WB);
    enterGuest([...load(0x51008), ...store(0x51008), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x18a);
    expect(get(F.GuestRip)).toBe(CODE + 7);
  });

  // The core ANDs the TLB rights it installs with the EPT rights (cpu.slRights): a read fill of
  // a page whose guest mapping is already dirty installs no write right (§28.3.3.2).
  it('a write after a read of an EPT read-only page exits even when the guest mapping is dirty', () => {
    leaf(0x51, 0x51000, R | WB);
    enterGuest([...store(0x56000), ...load(0x51008), ...store(0x51008), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x18a);
    expect(get(F.GuestPhysicalAddress)).toBe(0x51008);
    expect(get(F.GuestRip)).toBe(CODE + 14);
  });

  it('a fetch from a not-executable EPT page after reading it exits (bit 2 with bits 3, 4)', () => {
    leaf(0x52, 0x52000, R | W | WB);
    m.w32(0x52000, 0x90909090);
    // mov eax, [52000h]; mov eax, 52000h; jmp rax
    enterGuest([...load(0x52000), 0xb8, 0x00, 0x20, 0x05, 0x00, 0xff, 0xe0]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x19c);
    expect(get(F.GuestRip)).toBe(0x52000);
  });

  it('a read of an execute-only EPT page after executing from it exits (bit 0 with bit 5)', () => {
    leaf(0x52, 0x52000, X | WB);
    m.bytes(0x52000, [...load(0x52010), HLT]);
    enterGuest([0xb8, 0x00, 0x20, 0x05, 0x00, 0xff, 0xe0]); // mov eax, 52000h; jmp rax
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x1a1);
    expect(get(F.GuestPhysicalAddress)).toBe(0x52010);
    expect(get(F.GuestRip)).toBe(0x52000);
  });

  it('a write to an EPT read-only 2 MiB page after a read exits', () => {
    m.w64(PD + 8 * 2, 0x400000 + (0x80 | WB | R | X));
    // The guest's 2 MiB page at 400000H already accessed and dirty (A = bit 5, D = bit 6).
    m.w64(PT_ROOT + 0x2000 + 8 * 2, 0x400000 | 0x87 | 0x60);
    enterGuest([...load(0x480008), ...store(0x480008), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.ExitQualification)).toBe(0x1aa);
    expect(get(F.GuestPhysicalAddress)).toBe(0x480008);
    expect(get(F.GuestRip)).toBe(CODE + 7);
  });

  it('a guest paging-structure accessed-flag write to an EPT read-only page exits (write, kind 5)', () => {
    leaf(0x72, 0x72000, R | X | WB); // the guest PD; its entries' accessed flags are clear
    enterGuest([...load(0x600000), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    expect(get(F.GuestPhysicalAddress) & ~0xfff).toBe(0x72000);
    // The accessed-flag update is a locked read-modify-write of the entry: a data read and a data
    // write (Table 27-7 bits 0 and 1), readable (bit 3), linear address valid (bit 7), not the
    // final translation (bit 8 clear).
    expect(get(F.ExitQualification) & 0x18f).toBe(0x8b);
    expect(get(F.GuestRip)).toBe(CODE);
  });

  it('a PDPTE load (MOV to CR3 with PAE paging) after a guest #PF reports no guest-linear address (bit 7 clear)', () => {
    // 32-bit PAE paging: PDPT at 74000H, PDPTE 0 -> PD at 75000H (2 MiB pages), PDPTEs 1-3 not present.
    const c = m.cpu;
    m.flat32();
    c.efer &= ~(Efer.LME | Efer.LMA);
    m.fill(0x74000, 0x2000);
    m.w64(0x74000, 0x75000 | 1);
    for (let i = 0; i < 512; i++) m.w64(0x75000 + 8 * i, i * 0x200000 + 0x87);
    c.cr3Lo = 0x74000;
    c.cr4 = (c.cr4 | Cr4.PAE) & ~Cr4.PSE;
    c.cr0 |= Cr0.PG;
    expect(c.walker.loadPdptes(0x74000)).toBe(true);
    c.updateMode();
    c.flushTlb(true);
    // mov eax, [40000000h] (#PF: PDPTE 1 not present); mov eax, 74000h; mov cr3, eax; hlt
    enterGuest([0x8b, 0x05, 0x00, 0x00, 0x00, 0x40, 0xb8, 0x00, 0x40, 0x07, 0x00, 0x0f, 0x22, 0xd8, HLT]);
    run();
    expect(m.fault?.vector).toBe(14);
    m.clearEvents();
    // The PDPT page not present in EPT: the PDPTE reads of MOV to CR3 are EPT violations.
    leaf(0x74, 0, 0);
    c.ripLo = CODE + 6;
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
    // A read (bit 0), no linear address (bits 7 and 8 clear, §27.2.1 Table 27-7).
    expect(get(F.ExitQualification) & 0x187).toBe(0x1);
    expect(get(F.GuestPhysicalAddress)).toBe(0x74000);
    expect(get(F.GuestRip)).toBe(CODE + 11);
  });

  it('sets the EPT dirty flag on the first write after a cached read (A/D enabled)', () => {
    vmcs.set64(F.EptPointer, eptp(PML4) | 0x40);
    enterGuest([...load(0x55000), ...store(0x55000), HLT]);
    run();
    expect(exits).toBe(0);
    expect(m.r32(PT + 8 * 0x55) & 0x300).toBe(0x300);
  });
});

describe('EPT misconfiguration (exit 49)', () => {
  it('a leaf writable but not readable: the guest-physical address, qualification 0', () => {
    leaf(0x50, 0x50000, W | WB);
    enterGuest([...load(0x50010), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptMisconfiguration);
    expect(get(F.ExitQualification)).toBe(0);
    expect(get(F.GuestPhysicalAddress)).toBe(0x50010);
    expect(get(F.GuestRip)).toBe(CODE);
  });

  it('a reserved memory type (2) in a leaf', () => {
    leaf(0x50, 0x50000, R | W | X | (2 << 3));
    enterGuest([...load(0x50010), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptMisconfiguration);
  });
});

describe('APIC-access exits (exit 44, Table 27-6)', () => {
  const APIC_PAGE = 0x53000;
  function apicAccess(ept: boolean): void {
    vmcs.set(F.SecondaryVmExecControl, ept ? Proc2Ctl.EnableEpt | Proc2Ctl.VirtualizeApicAccesses : Proc2Ctl.VirtualizeApicAccesses);
    if (!ept) withSecondary(vmcs, Proc2Ctl.VirtualizeApicAccesses);
    vmcs.set64(F.ApicAccessAddress, APIC_PAGE);
  }

  it('a linear read without EPT: offset and access type 0', () => {
    apicAccess(false);
    enterGuest([...load(APIC_PAGE + 0x80), HLT]);
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification)).toBe(0x080);
    expect(get(F.GuestRip)).toBe(CODE);
  });

  it('a linear write: access type 1', () => {
    apicAccess(false);
    enterGuest([...store(APIC_PAGE + 0x300), HLT]);
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification)).toBe(0x1300);
  });

  it('a linear instruction fetch: access type 2', () => {
    apicAccess(false);
    enterGuest([0xb8, 0x10, 0x30, 0x05, 0x00, 0xff, 0xe0]); // mov eax, 53010h; jmp rax
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification)).toBe(0x2010);
  });

  it('with EPT, the EPT translation is compared: guest page 54000H mapped onto the APIC-access page', () => {
    apicAccess(true);
    leaf(0x54, APIC_PAGE, R | W | WB);
    enterGuest([...load(0x54020), HLT]);
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification)).toBe(0x020);
  });

  it('a linear access during event delivery (the IDT read of INT n): access type 3 with IDT-vectoring information', () => {
    apicAccess(false);
    m.cpu.onEvent = null; // deliver through the IDT
    m.cpu.idtrBaseLo = APIC_PAGE;
    m.cpu.idtrLimit = 0xfff;
    enterGuest([0xcd, 0x80, HLT]);
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification)).toBe(0x3800);
    expect(get(F.IdtVectoringInfo)).toBe(0x80000480);
    expect(get(F.VmExitInstructionLength)).toBe(2);
  });

  it('a guest paging-structure access (the walk reads a table on the APIC-access page): access type 15 and the guest-physical address', () => {
    apicAccess(true);
    leaf(0x72, APIC_PAGE, R | W | WB); // the guest PD sits on the APIC-access page
    enterGuest([...load(0x50000), HLT]);
    run();
    expectExitAtHost(VmxExitReason.ApicAccess);
    expect(get(F.ExitQualification) >>> 12).toBe(15);
    expect(get(F.GuestPhysicalAddress)).toBe(0x72000);
  });

  it('other pages do not exit', () => {
    apicAccess(false);
    enterGuest([...load(0x54000), HLT]);
    run();
    expect(exits).toBe(0);
    expect(m.cpu.halted).toBe(true);
  });
});

describe('EPTP switching (VMFUNC leaf 0, §25.5.6.3)', () => {
  beforeEach(() => {
    vmcs.set64(F.EptpListAddress, EPTP_LIST);
    m.fill(EPTP_LIST, 4096);
    m.w64(EPTP_LIST, eptp(PML4));
    m.w64(EPTP_LIST + 8, eptp(0x405000) | 0x40);
    m.w64(EPTP_LIST + 16, 0x405000 | 2 | (3 << 3)); // memory type 2: invalid
    m.w64(EPTP_LIST + 24, 0x405000 | 6 | (4 << 3)); // 5-level walk: not supported
    m.w64(EPTP_LIST + 32, 0x405000 | 6 | (3 << 3) | 0x80); // bit 7 reserved
    m.w64(EPTP_LIST + 40, BigInt(0x405000 | 6 | (3 << 3)) | (1n << 60n)); // beyond MAXPHYADDR
    enterGuest([HLT]);
  });

  it('loads a valid entry into the EPTP field and the walker', () => {
    expect(eptpSwitch(m.vmx, m.cpu, 1)).toBe(true);
    expect(vmcs.get64(F.EptPointer)).toBe(eptp(0x405000) | 0x40);
    expect(m.vmx.ept.root).toBe(0x405000);
    expect(m.vmx.ept.accessedDirty).toBe(true);
    expect(eptpSwitch(m.vmx, m.cpu, 0)).toBe(true);
    expect(m.vmx.ept.root).toBe(PML4);
  });

  it('fails for an invalid entry or an index of 512 or more, leaving the EPTP', () => {
    for (const i of [2, 3, 4, 5, 512, 0xffffffff]) {
      expect(eptpSwitch(m.vmx, m.cpu, i)).toBe(false);
      expect(vmcs.get64(F.EptPointer)).toBe(eptp(PML4));
    }
  });

  it('the new EPT translates the next accesses', () => {
    // A second EPT at 405000H mapping nothing: the next TLB miss is an EPT violation.
    m.fill(0x405000, 4096);
    expect(eptpSwitch(m.vmx, m.cpu, 1)).toBe(true);
    m.code([...load(0x56000), HLT]);
    run();
    expectExitAtHost(VmxExitReason.EptViolation);
  });
});

describe('TLB contexts (§28.3.1, §28.3.3.1)', () => {
  it('gives each (VPID, EPTP) context its own bank and keeps its translations with VPIDs', () => {
    vmcs.set(F.SecondaryVmExecControl, vmcs.get(F.SecondaryVmExecControl) | Proc2Ctl.EnableVpid);
    vmcs.set(F.VirtualProcessorId, 1);
    enterGuest([...load(0x56000), HLT]);
    const tag1 = m.cpu.tlbBankTag;
    run();
    m.cpu.selectTlbBank(0);
    vmcs.set(F.VirtualProcessorId, 2);
    enterGuest([...load(0x56000), HLT]);
    const tag2 = m.cpu.tlbBankTag;
    expect(tag1).not.toBe(0);
    expect(tag2).not.toBe(0);
    expect(tag2).not.toBe(tag1);
    run();
    m.cpu.selectTlbBank(0);
    vmcs.set(F.VirtualProcessorId, 1);
    enterGuest([...load(0x56000), HLT]);
    expect(m.cpu.tlbBankTag).toBe(tag1);
    const fills = m.cpu.tlbFills;
    run();
    // Code and data pages are still cached for VPID 1: no fill.
    expect(m.cpu.tlbFills).toBe(fills);
  });

  it('flushes the guest bank on every entry without VPIDs', () => {
    enterGuest([...load(0x56000), HLT]);
    run();
    m.cpu.selectTlbBank(0);
    enterGuest([...load(0x56000), HLT]);
    const fills = m.cpu.tlbFills;
    run();
    expect(m.cpu.tlbFills).toBeGreaterThan(fills);
  });

  it('reuses the least recently used of 7 tags for an eighth context, flushing it', () => {
    vmcs.set(F.SecondaryVmExecControl, vmcs.get(F.SecondaryVmExecControl) | Proc2Ctl.EnableVpid);
    const tags: number[] = [];
    for (let v = 1; v <= 8; v++) {
      vmcs.set(F.VirtualProcessorId, v);
      enterGuest([HLT]);
      tags.push(m.cpu.tlbBankTag);
    }
    expect(new Set(tags.slice(0, 7)).size).toBe(7);
    expect(tags[7]).toBe(tags[0]);
  });
});
