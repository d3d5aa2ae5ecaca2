import { z } from 'zod';

/**
 * One package pinned by a resolution: what the resolver returns, what a lock file stores and what
 * the builder downloads and verifies. The one definition; the schema parses lock files.
 */
export const lockedPackageSchema = z.object({
  name: z.string(),
  version: z.string(),
  architecture: z.string(),
  source: z.string(),
  sourceVersion: z.string(),
  suite: z.string(),
  filename: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
});
export type LockedPackage = z.infer<typeof lockedPackageSchema>;
