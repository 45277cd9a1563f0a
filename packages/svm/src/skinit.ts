/**
 * SKINIT (APM Vol. 2 §15.27 "Secure Startup with SKINIT", §15.27.6 "SKINIT Operation"; §15.24.8
 * SL_DEV; Vol. 3 "SKINIT").
 *
 * {@link opSkinit} runs after the #UD/#GP checks and the SKINIT intercept (instructions.ts) and
 * follows the steps of §15.27.6:
 * 1. Reinitialize as for INIT, then flat 32-bit protected mode with paging off: CS = 8h (base 0,
 *    limit 4 GiB, 32-bit execute/read), SS = 10h (base 0, limit 4 GiB, 32-bit read/write,
 *    expand-up); DS, ES, FS and GS left as 16-bit real-mode segments (selector 0, base 0, limit
 *    FFFFh), LDTR/TR/GDTR/IDTR as after INIT (base 0, limit FFFFh); the general registers
 *    cleared except EAX (SLB base), EDX (family/model/stepping: the CPUID Fn0000_0001_EAX
 *    signature) and ESP; RFLAGS = 2; CR0 = the INIT value (CD, NW, ET; APM Table 14-1
 *    6000_0010h) | PE; CR2, CR3, CR4 = 0; DR0-DR3 = 0, DR6 = FFFF_0FF0h, DR7 = 400h. The x87/SSE
 *    state and the MSRs are kept, except EFER = 0 and VM_CR.DPD, R_INIT, DIS_A20M = 1.
 * 2. SLB base = EAX with bits 15:0 cleared (EAX is updated); SL_DEV protection of the 64 KiB SLB
 *    through `svm.dev` (the machine's DEV) when there is one.
 * 3. Multiprocessor handshake (§15.27.8): software must have put every AP in INIT state (INIT
 *    IPI) before SKINIT; APs answering a later Startup IPI also clear their GIF and set
 *    VM_CR.DPD/R_INIT/DIS_A20M. hvkit does not check that the APs are in INIT state and does not
 *    change how they take a Startup IPI (the core has no host-mode SIPI hook); an SL that wants
 *    the APs masked runs CLGI on them itself.
 * 4./5. The SL image (length = the word at SLB + 2, §15.27.2; at most 65535 bytes) goes "to the
 *    TPM": hvkit has no TPM and appends a {@link SkinitRecord} with the image's SHA-1 (what a
 *    TPM 1.2 extends into PCR 17) to `svm.skinitLog`.
 * 6. GIF = 0 (INTR, NMI, SMI and INIT held pending until STGI).
 * 7. ESP = SLB + 65536.
 * 8. EIP = SLB + the entry offset (the word at SLB + 0).
 *
 * SKINIT ignores breakpoint and trace traps (§15.27.6): pending debug traps are dropped and
 * RFLAGS.TF is clear afterwards. Gap: a SKINIT executed with TF = 1 still gets the core's
 * single-step #DB after it (the run loop decides that trap from TF as the instruction starts and
 * offers no way to cancel it). The SLB lies below 4 GiB (EAX is 32 bits); it is read as
 * physical memory. SKINIT in guest mode without the SKINIT intercept works on the guest's state
 * with EAX as a host-physical address (the APM says nothing more; hypervisors intercept it).
 */
import type { Hpa } from '@hvkit/platform';
import * as x86 from '@hvkit/x86';
import type { Cpu } from '@hvkit/x86';
import { VmCr } from './constants.js';
import type { SkinitRecord, SvmCpu } from './svm.js';

const { Cr0, Seg, SegAttr, signature } = x86;

/** The SLB size (§15.27.3). */
export const SLB_SIZE = 0x10000;

const CODE32 = SegAttr.P | SegAttr.S | SegAttr.Code | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
const DATA32 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed | SegAttr.DB | SegAttr.G;
const DATA16 = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.Accessed;

/** SKINIT with `eax` = the EAX operand (bits 15:0 are cleared to form the SLB base). */
export function opSkinit(svm: SvmCpu, cpu: Cpu, eax: number): void {
  const slb = (eax & 0xffff0000) >>> 0;
  // Step 2: SL_DEV protection before the image is read.
  const dev = svm.dev;
  if (dev !== null) dev.protect(slb, SLB_SIZE);
  // Steps 4/5: the SL header and image (§15.27.2).
  const mem = cpu.memory;
  const entryOffset = mem.read16(slb as Hpa);
  const length = mem.read16((slb + 2) as Hpa);
  const image = new Uint8Array(length);
  if (length > 0) mem.read(slb as Hpa, image);
  const record: SkinitRecord = {
    slb,
    length,
    sha1: sha1Hex(image),
    entry: slb + entryOffset,
    devProtected: dev !== null,
  };
  svm.skinitLog.push(record);
  // Step 1: INIT-like reinitialization, then flat 32-bit protected mode, paging off.
  cpu.gpr.fill(0);
  cpu.gprHi.fill(0);
  cpu.gpr[0] = slb | 0;
  cpu.gpr[2] = signature(cpu.model);
  cpu.setEflags(2);
  cpu.cr0 = Cr0.ET | Cr0.CD | Cr0.NW | Cr0.PE;
  cpu.cr2Lo = cpu.cr2Hi = 0;
  cpu.cr3Lo = cpu.cr3Hi = 0;
  cpu.cr4 = 0;
  cpu.efer = 0;
  for (let i = 0; i < 4; i++) cpu.drLo[i] = cpu.drHi[i] = 0;
  cpu.drLo[6] = 0xffff0ff0 | 0;
  cpu.drHi[6] = 0;
  cpu.drLo[7] = 0x400;
  cpu.drHi[7] = 0;
  cpu.setSegmentRaw(Seg.CS, 0x08, 0, 0xffffffff, CODE32);
  cpu.setSegmentRaw(Seg.SS, 0x10, 0, 0xffffffff, DATA32);
  cpu.setSegmentRaw(Seg.DS, 0, 0, 0xffff, DATA16);
  cpu.setSegmentRaw(Seg.ES, 0, 0, 0xffff, DATA16);
  cpu.setSegmentRaw(Seg.FS, 0, 0, 0xffff, DATA16);
  cpu.setSegmentRaw(Seg.GS, 0, 0, 0xffff, DATA16);
  cpu.setSegmentRaw(Seg.LDTR, 0, 0, 0xffff, SegAttr.P | 2);
  cpu.setSegmentRaw(Seg.TR, 0, 0, 0xffff, SegAttr.P | 11);
  cpu.gdtrBaseLo = cpu.gdtrBaseHi = cpu.idtrBaseLo = cpu.idtrBaseHi = 0;
  cpu.gdtrLimit = cpu.idtrLimit = 0xffff;
  cpu.cpl = 0;
  cpu.halted = false;
  cpu.interruptShadow = false;
  cpu.stiShadow = false;
  cpu.insnShadow = 0;
  cpu.pendingDb = 0;
  cpu.nmiBlocked = false;
  svm.vmCr |= VmCr.Dpd | VmCr.RInit | VmCr.DisA20m;
  // Step 6.
  cpu.gif = false;
  // Step 7.
  cpu.gpr[4] = (slb + SLB_SIZE) | 0;
  // Step 8.
  cpu.ripLo = (slb + entryOffset) | 0;
  cpu.ripHi = 0;
  cpu.flushTlb(true);
  cpu.contextChanged();
}

// ---- SHA-1 (FIPS 180-4 §6.1) --------------------------------------------------------------------

const W = new Int32Array(80);
const H = new Int32Array(5);

/** SHA-1 of `data` as 40 lowercase hex digits (FIPS 180-4 §6.1.2). */
export function sha1Hex(data: Uint8Array): string {
  H[0] = 0x67452301;
  H[1] = 0xefcdab89 | 0;
  H[2] = 0x98badcfe | 0;
  H[3] = 0x10325476;
  H[4] = 0xc3d2e1f0 | 0;
  const n = data.length;
  // Padding (§5.1.1): 0x80, zeros, the 64-bit big-endian bit length; whole 64-byte blocks.
  const total = (((n + 8) >>> 6) + 1) << 6;
  const bitsHi = Math.floor(n / 0x20000000);
  const bitsLo = (n * 8) | 0;
  for (let block = 0; block < total; block += 64) {
    for (let t = 0; t < 16; t++) {
      let w = 0;
      for (let k = 0; k < 4; k++) {
        const i = block + t * 4 + k;
        let b: number;
        if (i < n) b = data[i]!;
        else if (i === n) b = 0x80;
        else if (i >= total - 8) {
          const j = i - (total - 8); // 0..7 of the length field
          b = j < 4 ? (bitsHi >>> ((3 - j) * 8)) & 0xff : (bitsLo >>> ((7 - j) * 8)) & 0xff;
        } else b = 0;
        w = (w << 8) | b;
      }
      W[t] = w;
    }
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = H[0]!;
    let b = H[1]!;
    let c = H[2]!;
    let d = H[3]!;
    let e = H[4]!;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const tmp = (((a << 5) | (a >>> 27)) + f + e + k + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    H[0] = (H[0]! + a) | 0;
    H[1] = (H[1]! + b) | 0;
    H[2] = (H[2]! + c) | 0;
    H[3] = (H[3]! + d) | 0;
    H[4] = (H[4]! + e) | 0;
  }
  let hex = '';
  for (let i = 0; i < 5; i++) hex += (H[i]! >>> 0).toString(16).padStart(8, '0');
  return hex;
}
