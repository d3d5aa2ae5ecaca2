import type { Command } from 'commander';
import { parsePlatform } from '../../oci/platform.js';
import { diffImages } from '../../surface/diff.js';
import { renderDiffMarkdown, renderDiffText } from '../../surface/diff-render.js';
import { openSubjectImage } from '../../surface/open.js';
import { addDbOption, dbPathOf } from '../db-option.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface DiffCommandOptions extends RegistryFlags {
  output: string;
  platform?: string;
  db?: string;
}

export function registerDiff(program: Command): void {
  const command = program
    .command('diff')
    .description(
      'what changed between two images: packages (with versions), files (with sizes), config, and fixed/introduced vulnerabilities',
    )
    .argument('<old>', 'the older image: docker://, oci:, oci-archive:, docker-archive: or dir: reference')
    .argument('<new>', 'the newer image, any transport')
    .option('-o, --output <format[=file]>', 'report format: text, json or markdown, optionally =FILE', 'text')
    .option(
      '--platform <os/arch[/variant]>',
      'image of an index to compare (default: the host platform, else the first)',
    );
  addRegistryOptions(addDbOption(command), { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart diff oci:./out/nodejs:latest oci:./layout:imported
  $ rampart diff docker://localhost:5000/nodejs:1.0 oci:./out/nodejs:latest --insecure -o markdown=CHANGES.md
  $ rampart diff oci:./out/nodejs:latest oci:./layout:imported -o json=diff.json

Packages come from rampart's SBOM catalog (deb, npm, Python, Java, Go), matched by ecosystem, name
and architecture. A file counts as changed when its kind, mode bits (setuid/setgid included), owner,
link target, size or content (sha256) differ; modification times are ignored. Config compares user,
env, entrypoint, cmd, working dir, labels, exposed ports and stop signal. When an advisory store
exists (--db, $RAMPART_ADVISORY_DB or the default path; \`rampart db update\`), both images are
scanned and the vulnerabilities fixed and introduced are listed. Exit status 0 whether or not
anything changed.`,
    )
    .action(async (oldRef: string, newRef: string, options: DiffCommandOptions) => {
      const report = parseReportOutput(options.output, ['text', 'json', 'markdown'] as const);
      const platform = options.platform ? parsePlatform(options.platform) : undefined;
      const registry = await registryOptions(options, [oldRef, newRef]);
      const open = (reference: string) =>
        openSubjectImage(reference, { registry, ...(platform ? { platform } : {}) });
      const store = await openStoreIfAny(options.db);
      const diff = await withInterrupt(async (signal) =>
        diffImages(
          { reference: oldRef, image: await open(oldRef) },
          { reference: newRef, image: await open(newRef) },
          {
            signal,
            ...(store
              ? { scanFindings: async (sbom) => (await scanner()).scanSbomDocument(store, sbom).matches }
              : {}),
          },
        ),
      ).finally(() => store?.close());
      const text =
        report.format === 'json'
          ? `${JSON.stringify(diff, null, 2)}\n`
          : report.format === 'markdown'
            ? renderDiffMarkdown(diff)
            : renderDiffText(diff);
      await writeReport(report, text);
    });
}

const scanner = () => import('../../vuln/scan.js');

/** The advisory store when one exists (`openOptionalAdvisoryStore`): without one a diff has no `findings`. */
async function openStoreIfAny(db: string | undefined) {
  const { openOptionalAdvisoryStore } = await import('../../vuln/store.js');
  return openOptionalAdvisoryStore(db, dbPathOf({}));
}
