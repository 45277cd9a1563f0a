import { describe, expect, it } from 'vitest';
import { isHighAccess, isWellFormedVmcsEncoding, vmcsFieldIndex, vmcsFieldType, vmcsFieldWidth, VmcsField, VmcsFieldType, VmcsFieldWidth } from './index.js';

describe('VMCS field encodings (SDM Vol. 3 §24.11.2, Appendix B)', () => {
  it.each([
    ['GuestEsSelector', VmcsField.GuestEsSelector, VmcsFieldWidth.Bits16, VmcsFieldType.GuestState, 0],
    ['HostEsSelector', VmcsField.HostEsSelector, VmcsFieldWidth.Bits16, VmcsFieldType.HostState, 0],
    ['EptPointer', VmcsField.EptPointer, VmcsFieldWidth.Bits64, VmcsFieldType.Control, 13],
    ['VmcsLinkPointer', VmcsField.VmcsLinkPointer, VmcsFieldWidth.Bits64, VmcsFieldType.GuestState, 0],
    ['PinBasedVmExecControl', VmcsField.PinBasedVmExecControl, VmcsFieldWidth.Bits32, VmcsFieldType.Control, 0],
    ['VmExitReason', VmcsField.VmExitReason, VmcsFieldWidth.Bits32, VmcsFieldType.ExitInformation, 1],
    ['ExitQualification', VmcsField.ExitQualification, VmcsFieldWidth.Natural, VmcsFieldType.ExitInformation, 0],
    ['GuestRip', VmcsField.GuestRip, VmcsFieldWidth.Natural, VmcsFieldType.GuestState, 15],
    ['HostRip', VmcsField.HostRip, VmcsFieldWidth.Natural, VmcsFieldType.HostState, 11],
  ] as const)('%s decodes to its width, type and index', (_name, encoding, width, type, index) => {
    expect(vmcsFieldWidth(encoding)).toBe(width);
    expect(vmcsFieldType(encoding)).toBe(type);
    expect(vmcsFieldIndex(encoding)).toBe(index);
    expect(isHighAccess(encoding)).toBe(false);
    expect(isWellFormedVmcsEncoding(encoding)).toBe(true);
  });

  it('allows high access to 64-bit fields only', () => {
    expect(isWellFormedVmcsEncoding(VmcsField.VmcsLinkPointer | 1)).toBe(true);
    expect(isHighAccess(VmcsField.VmcsLinkPointer | 1)).toBe(true);
    expect(isWellFormedVmcsEncoding(VmcsField.GuestRip | 1)).toBe(false);
    expect(isWellFormedVmcsEncoding(VmcsField.VmExitReason | 1)).toBe(false);
    expect(isWellFormedVmcsEncoding(VmcsField.GuestEsSelector | 1)).toBe(false);
  });

  it('rejects reserved bits 12 and 31:15', () => {
    expect(isWellFormedVmcsEncoding(VmcsField.GuestRip | (1 << 12))).toBe(false);
    expect(isWellFormedVmcsEncoding(VmcsField.GuestRip | (1 << 15))).toBe(false);
    expect(isWellFormedVmcsEncoding(0x8000_0000 | VmcsField.GuestRip)).toBe(false);
  });
});
