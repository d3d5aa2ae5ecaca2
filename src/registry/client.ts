/**
 * The OCI distribution client for one registry host (`RegistryClient`): manifests, tags and
 * referrers here; blobs in `download.ts` and `upload.ts`; auth in `auth.ts`; how the host is
 * reached in `transport.ts`. What it guarantees:
 *
 * - Raw bytes are the truth: a manifest's digest is computed from the bytes received and must
 *   equal the digest asked for and the registry's `Docker-Content-Digest` (DIGEST_MISMATCH).
 * - Bounded: manifests and pages at 4 MiB, `Link` pagination at 10,000 pages and 32 MiB in all
 *   (what a listing holds in memory); blobs streamed.
 * - Names are checked against the distribution grammar before they go into a URL.
 */
import type { Readable } from 'node:stream';
import { RampartError } from '../errors.js';
import type { HttpClient, ResponseHeaders } from '../http/client.js';
import { sha256Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { type Descriptor, DescriptorSchema } from '../oci/types.js';
import { array } from '../util/zod.js';
import { RegistryApi } from './api.js';
import { RegistryAuthorizer } from './auth.js';
import { openBlob } from './download.js';
import { checkDigest, checkReference, checkRepository, isTag } from './names.js';
import {
  apiHostOf,
  hostnameOf,
  insecureAllowed,
  loopbackOnlyLookup,
  proxyEnvFor,
  registryHttpClient,
  speaksTls,
} from './transport.js';
import type { FetchedManifest, RegistryClient, RegistryOptions } from './types.js';
import type { UploadOptions } from './upload.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const upload = () => import('./upload.js');
/** Pages of one listing (a repository of millions of tags is listed whole). */
const MAX_PAGES = 10_000;
/**
 * Referrers read from one listing before it stops: more than any caller uses (verify checks at
 * most 1,000 signatures, copy --with-attachments refuses more than 1,000 attachments), so a
 * registry paging one referrer at a time, or the same one again and again, is asked ~1,000 times,
 * not 10,000 (each page must bring at least one: see `paginate`).
 */
export const MAX_REFERRERS_LISTED = 1001;
/** All pages of one listing together: the tags or referrers are held in memory. */
const MAX_LISTING_BYTES = 32 * 1024 * 1024;
const TAGS_PAGE_SIZE = 1000;

/** Every manifest type rampart reads, most specific first. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(', ');

/** Tuning for tests and benchmarks; the defaults suit real registries. */
export interface RegistryClientTuning {
  upload?: UploadOptions;
  /** Range resumes per blob download. Default 5. */
  resumes?: number;
  /** Blobs at least this big are read with a bulk GET (registry/download.ts). Default 1 MiB. */
  bulkMinBytes?: number;
  /** Tags asked for per page (`?n=`). Default 1000. */
  tagsPageSize?: number;
}

export function createRegistryClient(
  registry: string,
  options: RegistryOptions = {},
  tuning: RegistryClientTuning = {},
): RegistryClient {
  const insecure = insecureAllowed(registry, options.insecure, options.onEvent);
  // A relaxed `localhost` must resolve to loopback (transport.ts).
  const loopbackOnly = insecure && hostnameOf(apiHostOf(registry)) === 'localhost';
  const proxyEnv = proxyEnvFor(apiHostOf(registry), options.env ?? process.env);
  const http =
    options.http ??
    registryHttpClient({
      ...(options.caFile ? { caFile: options.caFile } : {}),
      insecure,
      ...(loopbackOnly ? { loopbackOnly: true } : {}),
      proxyEnv,
    });
  // The scheme question goes over a direct connection: only when rampart's own agents connect
  // directly too (no proxy, no client of the caller's).
  const sniff =
    insecure && !options.http && !proxyEnv
      ? (signal?: AbortSignal) =>
          speaksTls(apiHostOf(registry), {
            ...(loopbackOnly ? { lookup: loopbackOnlyLookup } : {}),
            ...(signal ? { signal } : {}),
          })
      : undefined;
  // A relaxed registry's token server on another host keeps verified TLS: its own clients, made
  // when a challenge names one, closed with this client.
  const realmClients = new Map<string, HttpClient>();
  const realmHttp = (host: string): HttpClient => {
    let client = realmClients.get(host);
    if (!client) {
      client = registryHttpClient({
        ...(options.caFile ? { caFile: options.caFile } : {}),
        proxyEnv: proxyEnvFor(host, options.env ?? process.env),
      });
      realmClients.set(host, client);
    }
    return client;
  };
  const authorizer = new RegistryAuthorizer({
    registry,
    http,
    insecure,
    ...(insecure && !options.http ? { realmHttp } : {}),
    ...(Array.isArray(options.insecure) ? { insecureHosts: options.insecure } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const api = new RegistryApi({
    registry,
    apiHost: apiHostOf(registry),
    http,
    insecure,
    ...(sniff ? { speaksTls: sniff } : {}),
    authorizer,
    signal: options.signal,
    onEvent: options.onEvent,
  });
  const where = (repository: string, reference?: string) =>
    `${registry}/${repository}${reference === undefined ? '' : reference.startsWith('sha256:') ? `@${reference}` : `:${reference}`}`;
  const manifestUrl = async (repository: string, reference: string) =>
    api.url(`${checkRepository(repository)}/manifests/${checkReference(reference)}`);
  const notFound = (repository: string, reference: string) =>
    new RampartError('MANIFEST_NOT_FOUND', `${where(repository, reference)} does not exist`, {
      details: { reference: where(repository, reference) },
    });

  const client: RegistryClient = {
    registry,

    async close() {
      if (!options.http) await http.close();
      await Promise.all([...realmClients.values()].map((c) => c.close()));
    },

    async ping() {
      const url = await api.url('');
      const response = await api.request(url, { access: {} });
      await response.cancel();
      // Credentials are not sent across origins (http/client.ts): another origin's answer to a
      // redirect proves nothing about them, and `login` would store a password never checked.
      if (new URL(response.url).origin !== new URL(url).origin) {
        throw new RampartError(
          'NETWORK',
          `${registry} answered /v2/ with a redirect to another origin (${new URL(response.url).origin}); the registry's own /v2/ must answer`,
          { details: { url, status: response.status, location: new URL(response.url).origin } },
        );
      }
    },

    async getManifest(repository, reference) {
      const url = await manifestUrl(repository, reference);
      return api.read(
        url,
        {
          access: { repository, actions: 'pull' },
          headers: { accept: MANIFEST_ACCEPT },
          acceptStatuses: [404],
          maxBytes: MAX_MANIFEST_BYTES,
        },
        async (response): Promise<FetchedManifest> => {
          if (response.status === 404) throw notFound(repository, reference);
          const raw = await response.bytes();
          const digest = sha256Digest(raw);
          const location = where(repository, reference);
          const claimed = response.headers.get('docker-content-digest');
          for (const expected of [
            reference.startsWith('sha256:') ? reference : undefined,
            claimed ?? undefined,
          ]) {
            if (expected !== undefined && expected !== digest) {
              throw new RampartError(
                'DIGEST_MISMATCH',
                `the manifest served for ${location} has digest ${digest}, expected ${expected}; the registry or the path to it is corrupting or substituting content`,
                { details: { expected, actual: digest, location } },
              );
            }
          }
          return { raw, digest, mediaType: manifestMediaType(raw, response.headers.get('content-type')) };
        },
      );
    },

    async headManifest(repository, reference) {
      const url = await manifestUrl(repository, reference);
      const response = await api.request(url, {
        method: 'HEAD',
        access: { repository, actions: 'pull' },
        headers: { accept: MANIFEST_ACCEPT },
        acceptStatuses: [404],
      });
      await response.cancel();
      if (response.status === 404) return undefined;
      const claimed = response.headers.get('docker-content-digest');
      const size = Number(response.headers.get('content-length') ?? Number.NaN);
      const mediaType = contentType(response.headers.get('content-type'));
      if (reference.startsWith('sha256:') && claimed !== null && claimed !== reference) {
        throw new RampartError(
          'DIGEST_MISMATCH',
          `${where(repository, reference)}: the registry names it ${claimed}`,
          { details: { expected: reference, actual: claimed, location: where(repository, reference) } },
        );
      }
      const digest = claimed ?? (reference.startsWith('sha256:') ? reference : undefined);
      if (digest === undefined || !Number.isSafeInteger(size) || mediaType === undefined) {
        // Not every registry describes a manifest in HEAD: fetch it and describe the bytes.
        const fetched = await client.getManifest(repository, reference).catch((error: unknown) => {
          if (error instanceof RampartError && error.code === 'MANIFEST_NOT_FOUND') return undefined;
          throw error;
        });
        return fetched && { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.raw.length };
      }
      return { mediaType, digest: checkDigest(digest), size };
    },

    async putManifest(repository, reference, raw, mediaType) {
      const url = await manifestUrl(repository, reference);
      const digest = sha256Digest(raw);
      if (reference.startsWith('sha256:') && reference !== digest) {
        throw new RampartError(
          'DIGEST_MISMATCH',
          `refusing to push a manifest with digest ${digest} as ${where(repository, reference)}`,
          { details: { expected: reference, actual: digest, location: where(repository, reference) } },
        );
      }
      const response = await api.request(url, {
        method: 'PUT',
        access: { repository, actions: 'pull,push' },
        headers: { 'content-type': mediaType },
        body: raw,
      });
      await response.cancel();
      const stored = response.headers.get('docker-content-digest');
      if (stored !== null && stored !== digest) {
        throw new RampartError(
          'DIGEST_MISMATCH',
          `${registry} stored the manifest pushed as ${where(repository, reference)} under ${stored}, not its digest ${digest}`,
          { details: { expected: digest, actual: stored, location: where(repository, reference) } },
        );
      }
      return digest;
    },

    async deleteManifest(repository, digest) {
      const url = await manifestUrl(repository, checkDigest(digest));
      const response = await api.request(url, {
        method: 'DELETE',
        access: { repository, actions: 'delete' },
        acceptStatuses: [404, 405],
      });
      await response.cancel();
      if (response.status === 404) throw notFound(repository, digest);
      if (response.status === 405) {
        throw new RampartError(
          'UNSUPPORTED_OPERATION',
          `${registry} does not allow deleting manifests (HTTP 405); deletion must be enabled on the registry (distribution: storage.delete.enabled)`,
          { details: { reference: where(repository, digest), operation: 'delete' } },
        );
      }
    },

    // The upload side loads at the first blob a command writes or checks for: a reader (pull,
    // verify) never pays for it.
    hasBlob: async (repository, descriptor) => (await upload()).hasBlob(api, repository, descriptor),
    openBlob: (repository, descriptor): Promise<Readable> =>
      openBlob(api, repository, descriptor, {
        ...(tuning.resumes === undefined ? {} : { resumes: tuning.resumes }),
        ...(tuning.bulkMinBytes === undefined ? {} : { bulkMinBytes: tuning.bulkMinBytes }),
      }),
    pushBlob: async (repository, descriptor, open, options) =>
      (await upload()).pushBlob(api, repository, descriptor, open, { ...tuning.upload, ...options }),
    mountBlob: async (repository, descriptor, from) =>
      (await upload()).mountBlob(api, repository, descriptor, from),

    async listTags(repository) {
      checkRepository(repository);
      const tags: string[] = [];
      await paginate(
        api,
        await api.url(`${repository}/tags/list?n=${tuning.tagsPageSize ?? TAGS_PAGE_SIZE}`),
        repository,
        (page) => {
          const list = (page as { tags?: unknown }).tags;
          if (list === null || list === undefined) return 0;
          // A tag outside the grammar (control characters, newlines) would be printed as is by ls.
          if (!Array.isArray(list) || list.some((tag) => typeof tag !== 'string' || !isTag(tag))) {
            throw new RampartError(
              'MALFORMED_MANIFEST',
              `${registry}/${repository}: the tag list is not a list of valid tags`,
              {
                details: { location: `${registry}/${repository}`, field: 'tags' },
              },
            );
          }
          tags.push(...(list as string[]));
          return list.length;
        },
      ).catch((error: unknown) => {
        if (error instanceof RampartError && error.code === 'MANIFEST_NOT_FOUND')
          throw notFound(repository, 'latest');
        throw error;
      });
      return tags;
    },

    async referrers(repository, digest, artifactType) {
      checkRepository(repository);
      const query = artifactType === undefined ? '' : `?${new URLSearchParams({ artifactType })}`;
      const url = await api.url(`${repository}/referrers/${checkDigest(digest)}${query}`);
      const found: Descriptor[] = [];
      let filtered = true;
      const supported = await paginate(
        api,
        url,
        repository,
        (page, headers) => {
          const applied = (headers.get('oci-filters-applied') ?? '').split(',').map((name) => name.trim());
          if (!applied.includes('artifactType')) filtered = false;
          const manifests = (page as { manifests?: unknown }).manifests ?? [];
          const parsed = array(DescriptorSchema).safeParse(manifests);
          if (!parsed.success) {
            throw new RampartError(
              'MALFORMED_MANIFEST',
              `${registry}/${repository}: the referrers of ${digest} are not a list of descriptors`,
              {
                details: { digest, location: `${registry}/${repository}`, field: 'manifests' },
              },
            );
          }
          found.push(...parsed.data);
          return parsed.data.length;
        },
        true,
        MAX_REFERRERS_LISTED,
      );
      if (!supported) return undefined;
      return artifactType === undefined || filtered
        ? found
        : found.filter((d) => d.artifactType === artifactType);
    },
  };
  return client;
}

/**
 * GETs a JSON document and its `Link: <...>; rel="next"` successors, handing each to `onPage`.
 * With `optional`, a first page of 404/405 or one that is not an OCI index means "no such API"
 * (false). A 404 otherwise is MANIFEST_NOT_FOUND (the repository is unknown).
 */
async function paginate(
  api: RegistryApi,
  first: string,
  repository: string,
  onPage: (page: unknown, headers: ResponseHeaders) => number,
  optional = false,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  let url: string | undefined = first;
  const seen = new Set<string>();
  let total = 0;
  let entries = 0;
  for (let pages = 0; url !== undefined; pages++) {
    if (pages >= MAX_PAGES || seen.has(url)) {
      throw new RampartError(
        'TOO_LARGE',
        `${api.registry}/${repository}: more than ${MAX_PAGES} pages, or a loop of pages`,
        {
          details: { limit: MAX_PAGES, url: new URL(url).pathname },
        },
      );
    }
    seen.add(url);
    const current: string = url;
    const next = await api.read(
      current,
      {
        access: { repository, actions: 'pull' },
        headers: optional ? { accept: MediaType.OciIndex } : { accept: 'application/json' },
        acceptStatuses: optional ? [404, 405] : [404],
        maxBytes: MAX_MANIFEST_BYTES,
      },
      async (response) => {
        if (response.status === 404 || response.status === 405) {
          if (optional) return false;
          throw new RampartError('MANIFEST_NOT_FOUND', `${api.registry}/${repository} does not exist`, {
            details: { reference: `${api.registry}/${repository}` },
          });
        }
        const body = await response.bytes();
        total += body.length;
        if (total > MAX_LISTING_BYTES) {
          throw new RampartError(
            'TOO_LARGE',
            `${api.registry}/${repository}: the listing is larger than ${MAX_LISTING_BYTES} bytes over ${pages + 1} pages; the registry is broken or hostile`,
            { details: { limit: MAX_LISTING_BYTES, url: new URL(current).pathname } },
          );
        }
        if (
          optional &&
          pages === 0 &&
          contentType(response.headers.get('content-type')) !== MediaType.OciIndex
        ) {
          return false;
        }
        let page: unknown;
        try {
          page = JSON.parse(body.toString('utf8'));
        } catch (error) {
          throw new RampartError(
            'MALFORMED_MANIFEST',
            `${api.registry}/${repository}: the answer to ${new URL(current).pathname} is not JSON`,
            {
              cause: error,
              details: { location: `${api.registry}/${repository}` },
            },
          );
        }
        if (page === null || typeof page !== 'object') {
          throw new RampartError(
            'MALFORMED_MANIFEST',
            `${api.registry}/${repository}: the answer to ${new URL(current).pathname} is not a JSON object`,
            {
              details: { location: `${api.registry}/${repository}` },
            },
          );
        }
        const onThisPage = onPage(page, response.headers);
        entries += onThisPage;
        const link = nextLink(response.headers.get('link'));
        if (link === undefined || entries >= stopAfter) return undefined;
        // A bounded listing (referrers) must bring something on every page before more: pages of
        // nothing could go on to MAX_PAGES for every manifest a copy walks. Tag lists, listed once
        // and from registries of every kind, keep the page bound alone.
        if (onThisPage === 0 && Number.isFinite(stopAfter)) {
          throw new RampartError(
            'MALFORMED_MANIFEST',
            `${api.registry}/${repository}: the answer to ${new URL(current).pathname} lists nothing but links to another page`,
            { details: { location: `${api.registry}/${repository}` } },
          );
        }
        return api.resolve(link, current);
      },
    );
    if (next === false) return false;
    url = next;
  }
  return true;
}

/** The `rel="next"` target of a Link header (RFC 8288), if any. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match?.[1] !== undefined && /;\s*rel="?next"?(?:\s*;|\s*$)/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

function contentType(header: string | null): string | undefined {
  const value = header?.split(';')[0]?.trim().toLowerCase();
  return value ? value : undefined;
}

/** The manifest's own `mediaType` field is the truth about the bytes; Content-Type otherwise. */
function manifestMediaType(raw: Buffer, header: string | null): string {
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as { mediaType?: unknown };
    if (typeof parsed.mediaType === 'string' && parsed.mediaType) return parsed.mediaType;
  } catch {
    // Not JSON: the caller's parser says so with its own error; the header is all there is here.
  }
  return contentType(header) ?? MediaType.OciManifest;
}
