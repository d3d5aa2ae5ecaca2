import { startKeyOpening } from '../sign/key-derivation.js';
import { readKeyFileSync } from '../sign/key-files.js';
import { passwordFromEnvironment } from './key-password.js';

/**
 * The `--key` file's scrypt, started by bin/rampart.js before the CLI's modules load. Opening
 * cosign's key takes ~0.3 s of scrypt on libuv's thread pool, and the rest of `sign` waits for it;
 * started here it begins ~20-25 ms sooner than when the command opened the key (a timeline of
 * `rampart sign`: ~100 instead of ~120-127 ms into the process, a module hook adding ~20 ms to
 * both), while the command's modules load on the main thread. Only for the commands that
 * open a `--key` private key, with its password in the environment (a prompt waits for the
 * command); never for `--help` or `--keyless`. Nothing is reported here: a file that cannot be
 * read or is no encrypted key starts nothing, and the command reports it when it opens the key
 * (sign/key-derivation.ts: what is started is only taken by the same inputs). A command that stops
 * before it opens the key still ends only when that scrypt ends (it cannot be cancelled).
 */

/** The commands whose `--key` names a private key file to open. */
const KEY_COMMANDS: ReadonlySet<string> = new Set(['sign', 'attest']);

/**
 * Starts the `--key` file's derivation for `args` (process.argv without node and the script), if
 * they are a command that opens one. Returns whether one was started. Never throws.
 */
export function startEarlyKeyOpening(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  try {
    return start(args, env);
  } catch {
    return false;
  }
}

function start(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const end = args.indexOf('--');
  const options = end < 0 ? args : args.slice(0, end);
  const command = options.find((arg) => !arg.startsWith('-'));
  if (command === undefined || !KEY_COMMANDS.has(command)) return false;
  if (options.some((arg) => arg === '--help' || arg === '-h' || arg === '--keyless')) return false;
  const password = passwordFromEnvironment(env);
  const path = lastValue(options, '--key');
  if (password === undefined || !path) return false;
  return startKeyOpening(readKeyFileSync(path), password);
}

/** The value of the last `NAME VALUE` or `NAME=VALUE` (commander keeps the last of a repeated option). */
function lastValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === name) value = args[++i];
    else if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
  }
  return value;
}
