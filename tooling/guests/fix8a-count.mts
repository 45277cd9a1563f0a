import { readFileSync } from 'node:fs';
import { createPc, MinimalBoard, type PcDeviceSpec } from '@hvkit/machine';
import { buildGuest, guestInfo, guestNames, parseSerial } from './index.mjs';

for (const name of guestNames().filter((n: string) => n.startsWith('vmx_'))) {
  const guest = await buildGuest(name);
  const info = guestInfo(name);
  const image = new Uint8Array(readFileSync(guest.path));
  let serial: string;
  let stop: unknown;
  if (info.pc) {
    const devices: PcDeviceSpec[] = [{ type: 'isa-debug-exit', iobase: 0xf4, iosize: 4 }];
    for (const _d of info.devices) devices.push({ type: 'pc-testdev' });
    const pc = createPc({ memoryMiB: 64, cpus: info.smp, devices, ...(info.vmx ? { virtualization: 'vmx' as const } : {}) });
    pc.bootMultiboot(image, { cmdline: name });
    stop = pc.run(200_000_000);
    serial = pc.serialOutput;
  } else {
    const board = new MinimalBoard({ memoryMiB: 64, ...(info.vmx ? { virtualization: 'vmx' as const } : {}) });
    board.bootMultiboot(image, { cmdline: name });
    stop = board.run(200_000_000);
    serial = board.serialOutput;
  }
  const log = parseSerial(serial);
  const ok = log.checks.filter((c: { kind: string }) => c.kind === 'ok').length;
  const fail = log.checks.filter((c: { kind: string }) => c.kind === 'FAIL');
  console.log(`${name}: ok ${ok} FAIL ${fail.length} final ${JSON.stringify(log.final)} stop ${JSON.stringify(stop)}`);
  for (const f of fail) console.log('   ', (f as { line: string }).line);
}
