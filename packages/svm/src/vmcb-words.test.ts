/**
 * VmcbMemory's word access (the world switch's hot path): on RAM the words are the page itself;
 * on a page that is not RAM (here an MMIO page standing in for one) they are a staging copy that
 * `open` reads and `close` writes back word by word, only where a word changed. And a whole
 * VMRUN / #VMEXIT round trip (APM Vol. 2 §15.5, §15.6) with the VMCB and the host save area on
 * such a page behaves as with RAM.
 */
import type { Hpa } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { InterceptMisc1, SvmExitCode } from './constants.js';
import { GUEST_CODE, SvmMachine, VMCB_AT, X } from './test-harness.js';
import { VmcbOffset, VmcbMemory } from './vmcb.js';

/** A 4 KiB-aligned MMIO window backed by plain bytes, counting the accesses that reach it. */
class BackedMmio {
  readonly bytes = new Uint8Array(0x2000);
  readonly view = new DataView(this.bytes.buffer);
  reads = 0;
  readonly writes: number[] = [];
  constructor(readonly base: number) {}
  mmioRead(addr: Hpa, size: number): number {
    this.reads++;
    const o = (addr as number) - this.base;
    return size === 1 ? this.view.getUint8(o) : size === 2 ? this.view.getUint16(o, true) : this.view.getUint32(o, true);
  }
  mmioWrite(addr: Hpa, size: number, value: number): void {
    const o = (addr as number) - this.base;
    this.writes.push(o);
    if (size === 1) this.view.setUint8(o, value);
    else if (size === 2) this.view.setUint16(o, value, true);
    else this.view.setUint32(o, value >>> 0, true);
  }
}

/** Past the harness's 8 MiB of RAM. */
const MMIO_AT = 0x1000000;

function withMmio(): { m: SvmMachine; dev: BackedMmio } {
  const m = new SvmMachine();
  const dev = new BackedMmio(MMIO_AT);
  m.memory.mapMmio(MMIO_AT, 0x2000, dev, 'vmcb-window');
  return { m, dev };
}

describe('VmcbMemory words', () => {
  it('on RAM: direct, and the words are the page itself (no copy)', () => {
    const m = new SvmMachine();
    const v = new VmcbMemory();
    v.bind(m.cpu);
    m.w32(VMCB_AT + 0x578, 0x1234);
    const w = v.open(VMCB_AT);
    expect(v.direct).toBe(true);
    expect(w[0x578 >> 2]).toBe(0x1234);
    w[0x5f8 >> 2] = 0x55aa;
    expect(m.r32(VMCB_AT + 0x5f8)).toBe(0x55aa);
    v.close();
  });

  it('not RAM: open reads the page, close writes back only the words that changed', () => {
    const { m, dev } = withMmio();
    dev.view.setUint32(0x70, 0xdead, true);
    const v = new VmcbMemory();
    v.bind(m.cpu);
    const w = v.open(MMIO_AT);
    expect(v.direct).toBe(false);
    expect(dev.reads).toBe(1024);
    expect(w[0x70 >> 2]).toBe(0xdead);
    w[0x78 >> 2] = 7;
    w[0x70 >> 2] = 0xdead; // unchanged value: not written
    // r32/w32 between open and close use the same copy.
    expect(v.r32(0x78)).toBe(7);
    v.w32(0x80, 9);
    expect(dev.writes).toEqual([]);
    v.close();
    expect(dev.writes.sort((a, b) => a - b)).toEqual([0x78, 0x80]);
    expect(dev.view.getUint32(0x78, true)).toBe(7);
    expect(dev.view.getUint32(0x80, true)).toBe(9);
    // Closed: r32 reads the device again.
    dev.view.setUint32(0x78, 8, true);
    expect(v.r32(0x78)).toBe(8);
  });

  it('nested open/close write back once, at the outer close', () => {
    const { m, dev } = withMmio();
    const v = new VmcbMemory();
    v.bind(m.cpu);
    const w = v.open(MMIO_AT);
    const w2 = v.open(MMIO_AT);
    expect(w2).toBe(w);
    w[1] = 1;
    v.close();
    expect(dev.writes).toEqual([]);
    v.close();
    expect(dev.writes).toEqual([4]);
  });
});

describe('world switch with the VMCB and host save area not in RAM', () => {
  it('VMRUN, a CPUID intercept and #VMEXIT work through the staging copies', () => {
    const { m, dev } = withMmio();
    const vmcbAt = MMIO_AT;
    const hsaveAt = MMIO_AT + 0x1000;
    m.long64().enableSvm(hsaveAt).setupVmcb({ guestRip: GUEST_CODE });
    // setupVmcb wrote the RAM VMCB: copy it into the MMIO page.
    for (let off = 0; off < 0x1000; off += 4) dev.view.setUint32(off, m.r32(VMCB_AT + off), true);
    dev.view.setUint32(VmcbOffset.InterceptMisc1, InterceptMisc1.Cpuid, true);
    m.bytes(GUEST_CODE, [...X.movImm32(0, 0x4242), ...X.cpuid]);
    m.run([...X.movImm64(0, vmcbAt), ...X.vmrun, ...X.hlt]);
    expect(m.fault).toBeNull();
    expect(dev.view.getUint32(VmcbOffset.ExitCode, true)).toBe(SvmExitCode.Cpuid);
    // Guest state saved: RIP at the CPUID (5 bytes of MOV before it), nRIP past it, RAX the guest's.
    expect(dev.view.getUint32(VmcbOffset.Rip, true)).toBe(GUEST_CODE + 5);
    expect(dev.view.getUint32(VmcbOffset.NRip, true)).toBe(GUEST_CODE + 7);
    expect(dev.view.getUint32(VmcbOffset.Rax, true)).toBe(0x4242);
    // Host state restored from the MMIO host save area: RAX = the VMCB address, at the HLT.
    expect(m.cpu.guestMode).toBe(false);
    expect(m.cpu.gpr[0]! >>> 0).toBe(vmcbAt);
    expect(dev.view.getUint32(0x1000 + VmcbOffset.Rax, true)).toBe(vmcbAt);
  });
});
