import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../oci/image.js';
import type { SbomDocument } from '../sbom/model.js';
import type { VexStatementSource } from '../sign/openvex.js';
import { ADVISORY_DB_VARIABLE } from '../vuln/store-path.js';
import type { ScanResult } from '../vuln/types.js';
import type { BuildContext } from './stages.js';

/**
 * Issue 14 item 8: when an advisory store exists, each built image is scanned and the result goes
 * into the build record (input for the OpenVEX attestation and the maintenance service). No store,
 * no scan: a build never needs advisories. A store that cannot be read does not fail the build;
 * the record says why there is no scan.
 */
export type RecordedScan =
  | { architecture: string; digest: string; db: string; result: ScanResult }
  | { architecture: string; digest: string; db: string; error: { code: string; message: string } };

/** The store a build scans with: the option, else `$RAMPART_ADVISORY_DB` or `vuln/advisories.db` in the build's cache when it exists. */
export function buildAdvisoryDb(
  option: string | false | undefined,
  ctx: Pick<BuildContext, 'env' | 'cacheDir'>,
): string | undefined {
  if (option === false) return undefined;
  // Named explicitly: scanned even when missing, so the record says the store was not found.
  if (option !== undefined) return option;
  const path = option ?? ctx.env[ADVISORY_DB_VARIABLE] ?? join(ctx.cacheDir, 'vuln', 'advisories.db');
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
  ctx: Pick<BuildContext, 'clock'>,
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
    const failure = {
      code: (error as { code?: string }).code ?? 'IO',
      message: (error as Error).message,
    };
    return images.map(({ image, arch }) => ({
      architecture: arch,
      digest: image.digest,
      db,
      error: failure,
    }));
  }
  try {
    for (const [index, { image, arch }] of images.entries()) {
      const doc =
        sbomDocs[index] ??
        (await generateSbom({ kind: 'image-object', ref: `${arch}@${image.digest}`, image }));
      scans.push({
        architecture: arch,
        digest: image.digest,
        db,
        result: scanSbomDocument(store, doc, { now: ctx.clock(), imageDigest: image.digest }),
      });
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
