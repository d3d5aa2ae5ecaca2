import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import type { SbomDocument } from '../../sbom/model.js';
import { printableText } from '../../util/printable.js';
import { addDbOption, dbPathOf } from '../db-option.js';
import { parseReportOutput, writeReport } from '../format.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface CompareFlags extends RegistryFlags {
  output: string;
  db?: string;
  against?: string;
  platform?: string;
}

export function registerCompare(program: Command): void {
  const command = program
    .command('compare')
    .description(
      'measure the attack surface of two images or roots side by side, with the reduction of B against A in percent',
    )
    .argument(
      '<a>',
      'the baseline: docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH (skopeo dir or root directory); with --against, the image to measure',
    )
    .argument('[b]', 'the image measured against A (same forms); omitted with --against')
    .option('-o, --output <format[=file]>', 'text, json or html=FILE (one self-contained HTML file)', 'text')
    .option(
      '--against <debian:SUITE>',
      "compare the image with the standard Debian root: minbase of SUITE plus the image's main packages, built from the verified archive and cached",
    )
    .option('--platform <os/arch[/variant]>', 'image of an index to measure (default: the host platform)');
  addDbOption(command);
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart compare dir:/srv/debian-root oci:./out/nodejs:latest
  $ rampart compare docker://localhost:5000/nodejs:1.0 oci:./out/nodejs:latest --insecure -o json
  $ rampart compare oci:./out/nodejs:latest --against debian:trixie -o html=nodejs-surface.html

Metrics: packages (distribution packages, as dpkg-query lists them) and language packages (npm,
PyPI, ...; counted apart), files, bytes, ELF executables and shared libraries, executables
on the default PATH, shells, package managers, interpreters, setuid/setgid files, world-writable
paths, files with capabilities, the user and exposed ports. The reduction is (A - B) / A in
percent: positive when B is smaller. With --against, A is the standard Debian root (Priority:
required packages, apt, and the image's main packages: its Debian packages that no other package
in it depends on) and B the image. When an advisory store exists (--db, $RAMPART_ADVISORY_DB or
the default path; \`rampart db update\`), both sides are scanned and the findings left after VEX
are counted by severity (the "vulnerabilities" metric and its reduction).`,
    )
    .action(async (a: string, b: string | undefined, flags: CompareFlags) => {
      const output = parseReportOutput(flags.output, ['text', 'json', 'html'] as const);
      if (output.format === 'html' && output.path === undefined)
        throw new RampartError('USAGE', '-o html needs a file: -o html=FILE', {
          details: { option: '--output', value: flags.output },
        });
      if ((b === undefined) === (flags.against === undefined))
        throw new RampartError(
          'USAGE',
          b === undefined
            ? 'give two images to compare (A B), or one image and --against debian:SUITE'
            : 'give either B or --against, not both',
          { details: { option: '--against' } },
        );
      const { compareAgainst, compareSurfaces, formatCompareText } = await import('../../surface/compare.js');
      const registry = await registryOptions(
        flags,
        [a, ...(b ? [b] : [])].filter((r) => r.startsWith('docker://')),
      );
      const { openOptionalAdvisoryStore } = await import('../../vuln/store.js');
      const store = openOptionalAdvisoryStore(flags.db, dbPathOf({}));
      const scanner = store ? await import('../../vuln/scan.js') : undefined;
      const options = {
        registry,
        ...(flags.platform ? { platform: flags.platform } : {}),
        ...(store && scanner
          ? {
              vulnerabilities: async (sbom: SbomDocument) =>
                scanner.countBySeverity(scanner.scanSbomDocument(store, sbom)),
            }
          : {}),
        log: (message: string) => process.stderr.write(`${message}\n`),
      };
      const full = await (flags.against
        ? compareAgainst(a, flags.against, options)
        : compareSurfaces(a, b as string, options)
      ).finally(() => store?.close());
      const result = { a: full.a, b: full.b, reduction: full.reduction };
      if (output.format === 'json') {
        await writeReport(output, `${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      if (output.format === 'html') {
        const { renderCompareHtml } = await import('../../surface/html-report.js');
        await writeReport(output, renderCompareHtml(result, { generated: new Date().toISOString() }));
        process.stdout.write(printableText(formatCompareText(result)));
        process.stdout.write(`HTML report: ${output.path}\n`);
        return;
      }
      await writeReport(output, formatCompareText(result));
    });
}
