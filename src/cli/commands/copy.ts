import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { selectImage } from '../../oci/image.js';
import { checkHoldsAttachments, openAttachmentStore, openImage, writeImage } from '../../oci/open.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import { parseImageReference } from '../../oci/reference.js';
import { printable } from '../../util/printable.js';
import { formatBytes, parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { createProgressReporter } from '../progress.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface CopyFlags extends RegistryFlags {
  platform?: string;
  allPlatforms?: boolean;
  withAttachments?: boolean;
  output: string;
  quiet?: boolean;
}

export function registerCopy(program: Command): void {
  const command = program
    .command('copy')
    .description(
      'copy an image, artifact or index between registries (docker://), oci:, oci-archive:, docker-archive: and dir:',
    )
    .argument(
      '<source>',
      'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or dir:PATH',
    )
    .argument(
      '<destination>',
      "docker://REG/REPO[:TAG], oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or dir:DIR (skopeo's dir format)",
    )
    .option(
      '--platform <os/arch[/variant]>',
      'copy only this platform of an index (docker-archive, which holds one image, defaults to the host platform, else the first)',
    )
    .option(
      '--all-platforms',
      'copy an index whole (the default where the destination stores indexes; refused for docker-archive)',
    )
    .option(
      '--with-attachments',
      "also copy cosign's sha256-<hex>.sig/.att/.sbom tags and every referrer, recursively (not to or from docker-archive: or dir:)",
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .option('-q, --quiet', 'no progress on stderr (errors only)');
  addRegistryOptions(command)
    .addHelpText(
      'after',
      `
Digests:
  docker://, oci: and oci-archive: keep every manifest byte-for-byte, so all digests are preserved,
  and an index is copied whole (with --platform, only that image is copied). Docker schema 2
  manifests are rewritten with OCI media types on the way into an OCI layout (skopeo ignores Docker
  types there): config and layer blobs are unchanged, the manifest digest changes.
  docker-archive: stores the config and uncompressed layer tars: the config digest (image ID) and
  diff_ids are preserved, but the manifest digest and the layer blob digests change.
  docker-archive holds a single image: from an index, the --platform image is written, or the
  host platform's (falling back to the first entry) when --platform is not given; the copy says
  which it took.
  Writing a tag that exists in an OCI layout's index.json replaces that entry; others are kept.
  OCI artifacts (signatures, attestations, SBOMs) copy like images, byte for byte.
  dir: reads and writes skopeo's directory format (version + manifest.json); a dir: source
  without those files is a root filesystem, packed into a one-layer image.

Registries (docker://):
  Blobs the registry holds are skipped, blobs of another repository of the same registry are
  mounted, the rest are uploaded --jobs at a time; manifests go children first, the tag last, so
  an interrupted push tags nothing. A destination @sha256: pin must be the digest written.

-o json prints one object:
  source, destination   the references as given
  digest                the digest of what was written (what a reader of the destination sees)
  platforms             every platform copied ("os/arch[/variant]"), in order; [] for an artifact
  attachments           with --with-attachments, each copied signature, attestation, SBOM or
                        referrer: {"kind": "signature|attestation|sbom|referrer", "digest",
                        "tag"? (cosign's sha256-<hex>.sig/.att/.sbom), "artifactType"?}; else []
  bytes                 blob bytes {"pushed", "skipped" (already there), "mounted" (from another
                        repository of the same registry)}
  sourceDigest          the digest of the source's root (an index when one platform was taken)

Examples:
  $ rampart copy oci:./out/nodejs:latest docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart copy docker://localhost:5000/nodejs:1.0 oci:./layout:nodejs --insecure
  $ rampart copy --with-attachments -o json docker://localhost:5000/nodejs:1.0 oci:./mirror:nodejs --insecure
  $ rampart copy --authfile ./auth.json --jobs 8 oci:./out/nodejs:latest docker://localhost:5000/team/nodejs:1.0 --insecure
  $ rampart copy oci:./out/nodejs:latest docker-archive:nodejs.tar:nodejs:latest
  $ rampart copy --platform linux/arm64 oci:./out/nodejs:latest oci-archive:nodejs-arm64.tar
  $ rampart copy -o json docker-archive:nodejs.tar oci:./layout:imported`,
    )
    .action((source: string, destination: string, options: CopyFlags) =>
      withInterrupt(async (signal) => {
        const report = parseReportOutput(options.output, ['text', 'json'] as const);
        const platform = options.platform ? parsePlatform(options.platform) : undefined;
        const target = parseImageReference(destination);
        if (options.allPlatforms && platform) {
          throw new RampartError('USAGE', '--all-platforms and --platform exclude each other', {
            details: { option: '--all-platforms' },
          });
        }
        if (options.allPlatforms && target.transport === 'docker-archive') {
          throw new RampartError(
            'USAGE',
            'docker-archive holds one image: --all-platforms cannot be written to it',
            {
              details: { option: '--all-platforms', value: destination },
            },
          );
        }
        const registry = { ...(await registryOptions(options, [source, destination])), signal };
        if (options.withAttachments) checkHoldsAttachments(target);
        const attachmentsFrom = options.withAttachments
          ? await openAttachmentStore(source, { registry })
          : undefined;
        const opened = await openImage(source, { registry });
        // docker-archive holds one image: pick it here so the report can say which one was taken.
        const image =
          target.transport === 'docker-archive' && opened.kind === 'index'
            ? await selectImage(opened, platform)
            : opened;
        // Transfers over the network get progress (a bar on a terminal, a line per blob in a log);
        // a local copy stays as quiet as before, its stderr one error line when it fails.
        const remote = target.transport === 'docker' || parseImageReference(source).transport === 'docker';
        const progress = createProgressReporter({
          prefix: 'rampart copy: ',
          ...(options.quiet || !remote ? { quiet: true } : {}),
        });
        const written = await writeImage(target, image, {
          ...(platform && image === opened ? { platform } : {}),
          ...(attachmentsFrom ? { attachmentsFrom } : {}),
          signal,
          registry,
          onEvent: progress.copy,
        }).finally(() => progress.stop());
        const tookPlatform =
          image !== opened && image.kind === 'image' ? formatPlatform(image.config) : written.platform;
        const digestChanged = target.transport === 'docker-archive' && written.digest !== image.digest;
        if (report.format === 'json') {
          await writeReport(
            report,
            `${JSON.stringify({
              source,
              destination,
              digest: written.digest,
              platforms: written.platforms,
              // With --with-attachments: the signatures, attestations, SBOMs and referrers copied.
              attachments: written.attachments ?? [],
              bytes: written.bytes,
              // The root read from the source: differs from `digest` when one platform of an index
              // was taken, or when the destination format rewrites the manifest.
              sourceDigest: opened.digest,
            })}\n`,
          );
          return;
        }
        const lines = [`Copied ${source} -> ${written.reference}`];
        if (tookPlatform)
          lines.push(
            `Platform: ${printable(tookPlatform)} of index ${opened.digest}${platform ? '' : " (docker-archive holds one image: the host's, else the first; choose with --platform)"}`,
          );
        else if (written.platforms.length > 1)
          lines.push(`Platforms: ${printable(written.platforms.join(', '))}`);
        lines.push(
          `Digest: ${written.digest}${digestChanged ? ' (docker-archive: manifest digest differs from the source by design)' : ''}`,
        );
        for (const attachment of written.attachments ?? []) {
          lines.push(
            `Attachment: ${attachment.kind} ${attachment.digest}${attachment.tag ? ` (tag ${printable(attachment.tag)})` : ''}${attachment.artifactType ? ` ${printable(attachment.artifactType)}` : ''}`,
          );
        }
        const { pushed, skipped, mounted } = written.bytes;
        lines.push(
          `Blobs: ${formatBytes(pushed)} copied, ${formatBytes(skipped)} already there${mounted ? `, ${formatBytes(mounted)} mounted` : ''}`,
        );
        await writeReport(report, `${lines.join('\n')}\n`);
      }),
    );
}
