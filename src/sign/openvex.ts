import type { Digest } from '../oci/digest.js';

/**
 * The OpenVEX v0.2.0 document (https://github.com/openvex/spec) a build attaches to each platform
 * image. Its statements come from a `VexStatementSource`: the build's scan when an advisory store
 * exists (`vexFromScans` in src/builder/scan-stage.ts); without one the document is empty and
 * valid, which says "no statement made", not "no vulnerability".
 */

export const OPENVEX_CONTEXT = 'https://openvex.dev/ns/v0.2.0';

export interface VexStatement {
  vulnerability: { name: string; [field: string]: unknown };
  products: Array<{ '@id': string; [field: string]: unknown }>;
  status: 'not_affected' | 'affected' | 'fixed' | 'under_investigation';
  [field: string]: unknown;
}

/** The hook the scanner fills: statements about one built platform image (default: none). */
export type VexStatementSource = (image: {
  digest: Digest;
  architecture: string;
  signal?: AbortSignal;
}) => Promise<VexStatement[]>;

export const noVexStatements: VexStatementSource = async () => [];

export interface OpenVexDocument {
  '@context': string;
  '@id': string;
  author: string;
  timestamp: string;
  version: number;
  tooling: string;
  statements: VexStatement[];
}

/** An OpenVEX document about `digest`, identified by it (one per image: its `version` stays 1). */
export function openVexDocument(
  digest: Digest,
  statements: readonly VexStatement[],
  timestamp: string,
  author: string,
  tooling: string,
): OpenVexDocument {
  return {
    '@context': OPENVEX_CONTEXT,
    '@id': `urn:rampart:vex:${digest}`,
    author,
    timestamp,
    version: 1,
    tooling,
    statements: [...statements],
  };
}
