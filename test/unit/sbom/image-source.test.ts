import { describe, expect, it } from 'vitest';
import type { FsTreeLike } from '../../../src/sbom/source/image-source.js';
import { imageFileSource } from '../../../src/sbom/source/image-source.js';

type FakeImage = { layers: ReadonlyArray<{ ok: boolean; path: string }> };

/** Flattening fails when any layer of the (sub-)image is bad; a good layer holds one file. */
const fakeOci = {
  async flattenImage(image: FakeImage): Promise<FsTreeLike> {
    if (image.layers.some((l) => !l.ok)) throw new Error('unexpected end of gzip stream');
    return {
      entries: () => image.layers.map((l) => ({ path: l.path, kind: 'file', mode: 0o644, size: 1 })),
    };
  },
  async *readFiles() {},
};

describe('imageFileSource', () => {
  it('leaves out an unreadable layer with a warning and keeps the others', async () => {
    const skipped: Array<{ layer: number; reason: string }> = [];
    const source = await imageFileSource(
      {
        layers: [
          { ok: true, path: '/a' },
          { ok: false, path: '/b' },
        ],
      },
      fakeOci,
      ({ layer, reason }) => skipped.push({ layer, reason }),
    );
    expect([...source.nodes()].map((n) => n.path)).toEqual(['/a']);
    expect(skipped).toEqual([{ layer: 1, reason: 'unreadable-layer' }]);
  });

  it('fails when no layer can be read, rather than describing an empty image', async () => {
    await expect(imageFileSource({ layers: [{ ok: false, path: '/a' }] }, fakeOci, () => {})).rejects.toThrow(
      /unexpected end of gzip stream/,
    );
  });
});
