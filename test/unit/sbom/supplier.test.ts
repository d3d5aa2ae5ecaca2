import { describe, expect, it } from 'vitest';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { supplierActor } from '../../../src/sbom/identity/supplier.js';
import type { SbomDocument } from '../../../src/sbom/model.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';

describe('supplierActor: people are Person, lists and teams Organization', () => {
  it.each([
    // Maintainer fields from a trixie minbase+python3+nodejs root
    ['Matthias Klose <doko@debian.org>', 'Person'],
    ['Laszlo Boszormenyi (GCS) <gcs@debian.org>', 'Person'],
    ['Ileana Dumitrescu <ileanadumitrescu95@gmail.com>', 'Person'],
    ["Marco d'Itri <md@linux.it>", 'Person'],
    ['Debian GCC Maintainers <debian-gcc@lists.debian.org>', 'Organization'],
    ['APT Development Team <deity@lists.debian.org>', 'Organization'],
    ['Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>', 'Organization'],
    ['Shadow package maintainers <pkg-shadow-devel@lists.alioth.debian.org>', 'Organization'],
    ['RPM packaging team <team+pkg-rpm@tracker.debian.org>', 'Organization'],
    ['Debian QA Group <packages@qa.debian.org>', 'Organization'],
    ['Ncurses Maintainers <ncurses@packages.debian.org>', 'Organization'],
    ['Debian sysvinit maintainers <debian-init-diversity@chiark.greenend.org.uk>', 'Organization'],
    // the address alone decides when the name does not
    ['Someone <someone@lists.example.org>', 'Organization'],
    ['Tracker <team+x@tracker.debian.org>', 'Organization'],
    // npm / PyPI authors
    ['Sindre Sorhus', 'Person'],
    ['Google LLC', 'Organization'],
  ])('%s → %s', (supplier, kind) => {
    expect(supplierActor(supplier).kind).toBe(kind);
  });

  it('writes SPDX suppliers with their kind and reads them back as the package spelled them', () => {
    const pkg = (name: string, supplier: string) => ({
      id: `pkg:deb/debian/${name}@1?arch=amd64`,
      name,
      version: '1',
      type: 'deb' as const,
      purl: `pkg:deb/debian/${name}@1?arch=amd64`,
      cpes: [],
      supplier,
      locations: [],
      dependsOn: [],
    });
    const doc: SbomDocument = {
      source: { kind: 'directory', ref: '/r' },
      packages: [
        pkg('libcap2', 'Christian Kastner <ckk@debian.org>'),
        pkg('libgmp10', 'Debian Science Maintainers <debian-science-maintainers@lists.alioth.debian.org>'),
      ],
      warnings: [],
    };
    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
    const supplierOf = (name: string) =>
      spdx.packages.find((p: { name: string }) => p.name === name).supplier;
    expect(supplierOf('libcap2')).toBe('Person: Christian Kastner (ckk@debian.org)');
    expect(supplierOf('libgmp10')).toBe(
      'Organization: Debian Science Maintainers (debian-science-maintainers@lists.alioth.debian.org)',
    );
    expect(readSbom(JSON.stringify(spdx)).packages.map((p) => p.supplier)).toEqual(
      doc.packages.map((p) => p.supplier),
    );
  });
});
