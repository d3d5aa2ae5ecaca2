import { type Command, Option } from 'commander';
import { RampartError } from '../errors.js';
import { isRegistryHost, parseImageReference } from '../oci/reference.js';
import type { CredentialSources } from '../registry/credentials.js';
import type { Credential, CredentialStore, RegistryOptions } from '../registry/types.js';
import { readSecretFromStdin } from './prompt.js';

/** The registry options of every command that reads or writes an image, as commander gives them. */
export interface RegistryFlags {
  creds?: string;
  username?: string;
  passwordStdin?: boolean;
  authfile?: string;
  insecure?: true | string[];
  caFile?: string;
  jobs?: string;
}

const MAX_JOBS = 64;

/**
 * Adds `--creds`, `--username`/`--password-stdin`, `--authfile`, `--insecure`, `--ca-file`, and
 * `--jobs` where the command transfers blobs (`copy`, `build`): elsewhere it would do nothing.
 */
export function addRegistryOptions(command: Command, options: { jobs?: boolean } = {}): Command {
  command
    .option(
      '--creds <user:password>',
      'credentials for the docker:// registry of this command (visible in ps: prefer --password-stdin)',
    )
    .option('--username <user>', 'user name for the docker:// registry; the password is read from stdin')
    .option('--password-stdin', 'read the password (or token) for --username from stdin')
    .option('--authfile <file>', 'credentials file (docker config.json or containers auth.json format)');
  addTlsOptions(command);
  if (options.jobs === false) return command;
  return command.option('--jobs <n>', `blobs transferred at once (1-${MAX_JOBS}, default 4)`);
}

/**
 * Adds `--insecure [host]` and `--ca-file`, the TLS choices of every command that talks to a
 * registry (login included): one parser, so `--insecure` means the same everywhere.
 */
export function addTlsOptions(command: Command): Command {
  // Preset: commander would otherwise set a bare --insecure to `true` without calling the parser,
  // overwriting the hosts named before it.
  const insecure = new Option(
    '--insecure [host]',
    'allow plain HTTP or unverified TLS: bare for loopback registries only, or =HOST[:PORT] (repeatable)',
  )
    .preset(true)
    .argParser(collectInsecure);
  return command
    .addOption(insecure)
    .option('--ca-file <file>', 'PEM file of CA certificates to trust besides the system roots');
}

/** The TLS part of `RegistryOptions` from `--insecure` and `--ca-file`. */
export function tlsOptions(
  flags: Pick<RegistryFlags, 'insecure' | 'caFile'>,
): Pick<RegistryOptions, 'insecure' | 'caFile'> {
  return {
    ...(flags.insecure ? { insecure: flags.insecure } : {}),
    ...(flags.caFile ? { caFile: flags.caFile } : {}),
  };
}

function collectInsecure(value: string | boolean, previous: true | string[] | undefined): true | string[] {
  const bare = value === true || value === undefined;
  // `true` and a host list cannot be one value: either form would silently drop the other.
  if (previous !== undefined && bare !== (previous === true)) {
    throw new RampartError(
      'USAGE',
      'a bare --insecure (loopback registries) and --insecure=HOST cannot be combined; name each registry instead, e.g. --insecure=localhost:5000 --insecure=HOST',
      { details: { option: '--insecure' } },
    );
  }
  if (bare) return previous ?? true;
  if (typeof value !== 'string' || !isRegistryHost(value)) {
    // Commander hands the next word to an optional value: an image reference is not a host.
    throw new RampartError(
      'USAGE',
      `--insecure ${String(value)}: expected HOST[:PORT]; write --insecure=HOST, or put a bare --insecure after the images`,
      { details: { option: '--insecure', value: String(value) } },
    );
  }
  return [...(Array.isArray(previous) ? previous : []), value];
}

/**
 * `RegistryOptions` from the flags. Explicit credentials go to the registry of the command's
 * docker:// references, never to another: with two registries they are refused as ambiguous.
 */
export async function registryOptions(
  flags: RegistryFlags,
  references: readonly string[],
  stdin: NodeJS.ReadableStream = process.stdin,
  stderr: { write(text: string): unknown } = process.stderr,
): Promise<RegistryOptions> {
  const jobs = flags.jobs === undefined ? undefined : parseJobs(flags.jobs);
  const explicit = await explicitCredential(flags, stdin);
  const registries = [
    ...new Set(
      references.flatMap((value) => {
        const ref = parseImageReference(value);
        return ref.transport === 'docker' && ref.registry ? [ref.registry] : [];
      }),
    ),
  ];
  if (explicit && registries.length !== 1) {
    throw new RampartError(
      'USAGE',
      registries.length === 0
        ? '--creds/--username apply to a docker:// image, and this command names none'
        : `--creds/--username would go to ${registries.length} registries (${registries.join(', ')}); use an --authfile that names each`,
      { details: { option: flags.creds !== undefined ? '--creds' : '--username' } },
    );
  }
  const env = process.env;
  const sources: CredentialSources = {
    ...(explicit ? { explicit, explicitRegistry: registries[0] as string } : {}),
    env,
    ...(flags.authfile ? { authFile: flags.authfile } : {}),
    onWarning: (message) => stderr.write(`warning: ${message}\n`),
  };
  return {
    credentials: explicit
      ? (await import('../registry/credentials.js')).credentialStore(sources)
      : lazyCredentialStore(sources),
    env,
    // TLS turned off for a named host, retries of a flaky registry: said on stderr, once each.
    onEvent: (event) => {
      if (event.kind === 'warning') stderr.write(`warning: ${event.message}\n`);
      else if (event.kind === 'retry')
        stderr.write(`warning: retrying (attempt ${event.attempt}) after ${event.reason}\n`);
    },
    ...tlsOptions(flags),
    ...(jobs !== undefined ? { jobs } : {}),
  };
}

/**
 * The credential store of `sources`, its code (auth files, credential helpers) loaded on the first
 * lookup: a command that reaches no registry (a local layout) never loads it.
 */
function lazyCredentialStore(sources: CredentialSources): CredentialStore {
  let store: Promise<CredentialStore> | undefined;
  return {
    async get(registry) {
      store ??= import('../registry/credentials.js').then(({ credentialStore }) => credentialStore(sources));
      return (await store).get(registry);
    },
  };
}

function parseJobs(value: string): number {
  const jobs = Number(value);
  if (!/^[0-9]+$/.test(value) || jobs < 1 || jobs > MAX_JOBS) {
    throw new RampartError('USAGE', `--jobs ${value}: expected a whole number from 1 to ${MAX_JOBS}`, {
      details: { option: '--jobs', value },
    });
  }
  return jobs;
}

async function explicitCredential(
  flags: RegistryFlags,
  stdin: NodeJS.ReadableStream,
): Promise<Credential | undefined> {
  if (flags.creds !== undefined && (flags.username !== undefined || flags.passwordStdin)) {
    throw new RampartError('USAGE', '--creds and --username/--password-stdin exclude each other', {
      details: { option: '--creds' },
    });
  }
  // The value is a secret: parseCredsOption never echoes it back in a message or the details.
  if (flags.creds !== undefined) {
    const { parseCredsOption } = await import('../registry/credentials.js');
    return parseCredsOption(flags.creds);
  }
  if (flags.passwordStdin && flags.username === undefined) {
    throw new RampartError('USAGE', '--password-stdin needs --username', {
      details: { option: '--password-stdin' },
    });
  }
  if (flags.username !== undefined) {
    // Checked before it is joined to the password: `a:b` would otherwise send user `a`.
    const { checkUsername, parseCredsOption } = await import('../registry/credentials.js');
    checkUsername(flags.username);
    if (!flags.passwordStdin) {
      throw new RampartError(
        'USAGE',
        '--username needs --password-stdin (the password is not taken as an argument)',
        { details: { option: '--username' } },
      );
    }
    const password = await readSecretFromStdin(stdin, '--password-stdin');
    if (!password) {
      throw new RampartError('USAGE', '--password-stdin: stdin was empty', {
        details: { option: '--password-stdin' },
      });
    }
    return parseCredsOption(`${flags.username}:${password}`, '--username');
  }
  return undefined;
}
