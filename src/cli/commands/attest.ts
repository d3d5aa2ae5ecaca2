import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { attestImage, readPredicateFile } from '../../sign/attest.js';
import type { SignatureFormat } from '../../sign/sign.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { keySignerFromFlags } from '../key-options.js';
import { addKeylessOptions, type KeylessFlags, keylessFromFlags } from '../keyless-options.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface AttestFlags extends RegistryFlags, KeylessFlags {
  key?: string;
  type: string;
  predicate: string;
  format: string;
  identity?: string;
  allowInsecureKey?: boolean;
  bundle?: string;
  output: string;
}

export function registerAttest(program: Command): void {
  const command = program
    .command('attest')
    .description(
      "attach a signed in-toto attestation (SLSA provenance, SBOM, OpenVEX...) to an image, in cosign's formats",
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST]')
    .option('--key <file>', "private key (cosign's encrypted PEM; rampart key generate writes one)")
    .requiredOption(
      '--type <type>',
      'predicate type: slsaprovenance1, slsaprovenance, spdxjson, cyclonedx, openvex, link, vuln, custom, or a URI',
    )
    .requiredOption('--predicate <file>', 'the predicate: a JSON object (at most 8 MiB)')
    .option('--format <bundle|legacy|both>', 'bundle (cosign 3), legacy (.att tag: cosign 2) or both', 'both')
    .option('--identity <ref>', 'the statement subject name (default: the repository, as cosign does)')
    .option('--allow-insecure-key', 'accept an unencrypted private key file')
    .option(
      '--bundle <file>',
      'also write the attestation as a sigstore bundle v0.3 file (--key: the public key, no log; --keyless: the certificate and Rekor entry)',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addKeylessOptions(command);
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
The statement (in-toto v1: subject = the image digest, predicateType from --type, the predicate
as given) is signed as a DSSE envelope and stored:
  bundle   a sigstore bundle v0.3 as an OCI referrer of the image, annotated
           dev.sigstore.bundle.predicateType; cosign 3 verify-attestation reads it.
  legacy   one more DSSE layer (application/vnd.dsse.envelope.v1+json, annotated predicateType) of
           the sha256-<hex>.att manifest, earlier attestations kept; cosign 2 reads it.
The password comes from RAMPART_PASSWORD, else COSIGN_PASSWORD, else a terminal prompt.

Examples:
  $ rampart attest --key rampart.key --type cyclonedx --predicate nodejs.cdx.json oci:./out/nodejs:latest
  $ rampart attest --key rampart.key --type spdxjson --predicate nodejs.spdx.json docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart attest --key rampart.key --type slsaprovenance1 --predicate prov.json --bundle prov.sigstore.json oci:./out/nodejs:latest
--bundle FILE writes the attestation's bundle whatever --format says; rampart verify --bundle FILE
reads it (with --key, or for --keyless with --trusted-root and --certificate-*).

--keyless (instead of --key; online): signed with an ephemeral key Fulcio certifies for the OIDC
token in SIGSTORE_ID_TOKEN (or --identity-token-file), logged in Rekor. bundle: the certificate and
a dsse log entry in the bundle (cosign 3); legacy: the .att DSSE layer annotated with the certificate
(dev.sigstore.cosign/certificate) and its intoto log entry (dev.sigstore.cosign/bundle), as cosign 2
writes a keyless attestation. rampart verify-attestation and verify --policy (keyless signers) and
cosign read both.
  $ rampart attest --keyless --type openvex --predicate nodejs.openvex.json oci:./out/nodejs:latest
  $ rampart attest --keyless --format legacy --type slsaprovenance1 --predicate prov.json oci:./out/nodejs:latest`,
    )
    .action((image: string, options: AttestFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const formats: SignatureFormat[] = parseFormat(options.format);
        const predicate = await readPredicateFile(options.predicate);
        const registry = { ...(await registryOptions(options, [image])), signal };
        const signer =
          (await keylessFromFlags(options, process.env, signal)) ??
          (await keySignerFromFlags(options, async () => undefined))[0];
        const result = await attestImage(image, signer, options.type, predicate, {
          formats,
          registry,
          signal,
          ...(options.identity ? { identity: options.identity } : {}),
          ...(options.bundle !== undefined ? { bundleFile: options.bundle } : {}),
        });
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(result)}\n`);
          return;
        }
        const lines = result.attestations.map(
          (a) =>
            `Attested ${result.digest} (${a.format}, ${result.predicateType}): ${a.tag ? `${a.tag} ` : ''}${a.digest}\n`,
        );
        if (result.bundleFile) lines.push(`Wrote bundle ${result.bundleFile}\n`);
        await writeReport(report, lines.join(''));
      }),
    );
}

function parseFormat(value: string): SignatureFormat[] {
  if (value === 'both') return ['bundle', 'legacy'];
  if (value === 'bundle' || value === 'legacy') return [value];
  throw new RampartError('USAGE', `--format ${value}: expected bundle, legacy or both`, {
    details: { option: '--format', value },
  });
}
