/**
 * Host keystrokes for COM1, as QEMU's `-serial mon:stdio` (what `-nographic` uses) handles them:
 * bytes go to the guest's UART, except the escape character Ctrl-A, which starts a command:
 *
 * | keys | what happens |
 * | --- | --- |
 * | Ctrl-A x | quit (status 0) |
 * | Ctrl-A h, Ctrl-A ? | print the list of commands |
 * | Ctrl-A Ctrl-A | send one Ctrl-A to the guest |
 * | Ctrl-A c | hvkit has no monitor: says so |
 * | Ctrl-A b | (a break: not available, hvkit's UART carries whole characters; says so) |
 *
 * Any other key after Ctrl-A is dropped, as in QEMU. A terminal is put in raw mode for the
 * run, so Ctrl-C, Ctrl-Z and the line editing keys reach the guest too.
 */

/** Where keystrokes come from: `process.stdin`, or a test's stand-in. */
export interface Input {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(event: 'data', listener: (chunk: Uint8Array | string) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Uint8Array | string) => void): unknown;
  off(event: 'end', listener: () => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

/** The escape character: Ctrl-A, as QEMU's default. */
export const ESCAPE = 0x01;

export const ESCAPE_HELP =
  'C-a h    print this help\r\nC-a x    exit emulator\r\nC-a b    send break (not available in hvkit)\r\nC-a c    switch between console and monitor (hvkit has no monitor)\r\nC-a C-a  sends C-a\r\n';

export type EscapeCommand = 'quit' | 'help' | 'monitor' | 'break';

/** The Ctrl-A state machine, free of I/O: bytes in, guest bytes and commands out. */
export class EscapeFilter {
  private escaped = false;

  constructor(
    private readonly toGuest: (bytes: Uint8Array) => void,
    private readonly onCommand: (command: EscapeCommand) => void,
  ) {}

  feed(chunk: Uint8Array): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.escaped) {
        this.escaped = false;
        if (b === ESCAPE) {
          this.toGuest(Uint8Array.of(ESCAPE));
        } else {
          const command = commandFor(b);
          if (command !== null) this.onCommand(command);
        }
        start = i + 1;
      } else if (b === ESCAPE) {
        if (i > start) this.toGuest(chunk.subarray(start, i));
        this.escaped = true;
        start = i + 1;
      }
    }
    if (start < chunk.length) this.toGuest(chunk.subarray(start));
  }
}

function commandFor(key: number): EscapeCommand | null {
  switch (String.fromCharCode(key).toLowerCase()) {
    case 'x':
      return 'quit';
    case 'h':
    case '?':
      return 'help';
    case 'c':
      return 'monitor';
    case 'b':
      return 'break';
    default:
      return null;
  }
}

/**
 * Reads `input` for the length of a run: a terminal goes into raw mode and comes back out at
 * {@link SerialInput.close}. `wake` resolves at the next keystroke, so an idle loop can sleep
 * until then.
 */
export class SerialInput {
  private readonly filter: EscapeFilter;
  private readonly onData = (chunk: Uint8Array | string): void => {
    this.filter.feed(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk);
    this.wakeUp();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.wakeUp();
  };
  private waiter: (() => void) | null = null;
  private readonly raw: boolean;
  /** Set by Ctrl-A x. */
  quit = false;
  /** The input reached its end (a pipe closed). */
  ended = false;

  constructor(
    private readonly input: Input,
    toGuest: (bytes: Uint8Array) => void,
    notes: { help: () => void; monitor: () => void; break: () => void },
  ) {
    this.filter = new EscapeFilter(toGuest, (command) => {
      if (command === 'quit') this.quit = true;
      else notes[command]();
    });
    this.raw = input.isTTY === true && typeof input.setRawMode === 'function';
    if (this.raw) input.setRawMode!(true);
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    input.resume?.();
  }

  /** Whether keystrokes come from a person at a terminal. */
  get interactive(): boolean {
    return this.raw;
  }

  /** Resolves at the next keystroke, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve();
      }, ms);
      this.waiter = () => {
        clearTimeout(timer);
        this.waiter = null;
        resolve();
      };
    });
  }

  private wakeUp(): void {
    this.waiter?.();
  }

  close(): void {
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.pause?.();
    if (this.raw) this.input.setRawMode!(false);
    this.wakeUp();
  }
}
