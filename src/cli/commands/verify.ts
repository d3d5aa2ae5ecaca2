import type { Command } from 'commander';
import { readKeyFile } from '../../sign/key-files.js';
import { parsePublicKey } from '../../sign/keys.js';
import { verifyImage } from '../../sign/verify.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface VerifyFlags extends RegistryFlags {
  key: string;
  identity?: string;
  output: string;
}

export function registerVerify(program: Command): void {
  const command = program
    .command('verify')
    .description(
      'verify the signatures of an image with a public key (cosign bundle and legacy .sig formats), offline',
    )
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST] or oci-archive:FILE[:TAG]')
    .requiredOption('--key <file>', 'public key (SPKI PEM, as cosign and rampart key generate write it)')
    .option('--identity <ref>', 'require this docker-reference (the repository the signer named)')
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Each signature is checked: its blob against the digest the manifest names, the signature over
exactly those bytes with the key, the signed digest against the image's, and with --identity the
signed docker-reference. Exit status 0 only when at least one signature by the key is valid.
-o json: {"verified", "digest", "signatures": [{"format", "valid", "reason", "failed", "identity",
"annotations", "manifest", "layer"}]}.

Examples:
  $ rampart verify --key rampart.pub docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart verify --key rampart.pub -o json oci:./out/nodejs:latest`,
    )
    .action((image: string, options: VerifyFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        const pem = await readKeyFile(options.key);
        const key = parsePublicKey(pem, { path: options.key });
        const result = await verifyImage(image, key, {
          registry,
          signal,
          ...(options.identity ? { identity: options.identity } : {}),
        });
        if (!result.verified) process.exitCode = 1;
        if (report.format === 'json') {
          await writeReport(report, `${JSON.stringify(result)}\n`);
          return;
        }
        const lines = [`${result.verified ? 'Verified' : 'NOT verified'}: ${image} (${result.digest})\n`];
        if (result.signatures.length === 0) lines.push('  no signatures found\n');
        for (const s of result.signatures) {
          lines.push(
            `  ${s.valid ? 'valid  ' : 'INVALID'} ${s.format} ${s.manifest}${s.reason ? `: ${s.reason}` : ''}\n`,
          );
        }
        await writeReport(report, lines.join(''));
      }),
    );
}
