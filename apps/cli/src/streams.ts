import { type Input } from './serial-input.js';

/** Where a command writes: `process.stdout`/`process.stderr`, or buffers in tests. */
export interface Output {
  /** Text, or raw bytes (guest output: a serial port carries bytes, not characters). */
  write(chunk: string | Uint8Array): unknown;
  /** Whether the output is a terminal (`process.stderr.isTTY`): progress lines are drawn only there. */
  readonly isTTY?: boolean;
}

export interface Streams {
  out: Output;
  err: Output;
  /** Keystrokes for a guest console on stdio (`process.stdin`); none when absent. */
  in?: Input;
}
