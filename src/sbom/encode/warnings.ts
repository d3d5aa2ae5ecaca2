import type { SbomDocument } from '../model.js';

/** One line per warning, the same in SPDX and CycloneDX; names are JSON-quoted so none can break a line. */
export function warningLine(w: SbomDocument['warnings'][number]): string {
  const skipped = w.skipped
    ? ` [skipped: ${w.skipped.layer !== undefined ? `layer ${w.skipped.layer}` : 'file'}${w.skipped.layerDigest ? ` ${w.skipped.layerDigest}` : ''}${w.skipped.entry !== undefined ? ` entry ${w.skipped.entry}` : ''}, ${w.skipped.reason}]`
    : '';
  return `${w.cataloger}: ${w.path !== undefined ? `${JSON.stringify(w.path)}: ` : ''}${w.message}${skipped}`;
}
