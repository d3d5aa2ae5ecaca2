/**
 * The docker-credential-helpers protocol: `docker-credential-NAME get|store|erase`, started
 * without a shell from the PATH of the environment passed in, the request on stdin (the server
 * URL; for `store`, JSON `{ServerURL, Username, Secret}`), the answer on stdout (`get`: JSON
 * `{ServerURL, Username, Secret}`, where the username `<token>` marks an identity token). A helper
 * that fails prints its message on stdout and exits non-zero; "credentials not found in native
 * keychain" means none are stored.
 *
 * A helper's output holds secrets, so it never reaches an error, a warning or a log: failures say
 * which helper, which action and its exit status, nothing it printed. Each run has a deadline
 * (killed with SIGKILL after it), bounded output, and follows the caller's AbortSignal.
 */
import { RampartError } from '../errors.js';
import { RegistryCredential } from './secret.js';

export interface HelperRunOptions {
  env: NodeJS.ProcessEnv;
  /** How long a helper may take; default 60 s (a keyring may ask the user to unlock it). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_HELPER_TIMEOUT_MS = 60_000;
/** The protocol's answers are a few hundred bytes. */
const OUTPUT_LIMIT = 64 * 1024;
const NOT_FOUND_MESSAGE = 'credentials not found in native keychain';
/** The username a helper returns with an identity (refresh) token as the secret. */
const TOKEN_USERNAME = '<token>';

type RunResult =
  | { kind: 'exited'; code: number | null; stdout: string }
  | { kind: 'missing' }
  | { kind: 'not-found' };

/** The program a helper name runs. */
export function helperProgram(name: string): string {
  return `docker-credential-${name}`;
}

/** The credential a helper holds for `serverUrl`; undefined when it has none, 'missing' when it is not installed. */
export async function helperGet(
  name: string,
  serverUrl: string,
  options: HelperRunOptions,
): Promise<RegistryCredential | undefined | 'missing'> {
  const result = await runHelper(name, 'get', serverUrl, options);
  if (result.kind === 'missing') return 'missing';
  if (result.kind === 'not-found') return undefined;
  let answer: unknown;
  try {
    answer = JSON.parse(result.stdout);
  } catch {
    answer = undefined;
  }
  const record =
    typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : undefined;
  const username = record?.Username;
  const secret = record?.Secret;
  if (typeof username !== 'string' || typeof secret !== 'string')
    throw new RampartError(
      'TOOL_FAILED',
      `${helperProgram(name)} get answered something that is not the credential helper protocol's {ServerURL, Username, Secret}; check the helper`,
      { details: { tool: helperProgram(name), exitCode: result.code } },
    );
  if (secret === '') return undefined;
  return username === TOKEN_USERNAME
    ? new RegistryCredential({ identityToken: secret })
    : new RegistryCredential({ username, password: secret });
}

/** Stores a credential through the helper (`rampart login` with a credsStore or credHelpers entry). */
export async function helperStore(
  name: string,
  serverUrl: string,
  credential: { username: string; secret: string },
  options: HelperRunOptions,
): Promise<void> {
  const request = JSON.stringify({
    ServerURL: serverUrl,
    Username: credential.username,
    Secret: credential.secret,
  });
  const result = await runHelper(name, 'store', request, options);
  if (result.kind === 'missing') throw missingHelper(name, 'store');
  if (result.kind === 'not-found') throw failed(name, 'store', 1);
}

/** Erases the helper's credential for `serverUrl`; false when it held none. */
export async function helperErase(
  name: string,
  serverUrl: string,
  options: HelperRunOptions,
): Promise<boolean> {
  const result = await runHelper(name, 'erase', serverUrl, options);
  if (result.kind === 'missing') throw missingHelper(name, 'erase');
  return result.kind !== 'not-found';
}

/** Runs one action; a non-zero exit other than "not found" is TOOL_FAILED (without the output). */
async function runHelper(
  name: string,
  action: 'get' | 'store' | 'erase',
  input: string,
  options: HelperRunOptions,
): Promise<RunResult> {
  const program = helperProgram(name);
  const timeoutMs = options.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  if (options.signal?.aborted) throw cancelled(program, action, options.signal.reason);
  // Loaded here: most commands run no helper, and node:child_process costs ~15 ms to load.
  const child = process.getBuiltinModule('node:child_process').spawn(program, [action], {
    env: options.env,
    shell: false,
    stdio: ['pipe', 'pipe', 'ignore'],
    windowsHide: true,
  });
  return await new Promise<RunResult>((resolve, reject) => {
    let stdout = '';
    let settled = false;
    let failure: RampartError | undefined;
    // Settles at once: a grandchild (`sh` running another program) may hold stdout open after the
    // helper is killed, and 'close' would wait for it; destroying our end gives it EPIPE.
    const stop = (error: RampartError) => {
      failure ??= error;
      child.kill('SIGKILL');
      child.stdout.destroy();
      finish(failure);
    };
    const timer = setTimeout(
      () =>
        stop(
          new RampartError(
            'TIMEOUT',
            `${program} ${action} did not answer within ${timeoutMs} ms; check the helper`,
            {
              details: { timeoutMs },
            },
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => stop(cancelled(program, action, options.signal?.reason));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: RunResult | RampartError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (result instanceof RampartError) reject(result);
      else resolve(result);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (failure) return;
      stdout += chunk;
      if (stdout.length > OUTPUT_LIMIT) {
        stdout = '';
        stop(
          new RampartError(
            'TOO_LARGE',
            `${program} ${action} printed more than ${OUTPUT_LIMIT} bytes; check the helper`,
            {
              details: { limit: OUTPUT_LIMIT },
            },
          ),
        );
      }
    });
    // A helper that exits without reading its input makes the write fail with EPIPE: the exit decides.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') finish({ kind: 'missing' });
      else
        finish(
          new RampartError(
            'TOOL_FAILED',
            `could not start ${program} (${error.code ?? 'error'}); check that it is executable`,
            {
              details: { tool: program },
            },
          ),
        );
    });
    child.once('close', (code) => {
      if (failure) return finish(failure);
      if (code === 0) return finish({ kind: 'exited', code, stdout });
      if (stdout.trim() === NOT_FOUND_MESSAGE) return finish({ kind: 'not-found' });
      finish(failed(name, action, code));
    });
  });
}

function failed(name: string, action: string, exitCode: number | null): RampartError {
  const program = helperProgram(name);
  // What the helper printed may be a secret: it is not part of the message.
  return new RampartError(
    'TOOL_FAILED',
    `${program} ${action} failed (exit status ${exitCode ?? 'killed'}); run it by hand to see why`,
    { details: { tool: program, exitCode } },
  );
}

function missingHelper(name: string, action: string): RampartError {
  const program = helperProgram(name);
  return new RampartError(
    'TOOL_FAILED',
    `the credential helper ${program} is not on PATH, so it cannot ${action} credentials; install it, or remove it from the docker config`,
    { details: { tool: program, exitCode: null } },
  );
}

function cancelled(program: string, action: string, reason: unknown): RampartError {
  return new RampartError('CANCELLED', `${program} ${action} was cancelled`, {
    ...(reason instanceof Error ? { cause: reason } : {}),
    details: { operation: 'credential-helper' },
  });
}
