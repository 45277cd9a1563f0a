/**
 * The lab's model, free of the DOM so it can be tested on Node: a small board assembled from
 * platform contracts and a device, and the tables the page shows of it.
 */
import { IsaDebugExit } from '@hvkit/devices';
import { Chipset, hex, PhysicalMemory, PioBus, RegionKind } from '@hvkit/platform';

export interface Board {
  memory: PhysicalMemory;
  pio: PioBus;
  chipset: Chipset;
  debugExit: IsaDebugExit;
}

/** A 16 MiB PC-like board: low RAM, the legacy hole, a 64 KiB ROM, RAM from 1 MiB, isa-debug-exit at 0xF4. */
export function buildBoard(): Board {
  const memory = new PhysicalMemory({ ramSize: 16 << 20 });
  memory.mapRam(0, 0xa0000, 0, 'low RAM');
  memory.mapRom(0xf0000, new Uint8Array(0x10000).fill(0x90), 'BIOS ROM');
  memory.mapRam(0x10_0000, (16 << 20) - 0x10_0000, 0x10_0000, 'high RAM');
  const pio = new PioBus();
  const chipset = new Chipset({ pio, memory });
  const debugExit = chipset.add(new IsaDebugExit({ iobase: 0xf4, iosize: 4 }));
  return { memory, pio, chipset, debugExit };
}

export interface Row {
  range: string;
  kind: string;
  name: string;
}

export function memoryMap(board: Board): Row[] {
  const rows: Row[] = board.memory.memoryRegions().map((r) => ({
    range: `${hex(r.base, 8)}-${hex(r.end - 1, 8)}`,
    kind: r.kind === RegionKind.Ram ? 'RAM' : 'ROM',
    name: r.name,
  }));
  for (const m of board.memory.mmio.registrations()) rows.push({ range: `${hex(m.base, 8)}-${hex(m.end - 1, 8)}`, kind: 'MMIO', name: m.name });
  return rows.sort((a, b) => a.range.localeCompare(b.range));
}

export function portMap(board: Board): Row[] {
  return board.pio.registrations().map((r) => ({ range: `${hex(r.base, 4)}-${hex(r.end - 1, 4)}`, kind: 'PIO', name: r.name }));
}

/** What the guest would do to end a test run: OUT 0xF4, `value`. Returns the exit status. */
export function writeDebugExit(board: Board, value: number): number | null {
  board.pio.write(0xf4, 1, value);
  return board.debugExit.exitStatus;
}
