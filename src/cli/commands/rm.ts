import type { Command } from 'commander';
import { asDockerReference, deleteManifestByDigest } from '../../registry/manage.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

export function registerRm(program: Command): void {
  const command = program
    .command('rm')
    .description('delete a manifest from a registry, by digest (where the registry allows deletes)')
    .argument('<reference>', '[docker://]HOST/NAME@sha256:DIGEST')
    .option(
      '-o, --output <format[=file]>',
      'report format: text or json ({"registry","repository","digest"}), optionally =FILE',
      'text',
    );
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
A registry may refuse deletes (docker-registry without storage.delete.enabled): rm then fails with
UNSUPPORTED_OPERATION. Tags pointing at the manifest go with it; blobs are freed by the registry's
garbage collection.

Examples:
  $ rampart rm "docker://localhost:5000/nodejs@sha256:$(rampart inspect --raw docker://localhost:5000/nodejs:1.0 --insecure | sha256sum | cut -d' ' -f1)" --insecure`,
    )
    .action((reference: string, options: RegistryFlags & { output: string }) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = await registryOptions(options, [asDockerReference(reference)]);
        const deleted = await deleteManifestByDigest(reference, { ...registry, signal });
        await writeReport(
          report,
          report.format === 'json'
            ? `${JSON.stringify(deleted)}\n`
            : `Deleted ${deleted.registry}/${deleted.repository}@${deleted.digest}\n`,
        );
      }),
    );
}
