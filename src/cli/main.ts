import { Command, CommanderError } from 'commander';
import { RampartError } from '../errors.js';
import { VERSION } from '../version.js';
import { commandModules } from './commands/index.js';
import { comingLater } from './roadmap.js';

/**
 * Builds the command tree; exported so tests can drive the CLI in-process. With `only`, just that
 * subcommand is loaded (the others are not needed to run it).
 */
export async function createProgram(only?: string): Promise<Command> {
  const program = new Command('rampart')
    .description(
      'Hardened, reproducible container images from verified Debian packages, with SBOMs, signatures and CVE tracking.',
    )
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces for errors')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ rampart inspect oci:./out/nodejs:latest
  $ rampart copy oci:./out/nodejs:latest docker-archive:nodejs.tar
  $ rampart apt resolve --suite trixie python3
`,
    );
  program.exitOverride();
  const names = only === 'none' ? [] : only && only in commandModules ? [only] : Object.keys(commandModules);
  for (const name of names) (await commandModules[name]!())(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  const versionOnly = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
  const later = commandModules[firstOperand(args) ?? ''] ? undefined : comingLater(firstOperand(args));
  if (later) {
    printError(later, argv.includes('--debug'));
    return 2;
  }
  const program = await createProgram(versionOnly ? 'none' : firstOperand(args));
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed help/version or the usage message.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return 2;
    }
    printError(error, debug);
    return isUsageError(error) ? 2 : 1;
  }
}

/** Errors in what the user typed: a bad option value, or an image reference that does not parse. */
function isUsageError(error: unknown): boolean {
  return error instanceof RampartError && (error.code === 'USAGE' || error.code === 'INVALID_REFERENCE');
}

/** The subcommand name, i.e. the first argument that is not an option. */
function firstOperand(args: string[]): string | undefined {
  return args.find((arg) => !arg.startsWith('-'));
}

function printError(error: unknown, debug: boolean): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message.split('\n')[0]}\n`);
  if (debug && error instanceof Error) {
    process.stderr.write(`${error.stack ?? ''}\n`);
    if (error.cause)
      process.stderr.write(`caused by: ${String((error.cause as Error).stack ?? error.cause)}\n`);
  }
}
