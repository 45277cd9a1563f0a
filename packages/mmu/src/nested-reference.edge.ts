/**
 * Test-only: a slow reference for the two-dimensional walk, written separately from
 * nested.ts and paging.ts, straight from the manuals, with BigInt and plain loops. It shares no
 * code with the walkers it checks. Sources:
 * - guest paging: Intel SDM Vol. 3 §4.3 (32-bit), §4.4 (PAE), §4.5 (4/5-level), §4.6 (access
 *   rights), §4.7 (#PF error code), §4.8 (accessed and dirty flags); AMD APM Vol. 2 §5.3
 *   (long-mode MBZ bits);
 * - EPT: SDM Vol. 3 §29.3.2 (translation), §29.3.3.1 (misconfigurations), §29.3.3.2
 *   (violations) and Table 28-7 (exit qualification), §29.3.5 (EPT A/D);
 * - NPT: APM Vol. 2 §15.25.5 (nested table walk: user accesses, guest page tables as user
 *   writes), §15.25.6 (#VMEXIT(NPF), EXITINFO1/EXITINFO2).
 *
 * The choices the manuals leave open are made as nested.ts documents them: A/D flags are set
 * only by a translation that succeeds; an accessed/dirty write-back to a guest entry is a
 * paging-structure write (exit qualification bits 0 and 1); with EPT A/D, the PAE PDPTE loads of
 * MOV to CR are plain reads (no dirty flag, SDM §29.3.5); a failing write-back stops the
 * remaining ones; bits 9 and up of the exit qualification are 0; the EPT exit qualification of
 * a misconfiguration is 0; with guest paging off the linear address is a user-mode, read/write,
 * executable one (SDM Table 28-7, notes to bits 9-11), for MBEC too. Advanced VM-exit
 * information (bits 9-11) is modelled as supported.
 */

/** Memory the reference reads: 32-bit little-endian dwords at 4-aligned addresses. */
export interface RefMemory {
  read32(addr: number): number;
  write32(addr: number, value: number): void;
}

export type RefGuestMode = 'none' | 'legacy32' | 'pae' | 'level4' | 'level5';

export interface RefConfig {
  format: 'ept' | 'npt';
  /** MAXPHYADDR for both levels. */
  maxPhyAddr: number;
  /** EPT: execute-only support. */
  executeOnly: boolean;
  /** Second level: 1 GiB pages supported. */
  slGbPages: boolean;
  /** EPT: the EPTP; NPT: nCR3. */
  root: bigint;
  eptLevels: number;
  eptAd: boolean;
  mbec: boolean;
  /** NPT: host EFER.NXE and CR4.LA57. */
  hostNxe: boolean;
  hostLa57: boolean;
  guest: {
    mode: RefGuestMode;
    cr3: bigint;
    pse: boolean;
    nxe: boolean;
    wp: boolean;
    smep: boolean;
    smap: boolean;
    ac: boolean;
    cpl3: boolean;
    gbPages: boolean;
    amd: boolean;
    /** PAE: the four PDPTE registers. */
    pdptes: bigint[];
  };
}

export interface RefAccess {
  write: boolean;
  fetch: boolean;
  /** Explicit user flag (PageAccess.User). */
  user: boolean;
  implicit: boolean;
}

export type RefKind = 'ok' | 'violation' | 'misconfig' | 'pagefault' | 'invalidPdpte';

export interface RefResult {
  kind: RefKind;
  hostAddr: bigint;
  guestPhys: bigint;
  pageSize: bigint;
  /** Guest #PF error code. */
  errorCode: number;
  /** Second-level fault: exit qualification / EXITINFO1 as one 64-bit value, and the gPA. */
  info: bigint;
  faultGpa: bigint;
  refs: number;
  /** Success: the combined rights (see NestedPageWalker). */
  user: boolean;
  writable: boolean;
  readable: boolean;
  executable: boolean;
  global: boolean;
  dirty: boolean;
}

const bit = (n: number): bigint => 1n << BigInt(n);
/** Mask of bits hi..lo inclusive. */
const bits = (hi: number, lo: number): bigint => (bit(hi + 1) - 1n) & ~(bit(lo) - 1n);

function read64(mem: RefMemory, addr: bigint): bigint {
  const lo = BigInt(mem.read32(Number(addr)) >>> 0);
  const hi = BigInt(mem.read32(Number(addr) + 4) >>> 0);
  return (hi << 32n) | lo;
}
function read32(mem: RefMemory, addr: bigint): bigint {
  return BigInt(mem.read32(Number(addr)) >>> 0);
}
function writeLow(mem: RefMemory, addr: bigint, value: bigint): void {
  mem.write32(Number(addr), Number(value & 0xffff_ffffn) | 0);
}

const NO_LIN: [boolean, boolean, boolean] = [false, false, false];

class Fault {
  constructor(
    readonly kind: RefKind,
    readonly info: bigint,
    readonly gpa: bigint,
  ) {}
}

interface SlOk {
  hpa: bigint;
  size: bigint;
  readable: boolean;
  writable: boolean;
  /** Supervisor-mode execute (EPT bit 2). */
  executable: boolean;
  /** User-mode execute (EPT bit 10 with MBEC, else bit 2). */
  userExecutable: boolean;
  /** The leaf's dirty flag after the access (true without EPT A/D). */
  dirty: boolean;
}

/** The reference second level, with the per-walk reference counter. */
class RefSecondLevel {
  refs = 0;
  constructor(
    readonly mem: RefMemory,
    readonly cfg: RefConfig,
  ) {}

  /** kind: 'final' (with write/fetch/user), 'walkRead', 'walkWrite'; noLinear for PDPTE loads. */
  /** `lin` describes the guest translation for the final access: [user, writable, execute-disabled]. */
  translate(
    gpa: bigint,
    kind: 'final' | 'walkRead' | 'walkWrite',
    write: boolean,
    fetch: boolean,
    lin: [boolean, boolean, boolean],
    noLinear: boolean,
  ): SlOk {
    return this.cfg.format === 'ept'
      ? this.ept(gpa, kind, write, fetch, lin, noLinear)
      : this.npt(gpa, kind, write, fetch);
  }

  private ept(gpa: bigint, kind: string, write: boolean, fetch: boolean, lin: [boolean, boolean, boolean], noLinear: boolean): SlOk {
    const user = lin[0];
    const c = this.cfg;
    const M = c.maxPhyAddr;
    const addrMask = bits(M - 1, 12);
    const present = (e: bigint): boolean => (e & 7n) !== 0n || (c.mbec && (e & bit(10)) !== 0n);
    let table = c.root & addrMask;
    const used: [bigint, bigint][] = [];
    let andR = 1n, andW = 1n, andX = 1n, andXU = 1n;
    let leafSize = 0n;
    let leaf = 0n;
    const qualAccess = (): bigint => {
      if (kind === 'walkRead') return c.eptAd && !noLinear ? 3n : 1n;
      if (kind === 'walkWrite') return 3n;
      if (fetch) return 4n;
      return write ? 2n : 1n;
    };
    const violation = (): never => {
      let q = qualAccess();
      q |= (andR << 3n) | (andW << 4n) | (andX << 5n);
      if (c.mbec) q |= andXU << 6n;
      if (!noLinear) {
        q |= bit(7);
        if (kind === 'final') {
          q |= bit(8);
          if (lin[0]) q |= bit(9);
          if (lin[1]) q |= bit(10);
          if (lin[2]) q |= bit(11);
        }
      }
      throw new Fault('violation', q, gpa);
    };
    for (let level = c.eptLevels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const index = (gpa >> shift) & 0x1ffn;
      const addr = table + index * 8n;
      this.refs++;
      const e = read64(this.mem, addr);
      andR &= e & 1n;
      andW &= (e >> 1n) & 1n;
      andX &= (e >> 2n) & 1n;
      andXU &= (e >> 10n) & 1n;
      if (!present(e)) violation();
      // Misconfigurations, §29.3.3.1.
      const isLeaf = level === 1 || (level <= 3 && (e & bit(7)) !== 0n);
      let bad = false;
      if ((e & 3n) === 2n) bad = true;
      if (!c.executeOnly && (e & 3n) === 0n) bad = true;
      if ((e & bits(51, M < 52 ? M : 51)) !== 0n && M < 52) bad = true;
      if (level >= 4 && (e & bits(7, 3)) !== 0n) bad = true;
      if (!isLeaf && level <= 3 && level >= 2 && (e & bits(6, 3)) !== 0n) bad = true;
      if (isLeaf && level === 3 && !c.slGbPages) bad = true;
      if (isLeaf && level === 3 && (e & bits(29, 12)) !== 0n) bad = true;
      if (isLeaf && level === 2 && (e & bits(20, 12)) !== 0n) bad = true;
      if (isLeaf) {
        const mt = (e >> 3n) & 7n;
        if (mt === 2n || mt === 3n || mt === 7n) bad = true;
      }
      if (bad) throw new Fault('misconfig', 0n, gpa);
      used.push([addr, e]);
      if (isLeaf) {
        leafSize = bit(Number(shift));
        leaf = e;
        break;
      }
      table = e & addrMask;
    }
    const asWrite = kind === 'walkWrite' || (kind === 'walkRead' && c.eptAd && !noLinear) || (kind === 'final' && write);
    let ok: boolean;
    if (kind === 'final' && fetch) ok = (c.mbec && user ? andXU : andX) === 1n;
    else if (asWrite) ok = andW === 1n;
    else ok = andR === 1n;
    if (!ok) violation();
    if (c.eptAd) {
      for (let i = 0; i < used.length; i++) {
        const [addr, e] = used[i];
        let v = e | bit(8);
        if (i === used.length - 1 && asWrite) v |= bit(9);
        if (v !== e) writeLow(this.mem, addr, v);
      }
    }
    const base = leaf & addrMask & ~(leafSize - 1n);
    return {
      hpa: base + (gpa & (leafSize - 1n)),
      size: leafSize,
      readable: andR === 1n,
      writable: andW === 1n,
      executable: andX === 1n,
      userExecutable: (c.mbec ? andXU : andX) === 1n,
      dirty: !c.eptAd || asWrite || (leaf & bit(9)) !== 0n,
    };
  }

  private npt(gpa: bigint, kind: string, write: boolean, fetch: boolean): SlOk {
    const c = this.cfg;
    const M = c.maxPhyAddr;
    const addrMask = bits(M - 1, 12);
    const levels = c.hostLa57 ? 5 : 4;
    const isWrite = kind !== 'final' || write;
    const isFetch = kind === 'final' && fetch;
    // EXITINFO1 (APM Vol. 2 §15.25.6): the #PF error code with U/S = 1 always; ID for code
    // reads ("set to 1 if the nested page table level access was a code read", whatever EFER.NXE).
    let code = 4n | (isWrite ? 2n : 0n) | (isFetch ? 16n : 0n);
    const hiBits = kind === 'final' ? bit(32) : bit(33);
    const fault = (extra: bigint): never => {
      code |= extra;
      throw new Fault('violation', code | hiBits, gpa);
    };
    let table = c.root & addrMask;
    const used: [bigint, bigint][] = [];
    let allUser = true, allWrite = true, anyNx = false;
    let size = 0n;
    let leaf = 0n;
    for (let level = levels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const addr = table + ((gpa >> shift) & 0x1ffn) * 8n;
      this.refs++;
      const e = read64(this.mem, addr);
      if ((e & 1n) === 0n) fault(0n);
      const isLeaf = level === 1 || (level <= 3 && (e & bit(7)) !== 0n);
      let rsvd = M < 52 ? bits(51, M) : 0n;
      if (!c.hostNxe) rsvd |= bit(63);
      if (level >= 4) rsvd |= bit(7) | bit(8);
      if (level === 3 && !isLeaf) rsvd |= bit(8);
      if (level === 3 && isLeaf) rsvd |= c.slGbPages ? bits(29, 13) : bit(7);
      if (level === 2 && isLeaf) rsvd |= bits(20, 13);
      if ((e & rsvd) !== 0n) fault(1n | 8n);
      used.push([addr, e]);
      if ((e & 4n) === 0n) allUser = false;
      if ((e & 2n) === 0n) allWrite = false;
      if ((e & bit(63)) !== 0n) anyNx = true;
      if (isLeaf) {
        size = bit(Number(shift));
        leaf = e;
        break;
      }
      table = e & addrMask;
    }
    if (!allUser || (isWrite && !allWrite) || (isFetch && anyNx)) fault(1n);
    for (let i = 0; i < used.length; i++) {
      const [addr, e] = used[i];
      let v = e | bit(5);
      if (i === used.length - 1 && isWrite) v |= bit(6);
      if (v !== e) writeLow(this.mem, addr, v);
    }
    const base = leaf & addrMask & ~(size - 1n);
    return {
      hpa: base + (gpa & (size - 1n)),
      size,
      readable: true,
      writable: allWrite,
      executable: !anyNx,
      userExecutable: !anyNx,
      dirty: isWrite || (leaf & bit(6)) !== 0n,
    };
  }
}

function emptyResult(kind: RefKind, refs: number): RefResult {
  return {
    kind,
    hostAddr: 0n,
    guestPhys: 0n,
    pageSize: 0n,
    errorCode: 0,
    info: 0n,
    faultGpa: 0n,
    refs,
    user: false,
    writable: false,
    readable: false,
    executable: false,
    global: false,
    dirty: false,
  };
}

/** Loads the PAE PDPTEs through the second level (SDM §4.4.1); returns them or the failure. */
export function refLoadPdptes(mem: RefMemory, cfg: RefConfig): { result: RefResult; pdptes: bigint[] } {
  const sl = new RefSecondLevel(mem, cfg);
  const M = cfg.maxPhyAddr;
  const base = cfg.guest.cr3 & 0xffff_ffe0n;
  const out: bigint[] = [];
  let pdpteReads = 0;
  try {
    // Entry by entry: the load stops at the first present PDPTE with a reserved bit set
    // (bits 2:1, 8:5, 63:MAXPHYADDR; SDM §4.4.1), which raises #GP(0).
    for (let i = 0n; i < 4n; i++) {
      const t = sl.translate(base + i * 8n, 'walkRead', false, false, NO_LIN, true);
      pdpteReads++;
      const e = read64(mem, t.hpa);
      if ((e & 1n) === 1n && ((e & (bits(2, 1) | bits(8, 5))) !== 0n || (e & bits(63, M)) !== 0n)) {
        return { result: emptyResult('invalidPdpte', sl.refs + pdpteReads), pdptes: [] };
      }
      out.push(e);
    }
  } catch (f) {
    if (!(f instanceof Fault)) throw f;
    return { result: { ...emptyResult(f.kind, sl.refs + pdpteReads), info: f.info, faultGpa: f.gpa }, pdptes: [] };
  }
  return { result: emptyResult('ok', sl.refs + pdpteReads), pdptes: out };
}

/** The full two-dimensional translation of linear address `lin`. */
export function refTranslate(mem: RefMemory, cfg: RefConfig, lin: bigint, acc: RefAccess): RefResult {
  const g = cfg.guest;
  const sl = new RefSecondLevel(mem, cfg);
  const M = cfg.maxPhyAddr;
  const userAccess = !acc.implicit && (g.cpl3 || acc.user);
  const longOrPae = g.mode === 'pae' || g.mode === 'level4' || g.mode === 'level5';
  const pfCode = (p: boolean, rsvd: boolean): number =>
    (p ? 1 : 0) |
    (acc.write ? 2 : 0) |
    (userAccess ? 4 : 0) |
    (rsvd ? 8 : 0) |
    (acc.fetch && (g.smep || (g.nxe && longOrPae)) ? 16 : 0);
  let guestRefs = 0;
  const pageFault = (p: boolean, rsvd: boolean): RefResult => ({
    ...emptyResult('pagefault', sl.refs + guestRefs),
    errorCode: pfCode(p, rsvd),
  });
  try {
    let gpa: bigint;
    let gSize: bigint;
    // Guest paging off: every right, and dirty (as the guest walker reports it).
    let user = true;
    let gWritable = true;
    let gExecutable = true;
    let gGlobal = false;
    let gDirty = true;
    if (g.mode === 'none') {
      gpa = lin & 0xffff_ffffn;
      gSize = 4096n;
    } else {
      // Each entry: [gpa of entry, value, width]
      const entries: [bigint, bigint][] = [];
      let writable = true;
      let xd = false;
      let leaf: bigint;
      const readEntry = (addr: bigint, wide: boolean): bigint => {
        const t = sl.translate(addr, 'walkRead', false, false, NO_LIN, false);
        guestRefs++;
        return wide ? read64(mem, t.hpa) : read32(mem, t.hpa);
      };
      if (g.mode === 'legacy32') {
        const pdeAddr = (g.cr3 & 0xffff_f000n) + ((lin >> 22n) & 0x3ffn) * 4n;
        const pde = readEntry(pdeAddr, false);
        if ((pde & 1n) === 0n) return pageFault(false, false);
        entries.push([pdeAddr, pde]);
        if (g.pse && (pde & bit(7)) !== 0n) {
          // 4 MiB page: bits 20:13 are PA bits 39:32 (PSE-36); bit 21 and bits >= MAXPHYADDR reserved.
          const high = (pde >> 13n) & 0xffn;
          const width = Math.min(M, 40);
          if ((pde & bit(21)) !== 0n || (high >> BigInt(width - 32)) !== 0n) return pageFault(true, true);
          gpa = (pde & 0xffc0_0000n) + (high << 32n) + (lin & 0x3f_ffffn);
          gSize = bit(22);
          leaf = pde;
        } else {
          const pteAddr = (pde & 0xffff_f000n) + ((lin >> 12n) & 0x3ffn) * 4n;
          const pte = readEntry(pteAddr, false);
          if ((pte & 1n) === 0n) return pageFault(false, false);
          entries.push([pteAddr, pte]);
          gpa = (pte & 0xffff_f000n) + (lin & 0xfffn);
          gSize = 4096n;
          leaf = pte;
        }
      } else {
        const addrMask = bits(M - 1, 12);
        let level: number;
        let table: bigint;
        if (g.mode === 'pae') {
          const pdpte = g.pdptes[Number((lin >> 30n) & 3n)];
          if ((pdpte & 1n) === 0n) return pageFault(false, false);
          table = pdpte & addrMask;
          level = 2;
        } else {
          table = g.cr3 & addrMask;
          level = g.mode === 'level5' ? 5 : 4;
        }
        for (;;) {
          const shift = BigInt(12 + 9 * (level - 1));
          const addr = table + ((lin >> shift) & 0x1ffn) * 8n;
          const e = readEntry(addr, true);
          if ((e & 1n) === 0n) return pageFault(false, false);
          const isLeaf = level === 1 || (level <= 3 && (e & bit(7)) !== 0n);
          let rsvd = g.mode === 'pae' ? bits(62, M) : M < 52 ? bits(51, M) : 0n;
          if (!g.nxe) rsvd |= bit(63);
          if (level >= 4) rsvd |= bit(7) | (g.amd ? bit(8) : 0n);
          if (level === 3 && !isLeaf && g.amd) rsvd |= bit(8);
          if (level === 3 && isLeaf) rsvd |= g.gbPages ? bits(29, 13) : bit(7);
          if (level === 2 && isLeaf) rsvd |= bits(20, 13);
          if ((e & rsvd) !== 0n) return pageFault(true, true);
          entries.push([addr, e]);
          if (isLeaf) {
            gSize = bit(Number(shift));
            gpa = (e & addrMask & ~(gSize - 1n)) + (lin & (gSize - 1n));
            leaf = e;
            break;
          }
          table = e & addrMask;
          level--;
        }
      }
      for (const [, e] of entries) {
        if ((e & 4n) === 0n) user = false;
        if ((e & 2n) === 0n) writable = false;
        if (longOrPae && (e & bit(63)) !== 0n) xd = true;
      }
      // Access rights, SDM §4.6.
      let allowed: boolean;
      if (userAccess) {
        allowed = user && (acc.fetch ? !xd : acc.write ? writable : true);
      } else if (acc.fetch) {
        allowed = !(user && g.smep) && !xd;
      } else if (user && g.smap && (acc.implicit || !g.ac)) {
        allowed = false;
      } else {
        allowed = !(acc.write && g.wp && !writable);
      }
      if (!allowed) return pageFault(true, false);
      gWritable = writable;
      gExecutable = !xd;
      gGlobal = (leaf & bit(8)) !== 0n;
      gDirty = acc.write || (leaf & bit(6)) !== 0n;
      // Accessed flags everywhere, dirty in the leaf for writes (§4.8), each through the
      // second level as a paging-structure write.
      for (let i = 0; i < entries.length; i++) {
        const [addr, e] = entries[i];
        let v = e | bit(5);
        if (i === entries.length - 1 && acc.write) v |= bit(6);
        if (v !== e) {
          const t = sl.translate(addr, 'walkWrite', true, false, NO_LIN, false);
          writeLow(mem, t.hpa, v);
        }
      }
    }
    const t = sl.translate(gpa, 'final', acc.write, acc.fetch, [user, gWritable, !gExecutable], false);
    return {
      ...emptyResult('ok', sl.refs + guestRefs),
      hostAddr: t.hpa,
      guestPhys: gpa,
      pageSize: t.size < gSize ? t.size : gSize,
      user,
      writable: gWritable && t.writable,
      readable: t.readable,
      executable: gExecutable && (user ? t.userExecutable : t.executable),
      global: gGlobal,
      dirty: gDirty && t.dirty,
    };
  } catch (f) {
    if (!(f instanceof Fault)) throw f;
    return { ...emptyResult(f.kind, sl.refs + guestRefs), info: f.info, faultGpa: f.gpa };
  }
}
