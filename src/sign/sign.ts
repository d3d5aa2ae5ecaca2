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
import { serialised } from '../util/keyed-queue.js';
import {
  BUNDLE_CONTENT_ANNOTATION,
  BUNDLE_MEDIA_TYPE,
  BUNDLE_PREDICATE_ANNOTATION,
  COSIGN_SIGN_PREDICATE,
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
}

/** The identity cosign writes for a reference: the repository, without tag or digest. */
export function defaultIdentity(reference: ImageReference): string {
  if (reference.transport === 'docker') return `${reference.registry}/${reference.repository}`;
  return `${reference.transport}:${reference.path ?? ''}`;
}

export async function signImage(ref: string, signer: Signer, options: SignOptions = {}): Promise<SignResult> {
  const reference = parseImageReference(ref);
  if (reference.transport !== 'docker' && reference.transport !== 'oci') {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `${reference.transport}: cannot hold signatures beside an image; sign in a registry (docker://) or an OCI layout (oci:)`,
      { details: { reference: ref, transport: reference.transport } },
    );
  }
  const formats = options.formats ?? ['bundle', 'legacy'];
  const annotations = options.annotations ?? {};
  const identity = options.identity ?? defaultIdentity(reference);
  const open = options.registry ? { registry: options.registry } : {};
  const object = await openImage(reference, open);
  const subjects = await subjectsOf(object, options.recursive ?? false);
  const store = await openAttachmentStore(reference, open);
  // Written beside the image: the sink names the repository or layout, not a tag or digest in it.
  const openBeside = () =>
    openSink({ ...reference, tag: undefined, digest: undefined } as ImageReference, {
      ...open,
      ...(options.signal ? { lock: { signal: options.signal } } : {}),
    });
  const hint = publicKeyHint(parsePublicKey(await signer.publicKey()));
  const now = options.now ?? (() => new Date());
  const signatures: WrittenSignature[] = [];
  for (const subject of subjects) {
    options.signal?.throwIfAborted();
    if (!formats.includes('legacy')) continue;
    const payload = simpleSigningPayload(identity, subject.digest, annotations);
    const signature = await signer.sign(payload);
    signatures.push(await writeLegacy(store, openBeside, subject.digest, payload, signature, options.signal));
  }
  if (formats.includes('bundle')) {
    const sink = await openBeside();
    try {
      for (const subject of subjects) {
        options.signal?.throwIfAborted();
        const statement = signStatement(subject.digest, annotations, identity);
        const sig = await signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement));
        const bundle = keyBundle(hint, {
          payload: statement.toString('base64'),
          payloadType: IN_TOTO_PAYLOAD_TYPE,
          signatures: [{ sig: sig.toString('base64') }],
        });
        const digest = await putBundleReferrer(sink, subject, bundle, now());
        signatures.push({ format: 'bundle', subject: subject.digest, digest });
      }
      await sink.close();
    } catch (error) {
      await sink.abort();
      throw error;
    }
  }
  return { reference: ref, digest: object.digest, identity, signatures };
}

/** Read-modify-write rounds of a `.sig` manifest before giving up (see `writeLegacy`). */
export const LEGACY_ATTEMPTS = 5;

/**
 * Appends one signature to the `.sig` manifest of `subject`. A registry has no compare-and-swap on
 * a tag (and a layout's index.json is re-read only under its lock at close), so two signers can each
 * read the manifest and the later write drop the other's layer: after each write the tag is read
 * again, and when this signature is not in it the round is repeated (CONCURRENT_UPDATE after
 * LEGACY_ATTEMPTS). Within this process the appends to one tag are queued, so none is lost; against
 * other processes the re-read narrows the window, as for the referrers tag schema, without closing it.
 */
async function writeLegacy(
  store: AttachmentStore,
  openBeside: () => Promise<ImageSink>,
  subject: Digest,
  payload: Buffer,
  signature: Buffer,
  signal: AbortSignal | undefined,
): Promise<WrittenSignature> {
  const tag = legacyAttachmentTag(subject, 'sig');
  return serialised(`${store.location}:${tag}`, () =>
    appendWithCheck(store, openBeside, subject, tag, payload, signature, signal),
  );
}

async function appendWithCheck(
  store: AttachmentStore,
  openBeside: () => Promise<ImageSink>,
  subject: Digest,
  tag: string,
  payload: Buffer,
  signature: Buffer,
  signal: AbortSignal | undefined,
): Promise<WrittenSignature> {
  const annotation = signature.toString('base64');
  for (let attempt = 1; attempt <= LEGACY_ATTEMPTS; attempt++) {
    signal?.throwIfAborted();
    const current = await readSignatureManifest(store, tag);
    const sink = await openBeside();
    let digest: Digest;
    try {
      digest = await appendLegacySignature(sink, current, payload, signature, tag);
      await sink.close();
    } catch (error) {
      await sink.abort();
      throw error;
    }
    const after = await readSignatureManifest(store, tag);
    if (
      after?.layerDescriptors.some((layer) => layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION] === annotation)
    ) {
      return { format: 'legacy', subject, digest, tag };
    }
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
async function appendLegacySignature(
  sink: ImageSink,
  current: Manifest | undefined,
  payload: Buffer,
  signature: Buffer,
  tag: string,
): Promise<Digest> {
  const layer: Descriptor = {
    mediaType: MediaType.CosignSimpleSigning,
    digest: sha256Digest(payload),
    size: payload.length,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature.toString('base64') },
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
  await putSmallBlob(sink, layer, payload);
  await putSmallBlob(sink, configDescriptor, config);
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

/** The bundle as cosign 3 stores it: an artifact manifest with the empty config and a `subject`. */
async function putBundleReferrer(
  sink: ImageSink,
  subject: Descriptor,
  bundle: Buffer,
  created: Date,
): Promise<Digest> {
  const configDescriptor: Descriptor = {
    mediaType: MediaType.OciEmpty,
    digest: sha256Digest(EMPTY_CONFIG),
    size: EMPTY_CONFIG.length,
  };
  const layer: Descriptor = {
    mediaType: BUNDLE_MEDIA_TYPE,
    digest: sha256Digest(bundle),
    size: bundle.length,
  };
  await putSmallBlob(sink, configDescriptor, EMPTY_CONFIG);
  await putSmallBlob(sink, layer, bundle);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: configDescriptor,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope',
      [BUNDLE_PREDICATE_ANNOTATION]: COSIGN_SIGN_PREDICATE,
      'org.opencontainers.image.created': created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  return sink.putManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest, undefined, {
    attachment: true,
    artifactType: BUNDLE_MEDIA_TYPE,
  });
}

async function putSmallBlob(sink: ImageSink, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  if (await sink.hasBlob(descriptor)) return;
  await sink.putBlob(descriptor, Readable.from([bytes]), async () => Readable.from([bytes]));
}
