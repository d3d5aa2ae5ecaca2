import type { Command } from 'commander';
import { attachmentTree, formatAttachmentTree } from '../../sign/tree.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface TreeFlags extends RegistryFlags {
  output: string;
}

export function registerTree(program: Command): void {
  const command = program
    .command('tree')
    .description('list the signatures, attestations, SBOMs and referrers attached to an image')
    .argument('<image>', 'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST] or oci-archive:FILE[:TAG]')
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text');
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
For the image, and for each manifest of an index, lists what is attached: cosign's legacy tags
(sha256-<hex>.sig, .att, .sbom) and OCI referrers (sigstore bundles, SBOMs, any artifact), each with
its predicate types and what is attached to it in turn. Nothing is verified: use verify and
verify-attestation for that.
-o json: {"reference", "digest", "mediaType", "attachments": [A], "manifests": [{"digest",
"mediaType", "platform", "attachments": [A]}]}, where A is {"kind" (signature, attestation, sbom,
referrer), "format" (legacy, bundle, referrer), "digest", "tag", "artifactType", "predicateTypes",
"layers", "attachments": [A]}.

Examples:
  $ rampart tree docker://localhost:5000/nodejs:22 --insecure
  $ rampart tree -o json oci:./out/nodejs:latest`,
    )
    .action((image: string, options: TreeFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = { ...(await registryOptions(options, [image])), signal };
        const tree = await attachmentTree(image, { registry, signal });
        await writeReport(
          report,
          report.format === 'json' ? `${JSON.stringify(tree)}\n` : formatAttachmentTree(tree),
        );
      }),
    );
}
