import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Image, ImageOrIndex } from '../../src/oci/image.js';

async function sha256Of(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * The go-containerregistry `validate` battery, recomputed here with node:crypto rather than the code
 * under test: manifest digest = sha256(raw bytes); config digest/size; every layer blob's digest/size;
 * every layer's decompressed stream digest = its diff_id = config.rootfs.diff_ids[i]. Indexes recurse.
 */
export async function checkImageConformance(x: ImageOrIndex): Promise<void> {
  assert.equal(sha256(x.rawManifest), x.digest, 'manifest digest is sha256 of the raw manifest bytes');
  const parsed = JSON.parse(x.rawManifest.toString('utf8')) as { mediaType?: string };
  if (parsed.mediaType) assert.equal(parsed.mediaType, x.mediaType, 'mediaType matches the raw manifest');
  if (x.kind === 'index') {
    assert.ok(x.manifest.manifests.length > 0, 'index lists at least one manifest');
    for (const descriptor of x.manifest.manifests) {
      const child = await x.child(descriptor);
      assert.equal(child.digest, descriptor.digest, 'child digest matches its descriptor');
      assert.equal(child.rawManifest.length, descriptor.size, 'child size matches its descriptor');
      await checkImageConformance(child);
    }
    return;
  }
  await checkImage(x);
}

async function checkImage(image: Image): Promise<void> {
  const { config, layers } = image.manifest;
  assert.equal(sha256(image.rawConfig), config.digest, 'config digest is sha256 of the raw config bytes');
  assert.equal(image.rawConfig.length, config.size, 'config size');
  const diffIDs = (JSON.parse(image.rawConfig.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs
    .diff_ids;
  assert.equal(image.layers.length, layers.length, 'one Layer per manifest layer');
  assert.equal(diffIDs.length, layers.length, 'one diff_id per layer');
  for (const [i, layer] of image.layers.entries()) {
    const descriptor = layers[i];
    assert.ok(descriptor);
    assert.equal(layer.descriptor.digest, descriptor.digest, `layer ${i} descriptor digest`);
    assert.equal(layer.diffID, diffIDs[i], `layer ${i} diffID equals config.rootfs.diff_ids[${i}]`);
    const blob = await sha256Of(await layer.blob());
    assert.equal(blob.digest, descriptor.digest, `layer ${i} blob digest`);
    assert.equal(blob.size, descriptor.size, `layer ${i} blob size`);
    const uncompressed = await sha256Of(await layer.uncompressed());
    assert.equal(uncompressed.digest, diffIDs[i], `layer ${i} uncompressed digest is its diff_id`);
  }
}
