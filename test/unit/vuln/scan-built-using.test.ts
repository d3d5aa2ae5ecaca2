import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import type { ScanResult } from '../../../src/vuln/types.js';
import { rampart } from '../../helpers/run-cli.js';

/**
 * One rule for what is scanned, whatever the input: the installed packages and the Debian source
 * packages compiled into them (Built-Using, Static-Built-Using, X-Cargo-Built-Using). A root
 * scanned as itself (dir:, cataloged like an image) and as the SPDX and CycloneDX SBOMs rampart
 * writes of it gives the same findings.
 */
const STATUS = `Package: ripgrep
Status: install ok installed
Architecture: amd64
Version: 14.1.1-1+b4
Built-Using: rustc (= 1.85.0+dfsg3-1)
X-Cargo-Built-Using: rust-memchr (= 2.7.4-1)
Description: Recursively searches directories for a regex pattern

Package: libssl3t64
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.5.1-1
Description: Secure Sockets Layer toolkit - shared libraries
`;

const entry = (fixed: string) => ({
  description: 'hand-made entry for the test',
  releases: {
    trixie: { status: 'resolved', repositories: { trixie: fixed }, fixed_version: fixed, urgency: 'high' },
  },
});
const TRACKER = {
  rustc: { 'CVE-2026-3100': entry('1.85.0+dfsg3-2') },
  'rust-memchr': { 'CVE-2026-3200': entry('2.7.4-2') },
  openssl: { 'CVE-2026-3300': entry('3.5.1-2') },
};

let dir: string;
let db: string;
let rootfs: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-scan-built-using-'));
  rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await mkdir(join(rootfs, 'var/lib/dpkg'), { recursive: true });
  await writeFile(
    join(rootfs, 'etc/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
  );
  await writeFile(join(rootfs, 'var/lib/dpkg/status'), STATUS);
  await writeFile(join(dir, 'tracker.json'), JSON.stringify(TRACKER));
  db = join(dir, 'advisories.db');
  const store = openAdvisoryStore(db, { now: () => new Date() });
  await importAdvisories(store, [{ path: join(dir, 'tracker.json') }]);
  store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function findings(input: string) {
  const run = await rampart('scan', input, '--db', db, '-o', 'json');
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as ScanResult).matches.map((m) => ({
    id: m.vulnerability.id,
    status: m.vulnerability.status,
    fixed: m.vulnerability.fixedVersion,
    name: m.package.name,
    version: m.package.version,
    purl: m.package.purl,
  }));
}

describe('scanned components: the same rule for a root and for its SBOM', () => {
  it('finds the Built-Using sources in the root, its SPDX and its CycloneDX SBOM alike', async () => {
    const spdx = join(dir, 'root.spdx.json');
    const cdx = join(dir, 'root.cdx.json');
    const written = await rampart(
      'sbom',
      `dir:${rootfs}`,
      '-o',
      `spdx-json=${spdx}`,
      '-o',
      `cyclonedx-json=${cdx}`,
    );
    expect(written.code, written.stderr).toBe(0);
    const direct = await findings(`dir:${rootfs}`);
    expect(direct.map((f) => [f.name, f.id])).toEqual([
      ['libssl3t64', 'CVE-2026-3300'],
      ['rust-memchr', 'CVE-2026-3200'],
      ['rustc', 'CVE-2026-3100'],
    ]);
    expect(await findings(`sbom:${spdx}`)).toEqual(direct);
    expect(await findings(`sbom:${cdx}`)).toEqual(direct);
  });
});

describe('source packages an SBOM lists only as binaries’ Source:', () => {
  it('are not scanned: without the dpkg Built-Using marking, a GENERATED_FROM source is pedigree', async () => {
    const spdx = join(dir, 'unmarked.spdx.json');
    expect((await rampart('sbom', `dir:${rootfs}`, '-o', `spdx-json=${spdx}`)).code).toBe(0);
    const doc = JSON.parse(await readFile(spdx, 'utf8')) as { relationships: Array<Record<string, unknown>> };
    for (const r of doc.relationships) delete r.comment;
    await writeFile(spdx, JSON.stringify(doc));
    expect((await findings(`sbom:${spdx}`)).map((f) => [f.name, f.id])).toEqual([
      ['libssl3t64', 'CVE-2026-3300'],
    ]);
  });
});

describe('the rule is in the scan entry point', () => {
  it('a library caller of scanSbomDocument (as compare and diff are) scans what rampart scan does', async () => {
    const { generateSbom } = await import('../../../src/sbom/generate.js');
    const { scanSbomDocument } = await import('../../../src/vuln/scan.js');
    const root = await generateSbom({ kind: 'directory', path: rootfs });
    const rustc = root.packages.find((p) => p.name === 'rustc');
    expect(rustc?.architecture).toBe('source');
    // An SBOM whose model lists a binary's Source: as a package of its own (a library user's).
    const openssl = {
      ...rustc!,
      id: 'source-openssl',
      name: 'openssl',
      version: '3.5.1-1',
      purl: 'pkg:deb/debian/openssl@3.5.1-1?arch=source&distro=debian-13',
    };
    const doc = { ...root, packages: [...root.packages, openssl] };
    const store = openAdvisoryStore(db, { readOnly: true });
    try {
      const scanned = scanSbomDocument(store, doc).matches.map((m) => [m.package.name, m.vulnerability.id]);
      expect(scanned).toEqual((await findings(`dir:${rootfs}`)).map((f) => [f.name, f.id]));
    } finally {
      store.close();
    }
  });
});
