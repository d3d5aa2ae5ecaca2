import type { Command } from 'commander';
import { openImage, writeImage } from '../../oci/open.js';
import { parsePlatform } from '../../oci/platform.js';
import { parseImageReference } from '../../oci/reference.js';

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
  host platform's (falling back to the first entry) when --platform is not given.
  Writing a tag that exists in an OCI layout's index.json replaces that entry; others are kept.
  OCI artifacts (signatures, attestations, SBOMs) copy like images, byte for byte.
  dir: reads and writes skopeo's directory format (version + manifest.json); a dir: source
  without those files is a root filesystem, packed into a one-layer image.

Examples:
  $ rampart copy oci:./out/nodejs:latest docker-archive:nodejs.tar:nodejs:latest
  $ rampart copy --platform linux/arm64 oci:./out/nodejs:latest oci-archive:nodejs-arm64.tar
  $ rampart copy docker-archive:saved.tar oci:./layout:imported`,
    )
    .action(async (source: string, destination: string, options: { platform?: string }) => {
      const platform = options.platform ? parsePlatform(options.platform) : undefined;
      const target = parseImageReference(destination);
      const image = await openImage(source);
      const written = await writeImage(target, image, platform ? { platform } : {});
      const note =
        target.transport === 'docker-archive' && written.digest !== image.digest
          ? ' (docker-archive: manifest digest differs from the source by design)'
          : '';
      const platformLine = written.platform ? `Platform: ${written.platform}\n` : '';
      process.stdout.write(
        `Copied ${source} -> ${written.reference}\n${platformLine}Digest: ${written.digest}${note}\n`,
      );
    });
}
