import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import type { ScanResult } from '../../../src/vuln/types.js';
import { rampart } from '../../helpers/run-cli.js';
import { HANDMADE, NOW } from '../../helpers/vuln-fixtures.js';
import { cycloneDxValidator } from '../sbom/schema-validators.js';

const addFormats = addFormatsModule as unknown as (ajv: object) => void;
// CommonJS default export seen through ESM: the class is on .default.
const AjvDraft04 = (AjvDraft04Module as unknown as { default: typeof AjvDraft04Module.default }).default;
const SCHEMAS = fileURLToPath(new URL('../../fixtures/schemas/', import.meta.url));

/**
 * `rampart scan` end to end on a root filesystem (dir:), on the SPDX SBOM rampart writes of it
 * (sbom:), with a real store: the dpkg status names libssl3t64 built from openssl, and nodejs.
 */
let dir: string;
let db: string;
let rootfs: string;
const STATUS = `Package: nodejs
Status: install ok installed
Architecture: amd64
Version: 20.19.2+dfsg-1
Description: JavaScript runtime

Package: libssl3t64
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.5.1-1
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.3.dfsg+really1.3.1-1)
Version: 1:1.3.dfsg+really1.3.1-1+b1
Description: compression library - runtime
`;

async function makeRootfs(path: string, osRelease: string) {
  await mkdir(join(path, 'etc'), { recursive: true });
  await mkdir(join(path, 'var/lib/dpkg'), { recursive: true });
  await writeFile(join(path, 'etc/os-release'), osRelease);
  await writeFile(join(path, 'var/lib/dpkg/status'), STATUS);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-scan-cli-'));
  rootfs = join(dir, 'rootfs');
  await makeRootfs(
    rootfs,
    'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
  );
  await makeRootfs(join(dir, 'forky'), 'ID=debian\nVERSION_ID="14"\nVERSION_CODENAME=forky\n');
  const tracker = join(dir, 'tracker.json');
  await writeFile(tracker, JSON.stringify(HANDMADE));
  db = join(dir, 'advisories.db');
  const store = openAdvisoryStore(db, { now: () => new Date() });
  await importAdvisories(store, [{ path: tracker }]);
  store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rampart scan', () => {
  it('dir: -o json is the ScanResult contract, Debian packages looked up through their source', async () => {
    const { code, stdout, stderr } = await rampart('scan', `dir:${rootfs}`, '--db', db, '-o', 'json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as ScanResult;
    expect(Object.keys(result).sort()).toEqual(['db', 'distro', 'matches', 'suppressed', 'warnings']);
    expect(result.distro).toEqual({ id: 'debian', version: '13', codename: 'trixie' });
    expect(
      result.matches.map((m) => [
        m.package.name,
        m.package.version,
        m.vulnerability.id,
        m.vulnerability.status,
      ]),
    ).toEqual([
      ['libssl3t64', '3.5.1-1', 'CVE-2026-2000', 'fixed'],
      ['nodejs', '20.19.2+dfsg-1', 'CVE-2026-1000', 'affected'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7001', 'fix_deferred'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7000', 'will_not_fix'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7002', 'end_of_life'],
      ['zlib1g', '1:1.3.dfsg+really1.3.1-1+b1', 'CVE-2026-7003', 'affected'],
    ]);
    expect(result.matches[0]!.package).toMatchObject({
      source: { name: 'openssl', version: '3.5.1-1' },
      type: 'deb',
    });
    expect(result.matches[0]!.package.purl).toMatch(/^pkg:deb\/debian\/libssl3t64@3\.5\.1-1\?/);
  });

  it('sbom: reads the SPDX SBOM rampart wrote and finds the same; --vex with distro=debian-13.2 suppresses', async () => {
    const spdx = join(dir, 'rootfs.spdx.json');
    expect((await rampart('sbom', `dir:${rootfs}`, '-o', `spdx-json=${spdx}`)).code).toBe(0);
    const vex = join(dir, 'vex.json');
    await writeFile(
      vex,
      JSON.stringify({
        '@context': 'https://openvex.dev/ns/v0.2.0',
        '@id': 'https://example.org/vex/2',
        author: 'Example Security',
        timestamp: '2026-12-01T00:00:00Z',
        version: 1,
        statements: [
          {
            vulnerability: { name: 'CVE-2026-2000' },
            products: [{ '@id': 'pkg:deb/debian/libssl3t64@3.5.1-1?distro=debian-13.2' }],
            status: 'not_affected',
            justification: 'vulnerable_code_not_in_execute_path',
          },
        ],
      }),
    );
    const plain = JSON.parse(
      (await rampart('scan', `sbom:${spdx}`, '--db', db, '-o', 'json')).stdout,
    ) as ScanResult;
    expect(plain.matches.map((m) => m.vulnerability.id)).toContain('CVE-2026-2000');
    const { code, stdout } = await rampart('scan', `sbom:${spdx}`, '--db', db, '--vex', vex, '-o', 'json');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as ScanResult;
    expect(result.matches.map((m) => m.vulnerability.id)).not.toContain('CVE-2026-2000');
    expect(result.suppressed.map((m) => [m.package.name, m.vulnerability.id, m.vex])).toEqual([
      [
        'libssl3t64',
        'CVE-2026-2000',
        {
          status: 'not_affected',
          justification: 'vulnerable_code_not_in_execute_path',
          author: 'Example Security',
        },
      ],
    ]);
  });

  it('writes schema-valid SARIF 2.1.0, CycloneDX 1.6 and OpenVEX 0.2.0, and a table grouped by package', async () => {
    const sarif = join(dir, 'scan.sarif');
    const cdx = join(dir, 'scan.cdx.json');
    const vex = join(dir, 'scan.openvex.json');
    const { code, stdout } = await rampart(
      'scan',
      `dir:${rootfs}`,
      '--db',
      db,
      '-o',
      `sarif=${sarif}`,
      '-o',
      `cyclonedx-json=${cdx}`,
      '-o',
      `openvex=${vex}`,
      '-o',
      'table',
    );
    expect(code).toBe(0);
    expect(stdout).toContain('libssl3t64 3.5.1-1 [deb] (source openssl 3.5.1-1)');
    expect(stdout).toMatch(/CVE-2026-2000\s+medium\s+fixed\s+3\.5\.1-1\+deb13u1/);
    expect(stdout).not.toContain('\u001b['); // no colour when not a TTY

    const ajv04 = new AjvDraft04({ strict: false, allErrors: true });
    addFormats(ajv04);
    const validateSarif = ajv04.compile(
      JSON.parse(await readFile(join(SCHEMAS, 'sarif-2.1.0.schema.json'), 'utf8')),
    );
    const sarifDoc = JSON.parse(await readFile(sarif, 'utf8'));
    expect(validateSarif(sarifDoc), JSON.stringify(validateSarif.errors)).toBe(true);
    expect(sarifDoc.runs[0].results).toHaveLength(6);
    expect(sarifDoc.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe(
      'var/lib/dpkg/status',
    );

    const cdxDoc = JSON.parse(await readFile(cdx, 'utf8'));
    expect(cycloneDxValidator()(cdxDoc)).toEqual([]);
    expect(cdxDoc.vulnerabilities.map((v: { id: string }) => v.id)).toContain('CVE-2026-2000');

    const ajv20 = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv20);
    const validateVex = ajv20.compile(
      JSON.parse(await readFile(join(SCHEMAS, 'openvex-0.2.0.schema.json'), 'utf8')),
    );
    const vexDoc = JSON.parse(await readFile(vex, 'utf8'));
    expect(validateVex(vexDoc), JSON.stringify(validateVex.errors)).toBe(true);
    expect(vexDoc.statements).toHaveLength(6);
  });

  it('--fail-on exits 1 at or above the level, 0 below it; --only-fixed keeps findings with a fix', async () => {
    expect((await rampart('scan', `dir:${rootfs}`, '--db', db, '--fail-on', 'high', '-o', 'json')).code).toBe(
      1,
    );
    expect(
      (await rampart('scan', `dir:${rootfs}`, '--db', db, '--fail-on', 'critical', '-o', 'json')).code,
    ).toBe(0);
    const fixed = await rampart(
      'scan',
      `dir:${rootfs}`,
      '--db',
      db,
      '--ignore-unfixed',
      '--fail-on',
      'high',
      '-o',
      'json',
    );
    expect(fixed.code).toBe(0);
    expect((JSON.parse(fixed.stdout) as ScanResult).matches.map((m) => m.vulnerability.id)).toEqual([
      'CVE-2026-2000',
    ]);
    expect((await rampart('scan', `dir:${rootfs}`, '--db', db, '--fail-on', 'severe')).code).toBe(2);
  });

  it('an unknown release warns, and exits 3 with --fail-on', async () => {
    const plain = await rampart('scan', `dir:${join(dir, 'forky')}`, '--db', db, '-o', 'json');
    expect(plain.code).toBe(0);
    expect((JSON.parse(plain.stdout) as ScanResult).warnings.map((w) => w.code)).toEqual([
      'UNKNOWN_DISTRO_RELEASE',
    ]);
    expect(plain.stderr).toMatch(/^warning: Debian 14 \(forky\) is not in the advisory store/);
    expect(
      (await rampart('scan', `dir:${join(dir, 'forky')}`, '--db', db, '--fail-on', 'critical')).code,
    ).toBe(3);
  });

  it('refuses a missing store, a bad VEX file and a bad SBOM with their codes', async () => {
    const missing = await rampart('scan', `dir:${rootfs}`, '--db', join(dir, 'none.db'), '-o', 'json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe('NOT_FOUND');
    const badVex = join(dir, 'bad-vex.json');
    await writeFile(
      badVex,
      JSON.stringify({
        statements: [{ vulnerability: { name: 'CVE-1' }, products: [], status: 'not_affected' }],
      }),
    );
    const vexResult = await rampart('scan', `dir:${rootfs}`, '--db', db, '--vex', badVex, '-o', 'json');
    expect(JSON.parse(vexResult.stderr).error).toMatchObject({
      code: 'FEED_INVALID',
      details: { path: badVex },
    });
    const badSbom = join(dir, 'bad.json');
    await writeFile(badSbom, '{"hello": 1}');
    const sbomResult = await rampart('scan', `sbom:${badSbom}`, '--db', db, '-o', 'json');
    expect(JSON.parse(sbomResult.stderr).error).toMatchObject({
      code: 'SBOM_INVALID',
      details: { path: badSbom },
    });
  });
});

describe('rampart compare with an advisory store', () => {
  it('counts the findings of each side by severity and reports their reduction', async () => {
    const bare = join(dir, 'bare');
    await mkdir(join(bare, 'etc'), { recursive: true });
    await writeFile(join(bare, 'etc/os-release'), 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n');
    const { code, stdout, stderr } = await rampart(
      'compare',
      `dir:${rootfs}`,
      `dir:${bare}`,
      '--db',
      db,
      '-o',
      'json',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    // the six findings `rampart scan` reports for this root (first test), by their severities
    const scan = JSON.parse(
      (await rampart('scan', `dir:${rootfs}`, '--db', db, '-o', 'json')).stdout,
    ) as ScanResult;
    const expected: Record<string, number> = {
      negligible: 0,
      low: 0,
      medium: 0,
      high: 0,
      critical: 0,
      unknown: 0,
    };
    for (const m of scan.matches) expected[m.vulnerability.severity]! += 1;
    expect(scan.matches).toHaveLength(6);
    expect(result.a.vulnerabilities).toEqual(expected);
    expect(Object.values(result.b.vulnerabilities).every((n) => n === 0)).toBe(true);
    expect(result.reduction.vulnerabilities).toBe(100);
  });

  it('a --db that does not exist is NOT_FOUND; without a store there is no vulnerabilities metric', async () => {
    const missing = await rampart(
      'compare',
      `dir:${rootfs}`,
      `dir:${rootfs}`,
      '--db',
      join(dir, 'none.db'),
      '-o',
      'json',
    );
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error).toMatchObject({
      code: 'NOT_FOUND',
      details: { path: join(dir, 'none.db') },
    });
    const saved = process.env.RAMPART_ADVISORY_DB;
    process.env.RAMPART_ADVISORY_DB = join(dir, 'no-default.db');
    const none = await rampart('compare', `dir:${rootfs}`, `dir:${rootfs}`, '-o', 'json').finally(() => {
      if (saved === undefined) delete process.env.RAMPART_ADVISORY_DB;
      else process.env.RAMPART_ADVISORY_DB = saved;
    });
    expect(none.code).toBe(0);
    const result = JSON.parse(none.stdout);
    expect(result.a.vulnerabilities).toBeUndefined();
    expect(result.reduction.vulnerabilities).toBeUndefined();
  });
});

void NOW;
