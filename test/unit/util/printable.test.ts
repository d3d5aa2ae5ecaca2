import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { attestImage } from '../../../src/sign/attest.js';
import { printable, printableText } from '../../../src/util/printable.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { rampart } from '../../helpers/run-cli.js';
import { layoutSignFixture, putBlob, REF_NAME, readJson } from '../../helpers/sign-fixtures.js';

it('escapes control characters, DEL, C1 and bidi overrides; keeps the rest', () => {
  expect(printable('plain ascii, ünïcode, 日本')).toBe('plain ascii, ünïcode, 日本');
  expect(printable('\x1b]0;PWNED\x07')).toBe('\\u001b]0;PWNED\\u0007');
  expect(printable('a\r\nb\tc')).toBe('a\\u000d\\u000ab\\u0009c');
  expect(printable('\x7f\x9b\u202e\u2066')).toBe('\\u007f\\u009b\\u202e\\u2066');
  expect(printableText('line one\n\tline\r two\x1b[2K')).toBe('line one\n\tline\\u000d two\\u001b[2K');
});

it('inspect prints what an image config holds without its control characters', async () => {
  const work = await mkdtemp(join(tmpdir(), 'rampart-printable-'));
  try {
    const hostile = '\x1b]0;PWNED\x07\rok\nDigest:      sha256:0000fake';
    await writeRandomImage(join(work, 'l'), 'app', [100], {
      User: hostile,
      WorkingDir: hostile,
      Env: [`A=${hostile}`],
      Labels: { [hostile]: hostile },
    });
    const run = await rampart('inspect', `oci:${join(work, 'l')}:app`);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('Digest:'))).toHaveLength(1);
    expect(run.stdout).toContain('User:        \\u001b]0;PWNED\\u0007\\u000dok\\u000aDigest:');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

it("an error line and verify-attestation's report escape what a manifest or an annotation says", async () => {
  const fx = await layoutSignFixture('rampart-printable-sign-');
  try {
    // An error naming a manifest's media type.
    const broken = await fx.freshLayout('error');
    const index = JSON.parse(await readFile(join(broken.layout, 'index.json'), 'utf8'));
    const manifest = await readJson(broken.layout, index.manifests[0].digest);
    manifest.mediaType = 'x\u001b]0;owned\u0007\u001b[2J';
    const raw = Buffer.from(JSON.stringify(manifest));
    index.manifests[0].digest = await putBlob(broken.layout, raw);
    index.manifests[0].size = raw.length;
    await writeFile(join(broken.layout, 'index.json'), JSON.stringify(index));
    for (const extra of [[], ['--debug']]) {
      const run = await rampart('inspect', `oci:${broken.layout}:app`, ...extra);
      expect(run.code).toBe(1);
      expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    }
    // An unsigned predicateType annotation that would forge a "valid" line.
    const { layout, ref, digest } = await fx.freshLayout('att');
    const statement = { buildDefinition: { buildType: 'x' }, runDetails: { builder: { id: 'y' } } };
    await attestImage(ref, fx.signer, 'slsaprovenance1', statement, { formats: ['legacy'] });
    const layoutIndex = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const entry = layoutIndex.manifests.find(
      (m: { annotations?: Record<string, string> }) =>
        m.annotations?.[REF_NAME] === `sha256-${digest.slice(7)}.att`,
    );
    const att = await readJson(layout, entry.digest);
    att.layers[0].annotations.predicateType =
      'x\n  valid   legacy https://slsa.dev/provenance/v1 sha256:feed';
    att.layers[0].mediaType = 'text/plain\r\n  valid';
    const attRaw = Buffer.from(JSON.stringify(att));
    entry.digest = await putBlob(layout, attRaw);
    entry.size = attRaw.length;
    await writeFile(join(layout, 'index.json'), JSON.stringify(layoutIndex));
    await writeFile(join(fx.work, 'k.pub'), fx.pub.export({ type: 'spki', format: 'pem' }).toString());
    const run = await rampart('verify-attestation', '--key', join(fx.work, 'k.pub'), ref);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('  valid'))).toEqual([]);
    expect(run.stdout).toContain('\\u000a  valid   legacy');
  } finally {
    await fx.cleanup();
  }
});

it('sbom prints its table, and compare -o html its summary, without control characters', async () => {
  const work = await mkdtemp(join(tmpdir(), 'rampart-printable-sbom-'));
  try {
    const evil = 'x\u001b]0;owned\u0007\u001b[2J';
    const root = join(work, 'root');
    await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
    await writeFile(
      join(root, 'var/lib/dpkg/status'),
      `Package: ${evil}\nStatus: install ok installed\nVersion: 1.0\u001b[31m\nArchitecture: amd64\n\n`,
    );
    const sbom = await rampart('sbom', `dir:${root}`);
    expect(sbom.stdout).toContain('\\u001b');
    expect(sbom.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    await writeRandomImage(join(work, 'l'), 'a', [100], { User: evil });
    const image = `oci:${join(work, 'l')}:a`;
    const compare = await rampart('compare', image, image, '-o', `html=${join(work, 'r.html')}`);
    expect(compare.code).toBe(0);
    expect(compare.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
