import { type Command, Option } from 'commander';
import { RampartError } from '../../errors.js';
import { openAttachmentStore } from '../../oci/open.js';
import { parsePlatform, platformToDebianArch } from '../../oci/platform.js';
import { parseImageReference } from '../../oci/reference.js';
import { createRegistryClient } from '../../registry/client.js';
import { loadArchiveLookup } from '../../surface/lint/archive.js';
import { seeAttachments } from '../../surface/lint/attachments.js';
import { LINT_CONFIG_FILE, readLintConfig } from '../../surface/lint/config.js';
import { listLintChecks } from '../../surface/lint/registry.js';
import { renderLintText } from '../../surface/lint/render.js';
import { failsAt, lintImage } from '../../surface/lint/run.js';
import { encodeSarif } from '../../surface/lint/sarif.js';
import { tagsNaming } from '../../surface/lint/tags.js';
import { LINT_SEVERITIES, type LintSeverity } from '../../surface/lint/types.js';
import { measureImage } from '../../surface/metrics.js';
import { openSubject } from '../../surface/open.js';
import { formatTable, parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface LintCommandOptions extends RegistryFlags {
  output: string;
  failOn?: LintSeverity;
  config?: string;
  platform?: string;
  listChecks?: boolean;
  archive?: boolean;
  suite?: string[];
  mirror?: string;
  keyring?: string;
  cache?: string;
}

export function registerLint(program: Command): void {
  const command = program
    .command('lint')
    .description(
      'check an image for weaknesses: root user, shells, setuid files, secrets, missing signatures, end-of-life releases, ...',
    )
    .argument('[image]', 'docker://, oci:, oci-archive:, docker-archive: or dir: reference')
    .option('-o, --output <format[=file]>', 'report format: text, json or sarif, optionally =FILE', 'text')
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding has this severity or a higher one').choices([
        ...LINT_SEVERITIES,
      ]),
    )
    .option(
      '--config <file>',
      `lint configuration (default: ${LINT_CONFIG_FILE} in the current directory, if present)`,
    )
    .option(
      '--platform <os/arch[/variant]>',
      'image of an index to lint (default: the host platform, else the first)',
    )
    .option('--list-checks', 'list the checks (id, severity, group, title) and exit')
    .option(
      '--archive',
      'compare package versions with the Debian archive (outdated-package): the host apt mirror, or --mirror',
    )
    .addOption(
      new Option(
        '--suite <suite>',
        "archive suite for --archive (repeatable; default: the image's release, with -updates and -security)",
      ).argParser((value: string, previous: string[] = []) => [...previous, value]),
    )
    .option('--mirror <url>', "Debian mirror for --archive (default: the host's apt sources)")
    .option('--keyring <file>', "OpenPGP keyring that signs the archive (default: Debian's)")
    .option(
      '--cache <dir>',
      'download cache for --archive (default: $XDG_CACHE_HOME/rampart or ~/.cache/rampart)',
    );
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart lint oci:./out/nodejs:latest --fail-on warning
  $ rampart lint docker://localhost:5000/nodejs:1.0 --insecure -o sarif=lint.sarif --fail-on warning
  $ rampart lint oci-archive:nodejs-arm64.tar -o json=lint.json
  $ rampart lint --list-checks

Severities: error > warning > info. Exit status 1 with --fail-on when a finding is at that
severity or above, else 0. Disable a check in ${LINT_CONFIG_FILE}, with a mandatory reason:

  disable:
    - check: shell-present
      reason: the debug variant is meant to have a shell

Checks that need something the image's transport cannot give (attachments of a docker-archive:,
tags of a dir:) are listed as skipped, never as passed.`,
    )
    .action(async (reference: string | undefined, options: LintCommandOptions) => {
      const formats = options.listChecks ? (['text', 'json'] as const) : (['text', 'json', 'sarif'] as const);
      const report = parseReportOutput(options.output, formats);
      if (options.listChecks) {
        const checks = listLintChecks();
        await writeReport(
          report,
          report.format === 'json'
            ? `${JSON.stringify(checks, null, 2)}\n`
            : formatTable(
                ['ID', 'SEVERITY', 'GROUP', 'TITLE'],
                checks.map((check) => [check.id, check.severity, check.group, check.title]),
              ),
        );
        return;
      }
      if (!reference)
        throw new RampartError('USAGE', 'rampart lint needs an image reference (or --list-checks)', {
          details: { option: 'image' },
        });
      const config = options.config
        ? await readLintConfig(options.config)
        : await readLintConfig(LINT_CONFIG_FILE, true);
      const platform = options.platform ? parsePlatform(options.platform) : undefined;
      const registry = await registryOptions(options, [reference]);
      const parsed = parseImageReference(reference);
      const result = await withInterrupt(async (signal) => {
        const { image: opened, named } = await openSubject(reference, {
          registry,
          ...(platform ? { platform } : {}),
        });
        // The digest the reference resolved to (an index) and the image's own.
        const subjects = [...new Set([named, opened.digest])];
        const holdsAttachments = parsed.transport !== 'docker-archive' && parsed.transport !== 'dir';
        return lintImage(reference, opened, {
          ...(config ? { config } : {}),
          signal,
          measure: (image, ref, cancel) =>
            measureImage(image, { reference: ref, ...(cancel ? { signal: cancel } : {}) }),
          ...(holdsAttachments
            ? {
                attachments: async () =>
                  seeAttachments(await openAttachmentStore(parsed, { registry }), subjects, signal),
              }
            : {}),
          ...(options.archive
            ? {
                archive: (sbom) =>
                  loadArchiveLookup(sbom, {
                    architecture: platformToDebianArch(opened.config),
                    signal,
                    ...(options.suite ? { suites: options.suite } : {}),
                    ...(options.mirror ? { mirror: options.mirror } : {}),
                    ...(options.keyring ? { keyring: options.keyring } : {}),
                    ...(options.cache ? { cacheDir: options.cache } : {}),
                  }),
              }
            : {}),
          tags: () =>
            tagsNaming(parsed, subjects, () => createRegistryClient(parsed.registry ?? '', registry)),
        });
      });
      const text =
        report.format === 'json'
          ? `${JSON.stringify(result, null, 2)}\n`
          : report.format === 'sarif'
            ? `${JSON.stringify(encodeSarif(result), null, 2)}\n`
            : renderLintText(result);
      await writeReport(report, text);
      if (options.failOn && failsAt(result, options.failOn)) process.exitCode = 1;
    });
}
