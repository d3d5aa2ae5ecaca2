import type { Command } from 'commander';
import { RampartError } from '../../errors.js';
import type { OutputSpec } from '../../sbom/encode/index.js';
import { printable, printableText } from '../../util/printable.js';
import type { RegistryFlags } from '../registry-options.js';
import { addRegistryOptions, registryOptions } from '../registry-options.js';

export function registerSbom(program: Command): void {
  const command = program
    .command('sbom')
    .description('catalog the packages in an image or root filesystem and write SBOMs')
    .argument(
      '<image>',
      'docker://REG/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, or dir:PATH (a root filesystem directory)',
    )
    .option(
      '-o, --output <format[=file]>',
      'spdx-json, cyclonedx-json, json or table, optionally =FILE; repeatable (default: table)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--platform <os/arch>', 'platform to pick from a multi-platform index')
    .option(
      '--files',
      'list every package file, with a SHA-1 computed from its bytes, in SPDX and CycloneDX output (large; reads the whole root)',
    )
    .option('--fail-empty', 'exit 1 (SBOM_EMPTY) when no package of any ecosystem is found')
    .option(
      '--allow-unsafe-entries',
      'exit 0 even when unsafe or unreadable layer entries were left out (they stay listed in the SBOM warnings)',
    );
  addRegistryOptions(command, { jobs: false })
    .addHelpText(
      'after',
      `
Examples:
  $ rampart sbom oci:./out/nodejs:latest -o spdx-json=nodejs.spdx.json -o cyclonedx-json=nodejs.cdx.json -o table
  $ rampart sbom docker://localhost:5000/nodejs:1.0 -o spdx-json=nodejs.spdx.json --insecure
  $ rampart sbom dir:/srv/rootfs -o json`,
    )
    .action(
      async (
        image: string,
        opts: RegistryFlags & {
          output?: string[];
          platform?: string;
          files?: boolean;
          allowUnsafeEntries?: boolean;
          failEmpty?: boolean;
        },
      ) => {
        // Loaded on use so other commands do not pay for the catalogers and encoders.
        // Not through sbom/index.js: that also loads the SBOM reader and its zod schemas (~14 MiB).
        const [
          { encodeSbom, parseOutputSpec },
          { generateSbom, inputFromReference, unsafeEntriesError },
          { writeSbomFiles },
        ] = await Promise.all([
          import('../../sbom/encode/index.js'),
          import('../../sbom/generate.js'),
          import('../../sbom/write.js'),
        ]);
        const outputs: OutputSpec[] = (opts.output ?? ['table']).map(parseOutputSpec);
        if (outputs.filter((o) => o.path === undefined).length > 1) {
          throw new RampartError('USAGE', 'only one -o output can go to stdout; give the others a =FILE', {
            details: { option: '-o' },
          });
        }
        const input = await inputFromReference(image, opts.platform);
        // Checked for a root filesystem too: --creds there names no registry (a usage error, as on inspect).
        const registry = await registryOptions(opts, input.kind === 'image' ? [input.ref] : []);
        // --files lists every file, and SPDX 2.3 requires each one's SHA-1: hash them while reading.
        const doc = await generateSbom(input.kind === 'image' ? { ...input, registry } : input, {
          fileDigests: opts.files === true,
        });
        const encodeOptions = { files: opts.files === true };
        await writeSbomFiles(
          doc,
          outputs.flatMap((o) => (o.path !== undefined ? [{ format: o.format, path: o.path }] : [])),
          encodeOptions,
        );
        for (const o of outputs) {
          if (o.path !== undefined) continue;
          const encoded = encodeSbom(doc, o.format, encodeOptions);
          // The table is for a terminal: names and versions from an image are escaped there.
          process.stdout.write(o.format === 'table' ? printableText(encoded) : encoded);
        }
        for (const w of doc.warnings)
          process.stderr.write(
            `warning: ${w.cataloger}: ${w.path !== undefined ? `${JSON.stringify(w.path)}: ` : ''}${printable(w.message)}\n`,
          );
        // The SBOM is written with each skipped entry in its warnings; the exit status says it is partial.
        const unsafe = unsafeEntriesError(doc);
        if (unsafe && opts.allowUnsafeEntries !== true) throw unsafe;
        if (opts.failEmpty && doc.packages.length === 0) {
          throw new RampartError('SBOM_EMPTY', `${image}: no package of any ecosystem found (--fail-empty)`, {
            details: { reference: image },
          });
        }
      },
    );
}
