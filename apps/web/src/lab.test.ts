import { describe, expect, it } from 'vitest';
import { buildBoard, memoryMap, portMap, writeDebugExit } from './lab.js';

describe('the lab board', () => {
  it('shows the memory map in address order', () => {
    expect(memoryMap(buildBoard())).toEqual([
      { range: '0x00000000-0x0009ffff', kind: 'RAM', name: 'low RAM' },
      { range: '0x000f0000-0x000fffff', kind: 'ROM', name: 'BIOS ROM' },
      { range: '0x00100000-0x00ffffff', kind: 'RAM', name: 'high RAM' },
    ]);
  });

  it('shows the port map and runs the debug-exit port like QEMU', () => {
    const board = buildBoard();
    expect(portMap(board)).toEqual([{ range: '0x00f4-0x00f7', kind: 'PIO', name: 'isa-debug-exit' }]);
    expect(writeDebugExit(board, 0x2a)).toBe(0x55);
  });
});
