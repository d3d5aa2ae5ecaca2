import { RampartError } from '../errors.js';
import { readBoundedFile } from '../sign/attest.js';
import {
  type KeylessVerifyOptions,
  MAX_TRUSTED_ROOT,
  verifyAttestationsKeyless,
  verifyImageKeyless,
  verifyImageKeylessBundle,
} from '../sign/keyless-verify.js';
import { MAX_BUNDLE_FILE, type VerifyOptions, type VerifyResult } from '../sign/verify.js';
import type { VerifyAttestationResult } from '../sign/verify-attestation.js';

/** The keyless options of `rampart verify` (see verify --help). */
export interface KeylessVerifyFlags {
  key?: string;
  bundle?: string;
  identity?: string;
  rebuild?: boolean;
  spec?: string;
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
}

/**
 * `rampart verify IMAGE --trusted-root FILE --certificate-identity ID --certificate-oidc-issuer ISS`
 * (the stored signatures, or with `--bundle FILE` only that bundle file).
 */
export async function verifyKeylessFromFlags(
  image: string,
  flags: KeylessVerifyFlags,
  options: Pick<VerifyOptions, 'registry' | 'signal'>,
): Promise<VerifyResult> {
  const clash = (
    [
      ['--key', flags.key],
      ['--identity', flags.identity],
      ['--rebuild', flags.rebuild],
      ['--spec', flags.spec],
    ] as const
  ).find(([, value]) => value !== undefined && value !== false);
  if (clash) {
    throw new RampartError('USAGE', `${clash[0]} is not for keyless verification (--trusted-root)`, {
      details: { option: clash[0] },
    });
  }
  const keyless = { ...options, ...(await keylessVerifyOptions(flags)) };
  if (flags.bundle === undefined) return verifyImageKeyless(image, keyless);
  const bundle = await readBoundedFile(flags.bundle, MAX_BUNDLE_FILE, 'USAGE', 'the bundle');
  return verifyImageKeylessBundle(image, bundle, { ...keyless, file: flags.bundle });
}

/**
 * `rampart verify-attestation IMAGE --trusted-root FILE --certificate-identity ID
 * --certificate-oidc-issuer ISS [--type T]`: the keyless attestations.
 */
export async function verifyAttestationsKeylessFromFlags(
  image: string,
  flags: KeylessVerifyFlags & { type?: string },
  options: Pick<VerifyOptions, 'registry' | 'signal'>,
): Promise<VerifyAttestationResult> {
  if (flags.key !== undefined) {
    throw new RampartError('USAGE', '--key is not for keyless verification (--trusted-root)', {
      details: { option: '--key' },
    });
  }
  return verifyAttestationsKeyless(image, {
    ...options,
    ...(await keylessVerifyOptions(flags)),
    ...(flags.type !== undefined ? { type: flags.type } : {}),
  });
}

/** The trusted root (read) and identity the flags name; USAGE naming a missing one. */
async function keylessVerifyOptions(flags: KeylessVerifyFlags): Promise<KeylessVerifyOptions> {
  if (flags.certificateOidcIssuer === undefined) {
    throw new RampartError('USAGE', 'keyless verification needs --certificate-oidc-issuer', {
      details: { option: '--certificate-oidc-issuer' },
    });
  }
  if (flags.trustedRoot === undefined) {
    throw new RampartError(
      'USAGE',
      'keyless verification needs --trusted-root FILE (the CAs and logs to trust)',
      {
        details: { option: '--trusted-root' },
      },
    );
  }
  const regexp = flags.certificateIdentityRegexp;
  if (regexp !== undefined && regexp.trim() !== '' && !(regexp.startsWith('^') && regexp.endsWith('$'))) {
    // Unanchored, as cosign's: `example\.org/ci` also matches https://evil.test/example.org/ci.
    process.stderr.write(
      `warning: --certificate-identity-regexp ${regexp} is not anchored with ^...$: it matches any identity containing a match\n`,
    );
  }
  const path = flags.trustedRoot;
  return {
    trustedRoot: await readBoundedFile(path, MAX_TRUSTED_ROOT, 'USAGE', 'the trusted root'),
    trustedRootFile: path,
    issuer: flags.certificateOidcIssuer,
    ...(flags.certificateIdentity !== undefined ? { identity: flags.certificateIdentity } : {}),
    ...(flags.certificateIdentityRegexp !== undefined
      ? { identityRegexp: flags.certificateIdentityRegexp }
      : {}),
  };
}
