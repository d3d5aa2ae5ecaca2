import { Command, CommanderError } from 'commander';
import { exitStatusOf, isRampartError } from '../errors.js';
import { VERSION } from '../version.js';
import { commandModules } from './commands/index.js';
import { formatCliError, jsonRequested } from './print-error.js';
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
  $ rampart copy oci:./out/nodejs:latest docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart apt resolve --suite trixie python3
`,
    );
  program.exitOverride();
  const names = only === 'none' ? [] : only && only in commandModules ? [only] : Object.keys(commandModules);
  for (const name of names) (await commandModules[name]!())(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 usage error, 130 cancelled (see `exitStatusOf`). */
export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  const versionOnly = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
  const later = commandModules[firstOperand(args) ?? ''] ? undefined : comingLater(firstOperand(args));
  if (later) {
    process.stderr.write(formatCliError(later, { json: false, debug: argv.includes('--debug') }));
    return exitStatusOf(later);
  }
  const program = await createProgram(versionOnly ? 'none' : firstOperand(args));
  const debug = argv.includes('--debug');
  let running: Command | undefined;
  program.hook('preAction', (_program, action) => {
    running = action;
  });
  try {
    await program.parseAsync(argv);
    // A command that printed its report but failed its check (verify) sets exitCode; it is handed
    // back here and cleared, so an in-process caller's next run starts from 0.
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    process.exitCode = undefined;
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed help/version or the usage message.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (error.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(formatCliError(error, { json: jsonRequested(running), debug }));
    if (isRampartError(error, 'CANCELLED') && error.details?.signal === 'SIGTERM') return 143;
    return exitStatusOf(error);
  }
}

/** The subcommand name, i.e. the first argument that is not an option. */
function firstOperand(args: string[]): string | undefined {
  return args.find((arg) => !arg.startsWith('-'));
}
