import { copyFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Command, Option } from 'commander';
import type { AptMirrors } from '../../debian/apt-sources.js';
import { downloadPackages } from '../../debian/download.js';
import { lockEntry } from '../../debian/lock.js';
import { loadRepositories } from '../../debian/repository.js';
import { type Resolution, resolvePackageClosure } from '../../debian/resolver.js';
import { fromSystemError, RampartError } from '../../errors.js';
import { makeDirectory, tempPathFor } from '../../util/atomic-file.js';
import { formatBytes, formatTable, parseReportOutput, writeReport } from '../format.js';
import { createProgressReporter } from '../progress.js';

interface RepoOptions {
  suite: string[];
  arch: string;
  mirror?: string;
  securityMirror?: string;
  keyring?: string;
  cache?: string;
  withRecommends?: boolean;
  exclude: string[];
  verbose?: boolean;
  /** `--no-updates` sets this to false. */
  updates: boolean;
  allowDowngrade?: boolean;
}

const DEFAULT_SUITE = 'trixie';

/** dpkg's name for the host architecture. */
function hostArchitecture(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'armhf',
    ia32: 'i386',
    ppc64: 'ppc64el',
  };
  return map[process.arch] ?? process.arch;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function addRepoOptions(command: Command): Command {
  return command
    .addOption(
      new Option('-s, --suite <suite>', 'suite to read (repeatable)')
        .argParser(collect)
        .default([], DEFAULT_SUITE),
    )
    .addOption(
      new Option('-a, --arch <arch>', 'target architecture').default(hostArchitecture(), "the host's"),
    )
    .option('--mirror <url>', 'Debian archive URL (default: from /etc/apt/sources.list{,.d})')
    .option(
      '--security-mirror <url>',
      'archive URL for *-security suites (default: from the host apt config)',
    )
    .option('--keyring <file>', 'OpenPGP keyring that signs the archive (default: the apt Signed-By keyring)')
    .option('--cache <dir>', 'download cache (default: $XDG_CACHE_HOME/rampart or ~/.cache/rampart)')
    .option('--with-recommends', 'follow Recommends as well')
    .addOption(
      new Option('--exclude <pkg>', 'never install this package (repeatable)')
        .argParser(collect)
        .default([], 'none'),
    )
    .option('--no-updates', "read only the suites given, not also each one's -updates and -security")
    .option(
      '--allow-downgrade',
      'use an InRelease older than one this cache has verified (e.g. a snapshot mirror); without it the newest verified one is kept',
    )
    .option('-v, --verbose', 'log the indexes being fetched');
}

async function resolveFromOptions(
  packages: string[],
  opts: RepoOptions,
): Promise<{ resolution: Resolution; mirrors: AptMirrors }> {
  const suites = opts.suite.length > 0 ? opts.suite : [DEFAULT_SUITE];
  const { index, mirrors } = await loadRepositories({
    suites,
    architectures: [opts.arch],
    ...(opts.mirror ? { mirror: opts.mirror } : {}),
    ...(opts.securityMirror ? { securityMirror: opts.securityMirror } : {}),
    ...(opts.keyring ? { keyring: opts.keyring } : {}),
    ...(opts.cache ? { cacheDir: opts.cache } : {}),
    ...(opts.verbose ? { log: (m: string) => process.stderr.write(`${m}\n`) } : {}),
    warn: (m: string) => process.stderr.write(`warning: ${m}\n`),
    updates: opts.updates,
    ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
  });
  const resolution = resolvePackageClosure(index, {
    packages,
    architecture: opts.arch,
    ...(opts.withRecommends ? { withRecommends: true } : {}),
    ...(opts.exclude.length > 0 ? { exclude: opts.exclude } : {}),
  });
  return { resolution, mirrors };
}

/** The lock as JSON: exactly the fields a build needs to fetch and verify every package. */
export function lockJson(resolution: Resolution): string {
  const packages = resolution.packages.map(lockEntry);
  return `${JSON.stringify({ packages }, null, 2)}\n`;
}

function lockText(resolution: Resolution): string {
  return formatTable(
    ['PACKAGE', 'VERSION', 'ARCH', 'SUITE'],
    resolution.packages.map((p) => [p.name, p.version, p.architecture, p.suite]),
  );
}

const REPORT_OPTION = [
  '-o, --output <format[=file]>',
  'report format: text or json, optionally =FILE',
] as const;

export function registerApt(program: Command): void {
  const apt = program
    .command('apt')
    .description('resolve and download packages from a verified Debian archive')
    .addHelpText(
      'after',
      `
Every index is verified from the InRelease signature down (keyring from the host's apt sources
or --keyring), and every .deb against its signed SHA-256.

Examples:
  $ rampart apt resolve --suite trixie python3
  $ rampart apt why libssl3t64 --for python3
  $ rampart apt download --dir ./debs nodejs`,
    );

  addRepoOptions(apt.command('resolve'))
    .description('resolve the dependency closure of packages and print the lock')
    .argument('<packages...>', 'packages: name, name=version or name:arch')
    .option(...REPORT_OPTION, 'text')
    .addHelpText(
      'after',
      `
The suite defaults to ${DEFAULT_SUITE}; each suite is read with its -updates and -security suites,
as on a Debian host (--no-updates: only the suites given). Mirrors and keyring come from the
host's apt configuration.
Follows Pre-Depends and Depends (Recommends with --with-recommends) through Provides and
Multi-Arch, takes the highest version that fits, and never picks two packages that Conflict or
Break each other. Essential packages are not added implicitly.

Examples:
  $ rampart apt resolve python3
  $ rampart apt resolve --suite trixie --arch arm64 -o json libc6 ca-certificates tzdata
  $ rampart apt resolve --suite trixie --no-updates curl
  $ rampart apt resolve --exclude ca-certificates --with-recommends curl
`,
    )
    .action(async (packages: string[], opts: RepoOptions & { output: string }) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const { resolution } = await resolveFromOptions(packages, opts);
      await writeReport(report, report.format === 'json' ? lockJson(resolution) : lockText(resolution));
      for (const s of resolution.skipped)
        process.stderr.write(`skipped ${s.name} (required by ${s.requiredBy})\n`);
    });

  addRepoOptions(apt.command('why'))
    .description('show why a package is part of the closure of other packages')
    .argument('<package>', 'the package to explain')
    .requiredOption('--for <packages...>', 'the requested packages')
    .option(...REPORT_OPTION, 'text')
    .addHelpText(
      'after',
      `
Examples:
  $ rampart apt why libssl3t64 --for python3
  $ rampart apt why tzdata --for libc6 ca-certificates tzdata --suite trixie
  $ rampart apt why -o json libc6 --for python3
`,
    )
    .action(async (target: string, opts: RepoOptions & { for: string[]; output: string }) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const { resolution } = await resolveFromOptions(opts.for, opts);
      const chain = resolution.why(target);
      if (!chain) {
        throw new RampartError(
          'PACKAGE_NOT_FOUND',
          `${target} is not in the closure of ${opts.for.join(' ')}; check the name${opts.withRecommends ? '' : ', or add --with-recommends if a Recommends pulls it in'}`,
          { details: { package: target, architecture: opts.arch } },
        );
      }
      await writeReport(
        report,
        report.format === 'json'
          ? `${JSON.stringify({ package: target, for: opts.for, chain })}\n`
          : `${chain.join(' -> ')}\n`,
      );
    });

  addRepoOptions(apt.command('download'))
    .description('resolve packages, then download and verify every .deb of the closure into a directory')
    .argument('<packages...>', 'packages: name, name=version or name:arch')
    .requiredOption('--dir <dir>', 'where to put the .deb files')
    .option('-j, --concurrency <n>', 'parallel downloads', (v) => Number.parseInt(v, 10), 4)
    .option('-q, --quiet', 'no progress on stderr (errors only)')
    .option(...REPORT_OPTION, 'text')
    .addHelpText(
      'after',
      `
Files are verified against the signed index (SHA-256) and cached; the directory gets copies.

Examples:
  $ rampart apt download --dir ./debs python3
  $ rampart apt download --dir ./debs --arch arm64 -j 8 libc6 ca-certificates
  $ rampart apt download --dir ./debs -o json tzdata
`,
    )
    .action(
      async (
        packages: string[],
        opts: RepoOptions & { dir: string; concurrency: number; quiet?: boolean; output: string },
      ) => {
        const report = parseReportOutput(opts.output, ['text', 'json'] as const);
        if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
          throw new RampartError(
            'USAGE',
            `--concurrency must be a positive integer, got ${opts.concurrency}`,
            { details: { option: '--concurrency', value: String(opts.concurrency) } },
          );
        }
        const { resolution, mirrors } = await resolveFromOptions(packages, opts);
        // A line for every package, cached ones included, as `apt download` has always printed.
        const progress = createProgressReporter({ listCached: true, quiet: opts.quiet === true });
        let paths: Map<string, string>;
        try {
          paths = await downloadPackages(resolution.packages, {
            mirrors,
            ...(opts.cache ? { cacheDir: opts.cache } : {}),
            concurrency: opts.concurrency,
            onProgress: progress.download,
          });
        } finally {
          progress.stop();
        }
        await makeDirectory(opts.dir).catch((error: unknown) => {
          throw fromSystemError(error, { path: opts.dir, operation: 'create the directory' });
        });
        for (const pkg of resolution.packages) {
          const target = join(opts.dir, basename(pkg.filename));
          const temp = tempPathFor(target);
          try {
            await copyFile(paths.get(pkg.sha256) as string, temp);
            await rename(temp, target);
          } catch (error) {
            await rm(temp, { force: true }).catch(() => undefined);
            throw fromSystemError(error, { path: target, operation: 'write' });
          }
        }
        const bytes = resolution.packages.reduce((n, p) => n + p.size, 0);
        if (report.format === 'json') {
          const files = resolution.packages.map((p) => ({
            package: p.name,
            version: p.version,
            architecture: p.architecture,
            path: join(opts.dir, basename(p.filename)),
            sha256: p.sha256,
            size: p.size,
          }));
          await writeReport(report, `${JSON.stringify({ dir: opts.dir, size: bytes, files })}\n`);
        } else {
          const line = `${resolution.packages.length} packages (${formatBytes(bytes)}) verified in ${opts.dir}\n`;
          if (report.path !== undefined) await writeReport(report, line);
          else if (!opts.quiet) process.stderr.write(line);
        }
      },
    );
}
