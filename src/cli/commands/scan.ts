import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import { printable } from '../../util/printable.js';
import type { Severity } from '../../vuln/types.js';
import { addDbOption, dbPathOf } from '../db-option.js';
import { parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

const FORMATS = ['table', 'json', 'sarif', 'cyclonedx-json', 'openvex'] as const;
const LEVELS = ['negligible', 'low', 'medium', 'high', 'critical'] as const;

interface ScanFlags extends RegistryFlags {
  output?: string[];
  db?: string;
  platform?: string;
  vex?: string[];
  vexKey?: string;
  failOn?: string;
  onlyFixed?: boolean;
  ignoreUnfixed?: boolean;
  showNegligible?: boolean;
}

/** Exit status when `--fail-on` is given and the image's distro release is not in the store. */
export const EXIT_UNKNOWN_RELEASE = 3;

export function registerScan(program: Command): void {
  const command = program
    .command('scan')
    .description(
      'find the known vulnerabilities of an image, root filesystem or SBOM (Debian tracker, OSV, VEX)',
    )
    .argument(
      '<input>',
      'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, dir:PATH, or sbom:FILE (SPDX or CycloneDX JSON)',
    )
    .option(
      '-o, --output <format[=file]>',
      `${FORMATS.join(', ')}, optionally =FILE; repeatable (default: table)`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--platform <os/arch>', 'platform to pick from a multi-platform index')
    .option(
      '--vex <file>',
      'an OpenVEX document whose statements apply (repeatable)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--vex-key <file>',
      "also apply the image's attached OpenVEX attestations that verify with this public key (never unverified ones)",
    )
    .option(
      '--fail-on <severity>',
      `exit 1 when a finding at or above it remains after VEX (${LEVELS.join('|')})`,
    )
    .option('--only-fixed', 'show only findings that have a fixed version')
    .option('--ignore-unfixed', 'alias of --only-fixed')
    .option('--show-negligible', 'also show issues the distro rates unimportant (hidden by default)');
  addRegistryOptions(addDbOption(command), { jobs: false })
    .addHelpText(
      'after',
      `
Debian packages are looked up through their source package against the image's release (from
/etc/os-release); npm, PyPI, Go (and the Go toolchain), Maven and crates.io packages against OSV.
A CVE that several feeds report is one finding with every id in "aliases". VEX statements (the
store's, --vex files, verified attestations) move findings to "suppressed".

Exit status: 0, or 1 with --fail-on when a finding at or above the level remains; 3 with --fail-on
when the image's Debian release is unknown to the store (its Debian packages were not checked).
-o json is {"matches", "suppressed", "distro", "db", "warnings"} (README "rampart scan").

Examples:
  $ rampart db update && rampart scan oci:./out/nodejs:latest
  $ rampart scan docker://localhost:5000/nodejs:1.0 --insecure -o sarif=scan.sarif -o table
  $ rampart scan sbom:nodejs.spdx.json --vex nodejs.openvex.json -o json
  $ rampart scan oci:./out/nodejs:latest --vex-key rampart.pub --only-fixed`,
    )
    .action((input: string, opts: ScanFlags) =>
      withInterrupt(async (signal) => {
        const outputs = (opts.output ?? ['table']).map((o) => parseReportOutput(o, FORMATS));
        if (outputs.filter((o) => o.path === undefined).length > 1)
          throw new RampartError('USAGE', 'only one -o output can go to stdout; give the others a =FILE', {
            details: { option: '-o' },
          });
        const failOn = opts.failOn;
        if (failOn !== undefined && !(LEVELS as readonly string[]).includes(failOn))
          throw new RampartError('USAGE', `--fail-on ${failOn}: expected one of ${LEVELS.join(', ')}`, {
            details: { option: '--fail-on', value: failOn },
          });
        const [
          { openAdvisoryStore },
          { scanInput },
          { encodeScan },
          { findingsAtOrAbove, SCAN_WARNINGS },
          { VERSION },
          { catalogCache },
        ] = await Promise.all([
          import('../../vuln/store.js'),
          import('../../vuln/scan-input.js'),
          import('../../vuln/encode/index.js'),
          import('../../vuln/scan.js'),
          import('../../version.js'),
          import('../../sbom/catalog-cache.js'),
        ]);
        const dbPath = dbPathOf(opts);
        const isImage = !input.startsWith('sbom:') && !input.startsWith('dir:');
        const registry = isImage ? { ...(await registryOptions(opts, [input])), signal } : undefined;
        let vexKey: import('node:crypto').KeyObject | undefined;
        if (opts.vexKey) {
          const [{ readKeyFile }, { parsePublicKey }] = await Promise.all([
            import('../../sign/key-files.js'),
            import('../../sign/keys.js'),
          ]);
          vexKey = parsePublicKey(await readKeyFile(opts.vexKey), { path: opts.vexKey });
        }
        const store = openAdvisoryStore(dbPath, { readOnly: true });
        try {
          const now = new Date();
          const { result, sbom } = await scanInput(store, input, {
            ...(opts.platform ? { platform: opts.platform } : {}),
            ...(registry ? { registry } : {}),
            ...(opts.vex ? { vexFiles: opts.vex } : {}),
            ...(vexKey ? { vexKey } : {}),
            ...(opts.onlyFixed || opts.ignoreUnfixed ? { onlyFixed: true } : {}),
            ...(opts.showNegligible ? { showNegligible: true } : {}),
            // An image cataloged before (same manifest digest, same rampart) is not read again.
            catalogCache: catalogCache(),
            now,
            signal,
          });
          for (const o of outputs)
            await writeReport(
              o,
              encodeScan(result, o.format, sbom, {
                version: VERSION,
                now,
                colour: o.path === undefined && process.stdout.isTTY === true && !process.env.NO_COLOR,
              }),
            );
          for (const w of result.warnings) process.stderr.write(`warning: ${printable(w.message)}\n`);
          if (failOn !== undefined) {
            const failing = findingsAtOrAbove(result, failOn as Severity);
            if (result.warnings.some((w) => w.code === SCAN_WARNINGS.unknownRelease)) {
              process.stderr.write(
                `error: --fail-on ${failOn}: the Debian packages could not be checked (unknown release); exit ${EXIT_UNKNOWN_RELEASE}\n`,
              );
              process.exitCode = EXIT_UNKNOWN_RELEASE;
            } else if (failing.length > 0) {
              process.stderr.write(`${failing.length} finding(s) at or above ${failOn} (--fail-on)\n`);
              process.exitCode = 1;
            }
          }
        } finally {
          store.close();
        }
      }),
    );
}
