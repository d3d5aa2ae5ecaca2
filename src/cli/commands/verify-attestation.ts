import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { readKeyFile } from '../../sign/key-files.js';
import { parsePublicKey } from '../../sign/keys.js';
import { type VerifyAttestationResult, verifyAttestations } from '../../sign/verify-attestation.js';
import { printable } from '../../util/printable.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface VerifyAttestationFlags extends RegistryFlags {
  key?: string;
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  type?: string;
  output: string;
}

export function registerVerifyAttestation(program: Command): void {
  const command = program
    .command('verify-attestation')
    .description(
      'verify the attestations of an image with a public key or keylessly (cosign bundle and legacy .att formats), offline',
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST]')
    .option('--key <file>', 'public key (SPKI PEM, as cosign and rampart key generate write it)')
    .option('--certificate-identity <id>', 'keyless: the identity the signing certificate must name')
    .option(
      '--certificate-identity-regexp <regexp>',
      'keyless: a regular expression the certificate identity must match (unanchored, as cosign)',
    )
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name')
    .option('--trusted-root <file>', 'keyless: the sigstore trusted root (CAs, logs) to verify against')
    .option('--type <type>', 'only attestations of this predicate type (a cosign short name or a URI)')
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Each attestation is checked: its blob against the digest the manifest names, the DSSE signature
over the envelope with the key, the in-toto statement, and its subject against the image digest.
Exit status 0 only when at least one attestation (of --type, when given) by the key is valid.
-o json: {"verified", "digest", "predicateType", "attestations": [{"format", "valid", "reason",
"failed", "predicateType", "subjectMatches", "statement", "identity", "manifest", "layer"}]}.

Keyless attestations (attest --keyless, cosign's keyless; both formats): --trusted-root FILE,
--certificate-oidc-issuer ISS and --certificate-identity ID (or --certificate-identity-regexp RE)
instead of --key, checked as rampart verify checks keyless signatures (certificate chain at the
logged time, SCTs, Rekor entry, identity and issuer); -o json adds "certificate": {"identity", "issuer", "key"}.

Examples:
  $ rampart verify-attestation --key rampart.pub --type cyclonedx oci:./out/nodejs:latest
  $ rampart verify-attestation --certificate-identity https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main --certificate-oidc-issuer https://token.actions.githubusercontent.com --trusted-root trusted_root.json --type slsaprovenance1 oci:./out/nodejs:latest
  $ rampart verify-attestation --key rampart.pub --type spdxjson -o json docker://localhost:5000/nodejs:1.0 --insecure`,
    )
    .action((image: string, options: VerifyAttestationFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        const keyless =
          options.trustedRoot !== undefined ||
          options.certificateIdentity !== undefined ||
          options.certificateIdentityRegexp !== undefined ||
          options.certificateOidcIssuer !== undefined;
        let result: VerifyAttestationResult;
        if (keyless) {
          // Keyless: the certificate and log entries, against the trusted root (no --key).
          const { verifyAttestationsKeylessFromFlags } = await import('../keyless-verify-options.js');
          result = await verifyAttestationsKeylessFromFlags(image, options, { registry, signal });
        } else {
          if (options.key === undefined) {
            throw new RampartError('USAGE', 'give --key (a public key) or --trusted-root (keyless)', {
              details: { option: '--key' },
            });
          }
          const key = parsePublicKey(await readKeyFile(options.key), { path: options.key });
          result = await verifyAttestations(image, key, {
            registry,
            signal,
            ...(options.type ? { type: options.type } : {}),
          });
        }
        if (!result.verified) process.exitCode = 1;
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(result)}\n`);
          return;
        }
        const lines = [`${result.verified ? 'Verified' : 'NOT verified'}: ${image} (${result.digest})\n`];
        if (result.attestations.length === 0) lines.push('  no attestations found\n');
        for (const a of result.attestations) {
          lines.push(
            `  ${a.valid ? 'valid  ' : 'INVALID'} ${a.format} ${printable(a.predicateType ?? '(unknown type)')} ${a.manifest}${a.reason ? `: ${printable(a.reason)}` : ''}\n`,
          );
        }
        await writeReport(report, lines.join(''));
      }),
    );
}
