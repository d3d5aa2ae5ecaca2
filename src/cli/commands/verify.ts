import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { readKeyFile } from '../../sign/key-files.js';
import { parsePublicKey } from '../../sign/keys.js';
import type { RebuildResult } from '../../sign/rebuild.js';
import type { VerifyResult } from '../../sign/verify.js';
import { printable } from '../../util/printable.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface VerifyFlags extends RegistryFlags {
  key?: string;
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  identity?: string;
  bundle?: string;
  policy?: string;
  output: string;
  rebuild?: boolean;
  spec?: string;
  cache?: string;
  mirror?: string;
  keyring?: string;
}

export function registerVerify(program: Command): void {
  const command = program
    .command('verify')
    .description(
      'verify the signatures of an image with a public key (cosign bundle and legacy .sig formats), offline',
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST] or oci-archive:FILE[:TAG]')
    .option('--key <file>', 'public key (SPKI PEM, as cosign and rampart key generate write it)')
    .option('--identity <ref>', 'require this docker-reference (the repository the signer named)')
    .option('--certificate-identity <id>', 'keyless: the identity the signing certificate must name')
    .option(
      '--certificate-identity-regexp <re>',
      'keyless: a regular expression the certificate identity must match (unanchored, as cosign)',
    )
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name')
    .option('--trusted-root <file>', 'keyless: the sigstore trusted root (CAs, logs) to verify against')
    .option(
      '--bundle <file>',
      'check this sigstore bundle file (sign/attest --bundle) instead of the stored signatures',
    )
    .option(
      '--policy <file>',
      'evaluate a verification policy (YAML, docs/policy.md); every rule is reported',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .option('--rebuild', 'also rebuild the image from its signed SLSA provenance and compare digests')
    .option('--spec <file>', "with --rebuild: build this spec (its sha256 must be the provenance's)")
    .option('--cache <dir>', 'with --rebuild: download cache (as for build)')
    .option('--mirror <url>', 'with --rebuild: Debian mirror (overrides the spec and the host)')
    .option('--keyring <file>', 'with --rebuild: OpenPGP keyring that signs the archive');
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Each signature is checked: its blob against the digest the manifest names, the signature over
exactly those bytes with the key, the signed digest against the image's, and with --identity the
signed docker-reference. Exit status 0 only when at least one signature by the key is valid.
-o json: {"verified", "digest", "signatures": [{"format", "valid", "reason", "failed", "identity",
"annotations", "manifest", "layer"}]}.

--bundle FILE: only that bundle is checked (its DSSE signature by --key, a statement subject naming
the image's digest, and --identity); the image is read for its digest only. A keyless bundle
(sign/attest --keyless --bundle) is checked with the keyless options below instead of --key.
--policy FILE: every rule of the policy (signers, predicate types, provenance builder id and spec
digest, maximum age, non-root user) is evaluated and printed as passed or failed with its reason;
exit status 1 when any fails. The policy names its signers (public keys, or keyless identities with
their trusted root, docs/policy.md); --key and the keyless options are not needed.
-o json with --policy: {"passed", "digest", "subjects", "rules": [{"rule", "requirement", "passed", "reason"}]}.

Keyless signatures (sign --keyless, cosign's keyless): --trusted-root FILE (a sigstore trusted
root: the Fulcio CAs, Rekor logs and CT logs to trust), --certificate-oidc-issuer ISS and
--certificate-identity ID (or --certificate-identity-regexp RE, unanchored as cosign's: anchor it
with ^...$; none may be empty, as an empty regexp would match anyone) instead of
--key. Each signature's certificate must chain to a CA of the root at the time its Rekor entry (or
a timestamp authority) vouches for, carry SCTs only from the root's CT logs (at least one when the
root lists any), its log entry must be signed by a log of the root and be of this signature, and
it must name that identity and issuer. Offline: nothing is fetched (no TUF). -o json adds
"certificate": {"identity", "issuer", "key"}; "failed" adds certificate, tlog, timestamp,
certificate-identity, certificate-issuer.

Examples:
  $ rampart verify --key rampart.pub docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart verify --key rampart.pub -o json oci:./out/nodejs:latest
  $ rampart verify --key rampart.pub --bundle nodejs.sigstore.json oci:./out/nodejs:latest
  $ rampart verify --policy release-policy.yaml oci:./out/nodejs:latest
  $ rampart verify --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json oci:./out/nodejs:latest

--rebuild reads the SLSA provenance signed by the key (rampart build --sign-key attaches it), builds
the spec it embeds (or --spec FILE, checked against the recorded sha256) from the lock it embeds,
and compares: exit 0 only when the signatures verify and the rebuild has the image's digest. Where
it does not, the report names each differing layer and the files that differ in it
(-o json: "rebuild": {"reproduced", "digest", "rebuiltDigest", "provenance", "spec", "platforms":
[{"architecture", "digest", "rebuiltDigest", "equal", "difference": {"config", "layers": [{"index",
"expected", "rebuilt", "files": [{"path", "change", "expected", "rebuilt"}]}]}}]}). For an image
built with --sign-key (not run by the examples above):
  rampart verify --key release.pub --rebuild -o json docker://localhost:5000/nodejs:22 --insecure`,
    )
    .action((image: string, options: VerifyFlags) =>
      withInterrupt(async (signal) => {
        // Options that only steer the rebuild are refused without it, before anything is read.
        const rebuildOnly = (
          [
            ['--cache', options.cache],
            ['--mirror', options.mirror],
            ['--keyring', options.keyring],
          ] as const
        ).find(([, value]) => value !== undefined);
        if (rebuildOnly && !options.rebuild)
          throw new RampartError('USAGE', `${rebuildOnly[0]} is for --rebuild`, {
            details: { option: rebuildOnly[0] },
          });
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        if (options.policy !== undefined) {
          if (
            options.key !== undefined ||
            options.bundle !== undefined ||
            options.identity !== undefined ||
            options.rebuild ||
            options.spec !== undefined ||
            options.trustedRoot !== undefined ||
            options.certificateIdentity !== undefined ||
            options.certificateIdentityRegexp !== undefined ||
            options.certificateOidcIssuer !== undefined
          ) {
            throw new RampartError(
              'USAGE',
              '--policy names its own signers and rules: give it without --key, --bundle, --identity, --rebuild/--spec and the keyless options',
              {
                details: { option: '--policy' },
              },
            );
          }
          // Loaded on this path only: the policy code brings the YAML parser.
          const { evaluatePolicy, loadPolicy } = await import('../../sign/policy.js');
          const policy = await loadPolicy(options.policy);
          const evaluated = await evaluatePolicy(image, policy, { registry, signal });
          if (!evaluated.passed) process.exitCode = 1;
          if (report.format === 'json') {
            await writeReport(report, `${JSON.stringify(evaluated)}\n`);
            return;
          }
          const lines = [
            `Policy ${evaluated.passed ? 'passed' : 'FAILED'}: ${image} (${evaluated.digest})\n`,
          ];
          for (const rule of evaluated.rules) {
            lines.push(
              `  ${rule.passed ? 'pass' : 'FAIL'} ${rule.rule} ${printable(rule.requirement)}: ${printable(rule.reason)}\n`,
            );
          }
          await writeReport(report, lines.join(''));
          return;
        }
        if (
          options.trustedRoot !== undefined ||
          options.certificateIdentity !== undefined ||
          options.certificateIdentityRegexp !== undefined ||
          options.certificateOidcIssuer !== undefined
        ) {
          // Keyless: the certificate and log entries, against the trusted root (no --key).
          const { verifyKeylessFromFlags } = await import('../keyless-verify-options.js');
          const result = await verifyKeylessFromFlags(image, options, { registry, signal });
          if (!result.verified) process.exitCode = 1;
          await writeReport(
            report,
            report.format === 'json' ? `${JSON.stringify(result)}\n` : verifyLines(image, result).join(''),
          );
          return;
        }
        if (options.key === undefined) {
          throw new RampartError('USAGE', 'give --key (a public key), --trusted-root (keyless) or --policy', {
            details: { option: '--key' },
          });
        }
        if (options.spec && !options.rebuild) {
          throw new RampartError('USAGE', '--spec is for --rebuild', { details: { option: '--spec' } });
        }
        const pem = await readKeyFile(options.key);
        const key = parsePublicKey(pem, { path: options.key });
        const identity = options.identity ? { identity: options.identity } : {};
        const { MAX_BUNDLE_FILE, verifyImage, verifyImageBundle } = await import('../../sign/verify.js');
        const result =
          options.bundle !== undefined
            ? await verifyImageBundle(
                image,
                await (await import('../../sign/attest.js')).readBoundedFile(
                  options.bundle,
                  MAX_BUNDLE_FILE,
                  'USAGE',
                  'the bundle',
                ),
                key,
                { registry, signal, file: options.bundle, ...identity },
              )
            : await verifyImage(image, key, { registry, signal, ...identity });
        const rebuild = options.rebuild
          ? await (await import('../../sign/rebuild.js')).rebuildAndCompare(image, key, {
              registry,
              signal,
              ...(options.spec ? { specPath: options.spec } : {}),
              ...(options.cache ? { cacheDir: options.cache } : {}),
              ...(options.mirror || options.keyring
                ? {
                    repository: {
                      ...(options.mirror ? { mirror: options.mirror } : {}),
                      ...(options.keyring ? { keyring: options.keyring } : {}),
                    },
                  }
                : {}),
            })
          : undefined;
        if (!result.verified || (rebuild && !rebuild.reproduced)) process.exitCode = 1;
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(rebuild ? { ...result, rebuild } : result)}\n`);
          return;
        }
        const lines = verifyLines(image, result);
        if (rebuild) lines.push(...formatRebuild(rebuild));
        await writeReport(report, lines.join(''));
      }),
    );
}

function verifyLines(image: string, result: VerifyResult): string[] {
  const lines = [`${result.verified ? 'Verified' : 'NOT verified'}: ${image} (${result.digest})\n`];
  if (result.signatures.length === 0) lines.push('  no signatures found\n');
  for (const s of result.signatures) {
    const by = s.certificate?.identity
      ? ` by ${printable(s.certificate.identity)} (${printable(s.certificate.issuer ?? 'no issuer')})`
      : '';
    lines.push(
      `  ${s.valid ? 'valid  ' : 'INVALID'} ${s.format} ${s.manifest}${by}${s.reason ? `: ${printable(s.reason)}` : ''}\n`,
    );
  }
  return lines;
}

function formatRebuild(rebuild: RebuildResult): string[] {
  const lines = [
    `${rebuild.reproduced ? 'Reproduced' : 'NOT reproduced'}: rebuilt ${rebuild.rebuiltDigest} from the provenance in ${rebuild.provenance.manifest}\n`,
  ];
  for (const p of rebuild.platforms) {
    lines.push(
      `  ${p.architecture}: ${p.equal ? 'equal' : 'DIFFERS'} ${p.digest} / ${p.rebuiltDigest ?? '(not rebuilt)'}\n`,
    );
    if (p.difference?.config) lines.push('    config differs\n');
    for (const layer of p.difference?.layers ?? []) {
      lines.push(
        `    layer ${layer.index}: ${layer.expected ?? '(none)'} / rebuilt ${layer.rebuilt ?? '(none)'}\n`,
      );
      for (const file of layer.files) lines.push(`      ${file.change} /${file.path}\n`);
      if (layer.truncated) lines.push('      ... (more files differ)\n');
    }
  }
  return lines;
}
