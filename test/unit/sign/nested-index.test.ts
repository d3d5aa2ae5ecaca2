import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_INDEX_DEPTH } from '../../../src/oci/copy.js';
import { keySigner } from '../../../src/sign/keys.js';
import { signImage } from '../../../src/sign/sign.js';
import { writeRandomImage } from '../../helpers/random-image.js';

// `sign --recursive` bounds index nesting as copy does: a source could nest indexes without end.
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-sign-nested-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const INDEX = 'application/vnd.oci.image.index.v1+json';

/** Tags `tag` as `levels` indexes, each listing the one below, around the layout's image. */
async function nest(
  layout: string,
  image: { mediaType: string; digest: string; size: number },
  levels: number,
) {
  let child = image;
  for (let level = 0; level < levels; level++) {
    const raw = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [child] }));
    const hex = createHash('sha256').update(raw).digest('hex');
    await writeFile(join(layout, 'blobs', 'sha256', hex), raw);
    child = { mediaType: INDEX, digest: `sha256:${hex}`, size: raw.length };
  }
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  index.manifests.push({
    ...child,
    annotations: { 'org.opencontainers.image.ref.name': `nested-${levels}` },
  });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
}

it('sign --recursive refuses indexes nested deeper than copy takes, and signs within the bound', async () => {
  const layout = join(work, 'layout');
  const image = await writeRandomImage(layout, 'app', [100]);
  const raw = await readFile(join(layout, 'blobs', 'sha256', image.digest.slice(7)));
  const descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: image.digest,
    size: raw.length,
  };
  await nest(layout, descriptor, MAX_INDEX_DEPTH + 1);
  await nest(layout, descriptor, 2);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = keySigner(privateKey);
  await expect(
    signImage(`oci:${layout}:nested-${MAX_INDEX_DEPTH + 1}`, signer, {
      recursive: true,
      formats: ['legacy'],
    }),
  ).rejects.toMatchObject({ code: 'MALFORMED_MANIFEST' });
  const signed = await signImage(`oci:${layout}:nested-2`, signer, { recursive: true, formats: ['legacy'] });
  expect(signed.signatures).toHaveLength(3);
});
