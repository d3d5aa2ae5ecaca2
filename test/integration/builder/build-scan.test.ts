/**
 * Issue 14 item 8: `rampart build` scans each image it builds into the build record when an
 * advisory store exists, and leaves the record without `scans` when there is none.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../src/builder/pipeline.js';
import type { BuildRecord } from '../../../src/builder/record.js';
import { openAttachmentStore } from '../../../src/oci/open.js';
import { PREDICATE_TYPES } from '../../../src/sign/formats.js';
import { keySigner } from '../../../src/sign/keys.js';
import { verifyAttestationsOfDigest } from '../../../src/sign/verify-attestation.js';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import { type AptRepo, createAptRepo } from '../../helpers/apt-repo.js';
import { rampart } from '../../helpers/run-cli.js';

let repo: AptRepo;
let dir: string;
let specPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rampart-build-scan-'));
  repo = await createAptRepo(
    [
      {
        name: 'trixie',
        architectures: ['amd64'],
        packages: [
          {
            name: 'base-files',
            version: '13.8',
            architecture: 'amd64',
            files: {
              'usr/lib/os-release':
                'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nID=debian\n',
            },
            symlinks: { 'etc/os-release': '../usr/lib/os-release' },
          },
          {
            name: 'libssl3t64',
            source: 'openssl (3.5.1-1)',
            version: '3.5.1-1+b1',
            architecture: 'amd64',
            files: { 'usr/lib/libssl.so.3': 'not really\n' },
          },
        ],
      },
    ],
    { dir },
  );
  specPath = join(dir, 'scanned.yaml');
  await writeFile(
    specPath,
    [
      'name: scanned',
      'contents:',
      '  suites: [trixie]',
      `  mirror: ${repo.url}`,
      `  keyring: ${repo.key.keyring}`,
      '  packages: [base-files, libssl3t64]',
      'archs: [amd64]',
      '',
    ].join('\n'),
  );
  const tracker = join(dir, 'tracker.json');
  await writeFile(
    tracker,
    JSON.stringify({
      openssl: {
        'CVE-2026-0001': {
          description: 'hand-made entry for the test',
          releases: {
            trixie: {
              status: 'resolved',
              repositories: { trixie: '3.5.1-1' },
              fixed_version: '3.5.1-2',
              urgency: 'high',
            },
          },
        },
      },
    }),
  );
  const store = openAdvisoryStore(join(dir, 'advisories.db'));
  await importAdvisories(store, [{ path: tracker }]);
  store.close();
});

afterAll(async () => {
  await repo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function build(
  name: string,
  advisoryDb?: string,
  options: { cacheDir?: string; env?: Record<string, string> } = {},
): Promise<BuildRecord> {
  const result = await buildImage({
    specPath,
    output: `oci:${join(dir, name)}:latest`,
    cacheDir: options.cacheDir ?? join(dir, 'cache'),
    etcApt: '/nonexistent-apt-config',
    env: options.env ?? {},
    ...(advisoryDb ? { advisoryDb } : {}),
  });
  return JSON.parse(await readFile(result.record, 'utf8')) as BuildRecord;
}

describe('build record scans', () => {
  it('records each image scan through the source package when a store exists', async () => {
    const record = await build('with-store', join(dir, 'advisories.db'));
    expect(record.scans).toHaveLength(1);
    const scan = record.scans![0]!;
    expect(scan).toMatchObject({ architecture: 'amd64', digest: record.platforms[0]!.digest });
    if (!('result' in scan)) throw new Error(`no scan: ${JSON.stringify(scan)}`);
    expect(scan.result.distro.codename).toBe('trixie');
    expect(
      scan.result.matches.map((m) => [
        m.vulnerability.id,
        m.package.name,
        m.package.version,
        m.vulnerability.status,
      ]),
    ).toEqual([['CVE-2026-0001', 'libssl3t64', '3.5.1-1+b1', 'fixed']]);
  });

  it('records no scan without a store, and why when the named store cannot be read', async () => {
    expect((await build('without-store')).scans).toBeUndefined();
    const missing = await build('missing-store', join(dir, 'missing.db'));
    expect(missing.scans?.map((s) => ('error' in s ? s.error.code : 'scanned'))).toEqual(['NOT_FOUND']);
  });
});

describe('where the build finds the store', () => {
  it("follows advisoryDbPath (XDG cache dir), not the build's download cache", async () => {
    const downloads = join(dir, 'other-downloads');
    const xdg = join(dir, 'xdg');
    for (const at of [join(downloads, 'vuln'), join(xdg, 'rampart', 'vuln')]) {
      await mkdir(at, { recursive: true });
      await copyFile(join(dir, 'advisories.db'), join(at, 'advisories.db'));
    }
    const record = await build('store-location', undefined, {
      cacheDir: downloads,
      env: { XDG_CACHE_HOME: xdg },
    });
    expect(record.scans?.map((s) => s.db)).toEqual([join(xdg, 'rampart', 'vuln', 'advisories.db')]);
    // The variable still names it first, as for every command.
    const named = await build('store-location-env', undefined, {
      cacheDir: downloads,
      env: { XDG_CACHE_HOME: xdg, RAMPART_ADVISORY_DB: join(dir, 'advisories.db') },
    });
    expect(named.scans?.map((s) => s.db)).toEqual([join(dir, 'advisories.db')]);
  });
});

describe('a scan that fails inside the build', () => {
  let damaged: string;
  beforeAll(async () => {
    // A store that opens (schema version and application id are right) but cannot be read.
    damaged = join(dir, 'damaged.db');
    await copyFile(join(dir, 'advisories.db'), damaged);
    const db = new DatabaseSync(damaged);
    db.exec('DROP TABLE feeds');
    db.close();
  });

  it('is recorded with its code and reported, and the valid image is still written', async () => {
    const result = await buildImage({
      specPath,
      output: `oci:${join(dir, 'damaged-store')}:latest`,
      cacheDir: join(dir, 'cache'),
      etcApt: '/nonexistent-apt-config',
      env: {},
      advisoryDb: damaged,
    });
    const record = JSON.parse(await readFile(result.record, 'utf8')) as BuildRecord;
    expect(record.scans?.map((s) => ('error' in s ? s.error.code : 'scanned'))).toEqual([
      'ADVISORY_DB_INVALID',
    ]);
    expect(result.scanErrors?.map((s) => [s.architecture, s.digest, s.error.code])).toEqual([
      ['amd64', record.platforms[0]!.digest, 'ADVISORY_DB_INVALID'],
    ]);
    const index = JSON.parse(await readFile(join(dir, 'damaged-store', 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(1);
  });

  it('rampart build warns on stderr, lists it under scanErrors and exits 0', async () => {
    const run = await rampart(
      'build',
      specPath,
      `oci:${join(dir, 'damaged-cli')}:latest`,
      '--cache',
      join(dir, 'cache'),
      '--db',
      damaged,
      '-q',
      '-o',
      'json',
    );
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as {
      digest: string;
      scanErrors: Array<{ error: { code: string } }>;
    };
    expect(report.scanErrors.map((s) => s.error.code)).toEqual(['ADVISORY_DB_INVALID']);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('warning: scanning amd64 '))).toHaveLength(
      1,
    );
  });
});

describe('build --sign-key with an advisory store', () => {
  it("attests the scan's findings as the OpenVEX document of each image", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const output = `oci:${join(dir, 'signed')}:latest`;
    const result = await buildImage({
      specPath,
      output,
      cacheDir: join(dir, 'cache'),
      etcApt: '/nonexistent-apt-config',
      env: {},
      advisoryDb: join(dir, 'advisories.db'),
      sign: { signer: keySigner(privateKey), formats: ['bundle'] },
    });
    const record = JSON.parse(await readFile(result.record, 'utf8')) as BuildRecord;
    const image = record.platforms[0]!.digest;
    // A layout names only the index: the platform image's attestations are read by its digest.
    const store = await openAttachmentStore(`oci:${join(dir, 'signed')}:latest`);
    const reports = await verifyAttestationsOfDigest(store, image as `sha256:${string}`, publicKey);
    const verified = {
      verified: reports.some((r) => r.valid),
      attestations: reports.filter((r) => r.predicateType === PREDICATE_TYPES.openvex),
    };
    expect(verified.verified).toBe(true);
    const vex = verified.attestations.find((a) => a.valid)!.statement!.predicate as {
      statements: Array<{ vulnerability: { name: string }; status: string; products: unknown[] }>;
    };
    expect(vex.statements).toEqual([
      expect.objectContaining({
        vulnerability: { name: 'CVE-2026-0001' },
        status: 'affected',
        action_statement: 'Upgrade libssl3t64 to 3.5.1-2 or later',
        products: [
          {
            '@id': `pkg:oci/scanned@${encodeURIComponent(image)}`,
            subcomponents: [
              { '@id': expect.stringMatching(/^pkg:deb\/debian\/libssl3t64@3\.5\.1-1%2Bb1\?/) },
            ],
          },
        ],
      }),
    ]);
  });
});
