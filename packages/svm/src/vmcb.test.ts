/**
 * The VMCB's segment attribute format (APM Vol. 2 Appendix B, Table B-2: bits 7:0 = descriptor
 * bits 47:40, bits 11:8 = bits 55:52) against the core's, and the unusable (null) segment,
 * which the VMCB holds as not present (P = 0).
 */
import { describe, expect, it } from 'vitest';
import { Seg, SegAttr } from '@hvkit/x86';
import { opVmload, opVmsave } from './instructions.js';
import { SvmMachine } from './test-harness.js';
import { attribFromCore, attribToCore, VmcbOffset, VmcbSeg } from './vmcb.js';

describe('VMCB segment attributes', () => {
  it('packs AVL, L, D/B, G into bits 11:8 and keeps the access byte', () => {
    // A 64-bit code segment: access byte 9Bh, L = 1, G = 1 -> attrib A9Bh.
    const code64 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.L | SegAttr.G;
    expect(attribFromCore(code64)).toBe(0xa9b);
    expect(attribToCore(0xa9b, true)).toBe(code64);
    // A flat 32-bit data segment: 93h, D/B = 1, G = 1 -> C93h.
    expect(attribFromCore(SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G)).toBe(0xc93);
  });

  it('an unusable (null) segment is saved with P = 0 and read back unusable in protected mode only', () => {
    expect(attribFromCore(SegAttr.Unusable)).toBe(0);
    expect(attribFromCore(SegAttr.Unusable | SegAttr.P | SegAttr.S | SegAttr.RW) & 0x80).toBe(0);
    expect(attribToCore(0x13, true) & SegAttr.Unusable).toBe(SegAttr.Unusable);
    // Real-mode (and virtual-8086) segments are always usable, whatever P says.
    expect(attribToCore(0x13, false) & SegAttr.Unusable).toBe(0);
    expect(attribToCore(0x93, true) & SegAttr.Unusable).toBe(0);
  });

  it('VMSAVE then VMLOAD keeps a null FS null (its base and unusable state survive the round trip)', () => {
    const m = new SvmMachine().long64().enableSvm();
    const c = m.cpu;
    c.setSegmentRaw(Seg.FS, 0, 0x1234_5000, 0, SegAttr.Unusable);
    const area = 0x300000;
    opVmsave(m.svm, c, area);
    expect(m.r16(area + VmcbOffset.Fs + VmcbSeg.Attrib) & 0x80).toBe(0);
    c.setSegmentRaw(Seg.FS, 0x10, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G);
    opVmload(m.svm, c, area);
    expect(c.segSel[Seg.FS]).toBe(0);
    expect(c.segBase[Seg.FS]! >>> 0).toBe(0x1234_5000);
    expect(c.segAttr[Seg.FS]! & SegAttr.Unusable).toBe(SegAttr.Unusable);
  });
});
