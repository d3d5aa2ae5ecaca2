import { describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { sha256Digest } from '../../../src/oci/digest.js';
import { deleteManifestByDigest, parseRepository } from '../../../src/registry/manage.js';
import { addReferrer } from '../../../src/registry/referrers.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const d = (name: string): Digest => sha256Digest(name);

describe('the referrers tag-schema index update', () => {
  it('adds the descriptor with its artifactType and annotations to a new index', () => {
    const entry = {
      mediaType: MANIFEST,
      digest: d('a'),
      size: 10,
      artifactType: 'application/spdx+json',
      annotations: { 'org.example': 'x' },
    };
    expect(addReferrer(undefined, entry)).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [entry],
    });
  });

  it("keeps other writers' entries and fields, replaces its own digest, drops duplicate entries", () => {
    const other = { mediaType: MANIFEST, digest: d('other'), size: 3, artifactType: 'text/plain' };
    const stale = { mediaType: MANIFEST, digest: d('a'), size: 10 };
    const current = {
      schemaVersion: 2 as const,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      annotations: { kept: 'yes' },
      manifests: [other, stale, other],
    };
    const entry = { mediaType: MANIFEST, digest: d('a'), size: 10, artifactType: 'application/spdx+json' };
    const updated = addReferrer(current, entry);
    expect(updated.manifests).toEqual([other, entry]);
    expect(updated.annotations).toEqual({ kept: 'yes' });
  });
});

describe('ls and rm arguments', () => {
  it('a repository with or without docker://, Docker Hub names normalised', () => {
    expect(parseRepository('docker://127.0.0.1:5000/team/app')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/app',
    });
    expect(parseRepository('debian')).toEqual({ registry: 'docker.io', repository: 'library/debian' });
  });

  it('ls refuses a tag or digest; rm refuses a reference without a digest', async () => {
    for (const value of ['127.0.0.1:5000/app:v1', `127.0.0.1:5000/app@${d('x')}`]) {
      expect(() => parseRepository(value)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
    await expect(deleteManifestByDigest('127.0.0.1:5000/app:v1')).rejects.toMatchObject({
      code: 'USAGE',
      details: { value: '127.0.0.1:5000/app:v1' },
    });
  });
});
