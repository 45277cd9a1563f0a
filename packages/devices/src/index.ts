/**
 * `@hvkit/devices`: PC devices behind the `@hvkit/platform` `Device` interface. Devices see
 * only the platform contracts (buses, interrupt lines, DMA, the clock), never the CPU.
 */
export { IsaDebugExit, type IsaDebugExitOptions } from './isa-debug-exit.js';
