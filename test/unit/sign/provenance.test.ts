import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BuildRecord } from '../../../src/builder/record.js';
import { isRampartError } from '../../../src/errors.js';
import type { Digest } from '../../../src/oci/digest.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import type { Layer } from '../../../src/oci/image.js';
import { diffFiles, type FileFacts, layerFiles } from '../../../src/sign/layer-diff.js';
import { openVexDocument } from '../../../src/sign/openvex.js';
import {
  buildProvenance,
  parseRampartProvenance,
  rampartBuildType,
  withoutCredentials,
} from '../../../src/sign/provenance.js';
import { rawTar } from '../../helpers/hostile-layers.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const SPEC =
  'name: app\ncontents:\n  suites: [testing]\n  mirror: https://builder:s3cret@mirror.example/debian\n';
const LOCK =
  '{"lockVersion":1,"variants":{"default":{"releases":[{"url":"https://builder:s3cret@mirror.example/debian/dists/testing/InRelease"}]}}}\n';

function record(): BuildRecord {
  return {
    recordVersion: 2,
    builder: { id: 'pkg:npm/rampart@9.9.9', name: 'rampart', version: '9.9.9' },
    spec: { path: 'images/app.yaml', sha256: sha(SPEC), name: 'app' },
    lock: { path: 'images/app.lock.json', sha256: sha(LOCK) },
    invocation: { spec: 'images/app.yaml', archs: ['amd64', 'arm64'], output: 'oci:out/app', locked: false },
    releases: [
      {
        suite: 'testing',
        url: 'https://mirror.example/debian/dists/testing/InRelease',
        inReleaseSha256: 'a'.repeat(64),
        date: 'x',
      },
    ],
    packages: [
      {
        name: 'tool',
        version: '1',
        architecture: 'amd64',
        url: 'https://m/tool_amd64.deb',
        sha256: 'b'.repeat(64),
        size: 1,
      },
      {
        name: 'tool',
        version: '1',
        architecture: 'arm64',
        url: 'https://m/tool_arm64.deb',
        sha256: 'c'.repeat(64),
        size: 1,
      },
      {
        name: 'data',
        version: '1',
        architecture: 'all',
        url: 'https://m/data_all.deb',
        sha256: 'd'.repeat(64),
        size: 1,
      },
    ],
    files: [{ source: 'app/', type: 'directory', sha256: 'e'.repeat(64), files: 3 }],
    output: { reference: 'oci:out/app', digest: `sha256:${'f'.repeat(64)}` },
    platforms: [],
    created: '2023-11-14T22:13:20Z',
    startedOn: '2026-12-06T04:00:00.000Z',
    finishedOn: '2026-12-06T04:01:00.000Z',
  };
}

describe('SLSA provenance of a build', () => {
  it("lists that architecture's .debs, every InRelease and files: source, the builder and the clock", () => {
    const p = buildProvenance({
      record: record(),
      specText: SPEC,
      lockText: LOCK,
      arch: 'arm64',
      invocationId: 'urn:uuid:1',
    });
    expect(p.buildDefinition.buildType).toBe(rampartBuildType('9.9.9'));
    expect(p.buildDefinition.resolvedDependencies.map((d) => [d.name, d.digest.sha256[0]])).toEqual([
      ['testing/InRelease', 'a'],
      ['tool_1_arm64.deb', 'c'],
      ['data_1_all.deb', 'd'],
      ['app/', 'e'],
    ]);
    expect(p.buildDefinition.externalParameters.archs).toEqual(['arm64']);
    expect(p.runDetails).toEqual({
      builder: { id: 'pkg:npm/rampart@9.9.9', version: { rampart: '9.9.9' } },
      metadata: {
        invocationId: 'urn:uuid:1',
        startedOn: '2026-12-06T04:00:00.000Z',
        finishedOn: '2026-12-06T04:01:00.000Z',
      },
    });
    const all = buildProvenance({
      record: record(),
      specText: SPEC,
      lockText: LOCK,
      invocationId: 'i',
      builderId: 'https://ci/b',
    });
    expect(all.buildDefinition.resolvedDependencies).toHaveLength(5);
    expect(all.buildDefinition.externalParameters.archs).toEqual(['amd64', 'arm64']);
    expect(all.runDetails.builder.id).toBe('https://ci/b');
  });

  it('never embeds a mirror password: spec and lock are redacted and say so; the digests stay the originals', () => {
    const p = buildProvenance({ record: record(), specText: SPEC, lockText: LOCK, invocationId: 'i' });
    const text = JSON.stringify(p);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('builder:');
    expect(p.buildDefinition.externalParameters.spec).toMatchObject({ sha256: sha(SPEC), redacted: true });
    expect(p.buildDefinition.externalParameters.spec.content).toContain('https://mirror.example/debian');
    expect(p.buildDefinition.internalParameters.lock).toMatchObject({ sha256: sha(LOCK), redacted: true });
    expect(withoutCredentials('plain https://mirror.example/x').redacted).toBe(false);
  });

  it('refuses a spec text that is not the one the record hashed', () => {
    let error: unknown;
    try {
      buildProvenance({ record: record(), specText: `${SPEC}#`, lockText: LOCK, invocationId: 'i' });
    } catch (caught) {
      error = caught;
    }
    expect(isRampartError(error) && error.code).toBe('DIGEST_MISMATCH');
  });

  it("parses its own provenance back, and refuses another builder's with the field named", () => {
    const p = buildProvenance({ record: record(), specText: SPEC, lockText: LOCK, invocationId: 'i' });
    expect(parseRampartProvenance(JSON.parse(JSON.stringify(p))).externalParameters.archs).toEqual([
      'amd64',
      'arm64',
    ]);
    for (const [predicate, field] of [
      [
        { ...p, buildDefinition: { ...p.buildDefinition, buildType: 'https://other/build' } },
        'buildDefinition.buildType',
      ],
      [
        { buildDefinition: { ...p.buildDefinition, internalParameters: {} } },
        'buildDefinition.internalParameters.lock',
      ],
      [
        {
          buildDefinition: {
            ...p.buildDefinition,
            externalParameters: { ...p.buildDefinition.externalParameters, archs: ['../x'] },
          },
        },
        'buildDefinition.externalParameters.archs.0',
      ],
    ] as const) {
      let error: unknown;
      try {
        parseRampartProvenance(predicate);
      } catch (caught) {
        error = caught;
      }
      expect(isRampartError(error) && error.code).toBe('PROVENANCE_INVALID');
      expect(isRampartError(error) && error.details).toMatchObject({ field });
    }
  });
});

describe('OpenVEX document and file differences', () => {
  it('an empty OpenVEX v0.2.0 document names the image', () => {
    const doc = openVexDocument(
      `sha256:${'1'.repeat(64)}`,
      [],
      '2026-12-06T04:01:00.000Z',
      'me',
      'rampart 1',
    );
    expect(doc).toMatchObject({ '@context': 'https://openvex.dev/ns/v0.2.0', version: 1, statements: [] });
    expect(doc['@id']).toContain('1'.repeat(64));
  });

  it('files only on one side, or differing in any fact, sorted by path', () => {
    const file = (sha256: string, mode = 0o644): FileFacts => ({
      type: 'file',
      mode,
      uid: 0,
      gid: 0,
      size: 1,
      sha256,
    });
    const image = new Map([
      ['usr/b', file('1')],
      ['usr/a', file('1')],
      ['usr/same', file('1')],
      ['usr/mode', file('1')],
    ]);
    const rebuilt = new Map([
      ['usr/b', file('2')],
      ['usr/c', file('1')],
      ['usr/same', file('1')],
      ['usr/mode', file('1', 0o755)],
    ]);
    expect(diffFiles(image, rebuilt).map((d) => `${d.change} ${d.path}`)).toEqual([
      'only-in-image usr/a',
      'modified usr/b',
      'only-in-rebuild usr/c',
      'modified usr/mode',
    ]);
  });

  it('a hostile entry in a compared layer is listed as unsafe, not fatal', async () => {
    const tar = await rawTar([
      { name: 'usr/bin/tool', content: 'x' },
      { name: '../../etc/passwd', content: 'root' },
      { name: 'usr/link', type: 'link', linkname: '../../outside' },
    ]);
    const layer: Layer = {
      descriptor: {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256Digest(tar),
        size: tar.length,
      },
      diffID: sha256Digest(tar) as Digest,
      blob: async () => Readable.from([tar]),
      uncompressed: async () => Readable.from([tar]),
    };
    const files = await layerFiles(layer);
    expect(files.get('usr/bin/tool')).toMatchObject({ type: 'file', sha256: sha('x') });
    expect(files.get('../../etc/passwd')?.type).toMatch(/^unsafe:/);
    expect(files.get('usr/link')?.type).toMatch(/^unsafe:/);
  });
});
