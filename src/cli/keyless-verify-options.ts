import { RampartError } from '../errors.js';
import { readBoundedFile } from '../sign/attest.js';
import { MAX_TRUSTED_ROOT, verifyImageKeyless } from '../sign/keyless-verify.js';
import type { VerifyOptions, VerifyResult } from '../sign/verify.js';

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

/** `rampart verify IMAGE --trusted-root FILE --certificate-identity ID --certificate-oidc-issuer ISS`. */
export async function verifyKeylessFromFlags(
  image: string,
  flags: KeylessVerifyFlags,
  options: Pick<VerifyOptions, 'registry' | 'signal'>,
): Promise<VerifyResult> {
  const clash = (
    [
      ['--key', flags.key],
      ['--bundle', flags.bundle],
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
  const path = flags.trustedRoot;
  return verifyImageKeyless(image, {
    ...options,
    trustedRoot: await readBoundedFile(path, MAX_TRUSTED_ROOT, 'USAGE', 'the trusted root'),
    trustedRootFile: path,
    issuer: flags.certificateOidcIssuer,
    ...(flags.certificateIdentity !== undefined ? { identity: flags.certificateIdentity } : {}),
    ...(flags.certificateIdentityRegexp !== undefined
      ? { identityRegexp: flags.certificateIdentityRegexp }
      : {}),
  });
}
