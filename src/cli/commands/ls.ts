import type { Command } from 'commander';
import { listRepositoryTags } from '../../registry/manage.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('list the tags of a registry repository')
    .argument('<repository>', '[docker://]HOST/NAME (Docker Hub names as docker pull takes them)')
    .option(
      '-o, --output <format[=file]>',
      'report format: text (one tag a line) or json, optionally =FILE',
      'text',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ rampart ls docker://127.0.0.1:5000/app
  $ rampart ls -o json library/debian`,
    )
    .action((repository: string, options: { output: string }) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const listed = await listRepositoryTags(repository, { signal });
        await writeReport(
          report,
          report.format === 'json'
            ? `${JSON.stringify(listed)}\n`
            : listed.tags.map((tag) => `${tag}\n`).join(''),
        );
      }),
    );
}
