import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PackageURL } from 'packageurl-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { sidToolsChroot } from '../../helpers/peer-tools.js';
import { ensureTrixieRootWith } from './minbase-root.js';

/*
 * Issue 16 item 4: rampart's Debian purls and supplier kinds match what Debian's own SBOM generator
 * (debsbom 0.10.2, sid, in a chroot) writes for the same root, so matching by string works.
 */

let doc: SbomDocument;
let chroot: string;
let work: string;
let theirs: { components: Array<{ name: string; purl?: string }> };
let theirSpdx: {
  packages: Array<{ name: string; supplier?: string; externalRefs?: Array<{ referenceLocator: string }> }>;
};

beforeAll(async () => {
  const root = ensureTrixieRootWith(['python3', 'nodejs']);
  doc = await generateSbom({ kind: 'directory', path: root });
  chroot = await sidToolsChroot();
  const name = `rampart-licences-${process.pid}`;
  work = join(chroot, 'tmp', name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'r/var/lib/dpkg'), { recursive: true });
  cpSync(join(root, 'var/lib/dpkg/status'), join(work, 'r/var/lib/dpkg/status'));
  execFileSync(
    'chroot',
    [
      chroot,
      'sh',
      '-c',
      `cd /tmp/${name} && debsbom generate -t cdx -t spdx -r /tmp/${name}/r -o out --distro-version 13`,
    ],
    { stdio: 'pipe' },
  );
  theirs = JSON.parse(readFileSync(join(work, 'out.cdx.json'), 'utf8'));
  theirSpdx = JSON.parse(readFileSync(join(work, 'out.spdx.json'), 'utf8'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A purl without the qualifiers only one of the tools writes (rampart adds distro= and upstream=). */
function withArchOnly(purl: string): string {
  const p = PackageURL.fromString(purl);
  const arch = (p.qualifiers as Record<string, string> | undefined)?.arch;
  const head = purl.split('?')[0]!;
  return arch ? `${head}?arch=${arch}` : head;
}

describe('Debian identifiers as debsbom writes them', () => {
  it('every binary package has the same purl string (type, namespace, name, version, arch)', () => {
    const ours = new Map(
      doc.packages
        // binaries only: Built-Using source packages (arch=source) are compared in built-using.test.ts
        .filter((p) => p.type === 'deb' && p.architecture !== 'source')
        .map((p) => [p.name, withArchOnly(p.purl)]),
    );
    const compared: string[] = [];
    const different: Array<[string, string | undefined]> = [];
    for (const c of theirs.components) {
      if (!c.purl?.startsWith('pkg:deb/') || c.purl.includes('arch=source')) continue;
      const mine = ours.get(c.name);
      compared.push(c.purl);
      if (mine !== withArchOnly(c.purl)) different.push([c.purl, mine]);
    }
    console.log(
      `debsbom: ${compared.length} binary purls compared, e.g. ${compared.find((p) => p.includes('@1:'))}`,
    );
    expect(compared.length).toBe(ours.size);
    expect(different).toEqual([]);
    expect(compared.some((p) => /@\d+:/.test(p))).toBe(true);
  });

  it('suppliers are Person or Organization as debsbom decides', () => {
    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json')) as typeof theirSpdx;
    const kindByPurl = (packages: typeof theirSpdx.packages) =>
      new Map(
        packages.flatMap((p) =>
          (p.externalRefs ?? [])
            .filter(
              (r) => r.referenceLocator.startsWith('pkg:deb/') && !r.referenceLocator.includes('arch=source'),
            )
            .map((r) => [withArchOnly(r.referenceLocator), p.supplier?.split(':')[0]] as const),
        ),
      );
    const ours = kindByPurl(spdx.packages);
    const differing = [...kindByPurl(theirSpdx.packages)].filter(
      ([purl, kind]) => kind !== undefined && ours.get(purl) !== kind,
    );
    const people = [...ours.values()].filter((k) => k === 'Person').length;
    console.log(`suppliers: ${people} of ${ours.size} debs are Person`);
    expect(differing).toEqual([]);
  });
});
