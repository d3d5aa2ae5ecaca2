import { dirname, resolve } from 'node:path';
import { fromSystemError, isRampartError, isSystemError, RampartError } from '../errors.js';
import {
  openRegistryImage,
  openRegistryManifest,
  registryBlobSource,
  registryOrigin,
} from '../registry/source.js';
import type { RegistryClient, RegistryOptions } from '../registry/types.js';
import type { LockOptions } from '../util/path-lock.js';
import type { Attachment, AttachmentStore, FoundAttachment } from './attachments.js';
import { copiedManifestDigests, findAttachments, layoutAttachmentStore } from './attachments.js';
import type { CopyOptions, CopyResult } from './copy.js';
import type { Digest } from './digest.js';
import type { Index, Manifest, OciObject } from './image.js';
import { selectIndexEntry } from './image.js';
import type { LayoutFiles, LayoutSelector } from './layout.js';
import { archivedLayout, directoryLayout, openLayout, readLayoutIndex, selectLayoutEntry } from './layout.js';
import type { ImageReference } from './reference.js';
import { parseImageReference } from './reference.js';
import type { ImageSink } from './sink.js';
import { loadManifest } from './source.js';

// Each transport's reader and writer (and copy) load when a reference of that transport is opened
// or written: reading a local layout (a scan, a compare) loads neither the archive formats nor
// the writing side.

function toReference(ref: string | ImageReference): ImageReference {
  return typeof ref === 'string' ? parseImageReference(ref) : ref;
}

/** How `openImage`/`openSink`/`writeImage` reach a registry (docker://); unused by the local transports. */
export interface OpenOptions {
  registry?: RegistryOptions;
}

/**
 * The clients made for one `RegistryOptions` object, per registry host. A command passes the same
 * options to `openImage`, `openAttachmentStore` and `openSink` (sign: all three): one client then
 * serves them all, so the scheme probe, the token for a scope and the connections are made once,
 * not per open.
 */
const clients = new WeakMap<RegistryOptions, Map<string, RegistryClient>>();

// The registry client (HTTP, auth, retries) and its sink and referrers code load only for a
// docker:// reference: a command on a local layout or archive never pays for them.
async function registryClient(reference: ImageReference, options?: RegistryOptions): Promise<RegistryClient> {
  const { createRegistryClient } = await import('../registry/client.js');
  const registry = reference.registry ?? '';
  if (!options) return createRegistryClient(registry, {});
  let byHost = clients.get(options);
  if (!byHost) {
    byHost = new Map();
    clients.set(options, byHost);
  }
  let client = byHost.get(registry);
  if (!client) {
    client = createRegistryClient(registry, options);
    byHost.set(registry, client);
  }
  return client;
}

/**
 * Opens what a reference names from any supported transport: a runnable image (config read and
 * checked), an artifact manifest (nothing but the manifest read), or an index (children lazily).
 */
export async function openImage(ref: string | ImageReference, options: OpenOptions = {}): Promise<OciObject> {
  const reference = toReference(ref);
  return openReference(reference, options).catch((error: unknown) => {
    throw asRampartError(error, `cannot read ${reference.raw}`, reference.path, 'read');
  });
}

async function openReference(reference: ImageReference, options: OpenOptions): Promise<OciObject> {
  const path = reference.path ?? '';
  switch (reference.transport) {
    case 'oci':
      return openLayout(directoryLayout(path), selector(reference));
    case 'oci-archive':
      return (await import('./oci-archive.js')).openOciArchive(path, selector(reference));
    case 'docker-archive':
      return (await import('./docker-archive.js')).openDockerArchive(path, reference.tag);
    case 'dir':
      // skopeo's dir: format (version + manifest.json) is an image; any other directory is a rootfs.
      return (await (await import('./skopeo-dir-detect.js')).isSkopeoDir(path))
        ? (await import('./skopeo-dir.js')).openSkopeoDir(path)
        : (await import('./rootfs-source.js')).openRootfsDirectory(path);
    case 'docker':
      return openRegistryImage(reference, await registryClient(reference, options.registry));
  }
}

/**
 * What a reference names, unresolved: the manifest or index (by digest when pinned, which its bytes
 * must hash to), an image's config not read. For callers that need the digest and the manifest
 * only: a signature covers the manifest's digest, not the config (verify, as cosign's). The
 * transports that hold one image and no manifest beside it (docker-archive:, dir:) open it whole.
 */
export async function openManifest(
  ref: string | ImageReference,
  options: OpenOptions = {},
): Promise<OciObject> {
  const reference = toReference(ref);
  const path = reference.path ?? '';
  const opening = async (): Promise<OciObject> => {
    switch (reference.transport) {
      case 'oci':
        return layoutManifest(directoryLayout(path), selector(reference));
      case 'oci-archive':
        return layoutManifest(
          archivedLayout(await (await import('./tar-index.js')).TarIndex.open(path)),
          selector(reference),
        );
      case 'docker':
        return openRegistryManifest(reference, await registryClient(reference, options.registry));
      default:
        return openReference(reference, options);
    }
  };
  return opening().catch((error: unknown) => {
    throw asRampartError(error, `cannot read ${reference.raw}`, reference.path, 'read');
  });
}

async function layoutManifest(files: LayoutFiles, wanted: LayoutSelector): Promise<Manifest | Index> {
  return loadManifest(files, selectLayoutEntry(await readLayoutIndex(files), wanted, files.location));
}

function selector(ref: ImageReference): { tag?: string; digest?: Digest } {
  return { ...(ref.tag ? { tag: ref.tag } : {}), ...(ref.digest ? { digest: ref.digest } : {}) };
}

/**
 * The sink for a destination reference: the one place transports are mapped to writers. `copy()`
 * does the writing (see copy.ts).
 */
export async function openSink(
  target: string | ImageReference,
  options: { lock?: LockOptions } & OpenOptions = {},
): Promise<ImageSink> {
  const reference = toReference(target);
  const path = reference.path ?? '';
  try {
    if (path) {
      // The writing side's checks load here: a command that only reads never pays for them.
      const [{ checkWritable }, { sweepAbandonedStaging }] = await Promise.all([
        import('../util/writable.js'),
        import('../util/staging.js'),
      ]);
      // A read-only or mistyped destination is one line now, before anything is staged.
      await checkWritable(path, { inside: reference.transport === 'oci' || reference.transport === 'dir' });
      // What an earlier run killed before its cleanup left beside this destination.
      await sweepAbandonedStaging(dirname(resolve(path)));
    }
    switch (reference.transport) {
      case 'oci':
        if (reference.digest) throw cannotWriteDigest(reference);
        return await (await import('./layout-write.js')).openLayoutSink(
          path,
          options.lock ? { lock: options.lock } : {},
        );
      case 'oci-archive':
        if (reference.digest) throw cannotWriteDigest(reference);
        return await (await import('./oci-archive.js')).openOciArchiveSink(path);
      case 'docker-archive':
        return await (await import('./docker-archive.js')).openDockerArchiveSink(path);
      case 'dir':
        return await (await import('./skopeo-dir.js')).openSkopeoDirSink(path);
      case 'docker': {
        const [{ registrySink }, client] = await Promise.all([
          import('../registry/sink.js'),
          registryClient(reference, options.registry),
        ]);
        return registrySink(reference, client);
      }
    }
  } catch (error) {
    throw asRampartError(error, `cannot write ${reference.raw}`, path);
  }
}

/**
 * Refuses a transport that cannot hold attachments (docker-archive: and dir: hold one image and
 * no tags beside it), before anything is read or written: one rule, for sources and destinations.
 */
export function checkHoldsAttachments(ref: string | ImageReference): void {
  const reference = toReference(ref);
  if (reference.transport === 'docker-archive' || reference.transport === 'dir') {
    throw new RampartError(
      'USAGE',
      `${reference.transport}: cannot hold attachments (signatures, attestations, SBOMs, referrers); use oci:, oci-archive: or docker://, or drop --with-attachments`,
      { details: { option: '--with-attachments', value: reference.raw } },
    );
  }
}

/** Where the attachments of what a reference names are looked up (see attachments.ts). */
export async function openAttachmentStore(
  ref: string | ImageReference,
  options: OpenOptions = {},
): Promise<AttachmentStore> {
  const reference = toReference(ref);
  checkHoldsAttachments(reference);
  const path = reference.path ?? '';
  if (reference.transport === 'oci-archive')
    return layoutAttachmentStore(archivedLayout(await (await import('./tar-index.js')).TarIndex.open(path)));
  if (reference.transport === 'docker') {
    const repository = reference.repository ?? '';
    const [{ registryAttachmentStore }, client] = await Promise.all([
      import('../registry/referrers.js'),
      registryClient(reference, options.registry),
    ]);
    const source = registryBlobSource(client, repository);
    return {
      ...registryAttachmentStore(client, repository, (descriptor) => loadManifest(source, descriptor)),
      async openTag(tag) {
        // One GET by the tag, the manifest read as any registry reference is (openRegistryManifest:
        // its digest is the served bytes', and Docker-Content-Digest must agree, client.ts).
        const { digest: _pinned, ...named } = reference;
        return openRegistryManifest({ ...named, tag }, client).catch((error: unknown) => {
          if (isRampartError(error, 'MANIFEST_NOT_FOUND')) return undefined;
          throw error;
        });
      },
    };
  }
  return layoutAttachmentStore(directoryLayout(path));
}

/**
 * Writes an image, artifact or index to a destination reference through `copy()`. A registry
 * (docker://) keeps every manifest byte for byte and gets the whole index; blobs of the same
 * registry are mounted, `registry.jobs` run at once. oci/oci-archive
 * keep every OCI manifest byte for byte (a whole index included; Docker schema 2 manifests get OCI
 * media types, see convert.ts); docker-archive holds one image, chosen by `platform` (default: the
 * host's). Returns the digest a reader of the destination sees.
 */
export async function writeImage(
  target: string | ImageReference,
  source: OciObject,
  opts: Omit<CopyOptions, 'tag' | 'mountFrom' | 'attachments'> &
    OpenOptions & {
      /** Also copy the attachments found here (recursively) of every manifest copied. */
      attachmentsFrom?: AttachmentStore;
    } = {},
): Promise<WriteResult> {
  const reference = toReference(target);
  const { registry, attachmentsFrom, ...copyOptions } = opts;
  const signal = opts.signal ?? registry?.signal;
  if (attachmentsFrom) checkHoldsAttachments(reference);
  const found = attachmentsFrom
    ? await findAttachments(attachmentsFrom, attachedTo(source, opts), { ...(signal ? { signal } : {}) })
    : undefined;
  // What each copied attachment says it is, read from the manifest copied (a listing can lie).
  const copiedTypes = new Map<FoundAttachment, string | undefined>();
  const attachments =
    found && attachmentsFrom
      ? found.map((attachment) => ({
          open: async () => {
            const object = await openAttachment(attachmentsFrom, attachment);
            copiedTypes.set(attachment, object.artifactType);
            return object;
          },
          ...(attachment.tag ? { tag: attachment.tag } : {}),
        }))
      : undefined;
  const sink = await openSink(reference, {
    ...(signal ? { lock: { signal } } : {}),
    ...(registry ? { registry } : {}),
  });
  const origin = registryOrigin(source);
  try {
    const { copy } = await import('./copy.js');
    const result = await copy(source, sink, {
      ...(registry?.jobs ? { jobs: registry.jobs } : {}),
      ...copyOptions,
      ...(signal ? { signal } : {}),
      ...(origin ? { mountFrom: origin } : {}),
      ...(reference.tag ? { tag: reference.tag } : {}),
      ...(attachments ? { attachments } : {}),
    });
    return {
      ...result,
      reference: reference.raw,
      ...(found
        ? {
            attachments: found.map((attachment) => {
              const { kind, digest, tag } = attachment;
              const artifactType = copiedTypes.has(attachment)
                ? copiedTypes.get(attachment)
                : attachment.artifactType;
              return { kind, digest, ...(tag ? { tag } : {}), ...(artifactType ? { artifactType } : {}) };
            }),
          }
        : {}),
    };
  } catch (error) {
    throw asRampartError(error, `cannot write ${reference.raw}`, reference.path);
  }
}

/**
 * Opens an attachment to copy. A referrer must name the manifest it was listed for: a referrers
 * list (an API answer, a tag-schema index) that says otherwise would smuggle unrelated content in.
 */
async function openAttachment(store: AttachmentStore, attachment: FoundAttachment) {
  const object = await store.open(attachment.descriptor);
  if (attachment.kind === 'referrer' && object.subject?.digest !== attachment.subject) {
    throw new RampartError(
      'MALFORMED_MANIFEST',
      `${store.location} lists ${attachment.digest} as a referrer of ${attachment.subject}, but its subject is ${object.subject?.digest ?? 'absent'}`,
      { details: { digest: attachment.digest, location: store.location, field: 'subject' } },
    );
  }
  return object;
}

/** The manifests a copy writes, whose attachments travel with it: one platform's image, or all. */
function attachedTo(source: OciObject, opts: Pick<CopyOptions, 'platform'>): Digest[] {
  if (source.kind === 'index' && opts.platform) return [selectIndexEntry(source, opts.platform).digest];
  return copiedManifestDigests(source);
}

/** What `writeImage` wrote: `copy()`'s result and the destination as given. */
export interface WriteResult extends CopyResult {
  reference: string;
  /** With `attachmentsFrom`: what was copied beside the image. */
  attachments?: Attachment[];
}

function cannotWriteDigest(ref: ImageReference): RampartError {
  return new RampartError(
    'USAGE',
    `cannot write to '${ref.raw}': a destination takes a :TAG, not an @DIGEST`,
    { details: { value: ref.raw } },
  );
}

/** Filesystem errors from deep inside a transport become one-line IO errors naming the reference. */
function asRampartError(
  error: unknown,
  context: string,
  path?: string,
  operation: 'read' | 'write' = 'write',
): RampartError {
  if (error instanceof RampartError) return error;
  // A filesystem error says what the user can act on (missing folder, permissions, space).
  if (isSystemError(error)) return fromSystemError(error, { ...(path ? { path } : {}), operation });
  const message = error instanceof Error ? error.message : String(error);
  return new RampartError('IO', `${context}: ${message}`, {
    cause: error,
    details: { ...(path ? { path } : {}) },
  });
}
