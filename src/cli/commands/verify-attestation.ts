import type { Command } from 'commander';
import { readKeyFile } from '../../sign/key-files.js';
import { parsePublicKey } from '../../sign/keys.js';
import { verifyAttestations } from '../../sign/verify-attestation.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface VerifyAttestationFlags extends RegistryFlags {
  key: string;
  type?: string;
  output: string;
}

export function registerVerifyAttestation(program: Command): void {
  const command = program
    .command('verify-attestation')
    .description(
      'verify the attestations of an image with a public key (cosign bundle and legacy .att formats), offline',
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST]')
    .requiredOption('--key <file>', 'public key (SPKI PEM, as cosign and rampart key generate write it)')
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

Examples:
  $ rampart verify-attestation --key rampart.pub --type cyclonedx oci:./out/nodejs:latest
  $ rampart verify-attestation --key rampart.pub --type spdxjson -o json docker://localhost:5000/nodejs:1.0 --insecure`,
    )
    .action((image: string, options: VerifyAttestationFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        const key = parsePublicKey(await readKeyFile(options.key), { path: options.key });
        const result = await verifyAttestations(image, key, {
          registry,
          signal,
          ...(options.type ? { type: options.type } : {}),
        });
        if (!result.verified) process.exitCode = 1;
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(result)}\n`);
          return;
        }
        const lines = [`${result.verified ? 'Verified' : 'NOT verified'}: ${image} (${result.digest})\n`];
        if (result.attestations.length === 0) lines.push('  no attestations found\n');
        for (const a of result.attestations) {
          lines.push(
            `  ${a.valid ? 'valid  ' : 'INVALID'} ${a.format} ${a.predicateType ?? '(unknown type)'} ${a.manifest}${a.reason ? `: ${a.reason}` : ''}\n`,
          );
        }
        await writeReport(report, lines.join(''));
      }),
    );
}
