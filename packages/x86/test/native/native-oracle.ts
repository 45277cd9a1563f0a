/**
 * Driver of the native differential-testing oracle: builds `oracle.c` + `trampoline.S` with
 * the system gcc on first use and runs batches of snippet cases on the host CPU.
 *
 * The binary is cached in `os.tmpdir()/hvkit-native-oracle-<hash>/hvkit-oracle`, where the
 * hash covers the sources and the compiler command, so it is rebuilt exactly when they change.
 * `available()` is false on hosts that are not x86-64 Linux, without gcc, or where the built
 * helper does not pass a one-case smoke run; `unavailableReason()` says why, for skip messages.
 *
 * Batches go to one long-lived helper over two named pipes with blocking writeSync/readSync,
 * in requests of 2048 records. Measured on the 2-core AMD EPYC development host (262,144
 * `add eax, ebx` cases, end to end from Node): one `spawnSync` per 65,536-case batch ran
 * ~1.0 M cases/s (the spawn costs ~8 ms and Node's pipe plumbing the rest), the long-lived
 * helper ~2.4 M cases/s; the helper itself runs ~3.7 M cases/s (0.07 s per 262,144 cases).
 * With generated cases (about 8% of them fault, and each fault is a signal delivery) the
 * helper alone takes 0.2-0.35 s per 262,144 cases and 2,000,000 cases take ~1.9 s end to end.
 * `runBatchOnce` keeps the `spawnSync` path for callers that want no background process.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BATCH_FP,
  CODE_BASE,
  CODE_MAX,
  DATA_SIZE,
  FX_SIZE,
  HEADER_SIZE,
  IN_CODE,
  IN_CODE_LEN,
  IN_FX,
  IN_GPR,
  IN_MAGIC,
  IN_MEM,
  IN_RECORD,
  IN_RECORD_FP,
  IN_RFLAGS,
  OUT_ERROR_CODE,
  OUT_FAULT_ADDR,
  OUT_FX,
  OUT_GPR,
  OUT_MAGIC,
  OUT_MEM,
  OUT_RECORD,
  OUT_RECORD_FP,
  OUT_RFLAGS,
  OUT_RIP,
  OUT_STATUS,
  OUT_VECTOR,
} from './layout.js';

export * from './layout.js';

/** One snippet and its inputs. */
export interface SnippetCase {
  /** Instruction bytes (at most CODE_MAX), placed at CODE_BASE. */
  code: Uint8Array;
  /** 32 entries: lo, hi for RAX RCX RDX RBX RSP RBP RSI RDI R8..R15. */
  gpr: Int32Array;
  /** RFLAGS on entry (only RFLAGS_IN_MASK bits matter; 0x202 is forced on). */
  rflags: number;
  /** Initial data window (DATA_SIZE bytes at DATA_BASE). */
  mem: Uint8Array;
  /**
   * FP cases only: the FXSAVE64 image (FX_SIZE bytes) loaded before the snippet (x87 stack, FCW,
   * FSW with TOP, abridged tag, MXCSR, XMM0-15). Undefined: the snippet sees whatever FP state
   * the oracle has (integer cases, which must not depend on it).
   */
  fx?: Uint8Array;
}

/** What the snippet left behind. */
export interface SnippetResult {
  /** Exception vector, or VECTOR_NONE (-1); -2 timeout, -3 syscall attempted (native only). */
  vector: number;
  /** Error code of the exception (0 when it has none). */
  errorCode: number;
  /** 32 entries: lo, hi for RAX..R15, at the end or at the fault. */
  gpr: Int32Array;
  /** RFLAGS (low 32 bits) at the end, or the image pushed for the exception. */
  rflags: number;
  /** The data window at the end or at the fault. */
  mem: Uint8Array;
  /** RIP - CODE_BASE: code.length at a normal end, the faulting instruction (or, for traps, the next one) otherwise. */
  ripOffset: number;
  /** FP cases only: the FXSAVE64 image at the end or at the fault. */
  fx?: Uint8Array;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCES = ['oracle.c', 'trampoline.S'];
const GCC_ARGS = ['-O2', '-o'];

/** A batch of cases laid out exactly as the oracle reads them (header + fixed records). */
export class CaseBatch {
  readonly count: number;
  /** FP batch (BATCH_FP): every record carries an FXSAVE64 image in and out. */
  readonly fp: boolean;
  /** Bytes per input record (IN_RECORD, or IN_RECORD_FP for an FP batch). */
  readonly recordSize: number;
  /** The whole request: header followed by `count` input records. */
  readonly bytes: Uint8Array;
  private readonly i32: Int32Array;

  constructor(count: number, fp = false) {
    this.count = count;
    this.fp = fp;
    this.recordSize = fp ? IN_RECORD_FP : IN_RECORD;
    const buffer = new ArrayBuffer(HEADER_SIZE + count * this.recordSize);
    this.bytes = new Uint8Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.i32[0] = IN_MAGIC;
    this.i32[1] = count;
    this.i32[2] = DATA_SIZE;
    this.i32[3] = fp ? BATCH_FP : 0;
  }

  /** Byte offset of record `i`. */
  offset(i: number): number {
    return HEADER_SIZE + i * this.recordSize;
  }

  /** Stores one case (code, registers, flags, window, FP image) as record `i`. */
  set(i: number, c: SnippetCase): void {
    this.setParts(i, c.code, c.code.length, c.gpr, c.rflags, c.mem);
    if (this.fp) {
      if (c.fx === undefined) throw new Error('FP batch: case without an FXSAVE image');
      this.setFx(i, c.fx);
    }
  }

  /** Stores the FXSAVE64 image of record `i` (FP batches). */
  setFx(i: number, fx: Uint8Array): void {
    if (!this.fp) throw new Error('setFx on an integer batch');
    this.bytes.set(fx.subarray(0, FX_SIZE), this.offset(i) + IN_FX);
  }

  /** Stores record `i` from its parts; `codeLen` bytes of `code` are used. */
  setParts(i: number, code: Uint8Array, codeLen: number, gpr: Int32Array, rflags: number, mem: Uint8Array): void {
    if (codeLen > CODE_MAX) throw new RangeError(`snippet of ${codeLen} bytes exceeds ${CODE_MAX}`);
    const o = this.offset(i);
    const w = o >> 2;
    this.i32.set(gpr.subarray(0, 32), w + (IN_GPR >> 2));
    this.i32[w + (IN_RFLAGS >> 2)] = rflags;
    this.i32[w + (IN_RFLAGS >> 2) + 1] = 0;
    this.i32[w + (IN_CODE_LEN >> 2)] = codeLen;
    this.i32[w + (IN_CODE_LEN >> 2) + 1] = 0;
    const b = this.bytes;
    b.set(code.subarray(0, codeLen), o + IN_CODE);
    b.fill(0, o + IN_CODE + codeLen, o + IN_CODE + CODE_MAX);
    b.set(mem.subarray(0, DATA_SIZE), o + IN_MEM);
  }

  /** Record `i` as a SnippetCase whose arrays are views into this batch (no copies). */
  get(i: number): SnippetCase {
    const o = this.offset(i);
    const len = this.i32[(o + IN_CODE_LEN) >> 2]!;
    return {
      code: this.bytes.subarray(o + IN_CODE, o + IN_CODE + len),
      gpr: this.i32.subarray((o + IN_GPR) >> 2, ((o + IN_GPR) >> 2) + 32),
      rflags: this.i32[(o + IN_RFLAGS) >> 2]! >>> 0,
      mem: this.bytes.subarray(o + IN_MEM, o + IN_MEM + DATA_SIZE),
      fx: this.fp ? this.bytes.subarray(o + IN_FX, o + IN_FX + FX_SIZE) : undefined,
    };
  }
}

/** The oracle's answer to a CaseBatch. */
export class ResultBatch {
  readonly count: number;
  /** FP batch: every record carries the FXSAVE64 image at the end or at the fault. */
  readonly fp: boolean;
  /** Bytes per output record (OUT_RECORD, or OUT_RECORD_FP). */
  readonly recordSize: number;
  readonly bytes: Uint8Array;
  private readonly i32: Int32Array;

  constructor(bytes: Uint8Array) {
    if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
    this.bytes = bytes;
    this.i32 = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    if (this.i32[0] !== OUT_MAGIC) throw new Error('native oracle: bad response magic');
    this.count = this.i32[1]!;
    this.fp = (this.i32[3]! & BATCH_FP) !== 0;
    this.recordSize = this.fp ? OUT_RECORD_FP : OUT_RECORD;
    if (bytes.byteLength !== HEADER_SIZE + this.count * this.recordSize) {
      throw new Error(`native oracle: response of ${bytes.byteLength} bytes for ${this.count} records`);
    }
  }

  private w(i: number, field: number): number {
    return (HEADER_SIZE + i * this.recordSize + field) >> 2;
  }

  /** The FXSAVE64 image of record `i` (FP batches; undefined otherwise). */
  fxView(i: number): Uint8Array | undefined {
    if (!this.fp) return undefined;
    const o = HEADER_SIZE + i * this.recordSize + OUT_FX;
    return this.bytes.subarray(o, o + FX_SIZE);
  }

  vector(i: number): number {
    return this.i32[this.w(i, OUT_VECTOR)]!;
  }

  errorCode(i: number): number {
    return this.i32[this.w(i, OUT_ERROR_CODE)]! >>> 0;
  }

  status(i: number): number {
    return this.i32[this.w(i, OUT_STATUS)]! >>> 0;
  }

  rflags(i: number): number {
    return this.i32[this.w(i, OUT_RFLAGS)]! >>> 0;
  }

  /** RIP - CODE_BASE (exact while |RIP| < 2^53). */
  ripOffset(i: number): number {
    const k = this.w(i, OUT_RIP);
    return this.i32[k + 1]! * 0x1_0000_0000 + (this.i32[k]! >>> 0) - CODE_BASE;
  }

  /** CR2 for a #PF as [lo, hi] (unsigned 32-bit halves), else [0, 0]. */
  faultAddress(i: number): [number, number] {
    const k = this.w(i, OUT_FAULT_ADDR);
    return [this.i32[k]! >>> 0, this.i32[k + 1]! >>> 0];
  }

  /** Register half `j` (0..31) of record `i`. */
  gprHalf(i: number, j: number): number {
    return this.i32[this.w(i, OUT_GPR) + j]!;
  }

  gprView(i: number): Int32Array {
    const k = this.w(i, OUT_GPR);
    return this.i32.subarray(k, k + 32);
  }

  memView(i: number): Uint8Array {
    const o = HEADER_SIZE + i * this.recordSize + OUT_MEM;
    return this.bytes.subarray(o, o + DATA_SIZE);
  }

  /** Record `i` as a SnippetResult whose arrays are views into this batch. */
  get(i: number): SnippetResult {
    return {
      vector: this.vector(i),
      errorCode: this.errorCode(i),
      gpr: this.gprView(i),
      rflags: this.rflags(i),
      mem: this.memView(i),
      ripOffset: this.ripOffset(i),
      fx: this.fxView(i),
    };
  }
}

interface Availability {
  ok: boolean;
  reason: string;
  binary: string;
}

let cached: Availability | undefined;

function sourceHash(): string {
  const h = createHash('sha256');
  h.update(`gcc ${GCC_ARGS.join(' ')}\n`);
  for (const f of SOURCES) {
    h.update(`${f}\n`);
    h.update(readFileSync(path.join(HERE, f)));
  }
  return h.digest('hex').slice(0, 16);
}

function probe(): Availability {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ok: false, reason: `native oracle needs x86-64 Linux (this is ${process.platform}/${process.arch})`, binary: '' };
  }
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error !== undefined || gcc.status !== 0) {
    return { ok: false, reason: 'native oracle needs the system gcc, which is not on PATH', binary: '' };
  }
  const dir = path.join(os.tmpdir(), `hvkit-native-oracle-${sourceHash()}`);
  const binary = path.join(dir, 'hvkit-oracle');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${binary}.${process.pid}.tmp`;
    const r = spawnSync('gcc', [...GCC_ARGS, tmp, ...SOURCES.map((f) => path.join(HERE, f))], { encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(tmp, { force: true });
      return { ok: false, reason: `native oracle: gcc failed:\n${r.stderr ?? ''}${r.error?.message ?? ''}`, binary: '' };
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, binary); // atomic: concurrent test workers may race to build
  }
  // One-case smoke run: a CLC leaves all registers alone.
  const batch = new CaseBatch(1);
  batch.setParts(0, Uint8Array.of(0xf8), 1, new Int32Array(32), 0x202, new Uint8Array(DATA_SIZE));
  try {
    const res = spawnBatch(binary, batch);
    if (res.count !== 1 || res.vector(0) !== -1) throw new Error(`smoke case gave vector ${res.vector(0)}`);
  } catch (e) {
    return { ok: false, reason: `native oracle does not run here: ${(e as Error).message}`, binary: '' };
  }
  return { ok: true, reason: '', binary };
}

function availability(): Availability {
  cached ??= probe();
  return cached;
}

/** True when the native oracle can run on this host (x86-64 Linux with gcc). */
export function available(): boolean {
  return availability().ok;
}

/** Why the oracle is unavailable ('' when it is available). */
export function unavailableReason(): string {
  return availability().reason;
}

/** Path of the built helper (builds it if needed); throws when unavailable. */
export function oracleBinary(): string {
  const a = availability();
  if (!a.ok) throw new Error(a.reason);
  return a.binary;
}

function spawnBatch(binary: string, batch: CaseBatch): ResultBatch {
  const r = spawnSync(binary, [], {
    input: batch.bytes,
    maxBuffer: HEADER_SIZE + batch.count * (batch.fp ? OUT_RECORD_FP : OUT_RECORD) + 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) {
    throw new Error(`native oracle exited with ${r.status ?? r.signal}: ${r.stderr.toString('utf8')}`);
  }
  return new ResultBatch(r.stdout);
}

/**
 * Records per request on the long-lived helper: at most ~820 KB each way, inside its 1 MiB stdio
 * buffers (2048 integer records, 1024 FP records).
 */
const CHUNK = 2048;
const CHUNK_FP = 1024;

/**
 * A long-lived helper serving batches over two named pipes, driven with blocking
 * `writeSync`/`readSync`. Each request of at most CHUNK records is written whole before its
 * answer is read; the helper buffers up to 1 MiB of answers, so neither side can block the
 * other. If the helper dies, the read sees EOF and the next batch starts a new helper.
 */
class OracleProcess {
  private readonly child: ChildProcess;
  private readonly wfd: number;
  private readonly rfd: number;
  private closed = false;

  constructor(binary: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hvkit-oracle-fifo-'));
    const req = path.join(dir, 'req');
    const resp = path.join(dir, 'resp');
    const mk = spawnSync('mkfifo', ['-m', '600', req, resp], { encoding: 'utf8' });
    if (mk.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mkfifo failed: ${mk.stderr ?? mk.error?.message ?? ''}`);
    }
    // The helper opens both FIFOs before anything else, so these blocking opens pair up.
    this.child = spawn(binary, [req, resp], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.child.unref();
    try {
      this.wfd = openSync(req, 'w');
      this.rfd = openSync(resp, 'r');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  run(batch: CaseBatch): ResultBatch {
    if (this.closed) throw new Error('native oracle process closed');
    const outRecord = batch.fp ? OUT_RECORD_FP : OUT_RECORD;
    const chunk = batch.fp ? CHUNK_FP : CHUNK;
    const flags = batch.fp ? BATCH_FP : 0;
    const out = new Uint8Array(HEADER_SIZE + batch.count * outRecord);
    const header = new Int32Array(4);
    const headerBytes = new Uint8Array(header.buffer);
    try {
      for (let start = 0; start < batch.count; start += chunk) {
        const n = Math.min(chunk, batch.count - start);
        header[0] = IN_MAGIC;
        header[1] = n;
        header[2] = DATA_SIZE;
        header[3] = flags;
        writeAll(this.wfd, headerBytes, 0, HEADER_SIZE);
        writeAll(this.wfd, batch.bytes, batch.offset(start), n * batch.recordSize);
        readAll(this.rfd, headerBytes, 0, HEADER_SIZE);
        if (header[0] !== OUT_MAGIC || header[1] !== n || header[3] !== flags) throw new Error('native oracle: bad response header');
        readAll(this.rfd, out, HEADER_SIZE + start * outRecord, n * outRecord);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    const h = new Int32Array(out.buffer, 0, 4);
    h[0] = OUT_MAGIC;
    h[1] = batch.count;
    h[2] = DATA_SIZE;
    h[3] = flags;
    return new ResultBatch(out);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.wfd); // the helper sees EOF and exits
    closeSync(this.rfd);
  }
}

function writeAll(fd: number, buf: Uint8Array, offset: number, length: number): void {
  const end = offset + length;
  while (offset < end) offset += writeSync(fd, buf, offset, end - offset);
}

function readAll(fd: number, buf: Uint8Array, offset: number, length: number): void {
  const end = offset + length;
  while (offset < end) {
    const n = readSync(fd, buf, offset, end - offset, null);
    if (n === 0) throw new Error('native oracle: helper exited (EOF on its response pipe)');
    offset += n;
  }
}

let server: OracleProcess | undefined;

/** Runs a batch on the host CPU (through a long-lived helper process). */
export function runBatch(batch: CaseBatch): ResultBatch {
  const binary = oracleBinary();
  if (batch.count === 0) return emptyResult(batch.fp);
  server ??= new OracleProcess(binary);
  const s = server;
  try {
    return s.run(batch);
  } catch (e) {
    if (server === s) server = undefined;
    throw e;
  }
}

/** Runs a batch with one short-lived helper process (`spawnSync`): slower, but self-contained. */
export function runBatchOnce(batch: CaseBatch): ResultBatch {
  return spawnBatch(oracleBinary(), batch);
}

/** Stops the long-lived helper (it also stops by itself when this process exits). */
export function closeOracle(): void {
  server?.close();
  server = undefined;
}

function emptyResult(fp: boolean): ResultBatch {
  const b = new Uint8Array(HEADER_SIZE);
  const h = new Int32Array(b.buffer);
  h[0] = OUT_MAGIC;
  h[2] = DATA_SIZE;
  h[3] = fp ? BATCH_FP : 0;
  return new ResultBatch(b);
}

/** Convenience: runs individual cases (copies them into a batch; an FP batch when any case has `fx`). */
export function runCases(cases: readonly SnippetCase[]): SnippetResult[] {
  const fp = cases.some((c) => c.fx !== undefined);
  const batch = new CaseBatch(cases.length, fp);
  cases.forEach((c, i) => batch.set(i, c));
  const res = runBatch(batch);
  const out: SnippetResult[] = [];
  for (let i = 0; i < res.count; i++) out.push(res.get(i));
  return out;
}
