import type { Port } from '@hvkit/platform';
import { describe, expect, it } from 'vitest';
import { Cr0, Flag, Seg, SegAttr, StopReason, Vector } from '../src/index.js';
import { REP_BATCH } from '../src/ops/io.js';
import { CODE, fakeExt, PageTables, Sys } from './sys-harness.js';

const GP = Vector.GP;
const TSS = 0x9000;

/** A device on ports 0x60-0x6f: reads return 0x10 + n for the n-th read; writes are logged. */
function withDevice(s: Sys): { writes: [number, number, number][]; reads: number[] } {
  const log = { writes: [] as [number, number, number][], reads: [] as number[] };
  let n = 0;
  s.io.register(
    0x60,
    0x10,
    {
      pioRead: (port: Port, size) => {
        log.reads.push(port);
        return size === 1 ? 0x10 + n++ : size === 2 ? 0x1110 + n++ : 0x11111110 + n++;
      },
      pioWrite: (port: Port, size, value) => void log.writes.push([port, size, value]),
    },
    'test',
  );
  return log;
}

/** CPL 3, IOPL 0, TSS with an I/O bitmap at TSS+0x68 of `bytes` bytes (all allowed) and the given limit. */
function user(limit: number, bytes = 0x20): Sys {
  const s = new Sys().flat32(3);
  s.cpu.setSegmentRaw(Seg.TR, 0x28, TSS, limit, SegAttr.P | 11);
  s.w16(TSS + 0x66, 0x68);
  for (let i = 0; i < bytes; i++) s.w8(TSS + 0x68 + i, 0);
  return s;
}

function go(s: Sys, code: number[]): StopReason {
  s.code([...code, 0x0f, 0x0b]); // ends in UD2 at any CPL
  return s.run(100);
}

describe('I/O protection', () => {
  it('CPL > IOPL with no room for a bitmap is #GP(0); CPL <= IOPL needs no bitmap', () => {
    const s = user(0x67);
    withDevice(s);
    go(s, [0xe4, 0x60]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.ripLo).toBe(CODE);
    const t = user(0x67);
    withDevice(t);
    t.cpu.setEflags(Flag.Fixed1 | Flag.IOPL);
    go(t, [0xe4, 0x60]);
    expect(t.fault?.vector).toBe(Vector.UD);
    expect(t.cpu.gpr[0]! & 0xff).toBe(0x10);
  });

  it('every bitmap bit of the access must be 0', () => {
    const s = user(0x68 + 0x20);
    const log = withDevice(s);
    s.w8(TSS + 0x68 + (0x60 >> 3), 0x02); // port 0x61 denied
    go(s, [0xe4, 0x60, 0x66, 0xe5, 0x60]); // in al,0x60 (ok); in ax,0x60 (covers 0x61)
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(s.cpu.ripLo).toBe(CODE + 2);
    expect(log.reads).toEqual([0x60]);
    const t = user(0x68 + 0x20);
    withDevice(t);
    t.w8(TSS + 0x68 + (0x68 >> 3), 0x80); // port 0x6f denied
    t.cpu.gpr[2] = 0x6c;
    go(t, [0xed]); // in eax,dx: 0x6c-0x6f
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('the second bitmap byte must be inside the TSS limit', () => {
    const off = 0x68 + (0x60 >> 3);
    const s = user(off);
    withDevice(s);
    go(s, [0xe4, 0x60]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    const t = user(off + 1);
    withDevice(t);
    go(t, [0xe4, 0x60]);
    expect(t.fault?.vector).toBe(Vector.UD);
  });

  it('virtual-8086 mode consults the bitmap even with IOPL 3; a 16-bit TSS has none', () => {
    const s = user(0x68 + 0x20);
    const log = withDevice(s);
    s.w8(TSS + 0x68 + (0x60 >> 3), 0x01);
    s.cpu.setEflags(Flag.Fixed1 | Flag.IOPL | Flag.VM);
    s.cpu.setSegmentRaw(Seg.CS, CODE >> 4, CODE, 0xffff, SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | (3 << SegAttr.DplShift));
    s.cpu.updateMode();
    go(s, [0xe4, 0x60]);
    expect(s.fault).toEqual({ vector: GP, error: 0 });
    expect(log.reads).toEqual([]);
    const t = user(0x68 + 0x20);
    withDevice(t);
    t.cpu.setSegmentRaw(Seg.TR, 0x28, TSS, 0xffff, SegAttr.P | 3);
    go(t, [0xe4, 0x60]);
    expect(t.fault).toEqual({ vector: GP, error: 0 });
  });

  it('IN/OUT move 1, 2 or 4 bytes through the accumulator', () => {
    const s = new Sys().flat32();
    const log = withDevice(s);
    s.cpu.gpr[0] = 0x12345678;
    s.cpu.gpr[2] = 0x64;
    go(s, [0xef, 0x66, 0xe7, 0x62, 0xe6, 0x61, 0x66, 0xed]); // out dx,eax; out 0x62,ax; out 0x61,al; in ax,dx
    expect(log.writes).toEqual([
      [0x64, 4, 0x12345678],
      [0x62, 2, 0x5678],
      [0x61, 1, 0x78],
    ]);
    expect(s.cpu.gpr[0]! >>> 0).toBe(0x12341110);
  });
});

describe('INS / OUTS', () => {
  it('REP INSB stores at ES:EDI upwards, ignoring a segment override; DF = 1 goes downwards', () => {
    const s = new Sys().flat32();
    withDevice(s);
    s.cpu.setSegmentRaw(Seg.DS, 0x10, 0x100000, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G);
    s.cpu.gpr[2] = 0x60;
    s.cpu.gpr[7] = 0x2000;
    s.cpu.gpr[1] = 4;
    go(s, [0x3e, 0xf3, 0x6c]); // ds rep insb
    expect([s.r8(0x2000), s.r8(0x2001), s.r8(0x2002), s.r8(0x2003)]).toEqual([0x10, 0x11, 0x12, 0x13]);
    expect(s.cpu.gpr[7]).toBe(0x2004);
    expect(s.cpu.gpr[1]).toBe(0);
    s.cpu.setEflags(Flag.Fixed1 | Flag.DF);
    s.cpu.gpr[1] = 2;
    s.cpu.gpr[7] = 0x3001;
    go(s, [0xf3, 0x66, 0x6d]); // rep insw
    expect(s.r16(0x3001)).toBe(0x1114);
    expect(s.r16(0x2fff)).toBe(0x1115);
    expect(s.cpu.gpr[7]).toBe(0x2ffd);
  });

  it('REP OUTSW reads DS (or the override) at ESI', () => {
    const s = new Sys().flat32();
    const log = withDevice(s);
    s.cpu.setSegmentRaw(Seg.FS, 0x10, 0x100000, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.DB | SegAttr.G);
    s.w32(0x100400, 0xbbbbaaaa);
    s.cpu.gpr[2] = 0x66;
    s.cpu.gpr[6] = 0x400;
    s.cpu.gpr[1] = 2;
    go(s, [0x64, 0xf3, 0x66, 0x6f]);
    expect(log.writes).toEqual([
      [0x66, 2, 0xaaaa],
      [0x66, 2, 0xbbbb],
    ]);
    expect(s.cpu.gpr[6]).toBe(0x404);
  });

  it('16-bit addressing wraps DI; a zero count does nothing (not even the permission check)', () => {
    const s = new Sys().flat32();
    withDevice(s);
    s.cpu.gpr[2] = 0x60;
    s.cpu.gpr[7] = 0x1234ffff;
    s.cpu.gpr[1] = 0x2;
    go(s, [0x67, 0xf3, 0x6c]);
    expect(s.r8(0xffff)).toBe(0x10);
    expect(s.r8(0)).toBe(0x11);
    expect(s.cpu.gpr[7]! >>> 0).toBe(0x12340001);
    const u = user(0x67);
    const log = withDevice(u);
    u.cpu.gpr[1] = 0;
    go(u, [0xf3, 0x6c]);
    expect(u.fault?.vector).toBe(Vector.UD);
    expect(log.reads).toEqual([]);
  });

  it('a long REP runs in batches: RIP stays on the instruction until the count is done', () => {
    const s = new Sys().flat32();
    withDevice(s);
    s.cpu.gpr[2] = 0x60;
    s.cpu.gpr[6] = 0x1000;
    s.cpu.gpr[1] = REP_BATCH + 10;
    s.code([0xf3, 0x6e, 0xf4]);
    s.cpu.step();
    expect(s.cpu.ripLo).toBe(CODE);
    expect(s.cpu.gpr[1]).toBe(10);
    expect(s.run(100)).toBe(StopReason.Halt);
    expect(s.cpu.gpr[1]).toBe(0);
    expect(s.cpu.gpr[6]).toBe(0x1000 + REP_BATCH + 10);
  });

  it('a page fault in the middle leaves the completed part done and restarts cleanly', () => {
    const s = new Sys().flat32();
    const log = withDevice(s);
    const pt = new PageTables(s, 'legacy', 0x70000);
    for (let i = 0; i < 0x100; i++) if (i !== 0x21) pt.map(BigInt(i) << 12n, i << 12, 3);
    s.cpu.cr3Lo = 0x70000;
    s.cpu.cr0 |= Cr0.PG;
    s.cpu.updateMode();
    s.cpu.gpr[2] = 0x60;
    s.cpu.gpr[7] = 0x20ffe;
    s.cpu.gpr[1] = 4;
    go(s, [0xf3, 0x6c]);
    expect(s.fault).toEqual({ vector: Vector.PF, error: 2 });
    expect(s.cpu.cr2Lo).toBe(0x21000);
    expect(s.cpu.gpr[1]).toBe(2);
    expect(s.cpu.gpr[7]).toBe(0x21000);
    expect(log.reads.length).toBe(2); // the port is not read for the faulting iteration
    expect(s.cpu.ripLo).toBe(CODE);
  });

  it('the intercept sees port, size, direction, string, REP and immediate-port bits', () => {
    const seen: number[] = [];
    const s = new Sys().flat32();
    s.cpu.ext = fakeExt('vmx', { intercept: (_c, what, info, info2) => (seen.push(what, info, info2), true) });
    s.cpu.guestMode = true;
    s.code([0xe4, 0x60]);
    s.cpu.step();
    // OUT DX, AL: the port comes from DX, so the immediate bit is clear.
    s.cpu.gpr[2] = 0x61;
    s.code([0xee]);
    s.cpu.step();
    s.cpu.gpr[1] = 3;
    s.cpu.gpr[2] = 0x3f8;
    s.code([0x64, 0xf3, 0x6e]);
    s.cpu.step();
    expect(seen).toEqual([9, 0x60 | (1 << 16) | (1 << 19) | (1 << 22), 0, 9, 0x61 | (1 << 16), 0, 9, 0x3f8 | (1 << 16) | (1 << 20) | (1 << 21), 2 | (Seg.FS << 4)]);
    expect(s.cpu.gpr[1]).toBe(3);
  });
});
