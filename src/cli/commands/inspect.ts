import type { Command } from 'commander';
import { selectImage } from '../../oci/image.js';
import { openImage } from '../../oci/open.js';
import { parsePlatform } from '../../oci/platform.js';
import { parseImageReference } from '../../oci/reference.js';
import { isSkopeoDir } from '../../oci/skopeo-dir-detect.js';
import type { ArtifactSummary, ImageSummary, RootfsSummary } from '../../oci/summary.js';
import {
  summarizeArtifact,
  summarizeImage,
  summarizeRootfsDirectory,
  totalLayerSize,
} from '../../oci/summary.js';
import { printable } from '../../util/printable.js';
import { formatBytes, parseReportOutput, writeReport } from '../format.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface InspectOptions extends RegistryFlags {
  output: string;
  platform?: string;
  raw?: boolean;
  config?: boolean;
}

export function registerInspect(program: Command): void {
  const command = program
    .command('inspect')
    .description(
      'show an image (digest, media type, platforms of an index, config and layers) or an OCI artifact',
    )
    .argument(
      '<image>',
      'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or dir:PATH',
    )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .option(
      '--platform <os/arch[/variant]>',
      'image of an index to show (default: the host platform, else the first)',
    )
    .option('--raw', 'print the raw manifest bytes (of the index, or of the --platform image)')
    .option('--config', 'print the raw config bytes of the image');
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart inspect oci:./out/nodejs:latest
  $ rampart inspect docker://localhost:5000/nodejs:1.0 --insecure
  $ rampart inspect -o json --platform linux/arm64 oci-archive:nodejs-arm64.tar
  $ rampart inspect --raw docker-archive:nodejs.tar | sha256sum
  $ rampart inspect dir:/srv/rootfs

A dir: root filesystem is summarised from one walk (files, size); its image digest needs the whole
tree packed and compressed, so only --raw, --config and copy compute it.`,
    )
    .action(async (reference: string, options: InspectOptions) => {
      const report = parseReportOutput(options.output, ['text', 'json'] as const);
      const platform = options.platform ? parsePlatform(options.platform) : undefined;
      const parsed = parseImageReference(reference);
      // A plain directory is a root filesystem (syft's meaning); skopeo's dir: format is an image.
      const rootfs = parsed.transport === 'dir' && !(await isSkopeoDir(parsed.path ?? ''));
      if (rootfs && !options.raw && !options.config) {
        const summary = await summarizeRootfsDirectory(reference, parsed.path ?? '');
        await writeReport(
          report,
          report.format === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : formatRootfsSummary(summary),
        );
        return;
      }
      const opened = await openImage(reference, { registry: await registryOptions(options, [reference]) });
      if (options.raw) {
        process.stdout.write(
          platform ? (await selectImage(opened, platform)).rawManifest : opened.rawManifest,
        );
        return;
      }
      const artifact = opened.kind === 'manifest' && !opened.isImage ? opened : undefined;
      if (options.config) {
        process.stdout.write(
          artifact ? await artifact.readConfig() : (await selectImage(opened, platform)).rawConfig,
        );
        return;
      }
      if (artifact) {
        const summary = summarizeArtifact(reference, artifact);
        await writeReport(
          report,
          report.format === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : formatArtifact(summary),
        );
        return;
      }
      const summary = await summarizeImage(reference, opened, platform);
      const note = await directoryNote(reference);
      await writeReport(
        report,
        report.format === 'json'
          ? `${JSON.stringify(summary, null, 2)}\n`
          : `${formatSummary(summary)}${note ? `Source:      ${note}\n` : ''}`,
      );
    });
}

function formatSummary(summary: ImageSummary): string {
  const { config } = summary;
  const lines = [
    `Reference:   ${summary.reference}`,
    `Digest:      ${summary.digest}`,
    `MediaType:   ${printable(summary.mediaType)}`,
  ];
  if (summary.manifests) {
    lines.push('Manifests:');
    const names = summary.manifests.map((entry) => printable(entry.platform ?? '(no platform)'));
    const width = Math.max(...names.map((name) => name.length));
    summary.manifests.forEach((entry, i) => {
      lines.push(`  ${names[i]!.padEnd(width)}  ${entry.digest}`);
    });
    lines.push(`Showing:     ${printable(config.platform)}`);
  }
  lines.push(
    `Platform:    ${printable(config.platform)}`,
    `Created:     ${printable(config.created ?? '-')}`,
    `User:        ${config.user == null ? '(root)' : printable(config.user)}`,
    `Entrypoint:  ${config.entrypoint ? JSON.stringify(config.entrypoint) : '-'}`,
    `Cmd:         ${config.cmd ? JSON.stringify(config.cmd) : '-'}`,
    `WorkingDir:  ${printable(config.workdir ?? '-')}`,
    `Env:${config.env.length === 0 ? '         -' : ''}`,
    ...config.env.map((entry) => `  ${printable(entry)}`),
    `Labels:${Object.keys(config.labels).length === 0 ? '      -' : ''}`,
    ...Object.entries(config.labels).map(([key, value]) => `  ${printable(key)}=${printable(value)}`),
    `Layers (${summary.layers.length}, ${formatBytes(totalLayerSize(summary))} total):`,
  );
  for (const layer of summary.layers) {
    lines.push(`  ${layer.digest}  ${formatBytes(layer.size).padStart(10)}  ${printable(layer.mediaType)}`);
    lines.push(`    diff_id ${layer.diffID}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatRootfsSummary(summary: RootfsSummary): string {
  const { entries } = summary;
  return `${[
    `Reference:   ${summary.reference}`,
    'Kind:        root filesystem directory (read as a one-layer image of the host platform)',
    `Platform:    ${summary.platform}`,
    `Entries:     ${entries.files} files, ${entries.directories} directories, ${entries.symlinks} symlinks, ${entries.hardlinks} hardlinks`,
    `Size:        ${formatBytes(summary.size)}`,
    `Digest:      not computed (it needs the tree packed and compressed: use --raw, or copy it to oci:)`,
  ].join('\n')}\n`;
}

function formatArtifact(summary: ArtifactSummary): string {
  const lines = [
    `Reference:    ${summary.reference}`,
    `Digest:       ${summary.digest}`,
    `MediaType:    ${printable(summary.mediaType)}`,
    `ArtifactType: ${printable(summary.artifactType ?? '-')}`,
    `Subject:      ${summary.subject ? summary.subject.digest : '-'}`,
    `Config:       ${summary.config.digest}  ${formatBytes(summary.config.size)}  ${printable(summary.config.mediaType)}`,
    `Annotations:${Object.keys(summary.annotations).length === 0 ? '  -' : ''}`,
    ...Object.entries(summary.annotations).map(([key, value]) => `  ${printable(key)}=${printable(value)}`),
    `Blobs (${summary.blobs.length}):`,
  ];
  for (const blob of summary.blobs) {
    lines.push(`  ${blob.digest}  ${formatBytes(blob.size).padStart(10)}  ${printable(blob.mediaType)}`);
    for (const [key, value] of Object.entries(blob.annotations ?? {}))
      lines.push(`    ${printable(key)}=${printable(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** For dir: references, which reading was used: skopeo's dir format, or a root filesystem packed into a layer. */
async function directoryNote(reference: string): Promise<string | undefined> {
  if (!reference.startsWith('dir:')) return undefined;
  return (await isSkopeoDir(reference.slice('dir:'.length)))
    ? 'skopeo dir: directory (the image it holds)'
    : 'root filesystem directory, packed into one layer';
}
