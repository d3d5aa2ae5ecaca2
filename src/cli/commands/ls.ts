import type { Command } from 'commander';
import { asDockerReference, listRepositoryTags } from '../../registry/manage.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

export function registerLs(program: Command): void {
  const command = program
    .command('ls')
    .description('list the tags of a registry repository')
    .argument('<repository>', '[docker://]HOST/NAME (Docker Hub names as docker pull takes them)')
    .option(
      '-o, --output <format[=file]>',
      'report format: text (one tag a line) or json, optionally =FILE',
      'text',
    );
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart ls docker://localhost:5000/nodejs --insecure
  $ rampart ls -o json localhost:5000/nodejs --insecure`,
    )
    .action((repository: string, options: RegistryFlags & { output: string }) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const registry = await registryOptions(options, [asDockerReference(repository)]);
        const listed = await listRepositoryTags(repository, { ...registry, signal });
        await writeReport(
          report,
          report.format === 'json'
            ? `${JSON.stringify(listed)}\n`
            : listed.tags.map((tag) => `${tag}\n`).join(''),
        );
      }),
    );
}
