import type { Command } from 'commander';
import { RampartError } from '../errors.js';
import type { SignatureMaterial } from '../sign/sign.js';

/**
 * The keyless options of `sign` and `attest` (`--keyless`, `--fulcio-url`, `--rekor-url`,
 * `--identity-token-file`) and the signer they name. The keyless modules (and sigstore-js) are
 * imported only when `--keyless` is given: keyed signing loads and contacts nothing of them.
 */

export interface KeylessFlags {
  key?: string;
  keyless?: boolean;
  fulcioUrl?: string;
  rekorUrl?: string;
  identityTokenFile?: string;
  allowInsecureKey?: boolean;
}

export function addKeylessOptions(command: Command): Command {
  return command
    .option('--keyless', 'sign with a Fulcio certificate for an OIDC identity, logged in Rekor (online)')
    .option('--fulcio-url <url>', "with --keyless: Fulcio's URL (default: the public-good instance)")
    .option('--rekor-url <url>', "with --keyless: Rekor's URL (default: the public-good instance)")
    .option(
      '--identity-token-file <file>',
      'with --keyless: read the OIDC identity token from this file (default: $SIGSTORE_ID_TOKEN)',
    );
}

/** The first keyless option given without the switch that turns keyless signing on, if any. */
export function strayKeylessOption(
  flags: Pick<KeylessFlags, 'fulcioUrl' | 'rekorUrl' | 'identityTokenFile'>,
): string | undefined {
  const given = [
    ['--fulcio-url', flags.fulcioUrl],
    ['--rekor-url', flags.rekorUrl],
    ['--identity-token-file', flags.identityTokenFile],
  ] as const;
  return given.find(([, value]) => value !== undefined)?.[0];
}

/** Bound on an identity token file. */
const MAX_TOKEN_FILE = 64 * 1024;

/**
 * The keyless signature material the flags ask for, or undefined without `--keyless` (then `--key`
 * must be given, and no keyless option).
 */
export async function keylessFromFlags(
  flags: KeylessFlags,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  /** The clock token expiry and certificate renewal are judged by (default: the system's). */
  now?: () => Date,
): Promise<SignatureMaterial | undefined> {
  if (!flags.keyless) {
    const stray = strayKeylessOption(flags);
    if (stray) throw new RampartError('USAGE', `${stray} is for --keyless`, { details: { option: stray } });
    if (flags.key === undefined) {
      throw new RampartError('USAGE', 'give --key (a private key) or --keyless', {
        details: { option: '--key' },
      });
    }
    return undefined;
  }
  if (flags.key !== undefined) {
    throw new RampartError('USAGE', 'give --key or --keyless, not both', {
      details: { option: '--keyless' },
    });
  }
  if (flags.allowInsecureKey) {
    throw new RampartError('USAGE', '--allow-insecure-key is for --key (keyless signing reads no key file)', {
      details: { option: '--allow-insecure-key' },
    });
  }
  const { keylessMaterial, ID_TOKEN_VARIABLE } = await import('../sign/keyless.js');
  // Read again (the file, or the variable in `env`) when a certificate is asked for after the first.
  const path = flags.identityTokenFile;
  const readToken = async (): Promise<string> => {
    if (path === undefined) return env[ID_TOKEN_VARIABLE] ?? '';
    const { readBoundedFile } = await import('../sign/attest.js');
    return (await readBoundedFile(path, MAX_TOKEN_FILE, 'USAGE', 'the identity token file'))
      .toString('utf8')
      .trim();
  };
  const identityToken = await readToken();
  const tokenSource =
    path !== undefined ? { option: '--identity-token-file' } : { variable: ID_TOKEN_VARIABLE };
  return keylessMaterial({
    identityToken,
    tokenSource,
    refreshToken: readToken,
    signal,
    ...(now ? { now } : {}),
    ...(flags.fulcioUrl !== undefined ? { fulcioURL: flags.fulcioUrl } : {}),
    ...(flags.rekorUrl !== undefined ? { rekorURL: flags.rekorUrl } : {}),
  });
}
