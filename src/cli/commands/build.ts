import { dirname } from 'node:path';
import { type Command, Option } from 'commander';
import { archsForOutput, parseOutput } from '../../builder/output.js';
import { type BuildResult, buildImage } from '../../builder/pipeline.js';
import { applyVariant, loadImageSpec } from '../../builder/spec.js';
import { fromSystemError, isSystemError, RampartError } from '../../errors.js';
import { hostPlatform, platformToDebianArch } from '../../oci/platform.js';
import type { BuildSigningOptions } from '../../sign/build-attestations.js';
import type { KeylessMaterial } from '../../sign/keyless.js';
import { decryptPrivateKey, keySigner } from '../../sign/keys.js';
import { compareText } from '../../util/compare-text.js';
import { formatBytes, parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { privateKeyFile } from '../key-options.js';
import { keylessFromFlags, strayKeylessOption } from '../keyless-options.js';
import { createProgressReporter } from '../progress.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

interface BuildCommandOptions extends RegistryFlags {
  arch: string[];
  variant?: string;
  output: string[];
  locked?: boolean;
  cache?: string;
  mirror?: string;
  securityMirror?: string;
  keyring?: string;
  quiet?: boolean;
  sbom?: string | boolean;
  allowOutsideContext: string[];
  db?: string;
  scan: boolean;
  signKey?: string;
  signKeyless?: boolean;
  fulcioUrl?: string;
  rekorUrl?: string;
  identityTokenFile?: string;
  builderId?: string;
  allowInsecureKey?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerBuild(program: Command): void {
  const command = program
    .command('build')
    .description('build a hardened, reproducible (multi-arch) image from an image spec')
    .argument('<spec>', 'image spec (YAML), e.g. images/nodejs.yaml')
    .argument(
      '[dest]',
      'where to write the image: oci:DIR:TAG, oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REG/REPO:TAG (default oci:./out/<name>:latest)',
    )
    .addHelpText(
      'after',
      `
Packages come from the suites in the spec, verified from the archive's InRelease signature down.
The first build writes <spec>.lock.json; --locked rebuilds exactly that lock, and two builds
from one lock give the same index digest. SOURCE_DATE_EPOCH sets the image's created time.
files[].source must resolve inside the spec's directory (the build context) or a directory
given with --allow-outside-context; /proc, /sys and /dev are never read.
docker-archive holds one image: without --arch, the host's architecture is built (said on stderr).
-o/--output is the report's format, as on every command; the image goes to DEST
(--output DEST still works for one release, with a warning).

Examples:
  $ rampart build images/nodejs.yaml --arch amd64
  $ rampart build images/base.yaml oci:./out/base:latest-dev --variant dev
  $ rampart build images/nodejs.yaml --locked --sbom ./sbom -o json
  $ rampart build images/static.yaml docker-archive:static-arm64.tar --arch arm64
  $ RAMPART_PASSWORD=... rampart build images/nodejs.yaml docker://localhost:5000/nodejs:22 --insecure \
      --sign-key release.key --builder-id https://ci.example.com/builders/rampart

With --sign-key the index and every platform image are signed (cosign 3 bundle and cosign 2 .sig),
and each platform image gets signed attestations: SLSA provenance v1 (slsaprovenance1), SPDX
(spdxjson), CycloneDX (cyclonedx) and OpenVEX (openvex); the index gets the whole build's
provenance. The image digests do not change. The password is read as 'rampart sign' reads it.

--sign-keyless (instead of --sign-key; online) signs and attests the same, in the same formats, as
'rampart sign --keyless --recursive' and 'attest --keyless' do: an ephemeral key certified by
Fulcio for the OIDC token in SIGSTORE_ID_TOKEN (or --identity-token-file), each signature logged
in Rekor. The token is checked and the certificate obtained before anything is built, so a bad
token or an unreachable Fulcio costs no build. The certificate lives about 10 minutes: after a
longer build Fulcio is asked again, with the token read again from --identity-token-file (or
SIGSTORE_ID_TOKEN); CI tokens expire within minutes, so give a file the CI keeps fresh (an expired
token is TOKEN_EXPIRED, naming when). Verify with 'rampart verify --trusted-root FILE
--certificate-identity ID --certificate-oidc-issuer ISS' or a policy with a keyless signer.
  $ rampart build images/nodejs.yaml oci:./out/nodejs:22 --sign-keyless --identity-token-file token.jwt --fulcio-url https://fulcio.example.internal --rekor-url https://rekor.example.internal`,
    )
    .addOption(
      new Option('--arch <arch>', 'build only this architecture of the spec (repeatable)')
        .argParser(collect)
        .default([], 'all of the spec'),
    )
    .option('--variant <name>', 'build a variant of the spec (e.g. dev)')
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
    .addOption(
      new Option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE')
        .argParser(collect)
        .default([], 'text'),
    )
    .option('--sbom [dir]', 'write SPDX and CycloneDX SBOMs per platform (default dir: beside the output)')
    .addOption(
      new Option(
        '--allow-outside-context <dir>',
        "let files[].source come from DIR too, besides the spec's directory (repeatable)",
      )
        .argParser(collect)
        .default([]),
    )
    .option(
      '--db <file>',
      'scan each image with this advisory store into the build record (default, when it exists: $RAMPART_ADVISORY_DB, else vuln/advisories.db in $XDG_CACHE_HOME/rampart, as for scan; not in --cache)',
    )
    .option('--no-scan', 'do not scan the images into the build record, even when an advisory store exists')
    .option('-q, --quiet', 'no progress on stderr (errors only)')
    .option(
      '--sign-key <file>',
      'sign the index and every image, and attach SLSA provenance, SBOMs and OpenVEX (cosign key file)',
    )
    .option(
      '--sign-keyless',
      'as --sign-key, with a Fulcio certificate for an OIDC identity, logged in Rekor (online)',
    )
    .option('--fulcio-url <url>', "with --sign-keyless: Fulcio's URL (default: the public-good instance)")
    .option('--rekor-url <url>', "with --sign-keyless: Rekor's URL (default: the public-good instance)")
    .option(
      '--identity-token-file <file>',
      'with --sign-keyless: read the OIDC identity token from this file (default: $SIGSTORE_ID_TOKEN)',
    )
    .option('--builder-id <uri>', 'SLSA builder.id of the provenance (default pkg:npm/rampart@VERSION)')
    .option('--allow-insecure-key', 'accept an unencrypted --sign-key file');
  addRegistryOptions(command).action(
    async (specPath: string, destArg: string | undefined, opts: BuildCommandOptions) => {
      // Checked before anything is read: --no-scan would silently win over a named store.
      if (opts.db !== undefined && opts.scan === false)
        throw new RampartError('USAGE', '--db and --no-scan contradict each other: give one of them', {
          details: { option: '--db', conflictsWith: '--no-scan' },
        });
      // Before -o/--output meant the report on every command, --output was the image destination.
      const legacy = opts.output.filter(isTransportReference);
      const reports = opts.output.filter((value) => !isTransportReference(value));
      let dest = destArg;
      for (const value of legacy) {
        if (dest !== undefined)
          throw new RampartError(
            'USAGE',
            `two destinations: '${dest}' and --output ${value}; give only DEST`,
            {
              details: { option: '--output', value },
            },
          );
        process.stderr.write(
          `warning: --output ${value} as the image destination is deprecated and goes away in the next release; write: rampart build ${specPath} ${value}\n`,
        );
        dest = value;
      }
      if (reports.length > 1)
        throw new RampartError('USAGE', `one report per build: -o ${reports.join(', -o ')}`, {
          details: { option: '--output', value: reports.join(',') },
        });
      const reportOutput = parseReportOutput(reports[0] ?? 'text', ['text', 'json'] as const);
      const archs = await archsToBuild(specPath, dest, opts);
      const progress = createProgressReporter({
        ...(opts.quiet ? { quiet: true } : {}),
        prefix: 'rampart build: ',
      });
      const registry = await registryOptions(opts, dest ? [dest] : []);
      // The key is opened (or the certificate obtained) before anything is built: a wrong password
      // or a bad token costs nothing.
      checkSigningFlags(opts);
      const sign = opts.signKey || opts.signKeyless ? await buildSigning(opts) : undefined;
      // SIGINT/SIGTERM stop the build between or inside its stages, so its staging is removed.
      const result = await withInterrupt((signal) =>
        buildImage({
          specPath,
          ...(archs.length ? { archs } : {}),
          ...(opts.variant ? { variant: opts.variant } : {}),
          ...(dest ? { output: dest } : {}),
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
          ...(opts.sbom ? { sbomDir: typeof opts.sbom === 'string' ? opts.sbom : sbomDirBeside(dest) } : {}),
          ...(opts.allowOutsideContext.length ? { allowOutsideContext: opts.allowOutsideContext } : {}),
          ...(opts.scan === false ? { advisoryDb: false as const } : opts.db ? { advisoryDb: opts.db } : {}),
          // The edge fills in the outside world; the library takes it as given.
          env: process.env,
          clock: () => new Date(),
          signal,
          registry: { ...registry, signal },
          onProgress: progress.build,
          ...(sign ? { sign } : {}),
        }),
      )
        .catch((error: unknown) => {
          if (error instanceof RampartError) throw error;
          if (isSystemError(error)) throw fromSystemError(error);
          throw new RampartError('IO', `building ${specPath} failed: ${(error as Error).message}`, {
            cause: error,
          });
        })
        // The bar and the status line go before the result, or the error, is printed.
        .finally(() => {
          progress.stop();
        });
      // The image is built and valid; a scan that failed is in the record, and said here.
      for (const failed of result.scanErrors ?? [])
        process.stderr.write(
          `warning: scanning ${failed.architecture} ${failed.digest} with ${failed.db} failed (${failed.error.code}): ${failed.error.message}; the build record says so\n`,
        );
      await writeReport(
        reportOutput,
        reportOutput.format === 'json' ? `${JSON.stringify(buildJson(result))}\n` : formatSummary(result),
      );
    },
  );
}

async function buildSigning(opts: BuildCommandOptions): Promise<BuildSigningOptions> {
  if (opts.builderId !== undefined && !isUri(opts.builderId)) {
    throw new RampartError('USAGE', `--builder-id ${opts.builderId}: expected a URI`, {
      details: { option: '--builder-id', value: opts.builderId },
    });
  }
  if (opts.signKeyless) {
    // Ctrl-C while Fulcio is asked stops that request; the build has its own interrupt scope.
    const material = (await withInterrupt((signal) =>
      keylessFromFlags(
        {
          keyless: true,
          ...(opts.fulcioUrl !== undefined ? { fulcioUrl: opts.fulcioUrl } : {}),
          ...(opts.rekorUrl !== undefined ? { rekorUrl: opts.rekorUrl } : {}),
          ...(opts.identityTokenFile !== undefined ? { identityTokenFile: opts.identityTokenFile } : {}),
        },
        process.env,
        signal,
      ).then(async (made) => {
        // Certified now, while the token is fresh (as cosign does), not after a long build.
        await (made as KeylessMaterial).identity();
        return made;
      }),
    )) as KeylessMaterial;
    return { signer: material, ...(opts.builderId ? { builderId: opts.builderId } : {}) };
  }
  const file = await privateKeyFile(opts.signKey as string, opts.allowInsecureKey);
  const key = await decryptPrivateKey(file.pem, file.password, file.options);
  return { signer: keySigner(key), ...(opts.builderId ? { builderId: opts.builderId } : {}) };
}

/** The signing options fit together: one of --sign-key and --sign-keyless, each with its own. */
function checkSigningFlags(opts: BuildCommandOptions): void {
  const usage = (option: string, message: string) =>
    new RampartError('USAGE', message, { details: { option } });
  if (opts.signKey !== undefined && opts.signKeyless)
    throw usage('--sign-keyless', 'give --sign-key or --sign-keyless, not both');
  if (!opts.signKey && !opts.signKeyless && opts.builderId !== undefined)
    throw usage('--builder-id', '--builder-id is for --sign-key or --sign-keyless');
  if (!opts.signKey && opts.allowInsecureKey)
    throw usage('--allow-insecure-key', '--allow-insecure-key is for --sign-key');
  const stray = opts.signKeyless ? undefined : strayKeylessOption(opts);
  if (stray) throw usage(stray, `${stray} is for --sign-keyless`);
}

function isUri(value: string): boolean {
  try {
    return new URL(value).protocol.length > 1 && value.length <= 1024;
  } catch {
    return false;
  }
}

/** `oci:…`, `docker-archive:…`, `docker://…`: an image reference, not a report format. */
function isTransportReference(value: string): boolean {
  return /^(oci|oci-archive|docker-archive|dir|docker-daemon|containers-storage):|^[a-z]+:\/\//.test(value);
}

/**
 * --arch, or for a single-image output (docker-archive) without --arch, the host's architecture,
 * said on stderr so that a multi-arch spec still builds as the catalog's README shows.
 */
async function archsToBuild(
  specPath: string,
  dest: string | undefined,
  opts: BuildCommandOptions,
): Promise<string[]> {
  if (opts.arch.length > 0 || dest === undefined) return opts.arch;
  const output = parseOutput(dest);
  const { spec } = await loadImageSpec(specPath);
  const variantSpec = applyVariant(spec, opts.variant);
  const choice = archsForOutput(output, variantSpec.archs, platformToDebianArch(hostPlatform()));
  if (choice.chosen && !opts.quiet)
    process.stderr.write(
      `rampart build: ${output.transport} holds one image: building ${choice.chosen}${choice.host ? ", the host's architecture" : ''} (spec archs: ${variantSpec.archs.join(', ')}); pass --arch to choose\n`,
    );
  return choice.archs;
}

/** The directory that holds the output: the parent of an oci: layout dir or of an archive file. */
function sbomDirBeside(output: string | undefined): string {
  const parsed = output ? parseOutput(output) : undefined;
  return parsed?.path ? dirname(parsed.path) : './out';
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
    ...(result.signed
      ? {
          signed: {
            signatures: result.signed.signatures.map((s) => ({
              format: s.format,
              subject: s.subject,
              digest: s.digest,
            })),
            attestations: result.signed.attestations.map((a) => ({
              subject: a.subject,
              ...(a.architecture ? { architecture: a.architecture } : {}),
              predicateType: a.predicateType,
              digests: a.attestations.map((w) => w.digest),
            })),
          },
        }
      : {}),
    hardening: hardeningOf(result),
    ...(result.scanErrors ? { scanErrors: result.scanErrors } : {}),
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
  if (result.signed) {
    lines.push(
      `signed: ${result.signed.signatures.length} signatures, ${result.signed.attestations.length} attestations`,
    );
    for (const a of result.signed.attestations)
      lines.push(`  ${a.architecture ?? 'index'} ${a.subject}: ${a.predicateType}`);
  }
  return `${lines.join('\n')}\n`;
}
