import { dirname } from 'node:path';
import { type Command, Option } from 'commander';
import { parseOutput } from '../../builder/output.js';
import { type BuildResult, buildImage } from '../../builder/pipeline.js';
import { fromSystemError, isSystemError, RampartError } from '../../errors.js';
import { compareText } from '../../util/compare-text.js';
import { formatBytes } from '../format.js';
import { createProgressReporter } from '../progress.js';

interface BuildCommandOptions {
  arch: string[];
  variant?: string;
  output?: string;
  locked?: boolean;
  cache?: string;
  mirror?: string;
  securityMirror?: string;
  keyring?: string;
  format: string;
  quiet?: boolean;
  sbom?: string | boolean;
  allowOutsideContext: string[];
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('build a hardened, reproducible (multi-arch) image from an image spec')
    .argument('<spec>', 'image spec (YAML), e.g. images/nodejs.yaml')
    .addHelpText(
      'after',
      `
Packages come from the suites in the spec, verified from the archive's InRelease signature down.
The first build writes <spec>.lock.json; --locked rebuilds exactly that lock, and two builds
from one lock give the same index digest. SOURCE_DATE_EPOCH sets the image's created time.
files[].source must resolve inside the spec's directory (the build context) or a directory
given with --allow-outside-context; /proc, /sys and /dev are never read.

Examples:
  $ rampart build images/nodejs.yaml --arch amd64
  $ rampart build images/base.yaml --variant dev --output oci:./out/base:latest-dev
  $ rampart build images/python3.yaml --locked --sbom ./sbom -o json
  $ rampart build images/static.yaml --arch arm64 --output docker-archive:static-arm64.tar`,
    )
    .addOption(
      new Option('--arch <arch>', 'build only this architecture of the spec (repeatable)')
        .argParser(collect)
        .default([], 'all of the spec'),
    )
    .option('--variant <name>', 'build a variant of the spec (e.g. dev)')
    .option(
      '--output <target>',
      'oci:DIR:TAG, oci-archive:FILE or docker-archive:FILE (default oci:./out/<name>:latest)',
    )
    .option(
      '--locked',
      'build exactly <spec>.lock.json; fail if it no longer matches the spec or the archive',
    )
    .option('--cache <dir>', 'download cache (default: $XDG_CACHE_HOME/rampart or ~/.cache/rampart)')
    .option(
      '--mirror <url>',
      "Debian mirror (overrides the spec's contents.mirror and the host's apt sources)",
    )
    .option('--security-mirror <url>', 'mirror for *-security suites (overrides the spec and the host)')
    .option('--keyring <file>', 'OpenPGP keyring that signs the archive (overrides the spec and the host)')
    .addOption(new Option('-o, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--sbom [dir]', 'write SPDX and CycloneDX SBOMs per platform (default dir: beside the output)')
    .addOption(
      new Option(
        '--allow-outside-context <dir>',
        "let files[].source come from DIR too, besides the spec's directory (repeatable)",
      )
        .argParser(collect)
        .default([]),
    )
    .option('-q, --quiet', 'no progress on stderr (errors only)')
    .action(async (specPath: string, opts: BuildCommandOptions) => {
      const progress = createProgressReporter({
        ...(opts.quiet ? { quiet: true } : {}),
        prefix: 'rampart build: ',
      });
      // SIGINT/SIGTERM stop the build between or inside its stages, so its staging is removed;
      // a second signal exits at once.
      const controller = new AbortController();
      const stop = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
        controller.abort(new Error(`received ${signal}`));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const result = await buildImage({
        specPath,
        ...(opts.arch.length ? { archs: opts.arch } : {}),
        ...(opts.variant ? { variant: opts.variant } : {}),
        ...(opts.output ? { output: opts.output } : {}),
        ...(opts.locked ? { locked: true } : {}),
        ...(opts.cache ? { cacheDir: opts.cache } : {}),
        ...(opts.mirror || opts.securityMirror || opts.keyring
          ? {
              repository: {
                ...(opts.mirror ? { mirror: opts.mirror } : {}),
                ...(opts.securityMirror ? { securityMirror: opts.securityMirror } : {}),
                ...(opts.keyring ? { keyring: opts.keyring } : {}),
              },
            }
          : {}),
        ...(opts.sbom
          ? { sbomDir: typeof opts.sbom === 'string' ? opts.sbom : sbomDirBeside(opts.output) }
          : {}),
        ...(opts.allowOutsideContext.length ? { allowOutsideContext: opts.allowOutsideContext } : {}),
        // The edge fills in the outside world; the library takes it as given.
        env: process.env,
        clock: () => new Date(),
        signal: controller.signal,
        onProgress: progress.build,
      })
        .catch((error: unknown) => {
          if (error instanceof RampartError) throw error;
          if (isSystemError(error)) throw fromSystemError(error);
          throw new RampartError('IO', `building ${specPath} failed: ${(error as Error).message}`, {
            cause: error,
          });
        })
        // The bar and the status line go before the result, or the error, is printed.
        .finally(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          progress.stop();
        });
      process.stdout.write(
        opts.format === 'json' ? `${JSON.stringify(buildJson(result))}\n` : formatSummary(result),
      );
    });
}

/** The directory that holds the output: the parent of an oci: layout dir or of an archive file. */
function sbomDirBeside(output: string | undefined): string {
  return output ? dirname(parseOutput(output).path) : './out';
}

/** The stable `-o json` shape. */
export function buildJson(result: BuildResult) {
  return {
    reference: result.reference,
    digest: result.digest,
    platforms: result.platforms.map((p) => ({
      architecture: p.architecture,
      digest: p.digest,
      size: p.size,
    })),
    lock: result.lock,
    hardening: hardeningOf(result),
  };
}

/** Every platform's mode changes, once each (the architectures almost always agree). */
function hardeningOf(result: BuildResult): Array<{ path: string; change: string }> {
  const seen = new Map<string, { path: string; change: string }>();
  for (const p of result.platforms) {
    for (const h of p.hardening) seen.set(`${h.path}\0${h.change}`, { path: h.path, change: h.change });
  }
  return [...seen.values()].sort((a, b) => compareText(a.path, b.path));
}

export function formatSummary(result: BuildResult): string {
  const lines: string[] = [];
  lines.push(`built ${result.name}${result.variant ? ` (${result.variant})` : ''} -> ${result.reference}`);
  lines.push(`index ${result.digest}  created ${result.created}`);
  for (const p of result.platforms) {
    lines.push('');
    lines.push(
      `${p.architecture}: ${p.digest}  ${p.packages.length} packages, ${formatBytes(p.size)} compressed`,
    );
    lines.push(
      `  ${'LAYER'.padEnd(10)} ${'SIZE'.padStart(10)} ${'UNPACKED'.padStart(10)}  DIGEST / CONTENTS`,
    );
    for (const l of p.layers) {
      lines.push(
        `  ${l.name.padEnd(10)} ${formatBytes(l.size).padStart(10)} ${formatBytes(l.uncompressedSize).padStart(10)}  ${l.digest}`,
      );
      if (l.packages.length) lines.push(`  ${''.padEnd(33)}${l.packages.join(' ')}`);
    }
  }
  if (result.skipped.length) {
    lines.push('');
    lines.push(
      `left out (maintainer-script-only dependencies): ${result.skipped.map((s) => `${s.name} (for ${s.requiredBy})`).join(', ')}`,
    );
  }
  const hardening = hardeningOf(result);
  if (hardening.length) {
    lines.push('');
    lines.push('hardened (modes the build tightened):');
    for (const h of hardening) lines.push(`  ${h.path}: ${h.change}`);
  }
  lines.push(`lock: ${result.lock}`);
  lines.push(`record: ${result.record}`);
  for (const sbom of result.sboms) lines.push(`sbom: ${sbom}`);
  return `${lines.join('\n')}\n`;
}
