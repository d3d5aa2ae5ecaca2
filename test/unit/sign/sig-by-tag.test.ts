import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isRampartError, RampartError } from '../../../src/errors.js';
import type { AttachmentStore } from '../../../src/oci/attachments.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { verifyDigest } from '../../../src/sign/verify.js';

// verify reads a `.sig` by its tag in one read where the store can (`openTag`); when that read's
// bytes are no manifest it falls back to the two-step read, which reports the `.sig` by its digest;
// when the store cannot be reached it fails once, without asking again.
const DIGEST = `sha256:${'a'.repeat(64)}` as Digest;
const SIG: Descriptor = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'b'.repeat(64)}` as Digest,
  size: 10,
};
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function store(openTagError: RampartError) {
  const calls: string[] = [];
  const fake: AttachmentStore = {
    location: 'fake',
    async resolveTag(tag) {
      calls.push(`resolveTag ${tag}`);
      return SIG;
    },
    async referrers() {
      return [];
    },
    async open(descriptor) {
      calls.push(`open ${descriptor.digest}`);
      throw new RampartError('MALFORMED_MANIFEST', 'not a manifest', {
        details: { digest: descriptor.digest },
      });
    },
    async openTag(tag) {
      calls.push(`openTag ${tag}`);
      throw openTagError;
    },
  };
  return { fake, calls };
}

describe('a .sig read by its tag', () => {
  for (const code of ['MALFORMED_MANIFEST', 'DIGEST_MISMATCH', 'UNKNOWN_MEDIA_TYPE'] as const) {
    it(`bytes that are no manifest (${code}): read again in two steps and reported by the .sig's digest`, async () => {
      const { fake, calls } = store(new RampartError(code, 'bad bytes'));
      const reports = await verifyDigest(fake, DIGEST, publicKey);
      expect(calls.map((call) => call.split(' ')[0])).toEqual(['openTag', 'resolveTag', 'open']);
      expect(reports).toEqual([
        expect.objectContaining({ format: 'legacy', valid: false, failed: 'manifest', manifest: SIG.digest }),
      ]);
    });
  }

  for (const code of ['NETWORK', 'TIMEOUT', 'UNAUTHORIZED'] as const) {
    it(`the store unreachable (${code}): thrown after the one read, not asked again`, async () => {
      const { fake, calls } = store(new RampartError(code, 'no answer'));
      const error = await verifyDigest(fake, DIGEST, publicKey).catch((caught: unknown) => caught);
      expect(isRampartError(error, code)).toBe(true);
      expect(calls.map((call) => call.split(' ')[0])).toEqual(['openTag']);
    });
  }
});
