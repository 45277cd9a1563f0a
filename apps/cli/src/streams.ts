/** Where a command writes: `process.stdout`/`process.stderr`, or buffers in tests. */
export interface Output {
  write(text: string): unknown;
}

export interface Streams {
  out: Output;
  err: Output;
}
