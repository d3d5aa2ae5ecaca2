import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { fromSystemError, isSystemError, RampartError } from '../errors.js';
import type { RegistryOptions } from '../registry/types.js';
import type { CatalogCache } from '../sbom/catalog-cache.js';
import type { SbomDocument } from '../sbom/model.js';
import { type ScanOptions, scanSbomDocument } from './scan.js';
import type { AdvisoryReader, ScanResult, VexStatementRecord } from './types.js';
import { parseOpenVex } from './vex.js';

/** A VEX document or an SBOM read whole: far above any real one, a bound against a hostile file. */
export const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

export interface ScanInputOptions extends Omit<ScanOptions, 'vex'> {
  platform?: string;
  registry?: RegistryOptions;
  /** OpenVEX files (`--vex FILE`, repeatable). */
  vexFiles?: string[];
  /**
   * Public key for the image's attached OpenVEX attestations (`--vex-key`). Only attestations
   * whose signature verifies with it, and whose subject is the image, are used; without a key
   * attached VEX is not read at all: an unverified statement must never suppress a finding.
   */
  vexKey?: KeyObject;
  signal?: AbortSignal;
  /** Reuse (and keep) catalogs of images by manifest digest (`catalogCache()`, as `rampart scan` does). */
  catalogCache?: CatalogCache;
}

export interface ScanInputResult {
  result: ScanResult;
  sbom: SbomDocument;
  /** Where each VEX statement set came from (files, attestation manifests). */
  vexDocuments: string[];
}

async function readBounded(path: string, what: string): Promise<Buffer> {
  try {
    const info = await stat(path);
    if (!info.isFile())
      throw new RampartError('USAGE', `${what} ${path} is not a file`, { details: { value: path } });
    if (info.size > MAX_DOCUMENT_BYTES)
      throw new RampartError(
        'USAGE',
        `${what} ${path} is ${info.size} bytes, over the ${MAX_DOCUMENT_BYTES}-byte limit`,
        {
          details: { value: path },
        },
      );
    return await readFile(path);
  } catch (error) {
    if (isSystemError(error)) throw fromSystemError(error, { path, operation: `read the ${what}` });
    throw error;
  }
}

/** `sbom:FILE` (SPDX or CycloneDX JSON, ours or another tool's), `dir:PATH`, or any image transport → the SBOM. */
export async function sbomForInput(
  input: string,
  options: {
    platform?: string;
    registry?: RegistryOptions;
    signal?: AbortSignal;
    catalogCache?: CatalogCache;
  } = {},
): Promise<SbomDocument> {
  if (input.startsWith('sbom:')) {
    const path = input.slice('sbom:'.length);
    const { readSbom } = await import('../sbom/read/read-sbom.js');
    try {
      return readSbom(await readBounded(path, 'SBOM'));
    } catch (error) {
      if (error instanceof RampartError && error.code === 'SBOM_INVALID')
        throw new RampartError('SBOM_INVALID', `${path}: ${error.message}`, {
          cause: error,
          details: { ...error.details, path },
        });
      throw error;
    }
  }
  const { generateSbom, inputFromReference } = await import('../sbom/generate.js');
  const source = await inputFromReference(input, options.platform);
  return generateSbom(
    source.kind === 'image' && options.registry ? { ...source, registry: options.registry } : source,
    {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.catalogCache ? { cache: options.catalogCache } : {}),
    },
  );
}

/** The OpenVEX statements of the image's attestations that verify with `key` (and name the image). */
export async function verifiedAttachedVex(
  ref: string,
  key: KeyObject,
  options: { registry?: RegistryOptions; signal?: AbortSignal } = {},
): Promise<{ statements: VexStatementRecord[]; documents: string[] }> {
  const { verifyAttestations } = await import('../sign/verify-attestation.js');
  const result = await verifyAttestations(ref, key, {
    type: 'openvex',
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const statements: VexStatementRecord[] = [];
  const documents: string[] = [];
  for (const a of result.attestations) {
    if (!a.valid || a.subjectMatches === false || !a.statement) continue;
    if (!String(a.predicateType ?? '').startsWith('https://openvex.dev/ns')) continue;
    const document = `attestation ${a.layer ?? a.manifest}`;
    statements.push(...parseOpenVex(a.statement.predicate, document));
    documents.push(document);
  }
  return { statements, documents };
}

/** The whole scan of one input: SBOM (or catalog), VEX files and verified attached VEX, match. */
export async function scanInput(
  reader: AdvisoryReader,
  input: string,
  options: ScanInputOptions = {},
): Promise<ScanInputResult> {
  const vex: VexStatementRecord[] = [];
  const vexDocuments: string[] = [];
  // VEX files first: a typo in --vex fails before an image is pulled.
  for (const file of options.vexFiles ?? []) {
    const bytes = await readBounded(file, 'VEX document');
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new RampartError('FEED_INVALID', `${file}: not valid JSON`, {
        cause: error,
        details: { source: 'openvex', path: file, format: 'openvex' },
      });
    }
    vex.push(...parseOpenVex(json, file));
    vexDocuments.push(file);
  }
  const sbom = await sbomForInput(input, options);
  if (options.vexKey) {
    if (sbom.source.kind !== 'image')
      throw new RampartError('USAGE', `--vex-key: ${input} is not an image, so it has no attestations`, {
        details: { option: '--vex-key', value: input },
      });
    const attached = await verifiedAttachedVex(input, options.vexKey, options);
    vex.push(...attached.statements);
    vexDocuments.push(...attached.documents);
  }
  const result = scanSbomDocument(reader, sbom, {
    ...(options.showNegligible ? { showNegligible: true } : {}),
    ...(options.onlyFixed ? { onlyFixed: true } : {}),
    ...(options.imageDigest ? { imageDigest: options.imageDigest } : {}),
    ...(options.now ? { now: options.now } : {}),
    vex,
  });
  return { result, sbom, vexDocuments };
}
