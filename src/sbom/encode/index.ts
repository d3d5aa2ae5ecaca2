import { RampartError } from '../../errors.js';
import type { SbomDocument } from '../model.js';
import { encodeCycloneDxJson } from './cyclonedx.js';
import { encodeSpdxJson } from './spdx.js';
import { encodeTable } from './table.js';

export const SBOM_FORMATS = ['spdx-json', 'cyclonedx-json', 'json', 'table'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

export interface EncodeOptions {
  /** SPDX and CycloneDX: list every package's files. */
  files?: boolean;
}

export function encodeSbom(doc: SbomDocument, format: SbomFormat, options: EncodeOptions = {}): string {
  switch (format) {
    case 'spdx-json':
      return encodeSpdxJson(doc, options);
    case 'cyclonedx-json':
      return encodeCycloneDxJson(doc, options);
    case 'json':
      return `${JSON.stringify(doc, null, 2)}\n`;
    case 'table':
      return encodeTable(doc);
  }
}

export interface OutputSpec {
  format: SbomFormat;
  /** Absent: write to stdout. */
  path?: string;
}

/** Parses syft-style `-o FORMAT[=FILE]`. */
export function parseOutputSpec(spec: string): OutputSpec {
  const eq = spec.indexOf('=');
  const format = eq < 0 ? spec : spec.slice(0, eq);
  const path = eq < 0 ? undefined : spec.slice(eq + 1);
  if (!(SBOM_FORMATS as readonly string[]).includes(format)) {
    throw new RampartError(
      'USAGE',
      `unknown SBOM format "${format}"; use one of ${SBOM_FORMATS.join(', ')}`,
      {
        details: { option: '-o', value: spec },
      },
    );
  }
  if (path === '') {
    throw new RampartError('USAGE', `-o ${spec}: the file name after "=" is empty`, {
      details: { option: '-o', value: spec },
    });
  }
  return { format: format as SbomFormat, ...(path !== undefined ? { path } : {}) };
}
