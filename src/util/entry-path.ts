import { RampartError } from '../errors.js';

/**
 * The one rule for names inside archives (layer tars, .deb members, the rootfs tree the builder
 * assembles): `checkEntryPath` decides; the .deb reader, the layer reader (src/oci/tar-safety.ts:
 * extraction, the filesystem view, the SBOM) and the builder's rootfs tree all call it.
 *
 * The rule, and why:
 * - An absolute name (leading `/`) in an archive is refused. GNU tar ("Removing leading '/'"),
 *   dpkg (path_skip_slash_dotslash: `/abs` in a .deb lands at INSTDIR/abs), containerd
 *   (filepath.Clean + fs.RootPath) and umoci (securejoin) all read it as relative to the root, so
 *   it is not an escape for them; but no tool that writes .debs or layers emits one (dpkg-deb
 *   writes `./x`, image builders `x`), a naive extractor does write it to the host, and an SBOM
 *   must flag such an entry rather than silently agree with one reader. The rootfs tree's paths
 *   are image paths (`/usr/bin/x` in a spec), rooted by definition: the tree passes
 *   `{ absolute: 'root' }` to say so, and gets the same rule for everything else.
 * - Any `..` segment is refused, even one that stays inside (`usr/../x`). Runtimes disagree on
 *   its meaning: dpkg resolves it lexically and does not contain it (checked with bookworm's
 *   dpkg 1.21: `../escape` in data.tar was written *outside* --instdir), containerd and umoci
 *   clamp it at the root, moby refuses a breakout. A name whose meaning depends on the reader is
 *   a way to make the catalog and the container disagree, and no Debian package or layer written
 *   by a real tool needs one (dpkg-deb and every image builder emit clean names).
 * - A NUL byte is refused: no filesystem name can hold one, so a reader that truncates at it and
 *   one that does not would see two different files.
 * - Over 4096 bytes in all (PATH_MAX) or over 255 bytes in one segment (NAME_MAX) is refused
 *   here, with a reason, rather than failing later with ENAMETOOLONG half-way through a layer.
 * - An empty name is refused (no tool writes one); `.`, `./` and `/` name the root ('').
 * - `.` segments, repeated and trailing slashes are dropped (the entry type says directory).
 * - Backslashes and look-alike dots (U+2024 ONE DOT LEADER, U+FF0E FULLWIDTH FULL STOP) are
 *   ordinary bytes on Linux: kept as they are, never treated as separators or dots, and no
 *   Unicode normalisation is applied (systemd units ship names such as `system-systemd\x2d...`).
 */

/** Why an archive entry name is refused. */
export type UnsafePathReason = 'empty' | 'nul' | 'absolute' | 'dot-dot' | 'too-long' | 'segment-too-long';

export type EntryPathCheck =
  | { ok: true /** normalised relative path; '' is the root */; path: string }
  | { ok: false; reason: UnsafePathReason; message: string };

/** PATH_MAX and NAME_MAX of Linux, in bytes. */
export const MAX_PATH_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;

export interface EntryPathOptions {
  /**
   * 'refuse' (the default) for names read from archives; 'root' for image paths, where a leading
   * `/` is the image root (the builder's tree, spec destinations).
   */
  absolute?: 'refuse' | 'root';
}

/** The one path-safety rule (see the module comment): a normalised relative path, or why not. */
export function checkEntryPath(name: string, options: EntryPathOptions = {}): EntryPathCheck {
  if (name === '') return refuse('empty', 'is empty');
  if (name.includes('\0')) return refuse('nul', 'contains a NUL byte');
  if (name.startsWith('/') && options.absolute !== 'root') {
    return refuse('absolute', 'is an absolute path; archive entries must be relative to the root');
  }
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) {
    return refuse('too-long', `is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return refuse('dot-dot', "contains '..'; a path that may leave the root is refused");
    if (Buffer.byteLength(part) > MAX_SEGMENT_BYTES) {
      return refuse('segment-too-long', `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    parts.push(part);
  }
  return { ok: true, path: parts.join('/') };
}

function refuse(reason: UnsafePathReason, message: string): EntryPathCheck {
  return { ok: false, reason, message };
}

/** `checkEntryPath`, throwing PATH_TRAVERSAL on a refusal; `where` names the archive for the message. */
export function safeEntryPath(name: string, where?: string, options?: EntryPathOptions): string {
  const checked = checkEntryPath(name, options);
  if (checked.ok) return checked.path;
  throw new RampartError(
    'PATH_TRAVERSAL',
    `${where ? `${where}: ` : ''}archive entry ${JSON.stringify(name)} ${checked.message}; refusing it`,
    { details: { path: name, ...(where ? { location: where } : {}) } },
  );
}
