import { describe, expect, it } from 'vitest';
import { compile } from 'zod/mini';
import { RampartError } from '../../../src/errors.js';
import { ImageConfigSchema, ImageManifestSchema, parseJsonBytes } from '../../../src/oci/types.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest('a'), size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest('b'), size: 3 }],
  annotations: { 'org.example': 'x' },
};

/** Runs `fn`, counting the functions it compiles from strings (`new Function`). */
function compiledBy(fn: () => void): number {
  const original = globalThis.Function;
  let made = 0;
  globalThis.Function = new Proxy(original, {
    construct(target, args) {
      made += 1;
      return Reflect.construct(target, args);
    },
  });
  try {
    fn();
  } finally {
    globalThis.Function = original;
  }
  return made;
}

describe('parseJsonBytes', () => {
  it('parses without compiling code from strings (zod/mini): a command reads a few documents each', () => {
    const bytes = Buffer.from(JSON.stringify(manifest));
    let parsed: unknown;
    expect(
      compiledBy(() => {
        parsed = parseJsonBytes(ImageManifestSchema, bytes, 'manifest m');
      }),
    ).toBe(0);
    expect(parsed).toEqual(manifest);
    // zod's compiled parser of the same schema is counted: the count can see it.
    expect(compiledBy(() => compile(ImageManifestSchema).parse(manifest))).toBeGreaterThan(0);
  });

  it('checks as strictly as before: bad digests, sizes and missing fields are refused, unknown fields kept', () => {
    const bad: Array<[unknown, string]> = [
      [{ ...manifest, schemaVersion: 1 }, 'schemaVersion'],
      [{ ...manifest, config: { ...manifest.config, digest: 'sha256:abc' } }, 'config.digest'],
      [{ ...manifest, layers: [{ ...manifest.layers[0], size: -1 }] }, 'layers.0.size'],
      [{ ...manifest, config: undefined }, 'config'],
      [{ ...manifest, annotations: { a: 1 } }, 'annotations.a'],
    ];
    for (const [value, field] of bad) {
      let error: unknown;
      try {
        parseJsonBytes(ImageManifestSchema, Buffer.from(JSON.stringify(value)), 'manifest m');
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(RampartError);
      expect((error as RampartError).code).toBe('MALFORMED_MANIFEST');
      // The cause is zod's error, named as classic zod named it (reports serialise the name).
      expect(((error as RampartError).cause as Error).name).toBe('ZodError');
      expect((error as RampartError<'MALFORMED_MANIFEST'>).details).toMatchObject({
        field,
        location: 'manifest m',
      });
    }
    const extra = parseJsonBytes(
      ImageManifestSchema,
      Buffer.from(JSON.stringify({ ...manifest, extra: 1 })),
      'm',
    );
    expect(extra).toMatchObject({ extra: 1 });
    const config = parseJsonBytes(
      ImageConfigSchema,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [digest('c')] },
        }),
      ),
      'config c',
    );
    expect(config.rootfs.diff_ids).toEqual([digest('c')]);
  });
});
