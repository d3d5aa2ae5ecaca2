import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import type { RawPackage } from '../../../src/sbom/cataloger.js';
import { encodeSbom } from '../../../src/sbom/encode/index.js';
import { cpesFor, MAX_CPE_CANDIDATES } from '../../../src/sbom/identity/cpe.js';
import { PackageTypeSchema, type SbomDocument } from '../../../src/sbom/model.js';
import { readSbom } from '../../../src/sbom/read/read-sbom.js';
import { directoryFileSource } from '../../../src/sbom/source/dir-source.js';
import { cycloneDxValidator, spdxValidator } from './schema-validators.js';

/**
 * The CPE 2.3 formatted string, `cpe23Type` of NIST's CPE 2.3 naming schema
 * (https://csrc.nist.gov/schema/cpe/2.3/cpe-naming_2.3.xsd, NISTIR 7695 §6.2), anchored; the SPDX 2.3
 * spec (Annex F, `cpe23Type`) points to the same pattern. `$$` is as the schema has it: a doubled `$`
 * inside a character class.
 */
const CPE23_FORMATTED_STRING =
  /^cpe:2\.3:[aho*-](:(((\?*|\*?)([a-zA-Z0-9\-._]|(\\[\\*?!"#$$%&'()+,/:;<=>@[\]^`{|}~]))+(\?*|\*?))|[*-])){5}(:(([a-zA-Z]{2,3}(-([a-zA-Z]{2}|[0-9]{3}))?)|[*-]))(:(((\?*|\*?)([a-zA-Z0-9\-._]|(\\[\\*?!"#$$%&'()+,/:;<=>@[\]^`{|}~]))+(\?*|\*?))|[*-])){4}$/;

const raw = (type: RawPackage['type'], name: string, version: string, namespace?: string): RawPackage => ({
  type,
  name,
  version,
  ...(namespace !== undefined ? { namespace } : {}),
  locations: [],
});
const cpe = (vendor: string, product: string, version: string, update = '*') =>
  `cpe:2.3:a:${vendor}:${product}:${version}:${update}:*:*:*:*:*:*`;

describe('CPE candidates for Go modules', () => {
  it.each([
    // Each real module from its go.mod / `go version -m` line.
    ['github.com/sirupsen/logrus', 'v1.9.3', [cpe('sirupsen', 'logrus', '1.9.3')]],
    // The /v5 major-version suffix names the same project.
    ['github.com/go-chi/chi/v5', 'v5.0.12', [cpe('go-chi', 'chi', '5.0.12')]],
    ['golang.org/x/net', 'v0.23.0', [cpe('golang', 'net', '0.23.0')]],
    // gopkg.in/yaml.v3 is github.com/go-yaml/yaml at v3 (gopkg.in's own redirect rule).
    ['gopkg.in/yaml.v3', 'v3.0.1', [cpe('go-yaml', 'yaml', '3.0.1')]],
    ['gopkg.in/DataDog/dd-trace-go.v1', 'v1.62.0', [cpe('datadog', 'dd-trace-go', '1.62.0')]],
    ['google.golang.org/grpc', 'v1.62.1', [cpe('google', 'grpc', '1.62.1')]],
    // A vanity host: the organisation is the host's second-level name.
    ['go.uber.org/zap', 'v1.27.0', [cpe('uber', 'zap', '1.27.0')]],
    ['k8s.io/client-go', 'v0.29.3', [cpe('k8s', 'client-go', '0.29.3')]],
    // A sub-module keeps its path, so it is not taken for the project's server (syft, grype#676).
    ['github.com/hashicorp/vault/api', 'v1.12.0', [cpe('hashicorp', 'vault\\/api', '1.12.0')]],
    ['go.etcd.io/etcd/client/v3', 'v3.5.12', [cpe('etcd', 'etcd\\/client', '3.5.12')]],
    // +incompatible is Go's marker for a pre-modules v2+, not part of Docker's version.
    ['github.com/docker/docker', 'v25.0.5+incompatible', [cpe('docker', 'docker', '25.0.5')]],
    [
      'golang.org/x/sys',
      'v0.0.0-20200930185726-fdedc70b468f',
      [cpe('golang', 'sys', '0.0.0-20200930185726-fdedc70b468f')],
    ],
    ['github.com/BurntSushi/toml', 'v1.3.2', [cpe('burntsushi', 'toml', '1.3.2')]],
    // A main module built from a checkout has no version: any version.
    ['github.com/acme/tool', '(devel)', [cpe('acme', 'tool', '*')]],
    // Nothing to go on: no owner, no host (`go build main.go`).
    ['github.com/what', 'v1.0.0', []],
    ['command-line-arguments', '', []],
  ])('%s %s', (name, version, expected) => {
    expect(cpesFor(raw('golang', name, version))).toEqual(expected);
  });

  it('names the toolchain as NVD does: golang:go, update "-" or the pre-release', () => {
    expect(cpesFor(raw('golang', 'stdlib', 'go1.22.2'))).toEqual([cpe('golang', 'go', '1.22.2', '-')]);
    expect(cpesFor(raw('golang', 'stdlib', 'go1.21rc2'))).toEqual([cpe('golang', 'go', '1.21', 'rc2')]);
    expect(cpesFor(raw('golang', 'stdlib', 'go1.15.9'))).toEqual([cpe('golang', 'go', '1.15.9', '-')]);
    // A toolchain built from source says `devel go1.23-abcdef …`; the cataloger keeps the first word.
    expect(cpesFor(raw('golang', 'stdlib', 'devel'))).toEqual([]);
  });
});

describe('CPE candidates for Maven artifacts', () => {
  it('takes the vendor from the groupId and the umbrella project from its later elements', () => {
    // apache is a vendor NVD knows: syft then keeps it alone (no artifactId-as-vendor guess).
    expect(cpesFor(raw('maven', 'commons-lang3', '3.14.0', 'org.apache.commons'))).toEqual([
      cpe('apache', 'commons-lang3', '3.14.0'),
      cpe('apache', 'commons', '3.14.0'),
      cpe('apache', 'commons_lang3', '3.14.0'),
    ]);
    expect(cpesFor(raw('maven', 'jackson-databind', '2.17.0', 'com.fasterxml.jackson.core'))).toEqual([
      // NVD's own: cpe:2.3:a:fasterxml:jackson-databind.
      cpe('fasterxml', 'jackson-databind', '2.17.0'),
      cpe('fasterxml', 'jackson', '2.17.0'),
      cpe('fasterxml', 'jackson_databind', '2.17.0'),
      cpe('jackson-databind', 'jackson-databind', '2.17.0'),
    ]);
  });

  it('gives log4j-core the CPE NVD uses for Log4Shell (CVE-2021-44228), though not as the first', () => {
    const cpes = cpesFor(raw('maven', 'log4j-core', '2.14.1', 'org.apache.logging.log4j'));
    expect(cpes).toEqual([
      cpe('apache', 'log4j-core', '2.14.1'),
      cpe('apache', 'log4j', '2.14.1'),
      cpe('apache', 'log4j_core', '2.14.1'),
    ]);
    expect(cpes).toContain('cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*');
    // CycloneDX carries one CPE, the first: the artifact's own, which is not NVD's name.
    expect(cpes[0]).not.toBe('cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*');
  });

  it('does not take a plugin, a bare element or a word inside a name for the project', () => {
    expect(cpesFor(raw('maven', 'maven-compiler-plugin', '3.12.1', 'org.apache.maven.plugins'))).toEqual([
      cpe('apache', 'maven-compiler-plugin', '3.12.1'),
      cpe('apache', 'maven_compiler_plugin', '3.12.1'),
    ]);
    expect(cpesFor(raw('maven', 'logback-core', '1.5.3', 'ch.qos.logback'))).toEqual([
      cpe('qos', 'logback-core', '1.5.3'),
      cpe('logback-core', 'logback-core', '1.5.3'),
      cpe('qos', 'logback', '1.5.3'),
      cpe('qos', 'logback_core', '1.5.3'),
    ]);
    // Made up: `log` is a prefix of `logback-core` but not a word of it.
    expect(cpesFor(raw('maven', 'logback-core', '1.5.3', 'org.example.log'))).not.toContain(
      cpe('example', 'log', '1.5.3'),
    );
    // A one-element groupId gives no vendor; the artifactId stands in (syft's rule).
    expect(cpesFor(raw('maven', 'junit', '4.13.2', 'junit'))).toEqual([cpe('junit', 'junit', '4.13.2')]);
  });
});

describe('CPE candidates for Cargo crates', () => {
  it('uses the crate name as vendor and product, in both spellings of - and _', () => {
    expect(cpesFor(raw('cargo', 'serde', '1.0.197'))).toEqual([cpe('serde', 'serde', '1.0.197')]);
    expect(cpesFor(raw('cargo', 'tokio-util', '0.7.10'))).toEqual([
      cpe('tokio-util', 'tokio-util', '0.7.10'),
      cpe('tokio-util', 'tokio_util', '0.7.10'),
      cpe('tokio_util', 'tokio-util', '0.7.10'),
      cpe('tokio_util', 'tokio_util', '0.7.10'),
    ]);
  });
});

describe('CPE 2.3 formatted-string quoting', () => {
  it('quotes + and : in versions (wasi crate, Debian epoch) and keeps - . _ as they are', () => {
    expect(cpesFor(raw('cargo', 'wasi', '0.11.0+wasi-snapshot-preview1'))).toEqual([
      cpe('wasi', 'wasi', '0.11.0\\+wasi-snapshot-preview1'),
    ]);
    expect(cpesFor(raw('deb', 'bsdutils', '1:2.38.1-5+deb12u1'))).toEqual([
      cpe('bsdutils', 'bsdutils', '1\\:2.38.1-5\\+deb12u1'),
    ]);
  });

  it('quotes * and ? so they stay literal, lowercases, and writes whitespace as _', () => {
    expect(cpesFor(raw('cargo', 'a*b?c', '1.0-RC1'))).toEqual([cpe('a\\*b\\?c', 'a\\*b\\?c', '1.0-rc1')]);
    // The manifest fallback can name an artifact by its Implementation-Title.
    expect(cpesFor(raw('maven', 'Apache Commons Lang', '2.6', 'Apache Commons Lang'))[0]).toBe(
      cpe('apache_commons_lang', 'apache_commons_lang', '2.6'),
    );
  });

  it('writes an unknown version as * and gives no CPE for a name CPE cannot spell', () => {
    expect(cpesFor(raw('npm', 'left-pad', ''))).toEqual([cpe('left-pad', 'left-pad', '*')]);
    // A WFN value is printable ASCII only (NISTIR 7695 §5.3.2).
    expect(cpesFor(raw('cargo', 'naïve', '1.0.0'))).toEqual([]);
    expect(cpesFor(raw('deb', 'libfoo', '2.0-β1'))).toEqual([]);
    // A lone `-` is NA in a formatted string, not a name; the pattern cannot tell.
    expect(cpesFor(raw('npm', '-', '1.0.0'))).toEqual([]);
  });

  it('matches the NIST pattern for any package, at most four, unique, the same every time', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.stringMatching(/^[a-z0-9.:+~*?!"#$%&'()\\/@[\]^`{|}<=>;, _-]{0,16}$/),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...PackageTypeSchema.options),
        text,
        text,
        text,
        (type, name, version, ns) => {
          const pkg = raw(type, name, version, ns);
          const cpes = cpesFor(pkg);
          for (const c of cpes) expect(c).toMatch(CPE23_FORMATTED_STRING);
          expect(cpes.length).toBeLessThanOrEqual(MAX_CPE_CANDIDATES);
          expect(new Set(cpes).size).toBe(cpes.length);
          expect(cpes.slice(1)).toEqual([...cpes.slice(1)].sort());
          expect(cpesFor(pkg)).toEqual(cpes);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('CPEs in catalogued SBOMs', () => {
  let work: string;
  beforeAll(() => {
    // Archives are built with Info-ZIP's `zip`, as the Java cataloger meets them.
    work = mkdtempSync(join(tmpdir(), 'rampart-cpe-'));
    const artifacts = [
      ['org.apache.logging.log4j', 'log4j-core', '2.14.1'],
      ['com.fasterxml.jackson.core', 'jackson-databind', '2.17.0'],
    ];
    for (const [group, artifact, version] of artifacts) {
      const dir = join(work, 'build', artifact!);
      mkdirSync(join(dir, 'META-INF/maven', group!, artifact!), { recursive: true });
      writeFileSync(
        join(dir, 'META-INF/maven', group!, artifact!, 'pom.properties'),
        `groupId=${group}\nartifactId=${artifact}\nversion=${version}\n`,
      );
      mkdirSync(join(work, 'root/opt/app/lib'), { recursive: true });
      execFileSync('zip', ['-q', '-r', join(work, 'root/opt/app/lib', `${artifact}-${version}.jar`), '.'], {
        cwd: dir,
      });
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('carries every candidate into SPDX and the first into CycloneDX, both schema-valid', async () => {
    const { packages } = await catalogFileSource(await directoryFileSource(join(work, 'root'), () => {}));
    const extra = [
      raw('golang', 'github.com/go-chi/chi/v5', 'v5.0.12'),
      raw('golang', 'stdlib', 'go1.22.2'),
      raw('cargo', 'wasi', '0.11.0+wasi-snapshot-preview1'),
    ].map((p) => ({
      id: `${p.type}:${p.name}`,
      name: p.name,
      version: p.version,
      type: p.type,
      purl: `pkg:${p.type}/${p.name}@${encodeURIComponent(p.version)}`,
      cpes: cpesFor(p),
      locations: ['/usr/bin/app'],
      dependsOn: [],
    }));
    const doc: SbomDocument = {
      source: { kind: 'directory', ref: '/root' },
      packages: [...packages, ...extra],
      warnings: [],
    };
    const log4j = packages.find((p) => p.name === 'log4j-core')!;
    expect(log4j.cpes).toContain('cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*');

    const spdx = JSON.parse(encodeSbom(doc, 'spdx-json'));
    const cdx = JSON.parse(encodeSbom(doc, 'cyclonedx-json'));
    expect(spdxValidator()(spdx)).toEqual([]);
    expect(cycloneDxValidator()(cdx)).toEqual([]);

    for (const pkg of doc.packages) {
      expect(pkg.cpes.length, pkg.id).toBeGreaterThan(0);
      const element = spdx.packages.find((p: { name: string }) => p.name === pkg.name);
      const spdxCpes = element.externalRefs
        .filter((r: { referenceType: string }) => r.referenceType === 'cpe23Type')
        .map((r: { referenceLocator: string }) => r.referenceLocator);
      expect(spdxCpes).toEqual(pkg.cpes);
      const component = cdx.components.find((c: { name: string }) => c.name === pkg.name);
      expect(component.cpe).toBe(pkg.cpes[0]);
    }
    // Read back: SPDX keeps them all, CycloneDX the first.
    const fromSpdx = readSbom(Buffer.from(JSON.stringify(spdx)));
    expect(fromSpdx.packages.find((p) => p.name === 'log4j-core')!.cpes).toEqual(log4j.cpes);
    const fromCdx = readSbom(Buffer.from(JSON.stringify(cdx)));
    expect(fromCdx.packages.find((p) => p.name === 'log4j-core')!.cpes).toEqual([log4j.cpes[0]]);
  });
});
