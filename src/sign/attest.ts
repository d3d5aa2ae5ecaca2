import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fromSystemError, RampartError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import type { OpenOptions } from '../oci/open.js';
import type { Descriptor } from '../oci/types.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import {
  ATTESTATION_PREDICATE_ANNOTATION,
  attestationStatement,
  DSSE_ENVELOPE_MEDIA_TYPE,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  predicateTypeOf,
} from './formats.js';
import type { Signer } from './keys.js';
import type { SignatureFormat } from './sign.js';
import {
  type AttachmentTarget,
  asMaterial,
  defaultIdentity,
  openAttachmentTarget,
  putBundleReferrer,
  type SignatureMaterial,
  writeLegacyLayer,
} from './sign.js';

/**
 * `rampart attest`: an in-toto Statement v1 (subject: the image digest; a predicate of the given
 * type) in a DSSE envelope signed with the key, stored as cosign 3 does (a sigstore bundle referrer
 * with the `dev.sigstore.bundle.predicateType` annotation) and as cosign 2 does (one more DSSE layer
 * of the `sha256-<hex>.att` manifest, with the `predicateType` annotation; earlier ones kept).
 */

/** Bound on a predicate file: SBOMs of distroless images are far smaller; a bundle must stay readable. */
export const MAX_PREDICATE_BYTES = 8 * 1024 * 1024;

export interface AttestOptions extends OpenOptions {
  /** Which formats to write (default both). */
  formats?: readonly SignatureFormat[];
  /** The statement subject's name; default: the repository (cosign's), or the layout path. */
  identity?: string;
  now?: () => Date;
  /** `--bundle FILE`: also write the attestation's sigstore bundle v0.3 here (staged, renamed last). */
  bundleFile?: string;
  signal?: AbortSignal;
}

export interface WrittenAttestation {
  format: SignatureFormat;
  /** The manifest holding the attestation (the `.att` manifest, or the bundle referrer). */
  digest: Digest;
  tag?: string;
}

export interface AttestResult {
  reference: string;
  digest: Digest;
  predicateType: string;
  attestations: WrittenAttestation[];
  /** The bundle file written (`bundleFile`). */
  bundleFile?: string;
}

/**
 * Attests the image `ref` with `predicate` (parsed JSON, an object) of `type` (a cosign short name
 * or a URI).
 */
export async function attestImage(
  ref: string,
  signer: Signer | SignatureMaterial,
  type: string,
  predicate: unknown,
  options: AttestOptions = {},
): Promise<AttestResult> {
  const predicateType = predicateTypeOf(type);
  if (!predicateType) {
    throw new RampartError('USAGE', `--type ${type}: expected a cosign predicate name or a URI`, {
      details: { option: '--type', value: type },
    });
  }
  if (
    typeof predicate !== 'object' ||
    predicate === null ||
    Array.isArray(predicate) ||
    nestsDeeperThan(predicate)
  ) {
    throw new RampartError(
      'PREDICATE_INVALID',
      `the predicate is not a JSON object nested at most ${MAX_JSON_DEPTH} deep`,
      {
        details: { type: predicateType },
      },
    );
  }
  return attestTarget(await openAttachmentTarget(ref, options), signer, predicateType, predicate, options);
}

/**
 * Attests what `target` holds (the image a reference names, or a manifest of its index) with a
 * checked predicate of the resolved `predicateType`.
 */
export async function attestTarget(
  target: AttachmentTarget,
  signer: Signer | SignatureMaterial,
  predicateType: string,
  predicate: unknown,
  options: Omit<AttestOptions, 'registry'> = {},
): Promise<AttestResult> {
  const { reference, object, store, openBeside } = target;
  const formats = options.formats ?? ['bundle', 'legacy'];
  const identity = options.identity ?? defaultIdentity(reference);
  const now = options.now ?? (() => new Date());
  const subject: Descriptor = {
    mediaType: object.mediaType,
    digest: object.digest,
    size: object.rawManifest.length,
  };
  const statement = attestationStatement(object.digest, predicateType, predicate, identity);
  const material = asMaterial(signer);
  const attestations: WrittenAttestation[] = [];
  if (formats.includes('legacy')) {
    options.signal?.throwIfAborted();
    if (!material.legacyEnvelope) {
      throw new RampartError(
        'UNSUPPORTED_OPERATION',
        'this signer writes attestations in the bundle format only; give --format bundle',
        { details: { operation: 'attest --format legacy' } },
      );
    }
    const { envelope, annotations } = await material.legacyEnvelope(statement);
    const written = await writeLegacyLayer(
      store,
      openBeside,
      object.digest,
      'att',
      {
        mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
        bytes: Buffer.from(JSON.stringify(envelope)),
        annotations: { ...annotations, [ATTESTATION_PREDICATE_ANNOTATION]: predicateType },
      },
      options.signal,
    );
    attestations.push({ format: 'legacy', ...written });
  }
  const wantsBundle = formats.includes('bundle') || options.bundleFile !== undefined;
  const bundle = wantsBundle ? await material.bundle(statement) : undefined;
  if (bundle && formats.includes('bundle')) {
    options.signal?.throwIfAborted();
    const sink = await openBeside();
    try {
      const digest = await putBundleReferrer(sink, subject, bundle, predicateType, now());
      await sink.close();
      attestations.push({ format: 'bundle', digest });
    } catch (error) {
      await sink.abort();
      throw error;
    }
  }
  if (bundle && options.bundleFile !== undefined) {
    await writeFileAtomic(options.bundleFile, bundle, { operation: 'write the bundle' });
    return {
      reference: reference.raw,
      digest: object.digest,
      predicateType,
      attestations,
      bundleFile: options.bundleFile,
    };
  }
  return { reference: reference.raw, digest: object.digest, predicateType, attestations };
}

/**
 * A regular file's bytes, at most `limit` (checked while reading, so a growing file or a FIFO cannot
 * exceed it). Anything but a regular file is refused with `code` (the caller's: a predicate, a bundle).
 */
export async function readBoundedFile(
  path: string,
  limit: number,
  code: 'PREDICATE_INVALID' | 'USAGE',
  what: string,
): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused below).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fromSystemError(error, { path, operation: 'read' });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    if (!(await handle.stat()).isFile()) {
      throw new RampartError(code, `${what} ${path} is not a regular file`, { details: { path } });
    }
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > limit) {
        throw new RampartError('TOO_LARGE', `${what} ${path} is over ${limit} bytes`, {
          details: { limit, path },
        });
      }
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } catch (error) {
    if (error instanceof RampartError) throw error;
    throw fromSystemError(error, { path, operation: 'read' });
  } finally {
    await handle.close();
  }
  return Buffer.concat(chunks);
}

/** A predicate file: at most MAX_PREDICATE_BYTES, UTF-8 JSON holding an object. */
export async function readPredicateFile(path: string, limit = MAX_PREDICATE_BYTES): Promise<unknown> {
  const bytes = await readBoundedFile(path, limit, 'PREDICATE_INVALID', 'the predicate');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new RampartError('PREDICATE_INVALID', `the predicate ${path} is not UTF-8 JSON`, {
      details: { path },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RampartError('PREDICATE_INVALID', `the predicate ${path} is not a JSON object`, {
      details: { path },
    });
  }
  if (nestsDeeperThan(value)) {
    throw new RampartError(
      'PREDICATE_INVALID',
      `the predicate ${path} nests deeper than ${MAX_JSON_DEPTH} levels`,
      { details: { path } },
    );
  }
  return value;
}
