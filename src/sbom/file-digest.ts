// Apart from model.ts on purpose: catalogers import this at run time, and model.ts loads zod,
// which costs ~10 MB of heap that cataloging a root never needs.
const DIGEST_HEX = { md5: /^[0-9a-f]{32}$/, sha1: /^[0-9a-f]{40}$/, sha256: /^[0-9a-f]{64}$/ } as const;

/** Lowercase hex of the algorithm's length: anything else is a damaged record, not a digest. */
export function isFileDigest(algorithm: keyof typeof DIGEST_HEX, value: string): boolean {
  return DIGEST_HEX[algorithm].test(value);
}
