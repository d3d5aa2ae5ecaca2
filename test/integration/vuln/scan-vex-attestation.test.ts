import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../../src/oci/open.js';
import { attestImage } from '../../../src/sign/attest.js';
import { decryptPrivateKey, generateKeyPair, keySigner } from '../../../src/sign/keys.js';
import { importAdvisories } from '../../../src/vuln/import/index.js';
import { openAdvisoryStore } from '../../../src/vuln/store.js';
import type { ScanResult } from '../../../src/vuln/types.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';
import { rampart } from '../../helpers/run-cli.js';
import { HANDMADE } from '../../helpers/vuln-fixtures.js';

/**
 * OpenVEX attached to an image as a signed attestation: applied only when it verifies with the
 * `--vex-key` given; one signed by another key, or any attached VEX without `--vex-key`, never
 * suppresses a finding.
 */
let work: string;
let db: string;
let ref: string;
let trustedPub: string;
let trustedSigner: ReturnType<typeof keySigner>;
let attackerSigner: ReturnType<typeof keySigner>;

const vexFor = (digest: string, author: string) => ({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': `https://example.org/vex/${author}`,
  author,
  timestamp: '2026-12-01T00:00:00Z',
  version: 1,
  statements: [
    {
      vulnerability: { name: 'CVE-2026-1000' },
      products: [
        {
          '@id': `pkg:oci/app@${digest.replace(':', '%3A')}`,
          subcomponents: [{ '@id': 'pkg:deb/debian/nodejs' }],
        },
      ],
      status: 'not_affected',
      justification: 'vulnerable_code_not_in_execute_path',
    },
  ],
});

const scan = async (...extra: string[]) => {
  const { code, stdout, stderr } = await rampart('scan', ref, '--db', db, '-o', 'json', ...extra);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as ScanResult;
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-scan-vex-att-'));
  const image = await makeTestImage(work, [
    {
      'etc/os-release': 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
      'var/lib/dpkg/status':
        'Package: nodejs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 20.19.2+dfsg-1\nDescription: x\n',
    },
  ]);
  ref = `oci:${join(work, 'layout')}:app`;
  await writeImage(ref, image);
  const trusted = await generateKeyPair('pw', { scryptCost: 32768 });
  trustedSigner = keySigner(await decryptPrivateKey(trusted.privateKey, 'pw'));
  trustedPub = join(work, 'trusted.pub');
  await writeFile(trustedPub, trusted.publicKey);
  const attacker = await generateKeyPair('pw', { scryptCost: 32768 });
  attackerSigner = keySigner(await decryptPrivateKey(attacker.privateKey, 'pw'));
  const tracker = join(work, 'tracker.json');
  await writeFile(tracker, JSON.stringify(HANDMADE));
  db = join(work, 'advisories.db');
  const store = openAdvisoryStore(db);
  await importAdvisories(store, [{ path: tracker }]);
  store.close();
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('rampart scan --vex-key', () => {
  it('ignores attached VEX signed by another key, and attached VEX without --vex-key', async () => {
    const first = await scan();
    expect(first.matches.map((m) => m.vulnerability.id)).toEqual(['CVE-2026-1000']);
    const digest = (
      await attestImage(ref, attackerSigner, 'openvex', vexFor(await imageDigest(), 'attacker'))
    ).digest;
    expect(digest).toBe(await imageDigest());
    for (const result of [await scan(), await scan('--vex-key', trustedPub)]) {
      expect(result.matches.map((m) => m.vulnerability.id)).toEqual(['CVE-2026-1000']);
      expect(result.suppressed).toEqual([]);
    }
  });

  it('applies attached VEX that verifies with the key (image digest product, subcomponent purl)', async () => {
    await attestImage(ref, trustedSigner, 'openvex', vexFor(await imageDigest(), 'trusted'));
    expect((await scan()).suppressed).toEqual([]); // still nothing without the key
    const result = await scan('--vex-key', trustedPub);
    expect(result.matches).toEqual([]);
    expect(result.suppressed.map((m) => [m.package.name, m.vulnerability.id, m.vex])).toEqual([
      [
        'nodejs',
        'CVE-2026-1000',
        { status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', author: 'trusted' },
      ],
    ]);
  });
});

async function imageDigest(): Promise<string> {
  const { openImage } = await import('../../../src/oci/open.js');
  return (await openImage(ref)).digest;
}
