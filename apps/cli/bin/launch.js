// Starts a command from the built CLI, with a clear message when it has not been built.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @param {'hvkit' | 'hvkit-system-x86_64'} command */
export async function launch(command) {
  const entry = new URL('../dist/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(entry))) {
    process.stderr.write(`${command}: the CLI is not built (missing ${fileURLToPath(entry)}); run \`pnpm build\` in the hvkit repository\n`);
    process.exit(1);
  }
  const cli = await import(entry.href);
  const run = command === 'hvkit' ? cli.hvkitMain : cli.systemMain;
  process.exitCode = await run(process.argv.slice(2), { out: process.stdout, err: process.stderr, in: process.stdin });
}
