import { ContentCache, defaultCacheDir } from '../debian/cache.js';
import type { Digest } from '../oci/digest.js';
import type { BlobFileStat, VerifiedBlobRecord } from '../oci/verified-blob.js';
import { codeFingerprint } from '../util/code-fingerprint.js';
import { VERSION } from '../version.js';
import type { SbomDocument } from './model.js';

/** What cataloging an image found: the SBOM without its `source` (which names the reference used). */
export type CachedCatalog = Pick<SbomDocument, 'distro' | 'packages' | 'warnings'>;

/** Catalogs of images by manifest digest (`GenerateOptions.cache`). */
export interface CatalogCache {
  get(manifestDigest: string): Promise<CachedCatalog | undefined>;
  put(manifestDigest: string, catalog: CachedCatalog): Promise<void>;
  /**
   * Layer blob files verified before (`src/oci/verified-blob.ts`): on a hit, a layer of an OCI
   * layout whose file is unchanged since it was hashed is not hashed again.
   */
  verifiedBlobs?: VerifiedBlobRecord;
}

/** Bump when the cached value's shape changes. */
export const CATALOG_CACHE_FORMAT = 1;

/** The folders of the code that makes a catalog (the layer reader, the catalogers, their helpers). */
export const CATALOG_CODE = ['sbom', 'oci', 'debian', 'util'] as const;

/**
 * The cache key of an image's catalog: CATALOG_CACHE_FORMAT, rampart's version, the fingerprint
 * of the cataloging code (`codeFingerprint(CATALOG_CODE)`; `codeRoot` is for tests) and the digest.
 */
export async function catalogCacheKey(manifestDigest: string, codeRoot?: string): Promise<string> {
  const code = await codeFingerprint(CATALOG_CODE, codeRoot);
  return `sbom-catalog/${CATALOG_CACHE_FORMAT}/rampart-${VERSION}/${code}/${manifestDigest}`;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The catalog cache in rampart's cache dir (`sbom/`, keyed JSON files, pruned by `rampart cache
 * prune` like the rest). An image's manifest digest binds its config and every layer by digest,
 * so the catalog of one digest is the catalog of every image with that digest; the key adds
 * rampart's version and a fingerprint of the cataloging code, so a changed cataloger never sees
 * an old catalog.
 * Entries are written only by rampart itself, from layers it read and verified, into the user's
 * own cache (which holds the advisory store that decides the findings, too): an SBOM lying beside
 * an image, which anyone who can write the output directory could edit, is not trusted instead of
 * the layers. Best effort: an unreadable, corrupt or foreign entry is a miss, a failed write
 * only costs the next run the catalog.
 */
export function catalogCache(root: string = defaultCacheDir()): CatalogCache {
  const cache = new ContentCache(root);
  const key = (digest: string) => catalogCacheKey(digest);
  return {
    verifiedBlobs: verifiedBlobRecord(root),
    async get(digest) {
      if (!DIGEST.test(digest)) return undefined;
      const value = await cache.readJson<CachedCatalog>('sbom', await key(digest)).catch(() => undefined);
      return isCatalog(value) ? value : undefined;
    },
    async put(digest, catalog) {
      if (!DIGEST.test(digest)) return;
      const value: CachedCatalog = {
        ...(catalog.distro ? { distro: catalog.distro } : {}),
        packages: catalog.packages,
        warnings: catalog.warnings,
      };
      await cache.writeJson('sbom', await key(digest), value).catch(() => undefined);
    },
  };
}

function isCatalog(value: unknown): value is CachedCatalog {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    Array.isArray(v.packages) &&
    Array.isArray(v.warnings) &&
    (v.distro === undefined || (typeof v.distro === 'object' && v.distro !== null))
  );
}

/** Bump when the recorded value's shape or meaning changes. */
export const VERIFIED_BLOB_FORMAT = 1;

/**
 * The record of verified blob files (`VerifiedBlobRecord`) in rampart's cache dir, beside the
 * catalogs (`sbom/`, keyed JSON files, pruned with them). Written only by rampart, after it hashed
 * the file, into the user's own cache: the same trust as the catalogs it lets through. Used only
 * for blob files no other user can write (`recordable`, verified-blob.ts).
 */
export function verifiedBlobRecord(root: string = defaultCacheDir()): VerifiedBlobRecord {
  const cache = new ContentCache(root);
  const key = (path: string, digest: Digest) =>
    `verified-blob/${VERIFIED_BLOB_FORMAT}/${digest}/${JSON.stringify(path)}`;
  return {
    async get(path, digest) {
      if (!DIGEST.test(digest)) return undefined;
      const value = await cache.readJson<unknown>('sbom', key(path, digest)).catch(() => undefined);
      return isBlobFileStat(value) ? value : undefined;
    },
    async put(path, digest, stat) {
      if (!DIGEST.test(digest)) return;
      await cache.writeJson('sbom', key(path, digest), stat).catch(() => undefined);
    },
  };
}

const DECIMAL = /^[0-9]{1,40}$/;

function isBlobFileStat(value: unknown): value is BlobFileStat {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'] as const).every(
    (field) => typeof v[field] === 'string' && DECIMAL.test(v[field]),
  );
}
