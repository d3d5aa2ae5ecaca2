import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { Descriptor, Platform } from './types.js';

/**
 * Where images are written (go-containerregistry's remote.Write / layout.Write seen as one role):
 * an OCI layout, an oci-archive, a docker-archive and, later, a registry. `copy()` drives it; a sink
 * checks every blob it stores against its descriptor.
 */
export interface ImageSink {
  /** Names the destination in messages. */
  readonly location: string;
  /** Whether the sink stores an index; one that does not (docker-archive) gets one image of it. */
  readonly storesIndex: boolean;
  /** Whether manifests must carry OCI media types (layouts: skopeo ignores Docker types there). */
  readonly wantsOciMediaTypes: boolean;
  /** Whether the blob is already stored, verified (a same-size blob with other content is not). */
  hasBlob(descriptor: Descriptor): Promise<boolean>;
  /**
   * Stores a blob; the stream is checked against the descriptor's size and digest while stored.
   * `reopen` gives a fresh stream of the same blob for a sink that retries (a registry upload).
   * A sink may say what it did (`exists`: another writer stored it meanwhile); nothing: `pushed`.
   * The caller asks `hasBlob` first (the one existence check per blob: copy and sign do): a sink
   * need not check again, and the registry sink does not (a second HEAD per blob).
   */
  putBlob(
    descriptor: Descriptor,
    stream: Readable,
    reopen?: () => Promise<Readable>,
    // biome-ignore lint/suspicious/noConfusingVoidType: the local sinks always store, and say nothing
  ): Promise<BlobPutOutcome | void>;
  /**
   * Makes a blob of another repository of the same registry available without a transfer; false
   * when `from` is elsewhere or the registry did not mount (the caller then uploads it).
   */
  mountBlob?(descriptor: Descriptor, from: BlobOrigin): Promise<boolean>;
  /**
   * Stores a manifest. The root manifest (what a reader of the destination finds) gets the tag;
   * children of an index are stored by digest only. Returns the digest a reader sees (docker-archive
   * synthesises its own manifest).
   */
  putManifest(raw: Buffer, mediaType: string, tag?: string, options?: PutManifestOptions): Promise<Digest>;
  /**
   * A manifest with this `subject` will be put: the sink may start the reads that recording it as
   * a referrer needs (the registry sink: whether the registry has the referrers API), so they are
   * not on the path after the manifest exists. Reads only; nothing is written.
   */
  prepareReferrer?(subject: Digest): void;
  /** Commits what was written (index.json, the archive rename); nothing is visible before. */
  close(): Promise<void>;
  /** Drops what was written and any staging; the destination is left as it was. */
  abort(): Promise<void>;
}

/** What storing one blob came to. */
export type BlobPutOutcome = 'pushed' | 'exists' | 'mounted';

/** Where a source's blobs live, for a cross-repository mount. */
export interface BlobOrigin {
  registry: string;
  repository: string;
}

export interface PutManifestOptions {
  /** A child of an index being written: stored by digest, not listed at the top. */
  child?: boolean;
  /** The platform of a root image, for the index.json entry. */
  platform?: Platform;
  /** The artifact type of a root artifact, for the index.json entry (OCI 1.1). */
  artifactType?: string;
  /** An attachment written beside the root (copy --with-attachments): listed, but not the root. */
  attachment?: boolean;
}
