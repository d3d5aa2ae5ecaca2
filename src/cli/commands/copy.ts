import type { Command } from 'commander';
import { selectImage } from '../../oci/image.js';
import { checkHoldsAttachments, openAttachmentStore, openImage, writeImage } from '../../oci/open.js';
import { formatPlatform, parsePlatform } from '../../oci/platform.js';
import { parseImageReference } from '../../oci/reference.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';

export function registerCopy(program: Command): void {
  program
    .command('copy')
    .description(
      'copy an image, artifact or index between oci:, oci-archive: and docker-archive: (or from dir:)',
    )
    .argument(
      '<source>',
      'oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or dir:PATH',
    )
    .argument(
      '<destination>',
      "oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or dir:DIR (skopeo's dir format)",
    )
    .option(
      '--platform <os/arch[/variant]>',
      'copy only this platform of an index (docker-archive, which holds one image, defaults to the host platform, else the first)',
    )
    .option(
      '--with-attachments',
      "also copy cosign's sha256-<hex>.sig/.att/.sbom tags and every referrer, recursively (not to or from docker-archive: or dir:)",
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .addHelpText(
      'after',
      `
Digests:
  oci: and oci-archive: keep every manifest byte-for-byte, so all digests are preserved, and an
  index is copied whole (with --platform, only that image is copied). Docker schema 2 manifests
  are rewritten with OCI media types on the way into an OCI layout (skopeo ignores Docker types
  there): config and layer blobs are unchanged, the manifest digest changes.
  docker-archive: stores the config and uncompressed layer tars: the config digest (image ID) and
  diff_ids are preserved, but the manifest digest and the layer blob digests change.
  docker-archive holds a single image: from an index, the --platform image is written, or the
  host platform's (falling back to the first entry) when --platform is not given; the copy says
  which it took.
  Writing a tag that exists in an OCI layout's index.json replaces that entry; others are kept.
  OCI artifacts (signatures, attestations, SBOMs) copy like images, byte for byte.
  dir: reads and writes skopeo's directory format (version + manifest.json); a dir: source
  without those files is a root filesystem, packed into a one-layer image.

Examples:
  $ rampart copy oci:./out/nodejs:latest docker-archive:nodejs.tar:nodejs:latest
  $ rampart copy --platform linux/arm64 oci:./out/nodejs:latest oci-archive:nodejs-arm64.tar
  $ rampart copy -o json docker-archive:nodejs.tar oci:./layout:imported`,
    )
    .action(
      (
        source: string,
        destination: string,
        options: { platform?: string; output: string; withAttachments?: boolean },
      ) =>
        withInterrupt(async (signal) => {
          const report = parseReportOutput(options.output, ['text', 'json'] as const);
          const platform = options.platform ? parsePlatform(options.platform) : undefined;
          const target = parseImageReference(destination);
          if (options.withAttachments) checkHoldsAttachments(target);
          const attachmentsFrom = options.withAttachments ? await openAttachmentStore(source) : undefined;
          const opened = await openImage(source);
          // docker-archive holds one image: pick it here so the report can say which one was taken.
          const image =
            target.transport === 'docker-archive' && opened.kind === 'index'
              ? await selectImage(opened, platform)
              : opened;
          const written = await writeImage(target, image, {
            ...(platform && image === opened ? { platform } : {}),
            ...(attachmentsFrom ? { attachmentsFrom } : {}),
            signal,
          });
          const tookPlatform =
            image !== opened && image.kind === 'image' ? formatPlatform(image.config) : undefined;
          const digestChanged = target.transport === 'docker-archive' && written.digest !== image.digest;
          if (report.format === 'json') {
            await writeReport(
              report,
              `${JSON.stringify({
                source,
                sourceDigest: opened.digest,
                reference: written.reference,
                digest: written.digest,
                ...(tookPlatform ? { platform: tookPlatform } : {}),
                ...(written.attachments ? { attachments: written.attachments } : {}),
              })}\n`,
            );
            return;
          }
          const lines = [`Copied ${source} -> ${written.reference}`];
          if (tookPlatform)
            lines.push(
              `Platform: ${tookPlatform} of index ${opened.digest}${platform ? '' : " (docker-archive holds one image: the host's, else the first; choose with --platform)"}`,
            );
          lines.push(
            `Digest: ${written.digest}${digestChanged ? ' (docker-archive: manifest digest differs from the source by design)' : ''}`,
          );
          for (const attachment of written.attachments ?? []) {
            lines.push(
              `Attachment: ${attachment.kind} ${attachment.digest}${attachment.tag ? ` (tag ${attachment.tag})` : ''}${attachment.artifactType ? ` ${attachment.artifactType}` : ''}`,
            );
          }
          await writeReport(report, `${lines.join('\n')}\n`);
        }),
    );
}
