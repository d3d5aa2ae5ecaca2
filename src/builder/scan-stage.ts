import { existsSync } from 'node:fs';
import { fromSystemError, isRampartError, isSystemError, RampartError } from '../errors.js';
import type { Image } from '../oci/image.js';
import type { SbomDocument } from '../sbom/model.js';
import type { VexStatementSource } from '../sign/openvex.js';
import { advisoryDbPath } from '../vuln/store-path.js';
import type { ScanResult } from '../vuln/types.js';
import { type BuildContext, checkCancelled } from './stages.js';

/**
 * Issue 14 item 8: when an advisory store exists, each built image is scanned and the result goes
 * into the build record (input for the OpenVEX attestation and the maintenance service). No store,
 * no scan: a build never needs advisories. The scan is a report on an image that is already built
 * and valid, and `build` has no `--fail-on` gate: a store that cannot be opened, or an image whose
 * scan fails, is recorded with the error's code (and warned about by the CLI) instead of failing
 * the build. Only a cancellation stops it.
 */
export type RecordedScan =
  | { architecture: string; digest: string; db: string; result: ScanResult }
  | { architecture: string; digest: string; db: string; error: ScanFailure };

export type ScanFailure = { code: string; message: string };

/**
 * The code a failed scan is recorded with: a RampartError's own; SQLite failing to read a store
 * that opened (a damaged file) is `ADVISORY_DB_INVALID`; a system error its mapped code; else `IO`.
 */
function scanFailure(error: unknown, db: string): ScanFailure {
  if (error instanceof RampartError) return { code: error.code, message: error.message };
  if (error instanceof Error && (error as { code?: unknown }).code === 'ERR_SQLITE_ERROR')
    return {
      code: 'ADVISORY_DB_INVALID',
      message: `the advisory store ${db} cannot be read: ${(error as Error).message}`,
    };
  if (isSystemError(error)) {
    const mapped = fromSystemError(error);
    return { code: mapped.code, message: mapped.message };
  }
  return { code: 'IO', message: error instanceof Error ? error.message : String(error) };
}

/**
 * The store a build scans with: the option, else where every command finds it (`advisoryDbPath`:
 * `$RAMPART_ADVISORY_DB`, else `vuln/advisories.db` in rampart's cache dir) when it exists. The
 * build's download cache (`--cache`, `cacheDir`) is not where the store lives: `rampart db update`
 * and `rampart scan` would look elsewhere.
 */
export function buildAdvisoryDb(
  option: string | false | undefined,
  ctx: Pick<BuildContext, 'env'>,
): string | undefined {
  if (option === false) return undefined;
  // Named explicitly: scanned even when missing, so the record says the store was not found.
  if (option !== undefined) return option;
  const path = advisoryDbPath(undefined, ctx.env);
  return existsSync(path) ? path : undefined;
}

/**
 * Scans each image (its SBOM document when the build made one, else one cataloged here) against
 * the store at `db`.
 */
export async function scanStage(
  db: string,
  images: ReadonlyArray<{ image: Image; arch: string }>,
  sbomDocs: ReadonlyArray<SbomDocument | undefined>,
  ctx: Pick<BuildContext, 'clock' | 'signal'>,
): Promise<RecordedScan[]> {
  const [{ openAdvisoryStore }, { scanSbomDocument }, { generateSbom }] = await Promise.all([
    import('../vuln/store.js'),
    import('../vuln/scan.js'),
    import('../sbom/generate.js'),
  ]);
  const scans: RecordedScan[] = [];
  let store: ReturnType<typeof openAdvisoryStore> | undefined;
  try {
    store = openAdvisoryStore(db, { readOnly: true });
  } catch (error) {
    const failure = scanFailure(error, db);
    return images.map(({ image, arch }) => ({
      architecture: arch,
      digest: image.digest,
      db,
      error: failure,
    }));
  }
  try {
    for (const [index, { image, arch }] of images.entries()) {
      checkCancelled(ctx);
      try {
        const doc =
          sbomDocs[index] ??
          (await generateSbom({ kind: 'image-object', ref: `${arch}@${image.digest}`, image }));
        scans.push({
          architecture: arch,
          digest: image.digest,
          db,
          result: scanSbomDocument(store, doc, { now: ctx.clock(), imageDigest: image.digest }),
        });
      } catch (error) {
        if (isRampartError(error, 'CANCELLED')) throw error;
        scans.push({ architecture: arch, digest: image.digest, db, error: scanFailure(error, db) });
      }
    }
  } finally {
    store.close();
  }
  return scans;
}

/**
 * The OpenVEX statements `build --sign-key` attests for each platform image: one per finding of
 * its recorded scan (open findings `affected`, VEX-suppressed ones with their status), about the
 * image (`pkg:oci/NAME@DIGEST`) with the package as subcomponent. An image that was not scanned,
 * or whose scan failed, gets none: an empty document says "no statement made".
 */
export function vexFromScans(scans: readonly RecordedScan[], imageName: string): VexStatementSource {
  return async ({ digest }) => {
    const scan = scans.find((s) => s.digest === digest);
    if (!scan || !('result' in scan)) return [];
    const { scanVexStatements } = await import('../vuln/encode/openvex.js');
    const image = `pkg:oci/${encodeURIComponent(imageName)}@${encodeURIComponent(digest)}`;
    return scanVexStatements(scan.result, (m) => ({
      '@id': image,
      subcomponents: [{ '@id': m.package.purl }],
    }));
  };
}
