import type { Readable } from 'node:stream';
import type { HttpClient } from '../http/client.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';

/**
 * The roles of the registry transport (`docker://`), as small interfaces: who the user is
 * (`CredentialStore`), how a registry is reached (`RegistryOptions`), and what a registry does
 * (`RegistryClient`, the OCI distribution API). Network code lives only under `src/registry/`.
 */

/** A secret for one registry. Never logged, never in an error message or its details. */
export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker config `identitytoken`): exchanged at the token endpoint. */
  identityToken?: string;
  /** A bearer token to send as is (docker config `registrytoken`). */
  registryToken?: string;
}

/** Where credentials come from: explicit flags, docker config, podman auth.json, helpers. */
export interface CredentialStore {
  /** Credentials for a registry host (`docker.io`, `127.0.0.1:5000`); undefined: anonymous. */
  get(registry: string): Promise<Credential | undefined>;
}

/** Progress of one blob transfer, for progress bars (bytes so far of `size`). */
export type RegistryEvent =
  | { kind: 'blob-progress'; digest: Digest; bytes: number; size: number; direction: 'push' | 'pull' }
  | { kind: 'retry'; url: string; attempt: number; reason: string; delayMs: number }
  | { kind: 'warning'; message: string };

/** How registries are reached; one value serves every registry a command touches. */
export interface RegistryOptions {
  credentials?: CredentialStore;
  /**
   * Plain HTTP or unverified TLS. `true` allows it for loopback hosts only (127.0.0.0/8, ::1,
   * localhost); a non-loopback host must be named (`['registry.internal:5000']`), with a warning.
   */
  insecure?: boolean | readonly string[];
  /** Extra CA certificates (PEM file) trusted besides the system roots. */
  caFile?: string;
  /** The HTTP client (timeouts, retries); one is made from the TLS settings when absent. */
  http?: HttpClient;
  /** Parallel blob transfers of one copy (`--jobs`, default 4). */
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (event: RegistryEvent) => void;
  /** Environment for credential files and helpers, and the proxy variables (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A manifest as the registry served it: bytes, media type, and the digest of those bytes. */
export interface FetchedManifest {
  raw: Buffer;
  mediaType: string;
  digest: Digest;
}

export type BlobPushResult = 'pushed' | 'exists' | 'mounted';

/**
 * The OCI distribution API for one registry host. Every method takes a repository
 * (`library/ubuntu`); scopes and tokens are handled inside.
 */
export interface RegistryClient {
  /** HOST[:PORT] as the user wrote it (docker.io for Docker Hub). */
  readonly registry: string;
  /** `GET /v2/`: reachable, and the credentials (if any) are accepted. */
  ping(): Promise<void>;
  /**
   * Closes the kept-alive connections of the HTTP client it made (not of one passed in as
   * `http`); idle ones never hold the process open. A later call opens new ones.
   */
  close(): Promise<void>;
  /**
   * A manifest by tag or digest, with Accept for OCI/Docker manifests and indexes. The digest is
   * computed from the bytes; it must equal a requested digest and the Docker-Content-Digest
   * header (DIGEST_MISMATCH otherwise). Bounded at 4 MiB. MANIFEST_NOT_FOUND on 404.
   */
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  /** `HEAD` a manifest: its descriptor, or undefined when absent. */
  headManifest(repository: string, reference: string): Promise<Descriptor | undefined>;
  /** `PUT` a manifest by tag or digest; returns the digest of `raw`. */
  putManifest(repository: string, reference: string, raw: Buffer, mediaType: string): Promise<Digest>;
  /** `DELETE` a manifest by digest; UNSUPPORTED_OPERATION where the registry does not allow it. */
  deleteManifest(repository: string, digest: Digest): Promise<void>;
  /** `HEAD` a blob: present with the descriptor's size. */
  hasBlob(repository: string, descriptor: Descriptor): Promise<boolean>;
  /**
   * A blob as a stream that is size- and digest-verified (the stream errors at the end otherwise);
   * a connection that breaks is resumed with a `Range` request. BLOB_NOT_FOUND on 404.
   */
  openBlob(repository: string, descriptor: Descriptor): Promise<Readable>;
  /**
   * Uploads a blob unless present: monolithic for small blobs, chunked PATCH for large ones
   * (falling back when refused); `open` is called again for a retry. The registry's digest check
   * is the last word; the stream is also verified while sent. `skipCheck`: the caller has just
   * asked `hasBlob` (a copy does), so no second `HEAD` is sent.
   */
  pushBlob(
    repository: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    options?: { skipCheck?: boolean },
  ): Promise<BlobPushResult>;
  /** Cross-repository mount (`POST ...?mount=&from=`); false when the registry did not mount. */
  mountBlob(repository: string, descriptor: Descriptor, from: string): Promise<boolean>;
  /** Every tag, following `Link` pagination. */
  listTags(repository: string): Promise<string[]>;
  /**
   * The referrers API (`GET /v2/<name>/referrers/<digest>`): the index's descriptors (filtered by
   * `artifactType`, by the registry or here), or `undefined` when the registry has no such API.
   */
  referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[] | undefined>;
}
