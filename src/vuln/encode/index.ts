import type { SbomDocument } from '../../sbom/model.js';
import type { ScanResult } from '../types.js';
import { encodeScanCycloneDx } from './cyclonedx.js';
import { encodeScanOpenVex } from './openvex.js';
import { encodeScanSarif } from './sarif.js';
import { encodeScanTable } from './table.js';

export const SCAN_FORMATS = ['table', 'json', 'sarif', 'cyclonedx-json', 'openvex'] as const;
export type ScanFormat = (typeof SCAN_FORMATS)[number];

export interface ScanEncodeOptions {
  version: string;
  now: Date;
  colour?: boolean;
}

/** One report in one format; `json` is exactly `ScanResult` (the contract users' scripts read). */
export function encodeScan(
  result: ScanResult,
  format: ScanFormat,
  sbom: SbomDocument | undefined,
  options: ScanEncodeOptions,
): string {
  switch (format) {
    case 'table':
      return encodeScanTable(result, { colour: options.colour === true });
    case 'json':
      return `${JSON.stringify(result, null, 2)}\n`;
    case 'sarif':
      return encodeScanSarif(result, sbom, { version: options.version });
    case 'cyclonedx-json':
      return encodeScanCycloneDx(result, sbom, { version: options.version, now: options.now });
    case 'openvex':
      return encodeScanOpenVex(result, sbom, { now: options.now });
  }
}

export { encodeScanCycloneDx, encodeScanOpenVex, encodeScanSarif, encodeScanTable };
