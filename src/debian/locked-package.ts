import type * as z from 'zod/mini';
import { int, nonnegative, number, object, regex, string } from '../util/zod.js';

/**
 * One package pinned by a resolution: what the resolver returns, what a lock file stores and what
 * the builder downloads and verifies. The one definition; the schema parses lock files.
 */
export const lockedPackageSchema = object({
  name: string(),
  version: string(),
  architecture: string(),
  source: string(),
  sourceVersion: string(),
  suite: string(),
  filename: string(),
  size: number().check(int(), nonnegative()),
  sha256: string().check(regex(/^[a-f0-9]{64}$/)),
});
export type LockedPackage = z.infer<typeof lockedPackageSchema>;
