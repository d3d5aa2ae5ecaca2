import { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { AttachmentStore } from '../oci/attachments.js';
import { legacyAttachmentTag } from '../oci/attachments.js';
import { MAX_INDEX_DEPTH } from '../oci/copy.js';
import type { Digest } from '../oci/digest.js';
import { sha256Digest } from '../oci/digest.js';
import type { Manifest, OciObject } from '../oci/image.js';
import { COSIGN_SIGNATURE_ANNOTATION, MediaType } from '../oci/media-types.js';
import type { OpenOptions } from '../oci/open.js';
import { openAttachmentStore, openImage, openSink } from '../oci/open.js';
import type { ImageReference } from '../oci/reference.js';
import { parseImageReference } from '../oci/reference.js';
import type { ImageSink } from '../oci/sink.js';
import type { Descriptor, ImageManifest } from '../oci/types.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { serialised } from '../util/keyed-queue.js';
import { allSettledOrThrow } from '../util/settle.js';
import {
  BUNDLE_CONTENT_ANNOTATION,
  BUNDLE_MEDIA_TYPE,
  BUNDLE_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
  type DsseEnvelope,
  IN_TOTO_PAYLOAD_TYPE,
  keyBundle,
  pae,
  signStatement,
  simpleSigningPayload,
} from './formats.js';
import type { Signer } from './keys.js';
import { parsePublicKey, publicKeyHint } from './keys.js';

/**
 * `rampart sign`: cosign-compatible signatures of an image (or index), stored through the
 * transports' own attachment paths. *legacy*: the simple-signing payload as one more layer of the
 * `sha256-<hex>.sig` manifest (existing signatures kept). *bundle*: a sigstore bundle v0.3 (DSSE over
 * an in-toto statement) as an OCI referrer of the image, recorded through the referrers API or tag
 * schema by the registry sink, or listed untagged in an OCI layout's index.json.
 */

export type SignatureFormat = 'bundle' | 'legacy';
export const SIGNATURE_FORMATS = ['bundle', 'legacy', 'both'] as const;

export interface SignOptions extends OpenOptions {
  /** Which formats to write (default both). */
  formats?: readonly SignatureFormat[];
  /** Also sign every manifest an index lists. */
  recursive?: boolean;
  /** `-a k=v`: the payload's `optional` (legacy) and the statement subject's annotations (bundle). */
  annotations?: Readonly<Record<string, string>>;
  /** `docker-reference` of the payload; default: the repository (cosign's), or the layout path. */
  identity?: string;
  /** For `org.opencontainers.image.created` on bundle referrers. */
  now?: () => Date;
  /**
   * `--bundle FILE`: also write the image's sigstore bundle v0.3 (public-key verification material,
   * no transparency-log entry) to this file, staged and renamed once everything else is stored.
   */
  bundleFile?: string;
  signal?: AbortSignal;
}

export interface WrittenSignature {
  format: SignatureFormat;
  /** The signed manifest. */
  subject: Digest;
  /** The manifest holding the signature (the `.sig` manifest, or the bundle referrer). */
  digest: Digest;
  tag?: string;
}

export interface SignResult {
  reference: string;
  digest: Digest;
  identity: string;
  signatures: WrittenSignature[];
  /** The bundle file written (`bundleFile`). */
  bundleFile?: string;
}

/** The identity cosign writes for a reference: the repository, without tag or digest. */
export function defaultIdentity(reference: ImageReference): string {
  if (reference.transport === 'docker') return `${reference.registry}/${reference.repository}`;
  return `${reference.transport}:${reference.path ?? ''}`;
}

/** Where signatures and attestations of an image go: the image, its attachment store, a sink beside it. */
export interface AttachmentTarget {
  reference: ImageReference;
  object: OciObject;
  store: AttachmentStore;
  /** A sink naming the repository or layout (not a tag or digest in it). */
  openBeside: () => Promise<ImageSink>;
}

/** Opens the image `ref` names for writing attachments beside it (docker:// or oci: only). */
export async function openAttachmentTarget(
  ref: string,
  options: Pick<SignOptions, 'registry' | 'signal'>,
): Promise<AttachmentTarget> {
  const reference = parseImageReference(ref);
  if (reference.transport !== 'docker' && reference.transport !== 'oci') {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `${reference.transport}: cannot hold signatures beside an image; sign in a registry (docker://) or an OCI layout (oci:)`,
      { details: { reference: ref, transport: reference.transport } },
    );
  }
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const store = await openAttachmentStore(reference, open);
  const openBeside = () =>
    openSink({ ...reference, tag: undefined, digest: undefined } as ImageReference, {
      ...open,
      ...(options.signal ? { lock: { signal: options.signal } } : {}),
    });
  return { reference, object, store, openBeside };
}

/**
 * What a signature is stored with. Keyed (`keyMaterial`): a public-key hint and no
 * transparency-log entry. Keyless (keyless.ts): a Fulcio certificate and a Rekor entry.
 */
export interface SignatureMaterial {
  /** The sigstore bundle v0.3 (its JSON bytes) of a DSSE envelope over the in-toto `statement`. */
  bundle(statement: Buffer): Promise<Buffer>;
  /** The annotations of a legacy `.sig` layer holding `payload`: its signature and what proves it. */
  legacyAnnotations(payload: Buffer): Promise<Record<string, string>>;
  /** A legacy `.att` layer's DSSE envelope over `statement`, with its annotations (keyless: the certificate and Rekor entry). */
  legacyEnvelope?(
    statement: Buffer,
  ): Promise<{ envelope: DsseEnvelope; annotations: Record<string, string> }>;
}

/** A key's signatures as cosign writes them with `--key`. */
export function keyMaterial(signer: Signer): SignatureMaterial {
  let hint: Promise<string> | undefined;
  return {
    async bundle(statement) {
      hint ??= signer.publicKey().then((pem) => publicKeyHint(parsePublicKey(pem)));
      return keyBundle(await hint, await signStatementDsse(signer, statement));
    },
    async legacyAnnotations(payload) {
      return { [COSIGN_SIGNATURE_ANNOTATION]: (await signer.sign(payload)).toString('base64') };
    },
    async legacyEnvelope(statement) {
      // cosign's: keyid empty, an empty signature annotation (the signature is inside the envelope).
      return {
        envelope: await signStatementDsse(signer, statement, ''),
        annotations: { [COSIGN_SIGNATURE_ANNOTATION]: '' },
      };
    },
  };
}

/** `signer` as SignatureMaterial (a key's, unless it already is one). */
export function asMaterial(signer: Signer | SignatureMaterial): SignatureMaterial {
  return 'bundle' in signer ? signer : keyMaterial(signer);
}

export async function signImage(
  ref: string,
  signer: Signer | SignatureMaterial,
  options: SignOptions = {},
): Promise<SignResult> {
  const { reference, object, store, openBeside } = await openAttachmentTarget(ref, options);
  const formats = options.formats ?? ['bundle', 'legacy'];
  const annotations = options.annotations ?? {};
  const identity = options.identity ?? defaultIdentity(reference);
  const subjects = await subjectsOf(object, options.recursive ?? false);
  const material = asMaterial(signer);
  // In a registry, what storing the bundles needs before any signature exists (is the empty
  // config there, has the registry the referrers API) is asked now, while a key may still be
  // being opened: reads only, nothing is written before the key is open.
  const early =
    formats.includes('bundle') && reference.transport === 'docker'
      ? openBundleSink(openBeside, subjects)
      : undefined;
  early?.catch(() => undefined);
  // A key may still be being opened (withKeyBeingOpened: reading the image above overlapped
  // scrypt). It is awaited before the target is touched: opening a sink beside a layout checks,
  // sweeps and creates directories there, and a wrong password must change nothing at all.
  try {
    if (!('bundle' in signer)) await signer.publicKey();
  } catch (error) {
    await early?.then(({ sink }) => sink.abort()).catch(() => undefined);
    throw error;
  }
  const now = options.now ?? (() => new Date());
  const writeLegacy = async (signal = options.signal): Promise<WrittenSignature[]> => {
    const written: WrittenSignature[] = [];
    for (const subject of subjects) {
      signal?.throwIfAborted();
      const payload = simpleSigningPayload(identity, subject.digest, annotations);
      const layer: LegacyLayer = {
        mediaType: MediaType.CosignSimpleSigning,
        bytes: payload,
        annotations: await material.legacyAnnotations(payload),
      };
      const stored = await writeLegacyLayer(store, openBeside, subject.digest, 'sig', layer, signal);
      written.push({ format: 'legacy', subject: subject.digest, ...stored });
    }
    return written;
  };
  // The bundle of the root image, kept for `bundleFile` (the bytes stored as its referrer, if any).
  let rootBundle: Buffer | undefined;
  const bundleOf = async (subject: Descriptor) => {
    const bundle = await material.bundle(signStatement(subject.digest, annotations, identity));
    if (subject.digest === object.digest) rootBundle = bundle;
    return bundle;
  };
  const writeBundles = async (signal = options.signal): Promise<WrittenSignature[]> => {
    const { sink, plan } = await (early ?? openBundleSink(openBeside, subjects));
    const written: WrittenSignature[] = [];
    try {
      for (const subject of subjects) {
        signal?.throwIfAborted();
        const bundle = await bundleOf(subject);
        const digest = await putBundleReferrer(sink, subject, bundle, COSIGN_SIGN_PREDICATE, now(), plan);
        written.push({ format: 'bundle', subject: subject.digest, digest });
      }
      await sink.close();
    } catch (error) {
      await sink.abort();
      throw error;
    }
    return written;
  };
  const legacy = formats.includes('legacy');
  const bundles = formats.includes('bundle');
  let signatures: WrittenSignature[];
  if (legacy && bundles && reference.transport === 'docker' && !('bundle' in signer)) {
    // Both formats of a key's signatures in a registry: different tags and manifests, written at
    // once (their round trips overlap). Not in a layout (one index.json, under a lock each write
    // takes), nor keyless (each signature would ask Fulcio for a certificate of its own). The
    // first failure stops the other chain before its next write, as one chain after another would.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const stopOthers = <T>(chain: Promise<T>): Promise<T> =>
      chain.catch((error: unknown) => {
        stop.abort(error);
        throw error;
      });
    const [old, referrers] = await allSettledOrThrow<[WrittenSignature[], WrittenSignature[]]>([
      stopOthers(writeLegacy(signal)),
      stopOthers(writeBundles(signal)),
    ]);
    signatures = [...old, ...referrers];
  } else {
    try {
      signatures = legacy ? await writeLegacy() : [];
    } catch (error) {
      await early?.then(({ sink }) => sink.abort()).catch(() => undefined);
      throw error;
    }
    if (bundles) signatures.push(...(await writeBundles()));
  }
  if (options.bundleFile !== undefined) {
    const bundle = rootBundle ?? (await bundleOf(subjects[0] as Descriptor));
    await writeFileAtomic(options.bundleFile, bundle, { operation: 'write the bundle' });
    return { reference: ref, digest: object.digest, identity, signatures, bundleFile: options.bundleFile };
  }
  return { reference: ref, digest: object.digest, identity, signatures };
}

/** Read-modify-write rounds of a `.sig`/`.att` manifest before giving up (see `writeLegacyLayer`). */
export const LEGACY_ATTEMPTS = 5;

/** One layer of a legacy `.sig` (simple-signing payload) or `.att` (DSSE envelope) manifest. */
export interface LegacyLayer {
  mediaType: string;
  bytes: Buffer;
  annotations: Record<string, string>;
}

/**
 * A DSSE envelope over an in-toto statement, signed by `signer` over its pre-authentication
 * encoding. `keyid` as cosign writes it: absent for bundles, empty for legacy `.att` envelopes.
 */
export async function signStatementDsse(
  signer: Signer,
  statement: Buffer,
  keyid?: string,
): Promise<DsseEnvelope> {
  const sig = await signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement));
  return {
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    payload: statement.toString('base64'),
    signatures: [{ ...(keyid !== undefined ? { keyid } : {}), sig: sig.toString('base64') }],
  };
}

/**
 * Appends one layer to the `sha256-<hex>.<suffix>` manifest of `subject`. A registry has no
 * compare-and-swap on a tag (and a layout's index.json is re-read only under its lock at close), so
 * two signers can each read the manifest and the later write drop the other's layer: after each
 * write the tag is read again, and when this layer is not in it the round is repeated
 * (CONCURRENT_UPDATE after LEGACY_ATTEMPTS). Within this process the appends to one tag are
 * queued, so none is lost; against other processes the re-read narrows the window, as for the
 * referrers tag schema, without closing it.
 */
export async function writeLegacyLayer(
  store: AttachmentStore,
  openBeside: () => Promise<ImageSink>,
  subject: Digest,
  suffix: 'sig' | 'att',
  layer: LegacyLayer,
  signal: AbortSignal | undefined,
): Promise<{ digest: Digest; tag: string }> {
  const tag = legacyAttachmentTag(subject, suffix);
  return serialised(`${store.location}:${tag}`, () => appendWithCheck(store, openBeside, tag, layer, signal));
}

async function appendWithCheck(
  store: AttachmentStore,
  openBeside: () => Promise<ImageSink>,
  tag: string,
  layer: LegacyLayer,
  signal: AbortSignal | undefined,
): Promise<{ digest: Digest; tag: string }> {
  const layerDigest = sha256Digest(layer.bytes);
  // The layer is ours when its blob and its annotations are (a .sig payload can repeat; its
  // signature annotation cannot; a .att envelope holds its own signature).
  const isOurs = (entry: Descriptor) =>
    entry.digest === layerDigest &&
    Object.entries(layer.annotations).every(([name, value]) => entry.annotations?.[name] === value);
  for (let attempt = 1; attempt <= LEGACY_ATTEMPTS; attempt++) {
    signal?.throwIfAborted();
    const current = await readSignatureManifest(store, tag);
    const sink = await openBeside();
    let digest: Digest;
    try {
      digest = await appendLegacyLayer(sink, current, layer, tag);
      await sink.close();
    } catch (error) {
      await sink.abort();
      throw error;
    }
    const after = await readSignatureManifest(store, tag);
    if (after?.layerDescriptors.some(isOurs)) return { digest, tag };
  }
  throw new RampartError(
    'CONCURRENT_UPDATE',
    `${store.location}:${tag} kept changing under other signers; the signature was not kept there after ${LEGACY_ATTEMPTS} attempts; sign again`,
    { details: { reference: `${store.location}:${tag}`, attempts: LEGACY_ATTEMPTS } },
  );
}

async function readSignatureManifest(store: AttachmentStore, tag: string): Promise<Manifest | undefined> {
  const existing = await store.resolveTag(tag);
  if (!existing) return undefined;
  const current = await store.open(existing);
  if (current.kind !== 'manifest') {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `${store.location}:${tag} is an index, not a signature manifest`,
      {
        details: { digest: current.digest, location: store.location },
      },
    );
  }
  return current;
}

/** The manifests to sign: the root, and with `recursive` every manifest an index lists (nested too). */
async function subjectsOf(object: OciObject, recursive: boolean): Promise<Descriptor[]> {
  const root: Descriptor = {
    mediaType: object.mediaType,
    digest: object.digest,
    size: object.rawManifest.length,
  };
  if (!recursive || object.kind !== 'index') return [root];
  const out: Descriptor[] = [root];
  const seen = new Set<Digest>([object.digest]);
  const queue = [{ index: object, depth: 0 }];
  for (let item = queue.shift(); item; item = queue.shift()) {
    const { index, depth } = item;
    // As copy does: a registry can serve indexes of indexes without end, each a new digest.
    if (depth >= MAX_INDEX_DEPTH) {
      throw new RampartError(
        'MALFORMED_MANIFEST',
        `index ${index.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep`,
        { details: { location: index.digest } },
      );
    }
    for (const entry of index.manifest.manifests) {
      if (seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      out.push({ mediaType: entry.mediaType, digest: entry.digest, size: entry.size });
      const child = await index.child(entry);
      if (child.kind === 'index') queue.push({ index: child, depth: depth + 1 });
    }
  }
  return out;
}

/**
 * The `.sig` manifest with one more layer: the existing manifest's layers and annotations kept, the
 * config rewritten to list every payload (as go-containerregistry's mutate.Append does).
 */
async function appendLegacyLayer(
  sink: ImageSink,
  current: Manifest | undefined,
  added: LegacyLayer,
  tag: string,
): Promise<Digest> {
  const layer: Descriptor = {
    mediaType: added.mediaType,
    digest: sha256Digest(added.bytes),
    size: added.bytes.length,
    annotations: added.annotations,
  };
  const layers = [...(current?.layerDescriptors ?? []), layer];
  // Existing layers are already stored beside the manifest; a copy re-stores nothing.
  if (current) {
    for (const kept of current.layerDescriptors) {
      if (!(await sink.hasBlob(kept))) await sink.putBlob(kept, await current.blob(kept.digest));
    }
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((entry) => entry.digest) },
    }),
  );
  const configDescriptor: Descriptor = {
    mediaType: MediaType.OciConfig,
    digest: sha256Digest(config),
    size: config.length,
  };
  // Independent blobs: their round trips overlap (a registry upload is HEAD, POST, PUT). Both
  // settle before a failure is thrown: the caller then aborts the sink, which must not race a put.
  await allSettledOrThrow([
    putSmallBlob(sink, layer, added.bytes),
    putSmallBlob(sink, configDescriptor, config),
  ]);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDescriptor,
    layers,
    ...(current && Object.keys(current.annotations).length > 0
      ? { annotations: { ...current.annotations } }
      : {}),
  } as ImageManifest;
  return sink.putManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest, tag, {
    attachment: true,
  });
}

const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_CONFIG_DESCRIPTOR: Descriptor = {
  mediaType: MediaType.OciEmpty,
  digest: sha256Digest(EMPTY_CONFIG),
  size: EMPTY_CONFIG.length,
};

/**
 * What storing bundle referrers in a sink can ask before the bundles exist (`putBundleReferrer`):
 * whether the sink holds the empty config, and (`prepareReferrer`) what recording a referrer of
 * each subject needs. Reads only.
 */
export interface BundleReferrerPlan {
  /** Whether the sink holds the empty config blob (true once a referrer stored it). */
  emptyConfig: Promise<boolean>;
}

/** Opens the sink beside the image and starts its plan for bundle referrers of `subjects`. */
async function openBundleSink(
  openBeside: () => Promise<ImageSink>,
  subjects: readonly Descriptor[],
): Promise<{ sink: ImageSink; plan: BundleReferrerPlan }> {
  const sink = await openBeside();
  return { sink, plan: planBundleReferrers(sink, subjects) };
}

export function planBundleReferrers(sink: ImageSink, subjects: readonly Descriptor[]): BundleReferrerPlan {
  for (const subject of subjects) sink.prepareReferrer?.(subject.digest);
  const emptyConfig = sink.hasBlob(EMPTY_CONFIG_DESCRIPTOR);
  // Read by the first putBundleReferrer; a failure (Ctrl-C while the key opens) is reported there.
  emptyConfig.catch(() => undefined);
  return { emptyConfig };
}

/**
 * The bundle as cosign 3 stores it: an artifact manifest with the empty config and a `subject`,
 * its statement's predicate type in an annotation.
 */
export async function putBundleReferrer(
  sink: ImageSink,
  subject: Descriptor,
  bundle: Buffer,
  predicateType: string,
  created: Date,
  plan: BundleReferrerPlan = planBundleReferrers(sink, [subject]),
): Promise<Digest> {
  const configDescriptor = EMPTY_CONFIG_DESCRIPTOR;
  const layer: Descriptor = {
    mediaType: BUNDLE_MEDIA_TYPE,
    digest: sha256Digest(bundle),
    size: bundle.length,
  };
  // The bundle is sent without asking whether the sink holds it: it carries a signature made just
  // now (ECDSA signatures are randomised), so none does, and a blob sent twice is stored once.
  // Both settle before a failure is thrown (see appendLegacyLayer).
  await allSettledOrThrow([
    plan.emptyConfig.then((held) => (held ? undefined : putBlobBytes(sink, configDescriptor, EMPTY_CONFIG))),
    putBlobBytes(sink, layer, bundle),
  ]);
  plan.emptyConfig = Promise.resolve(true);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: configDescriptor,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope',
      [BUNDLE_PREDICATE_ANNOTATION]: predicateType,
      'org.opencontainers.image.created': created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  return sink.putManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest, undefined, {
    attachment: true,
    artifactType: BUNDLE_MEDIA_TYPE,
  });
}

/**
 * Stores a blob of a few KiB unless the sink holds it: `hasBlob` first, as every caller of a sink
 * does (see `ImageSink.putBlob`; the registry sink's `putBlob` sends no HEAD of its own).
 */
async function putSmallBlob(sink: ImageSink, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  if (await sink.hasBlob(descriptor)) return;
  await putBlobBytes(sink, descriptor, bytes);
}

/** Stores a blob of a few KiB the caller knows the sink lacks (`putSmallBlob` asks first). */
async function putBlobBytes(sink: ImageSink, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  await sink.putBlob(descriptor, Readable.from([bytes]), async () => Readable.from([bytes]));
}
