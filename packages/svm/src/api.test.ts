/**
 * The typed TypeScript API (api.edge.ts): a hypervisor written in TypeScript runs a tiny 64-bit
 * guest (CPUID, port I/O, HLT) through VMRUN and gets typed #VMEXIT records; the VMCB accessors
 * land on the APM's offsets. Expected values are the APM's (Vol. 2): exit codes from Appendix C,
 * the IOIO EXITINFO1 format of §15.10.2 (port in bits 31:16, SZ8 bit 4, TYPE bit 0 = IN) with
 * EXITINFO2 = the next RIP, nRIP of §15.7.1, VMEXIT_INVALID (-1) for ASID 0 (§15.5.1), the VMRUN
 * #UD/#GP conditions of Vol. 3 "VMRUN", the VMCB offsets of Appendix B.
 */
import { Efer } from '@hvkit/x86';
import { describe, expect, it } from 'vitest';
import { SvmHost, SvmHostArea, svmExitName, Vmcb, type SvmExit, type SvmRunResult } from './api.edge.js';
import { InterceptMisc1, SvmExitCode } from './constants.js';
import { VmcbOffset } from './vmcb.js';

const VMCB = 0x10_0000;
const GUEST_CODE = 0x20_0000;
const GUEST_STACK = 0x30_0000;

function expectExit(r: SvmRunResult): SvmExit {
  if (r.kind !== 'exit') throw new Error(`expected a #VMEXIT, got ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);
  return r;
}

function host(): SvmHost {
  const h = SvmHost.create({ memoryMiB: 16 }).prepareHost();
  expect(h.enable()).toEqual({ kind: 'ok' });
  return h;
}

describe('Vmcb accessors (APM Appendix B)', () => {
  it('named fields read and write the APM offsets', () => {
    const h = SvmHost.create();
    const v = h.vmcb(VMCB).clear();
    v.rip = 0xffff_8000_1234_5678n;
    expect(h.read32(VMCB + 0x578)).toBe(0x1234_5678);
    expect(h.read32(VMCB + 0x57c)).toBe(0xffff_8000);
    v.interceptMisc1 = InterceptMisc1.Cpuid | InterceptMisc1.Hlt;
    expect(h.read32(VMCB + 0x00c)).toBe(((1 << 18) | (1 << 24)) >>> 0);
    v.guestAsid = 7;
    expect(h.read32(VMCB + 0x058)).toBe(7);
    v.tlbControl = 3;
    expect(h.read32(VMCB + 0x05c) & 0xff).toBe(3);
    v.nCr3 = 0x1234_5000;
    expect(h.read32(VMCB + 0x0b0)).toBe(0x1234_5000);
    v.cs = { selector: 0x08, attrib: 0x29b, limit: 0xffff_ffff, base: 0x1_0000_0000n };
    expect(h.read32(VMCB + 0x410)).toBe((0x29b << 16) | 0x08);
    expect(h.read32(VMCB + 0x414)).toBe(0xffff_ffff);
    expect(h.read32(VMCB + 0x41c)).toBe(1);
    expect(v.cs).toEqual({ selector: 0x08, attrib: 0x29b, limit: 0xffff_ffff, base: 0x1_0000_0000n });
    v.gdtr = { limit: 0x27, base: 0x5000n };
    expect(h.read32(VMCB + 0x464)).toBe(0x27);
    expect(h.read32(VMCB + 0x468)).toBe(0x5000);
    v.cpl = 3;
    expect(h.read32(VMCB + 0x4c8) >>> 24).toBe(3);
    v.efer = Efer.SVME;
    expect(h.read32(VMCB + 0x4d0)).toBe(Efer.SVME);
    v.gPat = 0x0007_0406_0007_0406n;
    expect(h.read32(VMCB + 0x66c)).toBe(0x0007_0406);
    h.write32(VMCB + 0x070, 0xffff_ffff);
    h.write32(VMCB + 0x074, 0xffff_ffff);
    expect(v.exitCode).toBe(-1);
    v.interceptException(14).interceptCr(0, true, false);
    expect(h.read32(VMCB + 0x008)).toBe(1 << 14);
    expect(h.read32(VMCB)).toBe(1);
    expect(() => new Vmcb(h.memory, 0x1234)).toThrow(RangeError);
  });

  it('exit names follow Appendix C', () => {
    expect(svmExitName(0x03)).toBe('CrRead3');
    expect(svmExitName(0x13)).toBe('CrWrite3');
    expect(svmExitName(0x27)).toBe('DrRead7');
    expect(svmExitName(0x4e)).toBe('Excp14');
    expect(svmExitName(0x65)).toBe('Cr0SelWrite');
    expect(svmExitName(0x72)).toBe('Cpuid');
    expect(svmExitName(0x7b)).toBe('Ioio');
    expect(svmExitName(0x400)).toBe('Npf');
    expect(svmExitName(-1)).toBe('Invalid');
  });
});

describe('SvmHost: a TypeScript hypervisor (APM Vol. 2 §15.5, §15.6)', () => {
  it('VMRUN faults as the instruction does: #UD with EFER.SVME = 0, #GP(0) for an unaligned VMCB', () => {
    const h = SvmHost.create().prepareHost();
    expect(h.vmrun(VMCB)).toEqual({ kind: 'fault', vector: 6, errorCode: null });
    expect(h.enable()).toEqual({ kind: 'ok' });
    expect(h.cpu.efer & Efer.SVME).toBe(Efer.SVME);
    expect(h.svm.hsavePa).toBe(h.hostArea + SvmHostArea.Hsave);
    expect(h.vmrun(VMCB + 0x10)).toEqual({ kind: 'fault', vector: 13, errorCode: 0 });
  });

  it('STGI/CLGI as the instructions: with EFER.SVME = 0 CLGI is #UD, STGI runs (Fn8000_0001_ECX[SKINIT] = 1, Vol. 3 STGI)', () => {
    const h = SvmHost.create().prepareHost();
    expect(h.clgi()).toEqual({ kind: 'fault', vector: 6, errorCode: null });
    h.cpu.gif = false;
    expect(h.stgi()).toEqual({ kind: 'ok' });
    expect(h.cpu.gif).toBe(true);
  });

  it('runs a guest that does CPUID, OUT and HLT, one typed #VMEXIT each', () => {
    const h = host();
    // cpuid; out 0x80, al; hlt
    h.write(GUEST_CODE, [0x0f, 0xa2, 0xe6, 0x80, 0xf4]);
    const v = h.setupGuest64(VMCB, { rip: GUEST_CODE, rsp: GUEST_STACK });
    v.intercept(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid | InterceptMisc1.Hlt | InterceptMisc1.IoioProt);
    h.interceptIo(0x80);

    const r1 = expectExit(h.vmrun(VMCB));
    expect(r1.exitCode).toBe(SvmExitCode.Cpuid);
    expect(r1.exitName).toBe('Cpuid');
    expect(r1.rip).toBe(BigInt(GUEST_CODE));
    expect(r1.nextRip).toBe(BigInt(GUEST_CODE + 2));
    // Back in the host: guest mode left, RIP at the host's HLT loop (the RIP VMRUN saved), RAX = the VMCB.
    expect(h.cpu.guestMode).toBe(false);
    expect(h.cpu.ripLo).toBe(h.hostArea + SvmHostArea.HltLoop);
    expect(h.cpu.gpr[0]).toBe(VMCB);

    v.rip = r1.nextRip;
    const r2 = expectExit(h.vmrun(VMCB));
    expect(r2.exitName).toBe('Ioio');
    expect(r2.exitCode).toBe(0x7b);
    // §15.10.2: port 80h in bits 31:16, SZ8 (bit 4), TYPE = 0 (OUT), not STR/REP.
    expect(r2.exitInfo1 & 0xffff_001dn).toBe((0x80n << 16n) | 0x10n);
    expect(r2.exitInfo2).toBe(BigInt(GUEST_CODE + 4));
    expect(r2.rip).toBe(BigInt(GUEST_CODE + 2));

    v.rip = r2.exitInfo2;
    const r3 = expectExit(h.vmrun(VMCB));
    expect(r3.exitName).toBe('Hlt');
    expect(r3.rip).toBe(BigInt(GUEST_CODE + 4));
    expect(r3.nextRip).toBe(BigInt(GUEST_CODE + 5));
    expect(r3.exitIntInfo).toBe(0n);
  });

  it('VMEXIT_INVALID comes back as an exit record with EXITCODE -1 (ASID 0 is illegal, §15.5.1)', () => {
    const h = host();
    h.write(GUEST_CODE, [0xf4]);
    h.setupGuest64(VMCB, { rip: GUEST_CODE, rsp: GUEST_STACK, asid: 0 });
    const r = expectExit(h.vmrun(VMCB));
    expect(r.exitCode).toBe(-1);
    expect(r.exitName).toBe('Invalid');
    expect(h.cpu.guestMode).toBe(false);
  });

  it('a guest that runs past the budget without an exit comes back as no-exit; continue() runs it on', () => {
    const h = host();
    h.write(GUEST_CODE, [0xeb, 0xfe]); // jmp $
    const v = h.setupGuest64(VMCB, { rip: GUEST_CODE, rsp: GUEST_STACK });
    v.interceptMisc1 |= InterceptMisc1.Hlt;
    const r = h.vmrun(VMCB, 1000);
    expect(r.kind).toBe('no-exit');
    expect(h.cpu.guestMode).toBe(true);
    h.write(GUEST_CODE, [0xf4]);
    h.cpu.ripLo = GUEST_CODE;
    h.cpu.nipLo = GUEST_CODE;
    const e = expectExit(h.continue(1000));
    expect(e.exitName).toBe('Hlt');
  });

  it('nested paging through the API: the guest reads the page nCR3 maps', () => {
    const h = host();
    const npt = 0x40_0000;
    // nCR3: PML4 -> PDPT -> PD with 2 MiB identity pages for 0-16 MiB, except guest-physical
    // 6-8 MiB -> system-physical 8-10 MiB.
    h.fill(npt, 0x3000);
    h.write64(npt, npt + 0x1007);
    h.write64(npt + 0x1000, npt + 0x2007);
    for (let i = 0; i < 8; i++) h.write64(npt + 0x2000 + i * 8, i * 0x20_0000 + 0x87);
    h.write64(npt + 0x2000 + 3 * 8, 0x80_0000 + 0x87);
    h.write32(0x60_0000, 0x1111);
    h.write32(0x80_0000, 0x2222);
    // mov eax, [0x600000]; hlt
    h.write(GUEST_CODE, [0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xf4]);
    const v = h.setupGuest64(VMCB, { rip: GUEST_CODE, rsp: GUEST_STACK, nCr3: npt });
    v.interceptMisc1 |= InterceptMisc1.Hlt;
    // The host area (page tables, GDT) sits at the top of RAM, within the identity-mapped 16 MiB.
    const r = expectExit(h.vmrun(VMCB));
    expect(r.exitName).toBe('Hlt');
    expect(v.rax & 0xffff_ffffn).toBe(0x2222n);
  });

  it('#VMEXIT(NPF) through VMRUN: EXITINFO1 = U/S | bit 32, EXITINFO2 = the GPA, RIP at the instruction (§15.25.6)', () => {
    const h = host();
    const npt = 0x40_0000;
    h.fill(npt, 0x3000);
    h.write64(npt, npt + 0x1007);
    h.write64(npt + 0x1000, npt + 0x2007);
    for (let i = 0; i < 8; i++) if (i !== 3) h.write64(npt + 0x2000 + i * 8, i * 0x20_0000 + 0x87);
    // mov eax, [0x600010]; hlt  (guest-physical 6-8 MiB not present)
    h.write(GUEST_CODE, [0x8b, 0x04, 0x25, 0x10, 0x00, 0x60, 0x00, 0xf4]);
    const v = h.setupGuest64(VMCB, { rip: GUEST_CODE, rsp: GUEST_STACK, nCr3: npt });
    v.interceptMisc1 |= InterceptMisc1.Hlt;
    const r = expectExit(h.vmrun(VMCB));
    expect(r.exitName).toBe('Npf');
    expect(r.exitCode).toBe(0x400);
    expect(r.exitInfo1).toBe((1n << 32n) | 4n);
    expect(r.exitInfo2).toBe(0x60_0010n);
    expect(r.rip).toBe(BigInt(GUEST_CODE));
    // The hypervisor maps the page and resumes: the instruction completes.
    h.write64(npt + 0x2000 + 3 * 8, 0x60_0000 + 0x87);
    h.write32(0x60_0010, 0x3333);
    v.tlbControl = 3;
    const r2 = expectExit(h.vmrun(VMCB));
    expect(r2.exitName).toBe('Hlt');
    expect(v.rax & 0xffff_ffffn).toBe(0x3333n);
  });
});
