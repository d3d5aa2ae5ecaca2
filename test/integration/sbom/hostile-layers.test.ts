import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { isRampartError } from '../../../src/errors.js';
import { generateSbom, unsafeEntriesError } from '../../../src/sbom/generate.js';
import { dpkgStatus, type RawEntry, rawTar, writeLayeredLayout } from '../../helpers/hostile-layers.js';
import { cycloneDxValidator, spdxValidator } from '../../unit/sbom/schema-validators.js';

/**
 * Issue 10 item 5: one hostile entry used to make `rampart sbom` drop its whole layer, exit 0 and
 * warn on stderr only, so a layer adding a package to /var/lib/dpkg/status plus one `../harmless`
 * entry hid that package. Each image here has a base layer (libc6) and a layer that adds `hidden`
 * to the status file beside one hostile entry.
 */
let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rampart-hostile-sbom-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = (): Promise<Buffer> =>
  rawTar([
    { name: 'var/', type: 'directory' },
    { name: 'var/lib/', type: 'directory' },
    { name: 'var/lib/dpkg/', type: 'directory' },
    { name: 'var/lib/dpkg/status', content: dpkgStatus(['libc6']) },
    { name: 'etc/', type: 'directory' },
  ]);

const withHidden = (hostile: RawEntry[]): Promise<Buffer> =>
  rawTar([...hostile, { name: 'var/lib/dpkg/status', content: dpkgStatus(['hidden', 'libc6']) }]);

const HOSTILE: Array<[string, RawEntry[], string]> = [
  ['a ../ entry', [{ name: '../harmless', content: 'x' }], 'dot-dot'],
  ['an absolute entry', [{ name: '/harmless', content: 'x' }], 'absolute'],
  ['a NUL in a PAX path', [{ name: 'placeholder', pax: { path: 'har\u0000mless' }, content: 'x' }], 'nul'],
  [
    'an entry through a symlink',
    [
      { name: 'escape', type: 'symlink', linkname: '/etc' },
      { name: 'escape/passwd', content: 'root::0:0::/:/bin/sh\n' },
    ],
    'through-symlink',
  ],
  [
    'a hardlink out of the root',
    [{ name: 'link', type: 'link', linkname: '../../etc/shadow' }],
    'unsafe-link',
  ],
  ['an overlong name', [{ name: `${'a'.repeat(300)}/x`, content: 'x' }], 'segment-too-long'],
  ['a whiteout of ..', [{ name: 'etc/.wh...', content: '' }], 'bad-whiteout'],
];

async function runCli(args: string[]): Promise<{ code: number; stderr: string }> {
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const code = await main(['node', 'rampart', ...args]);
    return { code, stderr: stderr.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    stderr.mockRestore();
    stdout.mockRestore();
  }
}

describe('one hostile entry costs only that entry', () => {
  it.each(HOSTILE)(
    '%s: the hidden package appears, the entry is recorded and sbom fails',
    async (label, hostile, reason) => {
      const dir = join(work, label.replaceAll(/[^a-z]+/g, '-'));
      const ref = await writeLayeredLayout(dir, [{ tar: await base() }, { tar: await withHidden(hostile) }]);

      const doc = await generateSbom({ kind: 'image', ref });
      expect(doc.packages.map((p) => p.name).sort()).toEqual(['hidden', 'libc6']);
      const skipped = doc.warnings.flatMap((w) => (w.skipped ? [w.skipped] : []));
      expect(skipped).toEqual([expect.objectContaining({ layer: 1, reason })]);
      expect(skipped[0]?.layerDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

      const error = unsafeEntriesError(doc);
      expect(isRampartError(error, 'UNSAFE_ENTRIES')).toBe(true);
      expect(error?.details).toMatchObject({
        count: 1,
        entries: [{ reason, layer: skipped[0]?.layerDigest }],
      });

      // The CLI writes the SBOMs with the warning inside them, then exits non-zero with one line.
      const spdx = join(dir, 'sbom.spdx.json');
      const cdx = join(dir, 'sbom.cdx.json');
      const failed = await runCli(['sbom', ref, '-o', `spdx-json=${spdx}`, '-o', `cyclonedx-json=${cdx}`]);
      expect(failed.code).not.toBe(0);
      const errorLines = failed.stderr.split('\n').filter((line) => line.startsWith('error: '));
      expect(errorLines).toHaveLength(1);
      expect(failed.stderr).not.toMatch(/\n\s+at /);
      const spdxDoc = JSON.parse(readFileSync(spdx, 'utf8'));
      expect(spdxDoc.packages.map((p: { name: string }) => p.name)).toContain('hidden');
      expect(spdxDoc.creationInfo.comment).toContain(reason);
      const cdxDoc = JSON.parse(readFileSync(cdx, 'utf8'));
      const warnings = (cdxDoc.metadata.properties as Array<{ name: string; value: string }>).filter((p) =>
        p.name.startsWith('rampart:warning:'),
      );
      expect(warnings).toEqual([expect.objectContaining({ value: expect.stringContaining(reason) })]);
      // The warnings live in fields the schemas allow: both documents stay valid.
      expect(spdxValidator()(spdxDoc)).toEqual([]);
      expect(cycloneDxValidator()(cdxDoc)).toEqual([]);

      const allowed = await runCli(['sbom', ref, '-o', 'json', '--allow-unsafe-entries']);
      expect(allowed.code).toBe(0);

      if (reason === 'dot-dot') {
        // The independent reader: umoci unpacks the same image and its status file lists `hidden`.
        const bundle = join(dir, 'bundle');
        execFileSync('umoci', ['unpack', '--rootless', '--image', ref.slice('oci:'.length), bundle], {
          stdio: 'pipe',
        });
        expect(readFileSync(join(bundle, 'rootfs/var/lib/dpkg/status'), 'utf8')).toContain('Package: hidden');
      }
    },
  );

  it('an oversized PAX header makes its layer unreadable: recorded, and sbom fails', async () => {
    const dir = join(work, 'pax-bomb');
    const bomb = await rawTar([
      { name: 'big', pax: { comment: 'x'.repeat(5 * 1024 * 1024) }, content: 'x' },
      { name: 'usr/lib/node_modules/left-pad/package.json', content: '{"name":"left-pad","version":"1"}' },
    ]);
    const ref = await writeLayeredLayout(dir, [{ tar: await base() }, { tar: bomb }]);
    const doc = await generateSbom({ kind: 'image', ref });
    expect(doc.packages.map((p) => p.name)).toEqual(['libc6']);
    expect(doc.warnings.flatMap((w) => (w.skipped ? [w.skipped.reason] : []))).toEqual(['unreadable-layer']);
    const result = await runCli(['sbom', ref, '-o', 'json']);
    expect(result.code).not.toBe(0);
    // One line of error after the warnings: with -o json, the error's JSON form.
    expect(result.stderr).toMatch(/^(warning: .*\n)*\{"error":.+\}\n$/);
    expect(JSON.parse(result.stderr.trim().split('\n').at(-1) as string).error.code).toBe('UNSAFE_ENTRIES');
  });

  it('a clean image still exits 0 with no skipped entries', async () => {
    const ref = await writeLayeredLayout(join(work, 'clean'), [{ tar: await base() }]);
    expect((await runCli(['sbom', ref, '-o', 'json'])).code).toBe(0);
  });

  it('--platform goes through the one platform parser (a malformed value is USAGE, not half-read)', async () => {
    const ref = await writeLayeredLayout(join(work, 'platform'), [{ tar: await base() }]);
    for (const platform of ['linux/amd64/v8/extra', 'linux/amd64/', 'linux']) {
      const error = await generateSbom({ kind: 'image', ref, platform }).catch((e: unknown) => e);
      expect(isRampartError(error, 'USAGE'), `${platform}: ${String(error)}`).toBe(true);
    }
    const doc = await generateSbom({ kind: 'image', ref, platform: 'linux/amd64' });
    expect(doc.source.platform).toBe('linux/amd64');
  });
});
