import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { OciObject } from '../../src/oci/image.js';
import { validate } from '../../src/oci/validate.js';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The go-containerregistry `validate` battery (src/oci/validate.ts: manifest digest, config
 * digest/size, every blob's digest/size, every layer's diff_id; artifacts' blobs; indexes recurse),
 * plus the manifest digest recomputed here, independently of the code under test.
 */
export async function checkImageConformance(x: OciObject): Promise<void> {
  assert.equal(sha256(x.rawManifest), x.digest, 'manifest digest is sha256 of the raw manifest bytes');
  await validate(x);
}
