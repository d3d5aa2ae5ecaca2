import { createHash } from 'node:crypto';
import type { SbomSource } from '../model.js';

/**
 * A name-based UUID (version 5 layout, sha256 instead of sha1) of the image digest, so the same
 * image always gets the same SPDX namespace and CycloneDX serial number.
 */
export function deterministicUuid(...parts: string[]): string {
  const hash = createHash('sha256').update(parts.join('\0')).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** What identifies the described thing: the image digest when there is one, else the reference. */
export function subjectKey(source: SbomSource): string {
  return source.digest ?? `${source.kind}:${source.ref}`;
}

/** RFC 3339 at second precision (SPDX requires `YYYY-MM-DDThh:mm:ssZ`). */
export function creationTime(source: SbomSource): string {
  const date = new Date(source.created ?? 0);
  const valid = Number.isNaN(date.getTime()) ? new Date(0) : date;
  return valid.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
