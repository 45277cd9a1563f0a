/**
 * Mode switches with real instructions: real mode -> protected mode (SYSENTER) -> 32-bit paging
 * with a 4 MiB page -> IA-32e compatibility mode (4-level paging) -> 64-bit mode (SYSENTER) ->
 * compatibility mode (RETF) -> protected mode (paging off, LME cleared) -> 16-bit protected
 * mode (far JMP) -> real mode with a 4 GiB DS limit left over ("unreal mode"). And PAE paging,
 * then 5-level paging entered through CR4.LA57 before IA-32e activation.
 */
import { describe, expect, it } from 'vitest';
import { CodeMode, Cr0, Cr4, Efer, Seg, StopReason, Vector } from '../src/index.js';
import { CODE, PageTables, Sys } from './sys-harness.js';

function hex(h: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < h.length; i += 2) out.push(parseInt(h.slice(i, i + 2), 16));
  return out;
}

/*
 * Linked at 0x10000 (GNU as, Intel syntax):
 *
 *   .code16                                   .code32
 *   lgdt [0x500]                              pm32: mov ax,0x10; mov ds,ax; mov es,ax
 *   mov ecx,0x174; mov eax,8; xor edx,edx      mov dword ptr [0x600],0x32
 *   wrmsr                  ; SYSENTER_CS       mov eax,cr4; or eax,0x10; mov cr4,eax   ; PSE
 *   mov ecx,0x176; mov eax,pm32; wrmsr         mov eax,0x20000; mov cr3,eax
 *   mov ecx,0x175; mov eax,0x8000; wrmsr       mov eax,cr0; or eax,0x80000000; mov cr0,eax
 *   mov eax,cr0; or al,1; mov cr0,eax          mov eax,[0x400600]; mov [0x604],eax  ; 4 MiB alias
 *   sysenter                                   mov eax,cr0; and eax,0x7fffffff; mov cr0,eax
 *                                              mov eax,cr4; or eax,0x20; mov cr4,eax   ; PAE
 *   .code64                                    mov eax,0x30000; mov cr3,eax            ; PML4
 *   lm64: mov dword ptr [0x60c],0x64           mov ecx,0xc0000080; rdmsr; or eax,0x100; wrmsr
 *   mov rax,0x123456789; mov [0x610],rax       mov eax,cr0; or eax,0x80000000; mov cr0,eax
 *   push 8; push compat; rex.w retf            mov ecx,0xc0000080; rdmsr; mov [0x608],eax
 *                                              mov ecx,0x174; mov eax,0x18; xor edx,edx; wrmsr
 *   .code32                                    mov ecx,0x176; mov eax,lm64; wrmsr
 *   compat: mov eax,cr0; and eax,0x7fffffff    sysenter
 *   mov cr0,eax                                .code16
 *   mov ecx,0xc0000080; rdmsr; mov [0x618],eax pm16: mov eax,cr0; and al,0xfe; mov cr0,eax
 *   and eax,~0x100; wrmsr                      ljmp 0x1000, real2-0x10000
 *   mov eax,cr4; and eax,~0x20; mov cr4,eax    real2: xor ax,ax; mov ds,ax
 *   ljmp 0x20, pm16-0x10000                    addr32 mov eax,[0x200000]; mov [0x61c],eax; hlt
 */
const PROGRAM = hex(
  '0f0116000566b97401000066b8080000006631d20f3066b97601000066b83c0001000f3066b97501000066b8008000000f300f20c00c010f22c00f3466b810008ed88ec0c70500060000320000000f20e083c8100f22e0b8000002000f22d80f20c00d000000800f22c0a100064000a3040600000f20c025ffffff7f0f22c00f20e083c8200f22e0b8000003000f22d8b9800000c00f320d000100000f300f20c00d000000800f22c0b9800000c00f32a308060000b974010000b81800000031d20f30b976010000b8d10001000f300f34c704250c0600006400000048b8896745230100000048890425100600006a0868f700010048cb0f20c025ffffff7f0f22c0b9800000c00f32a31806000025fffeffff0f300f20e083e0df0f22e0ea2501000020000f20c024fe0f22c0ea3201001031c08ed86766a10000200066a31c06f4',
);

function setup(): Sys {
  const s = new Sys();
  // GDT at 0x1000: 08 code32, 10 data (4 GiB), 18 code64, 20 code16 at 0x10000.
  s.desc(0x1000, 1, 0, 0xfffff, 0x9a, 0xc);
  s.desc(0x1000, 2, 0, 0xfffff, 0x92, 0xc);
  s.desc(0x1000, 3, 0, 0xfffff, 0x9a, 0xa);
  s.desc(0x1000, 4, 0x10000, 0xffff, 0x9a, 0x0);
  s.w16(0x500, 0x2f);
  s.w32(0x502, 0x1000);
  // 32-bit page directory: 0-4 MiB and 4-8 MiB both map physical 0 (4 MiB pages).
  s.w32(0x20000, 0x83);
  s.w32(0x20004, 0x83);
  // 4-level: PML4 0x30000 -> PDPT 0x31000 -> PD 0x32000 with two 2 MiB pages.
  const pt = new PageTables(s, 'l4', 0x30000);
  pt.map(0n, 0, 0x83, '2m');
  pt.map(0x200000n, 0x200000, 0x83, '2m');
  s.w32(0x200000, 0xfeedface);
  s.real().code(PROGRAM);
  return s;
}

describe('mode switches', () => {
  it('real -> protected -> paged -> IA-32e -> 64-bit -> compatibility -> protected -> real (unreal)', () => {
    const s = setup();
    expect(s.run(1000)).toBe(StopReason.Halt);
    expect(s.events).toEqual([]);
    const c = s.cpu;
    expect(s.r32(0x600)).toBe(0x32);
    expect(s.r32(0x604)).toBe(0x32); // read through the 4 MiB alias
    expect(s.r32(0x608)).toBe(Efer.LME | Efer.LMA); // IA-32e activated by CR0.PG
    expect(s.r32(0x60c)).toBe(0x64); // reached 64-bit code
    expect(s.r64(0x610)).toBe(0x123456789n); // a 64-bit store
    expect(s.r32(0x618)).toBe(Efer.LME); // LMA cleared with CR0.PG
    expect(s.r32(0x61c)).toBe(0xfeedface); // real mode, offset above 1 MiB
    expect(c.cr0 & (Cr0.PE | Cr0.PG)).toBe(0);
    expect(c.efer).toBe(0);
    expect(c.cr4).toBe(Cr4.PSE);
    expect(c.mode).toBe(CodeMode.Bits16);
    expect(c.segSel[Seg.DS]).toBe(0);
    expect(c.segLimit[Seg.DS]).toBe(0xffffffff);
    expect(c.segSel[Seg.CS]).toBe(0x1000);
  });

  it('stops at each stage in the expected mode', () => {
    const s = setup();
    const c = s.cpu;
    const modes: string[] = [];
    let last = '';
    for (let i = 0; i < 200 && !c.halted; i++) {
      const m = `${(c.cr0 & Cr0.PE) !== 0 ? 'P' : 'R'}${(c.cr0 & Cr0.PG) !== 0 ? 'G' : ''}${(c.efer & Efer.LMA) !== 0 ? 'L' : ''}${c.mode}`;
      if (m !== last) modes.push(m);
      last = m;
      c.step();
    }
    expect(s.events).toEqual([]);
    // R16: real; P0: PE set, still 16-bit CS; P1: 32-bit; PG1: 32-bit paging; P1: off;
    // PGL1: compatibility mode; PGL2: 64-bit; PGL1; P1; P0: 16-bit PM; R0: real.
    expect(modes).toEqual(['R0', 'P0', 'P1', 'PG1', 'P1', 'PGL1', 'PGL2', 'PGL1', 'P1', 'P0', 'R0']);
  });

  it('without the unreal-mode leftover, an offset above 64 KiB is #GP in real mode', () => {
    const s = new Sys().real();
    s.code([0x31, 0xc0, 0x8e, 0xd8, 0x67, 0x66, 0xa1, 0x00, 0x00, 0x20, 0x00, 0xf4]);
    s.run(10);
    expect(s.fault).toEqual({ vector: Vector.GP, error: 0 });
  });

  /*
   * From flat 32-bit protected mode:
   *   mov eax,cr4; or eax,0x20; mov cr4,eax; mov eax,0x40000; mov cr3,eax     ; PAE, PDPT
   *   mov eax,cr0; or eax,0x80000000; mov cr0,eax
   *   mov eax,[0x40200600]; mov [0x620],eax                                     ; PAE 2 MiB page
   *   mov eax,cr0; and eax,0x7fffffff; mov cr0,eax
   *   mov eax,cr4; or eax,0x1000; mov cr4,eax; mov eax,0x50000; mov cr3,eax   ; LA57, PML5
   *   mov ecx,0xc0000080; rdmsr; or eax,0x100; wrmsr
   *   mov eax,cr0; or eax,0x80000000; mov cr0,eax                              ; 5-level paging
   *   mov eax,[0x600]; mov [0x624],eax; hlt
   */
  const PAE_LA57 = hex(
    '0f20e083c8200f22e0b8000004000f22d80f20c00d000000800f22c0a100062040a3200600000f20c025ffffff7f0f22c00f20e00d001000000f22e0b8000005000f22d8b9800000c00f320d000100000f300f20c00d000000800f22c0a100060000a324060000f4',
  );

  it('PAE paging, then 5-level paging selected by CR4.LA57 before IA-32e activation', () => {
    const s = new Sys().flat32();
    const pae = new PageTables(s, 'pae', 0x40000);
    pae.map(0n, 0, 0x83, '2m');
    pae.map(0x40200000n, 0, 0x83, '2m');
    const l5 = new PageTables(s, 'l5', 0x50000);
    l5.map(0n, 0, 0x83, '2m');
    s.w32(0x600, 0x5150);
    s.code(PAE_LA57);
    expect(s.run(100)).toBe(StopReason.Halt);
    expect(s.events).toEqual([]);
    expect(s.r32(0x620)).toBe(0x5150);
    expect(s.r32(0x624)).toBe(0x5150);
    expect(s.cpu.pagingMode).toBe(4); // PagingMode.Level5
    expect(s.cpu.efer & Efer.LMA).toBe(Efer.LMA);
    expect(s.cpu.ripLo).toBe(CODE + PAE_LA57.length);
  });
});
