import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import type { Signer } from '../../sign/keys.js';
import type { SignatureFormat, SignatureMaterial } from '../../sign/sign.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { withKeySignerFromFlags } from '../key-options.js';
import { addKeylessOptions, type KeylessFlags, keylessFromFlags } from '../keyless-options.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface SignFlags extends RegistryFlags, KeylessFlags {
  key?: string;
  recursive?: boolean;
  annotation: string[];
  format: string;
  identity?: string;
  allowInsecureKey?: boolean;
  bundle?: string;
  output: string;
}

export function registerSign(program: Command): void {
  const command = program
    .command('sign')
    .description(
      "sign an image (or index) with a key, or keylessly (Fulcio, Rekor), in cosign's formats, in a registry or an OCI layout",
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST]')
    .option('--key <file>', "private key (cosign's encrypted PEM; rampart key generate writes one)")
    .option('--recursive', 'also sign every manifest an index lists')
    .option('-a, --annotation <key=value>', 'annotation to sign with the image (repeatable)', collect, [])
    .option(
      '--format <bundle|legacy|both>',
      'bundle (cosign 3), legacy (.sig tag: cosign 2, skopeo) or both',
      'both',
    )
    .option('--identity <ref>', 'docker-reference to sign (default: the repository, as cosign does)')
    .option('--allow-insecure-key', 'accept an unencrypted private key file')
    .option(
      '--bundle <file>',
      'also write the signature as a sigstore bundle v0.3 file (--key: the public key, no log; --keyless: the certificate and Rekor entry)',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addKeylessOptions(command);
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Formats:
  bundle   a sigstore bundle v0.3 (DSSE over an in-toto statement) stored as an OCI referrer of the
           image (through the referrers API, or the referrers tag schema sha256-<hex>); cosign 3 reads it.
  legacy   cosign's simple-signing payload as one more layer of the sha256-<hex>.sig manifest
           (earlier signatures kept); cosign 2, skopeo and podman policies read it.
The password comes from RAMPART_PASSWORD, else COSIGN_PASSWORD, else a terminal prompt.

Examples:
  $ rampart sign --key rampart.key docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart sign --key rampart.key --recursive -a build=42 oci:./out/nodejs:latest
  $ rampart sign --key rampart.key --bundle nodejs.sigstore.json oci:./out/nodejs:latest
--bundle FILE writes the image's bundle (the index's with --recursive) whatever --format says;
rampart verify --bundle FILE (with --key, or for --keyless with --trusted-root and
--certificate-identity/--certificate-oidc-issuer) and @sigstore/verify read it.

Keyless (--keyless, instead of --key; online): an ephemeral key is certified by Fulcio for the
identity of an OIDC token (from SIGSTORE_ID_TOKEN, or --identity-token-file), and every signature
is logged in Rekor (default: the public-good instances; --fulcio-url/--rekor-url for your own).
The bundle holds the certificate and the log entry; the legacy layer the certificate
(dev.sigstore.cosign/certificate) and the log entry (dev.sigstore.cosign/bundle), as cosign writes
them. Verify with rampart verify --certificate-identity ... --certificate-oidc-issuer ...
--trusted-root FILE, or cosign verify.
  $ rampart sign --keyless --identity-token-file token.jwt oci:./out/nodejs:latest
  $ rampart sign --keyless --fulcio-url https://fulcio.example.internal --rekor-url https://rekor.example.internal oci:./out/nodejs:latest`,
    )
    .action((image: string, options: SignFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const formats = parseFormat(options.format);
        const annotations = parseAnnotations(options.annotation);
        const registryFlags = await registryOptions(options, [image]);
        const keyless = await keylessFromFlags(options, process.env, signal);
        const sign = async (signer: Signer | SignatureMaterial, signal: AbortSignal) => {
          const { signImage } = await import('../../sign/sign.js');
          return signImage(image, signer, {
            formats,
            annotations,
            registry: { ...registryFlags, signal },
            signal,
            ...(options.recursive ? { recursive: true } : {}),
            ...(options.identity ? { identity: options.identity } : {}),
            ...(options.bundle !== undefined ? { bundleFile: options.bundle } : {}),
          });
        };
        // With a key file, the image is read (and the signing code loaded) while scrypt opens the key.
        const result = keyless
          ? await sign(keyless, signal)
          : await withKeySignerFromFlags(options, signal, sign);
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(result)}\n`);
          return;
        }
        const lines = result.signatures.map(
          (s) => `Signed ${s.subject} (${s.format}): ${s.tag ? `${s.tag} ` : ''}${s.digest}\n`,
        );
        if (result.bundleFile) lines.push(`Wrote bundle ${result.bundleFile}\n`);
        await writeReport(report, lines.join(''));
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseFormat(value: string): SignatureFormat[] {
  if (value === 'both') return ['bundle', 'legacy'];
  if (value === 'bundle' || value === 'legacy') return [value];
  throw new RampartError('USAGE', `--format ${value}: expected bundle, legacy or both`, {
    details: { option: '--format', value },
  });
}

function parseAnnotations(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) {
      throw new RampartError('USAGE', `-a ${value}: expected KEY=VALUE`, {
        details: { option: '--annotation', value },
      });
    }
    out[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return out;
}
