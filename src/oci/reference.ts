import { RampartError } from '../errors.js';
import type { Digest } from './digest.js';
import { parseDigest } from './digest.js';

export type Transport = 'oci' | 'oci-archive' | 'docker-archive' | 'dir' | 'docker';

/**
 * A parsed image reference. For `oci:`/`oci-archive:` the tag is the index.json ref.name; for
 * `docker-archive:FILE:NAME:TAG` the `tag` holds the whole Docker reference (`NAME:TAG`), as in skopeo.
 */
export type ImageReference = {
  transport: Transport;
  path?: string;
  tag?: string;
  digest?: Digest;
  registry?: string;
  repository?: string;
  raw: string;
};

const LOCAL_TRANSPORTS = ['oci-archive', 'docker-archive', 'oci', 'dir'] as const;
/** skopeo transports rampart does not read; named so they are not mistaken for Docker Hub images. */
const OTHER_SKOPEO_TRANSPORTS = new Set(['docker-daemon', 'containers-storage', 'ostree', 'sif', 'tarball']);
const DOCKER_HUB = 'docker.io';
// distribution/reference grammar: lowercase path components separated by '/'.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Parses `TRANSPORT:...` or a bare Docker reference (normalised like `docker pull`). */
export function parseImageReference(value: string): ImageReference {
  for (const transport of LOCAL_TRANSPORTS) {
    if (value.startsWith(`${transport}:`))
      return parseLocal(transport, value.slice(transport.length + 1), value);
  }
  if (value.startsWith('docker://')) return parseDockerReference(value.slice('docker://'.length), value);
  const scheme = /^([a-z-]+):/.exec(value)?.[1];
  // Without this, `docker-daemon:nginx` would parse as docker.io/library/docker-daemon:nginx.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || (scheme && OTHER_SKOPEO_TRANSPORTS.has(scheme))) {
    throw new RampartError(
      'UNSUPPORTED_TRANSPORT',
      `unknown transport in '${value}': use oci:, oci-archive:, docker-archive:, dir: or docker://`,
      { details: { reference: value, ...(scheme ? { transport: scheme } : {}) } },
    );
  }
  if (looksLikePath(value)) {
    // './out/static' can never be a registry reference; the user meant a local image.
    throw new RampartError(
      'INVALID_REFERENCE',
      `'${value}' is a path, not an image reference: use oci:${value} for an OCI layout directory, oci-archive:${value} or docker-archive:${value} for a tar, or dir:${value} for a root filesystem`,
      { details: { reference: value } },
    );
  }
  return parseDockerReference(value, value);
}

/** A value only a filesystem path can be: `./x`, `../x`, `/x`, `~/x`, `.` or `..`. */
function looksLikePath(value: string): boolean {
  return /^(\.{1,2}|~)?\//.test(value) || value === '.' || value === '..';
}

function parseLocal(transport: (typeof LOCAL_TRANSPORTS)[number], rest: string, raw: string): ImageReference {
  if (transport === 'dir') {
    if (!rest) throw invalid(raw, 'dir: needs a path to a root filesystem directory');
    return { transport, path: rest, raw };
  }
  let path = rest;
  let tag: string | undefined;
  let digest: Digest | undefined;
  const at = rest.lastIndexOf('@sha256:');
  if (at !== -1 && transport !== 'docker-archive') {
    path = rest.slice(0, at);
    digest = parseDigest(rest.slice(at + 1));
  } else {
    // Like skopeo, the first ':' ends the path (paths containing ':' are not supported).
    const colon = rest.indexOf(':');
    if (colon !== -1) {
      path = rest.slice(0, colon);
      tag = rest.slice(colon + 1);
      if (!tag) throw invalid(raw, 'empty tag after the path');
      if (transport !== 'docker-archive' && !/^[A-Za-z0-9._\-:/@+]+$/.test(tag))
        throw invalid(raw, `bad tag '${tag}'`);
    }
  }
  if (!path) throw invalid(raw, `${transport}: needs a path`);
  if (transport === 'docker-archive' && tag) parseDockerReference(tag, raw);
  return { transport, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), raw };
}

/**
 * Whether `value` is a registry's `HOST[:PORT]` or `[IPv6][:PORT]`, with a port of 1-65535 (port 0
 * would reach the scheme's default port, 443 or 80, instead of failing). One rule for image
 * references and credential keys.
 */
export function isRegistryHost(value: string): boolean {
  const match = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::([0-9]{1,5}))?$/.exec(value);
  if (!match) return false;
  const port = match[1] === undefined ? undefined : Number(match[1]);
  return port === undefined || (port >= 1 && port <= 65_535);
}

/** Docker normalisation: `ubuntu` -> docker.io/library/ubuntu:latest; see `isRegistry` for when the first component is a registry. */
function parseDockerReference(value: string, raw: string): ImageReference {
  if (!value) throw invalid(raw, 'empty reference');
  let rest = value;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(raw, `bad tag '${tag}'`);
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let registry = DOCKER_HUB;
  let repository = rest;
  // As Docker's splitDockerDomain: a first component with '.', ':' or an upper-case letter, or 'localhost'.
  const isRegistry =
    first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
  if (first && isRegistry) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        raw,
        `bad repository '${repository}' (lowercase letters, digits and . _ - separators only)`,
      );
    }
  }
  if (!isRegistryHost(registry))
    throw invalid(raw, `bad registry '${registry}' (expected HOST[:PORT] or [IPv6][:PORT])`);
  if (!tag && !digest) tag = 'latest';
  return {
    transport: 'docker',
    registry,
    repository,
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
    raw,
  };
}

/** The canonical string form, e.g. `docker.io/library/ubuntu:latest` or `oci:./out:tag`. */
export function formatImageReference(ref: ImageReference): string {
  if (ref.transport === 'docker') {
    return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  }
  return `${ref.transport}:${ref.path}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

function invalid(raw: string, detail: string): RampartError {
  return new RampartError('INVALID_REFERENCE', `invalid image reference '${raw}': ${detail}`, {
    details: { reference: raw },
  });
}
