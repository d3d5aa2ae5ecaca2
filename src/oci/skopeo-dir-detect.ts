import { lstat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Whether a directory is in skopeo's `dir:` format (a `version` file and `manifest.json`) rather
 * than a root filesystem. Alone in its module so callers that only walk directories load no OCI code.
 */
export async function isSkopeoDir(path: string): Promise<boolean> {
  const version = await lstat(join(path, 'version')).catch(() => undefined);
  const manifest = await lstat(join(path, 'manifest.json')).catch(() => undefined);
  return Boolean(version?.isFile() && manifest?.isFile());
}
