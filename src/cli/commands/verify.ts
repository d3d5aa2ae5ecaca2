import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { readBoundedFile } from '../../sign/attest.js';
import { readKeyFile } from '../../sign/key-files.js';
import { parsePublicKey } from '../../sign/keys.js';
import { evaluatePolicy, loadPolicy } from '../../sign/policy.js';
import { MAX_BUNDLE_FILE, verifyImage, verifyImageBundle } from '../../sign/verify.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface VerifyFlags extends RegistryFlags {
  key?: string;
  identity?: string;
  bundle?: string;
  policy?: string;
  output: string;
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
    .option(
      '--bundle <file>',
      'check this sigstore bundle file (sign/attest --bundle) instead of the stored signatures',
    )
    .option(
      '--policy <file>',
      'evaluate a verification policy (YAML, docs/policy.md); every rule is reported',
    )
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

--bundle FILE: only that bundle is checked (its DSSE signature by --key, a statement subject naming
the image's digest, and --identity); the image is read for its digest only.
--policy FILE: every rule of the policy (signers, predicate types, provenance builder id and spec
digest, maximum age, non-root user) is evaluated and printed as passed or failed with its reason;
exit status 1 when any fails. The policy's signers are the keys; --key is not needed.
-o json with --policy: {"passed", "digest", "subjects", "rules": [{"rule", "requirement", "passed", "reason"}]}.

Examples:
  $ rampart verify --key rampart.pub docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart verify --key rampart.pub -o json oci:./out/nodejs:latest
  $ rampart verify --key rampart.pub --bundle nodejs.sigstore.json oci:./out/nodejs:latest
  $ rampart verify --policy release-policy.yaml oci:./out/nodejs:latest`,
    )
    .action((image: string, options: VerifyFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        if (options.policy !== undefined) {
          if (options.key !== undefined || options.bundle !== undefined) {
            throw new RampartError(
              'USAGE',
              '--policy names its own keys: give it without --key and --bundle',
              {
                details: { option: '--policy' },
              },
            );
          }
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
              `  ${rule.passed ? 'pass' : 'FAIL'} ${rule.rule} ${rule.requirement}: ${rule.reason}\n`,
            );
          }
          await writeReport(report, lines.join(''));
          return;
        }
        if (options.key === undefined) {
          throw new RampartError('USAGE', 'give --key (a public key) or --policy', {
            details: { option: '--key' },
          });
        }
        const pem = await readKeyFile(options.key);
        const key = parsePublicKey(pem, { path: options.key });
        const identity = options.identity ? { identity: options.identity } : {};
        const result =
          options.bundle !== undefined
            ? await verifyImageBundle(
                image,
                await readBoundedFile(options.bundle, MAX_BUNDLE_FILE, 'USAGE', 'the bundle'),
                key,
                { registry, signal, file: options.bundle, ...identity },
              )
            : await verifyImage(image, key, { registry, signal, ...identity });
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
