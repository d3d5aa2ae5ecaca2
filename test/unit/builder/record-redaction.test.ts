/**
 * The build record never holds a mirror's credentials: package URLs, InRelease URLs and the
 * `--mirror`/`--security-mirror` of the invocation are recorded redacted (review finding 3).
 */
import { describe, expect, it } from 'vitest';
import type { LockedPackage } from '../../../src/builder/lock.js';
import { parseOutput } from '../../../src/builder/output.js';
import { recordedRepository } from '../../../src/builder/pipeline.js';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { buildRecordOf, packageUrls, planBuild } from '../../../src/builder/stages.js';

const SPEC = [
  'name: demo',
  'contents: {suites: [trixie], packages: [base-files]}',
  'archs: [amd64]',
  '',
].join('\n');

const base: LockedPackage = {
  name: 'base-files',
  version: '1',
  architecture: 'amd64',
  source: 'base-files',
  sourceVersion: '1',
  suite: 'trixie',
  filename: 'pool/main/b/base-files/base-files_1_amd64.deb',
  size: 100,
  sha256: '1'.repeat(64),
};

describe('build record redaction', () => {
  it('records package URLs without the mirror credentials', () => {
    const urls = packageUrls([base], { mirror: 'https://user:s3cret@mirror.example/debian' });
    expect([...urls.values()]).toEqual([
      'https://mirror.example/debian/pool/main/b/base-files/base-files_1_amd64.deb',
    ]);
  });

  it('records InRelease and package URLs redacted, whatever it is handed', () => {
    const { spec } = parseImageSpec(SPEC, 'demo.yaml', '/nonexistent');
    const lock = {
      releases: [
        {
          suite: 'trixie',
          inReleaseSha256: 'a'.repeat(64),
          date: 'Sat, 01 Nov 2025 10:00:00 UTC',
          url: 'https://user:s3cret@m.example/dists/trixie/InRelease',
        },
      ],
      archs: { amd64: [base] },
    };
    const plan = planBuild(spec, lock, ['amd64'], {});
    const record = buildRecordOf(
      {
        plan,
        spec,
        specPath: 'demo.yaml',
        specText: SPEC,
        lockPath: 'demo.lock.json',
        output: parseOutput('oci:out/demo:latest'),
        digest: `sha256:${'f'.repeat(64)}`,
        platforms: [{ architecture: 'amd64', digest: `sha256:${'e'.repeat(64)}`, packages: 1 }],
        fetched: { urls: new Map([[base.sha256, `https://user:s3cret@m.example/${base.filename}`]]) },
        fileSources: [],
        invocation: { spec: 'demo.yaml', archs: ['amd64'], output: 'oci:out/demo:latest', locked: true },
        startedOn: new Date('2026-01-01T00:00:00Z'),
        recordPath: 'out/demo.build.json',
      },
      'd'.repeat(64),
      new Date('2026-01-01T00:01:00Z'),
    );
    expect(JSON.stringify(record)).not.toContain('s3cret');
    expect(record.releases[0]?.url).toBe('https://m.example/dists/trixie/InRelease');
    expect(record.packages[0]?.url).toBe(`https://m.example/${base.filename}`);
  });

  it('records --mirror and --security-mirror without credentials', () => {
    expect(
      recordedRepository({
        mirror: 'https://user:s3cret@m.example/debian',
        securityMirror: 'https://u:pa/ss@s.example/debian-security',
        keyring: '/k.gpg',
      }),
    ).toEqual({
      mirror: 'https://m.example/debian',
      securityMirror: 'https://s.example/debian-security',
      keyring: '/k.gpg',
    });
    expect(recordedRepository({ keyring: '/k.gpg' })).toEqual({ keyring: '/k.gpg' });
  });
});
