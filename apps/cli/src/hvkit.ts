/** The `hvkit` command. */
import { collectPackages, formatInfo } from './info.js';
import { runMain } from './run.js';
import { type Streams } from './streams.js';

const USAGE = `usage: hvkit <command> [options]

commands:
  run [options] KERNEL   boot a Multiboot, Linux bzImage or ELF kernel on the hvkit PC
                         (see hvkit run --help)
  info [--json]          list the hvkit packages and their versions
  help                   show this help

Run a machine QEMU-style with hvkit-system-x86_64 (see hvkit-system-x86_64 -help).
`;

export async function hvkitMain(argv: readonly string[], io: Streams, options: { signals?: boolean } = {}): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runMain(rest, io, options);
    case 'info': {
      const unknown = rest.filter((a) => a !== '--json');
      if (unknown.length) {
        io.err.write(`hvkit info: unknown option '${unknown[0]}'\n`);
        return 2;
      }
      const packages = collectPackages();
      io.out.write(rest.includes('--json') ? `${JSON.stringify(packages, null, 2)}\n` : formatInfo(packages));
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      io.out.write(USAGE);
      return 0;
    case '--version':
    case '-V':
      io.out.write(`hvkit ${collectPackages()[0]!.version}\n`);
      return 0;
    case undefined:
      io.err.write(USAGE);
      return 2;
    default:
      io.err.write(`hvkit: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
