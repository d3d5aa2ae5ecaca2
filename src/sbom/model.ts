import type * as z from 'zod/mini';
import {
  array,
  boolean,
  compile,
  enum as enumOf,
  int,
  number,
  object,
  optional,
  string,
} from '../util/zod.js';

/** Ecosystems rampart catalogs; the values match purl types so matchers can key on them. */
export const PackageTypeSchema = enumOf(['deb', 'npm', 'pypi', 'golang', 'maven', 'cargo']);
export type PackageType = z.infer<typeof PackageTypeSchema>;

export const SbomFileSchema = object({
  path: string(),
  /** Digest as recorded by the package manager (dpkg md5sums, RECORD sha256), not recomputed. */
  digest: optional(object({ algorithm: enumOf(['md5', 'sha1', 'sha256']), value: string() })),
  /**
   * SHA-1 of the file's bytes in the catalogued root, computed while reading when file digests are
   * asked for (`rampart sbom --files`: SPDX 2.3 requires one on every file). Absent when the file
   * is not in the root (removed after install) or was not hashed.
   */
  sha1: optional(string()),
});
export type SbomFile = z.infer<typeof SbomFileSchema>;

export const LicenseRefSchema = object({
  /** `LicenseRef-<sanitised name>`, as it appears in the expression. */
  id: string(),
  /** The licence name exactly as the package wrote it (`BSD-4-clause-POWERDOG`, `GPL-2+ with OpenSSL exception`). */
  name: string(),
  /** The licence text the package gives for that name (a DEP-5 stand-alone License paragraph), when it gives one. */
  text: optional(string()),
});
export type LicenseRef = z.infer<typeof LicenseRefSchema>;

/** What a package declares about its licence, as one SPDX expression. */
export const DeclaredLicenseSchema = object({
  /**
   * One SPDX licence expression keeping the package's structure (OR, AND, WITH, or-later): a Debian
   * package's is the AND of its copyright file's Files paragraphs. Names SPDX lacks are `LicenseRef-`s.
   */
  expression: string(),
  /** What each `LicenseRef-` in the expression stands for; absent when it has none. */
  refs: optional(array(LicenseRefSchema)),
});
export type DeclaredLicense = z.infer<typeof DeclaredLicenseSchema>;

/** The dpkg fields that name the sources compiled into a binary package (`SbomPackage.builtUsing`). */
export const BUILT_USING_FIELDS = ['Built-Using', 'Static-Built-Using', 'X-Cargo-Built-Using'] as const;

export const SbomPackageSchema = object({
  /** Stable within one document: `<type>:<name>@<version>` plus the architecture or location when needed. */
  id: string(),
  name: string(),
  /** Empty when the package has none (a Go main module built from a working tree, `(devel)`). */
  version: string(),
  type: PackageTypeSchema,
  purl: string(),
  cpes: array(string()),
  /** The declared licence; absent when the package declares none that rampart could read. */
  license: optional(DeclaredLicenseSchema),
  supplier: optional(string()),
  source: optional(object({ name: string(), version: string() })),
  architecture: optional(string()),
  /** Files that evidence the package (status file, package.json, binary). */
  locations: array(string()),
  files: optional(array(SbomFileSchema)),
  /** sha256 of the evidencing file, when the cataloger read a binary or archive anyway. */
  sha256: optional(string()),
  dependsOn: array(string()),
  /** One-line summary from the package's metadata (dpkg Description synopsis, npm, PyPI Summary, pom). */
  description: optional(string()),
  homepage: optional(string()),
  /** The application the root was built for (an npm project root), not a dependency of it. */
  application: optional(boolean()),
  /**
   * Sources compiled into this binary package (dpkg `Built-Using`, `Static-Built-Using`,
   * `X-Cargo-Built-Using`): ids of the Debian source packages (architecture `source`) in this document.
   */
  builtUsing: optional(
    array(
      object({
        id: string(),
        field: enumOf(BUILT_USING_FIELDS),
      }),
    ),
  ),
  /** Ids of packages physically inside this one (jars nested in a fat jar). */
  contains: optional(array(string())),
});
export type SbomPackage = z.infer<typeof SbomPackageSchema>;

export const SbomDistroSchema = object({
  id: string(),
  versionId: optional(string()),
  versionCodename: optional(string()),
  prettyName: optional(string()),
});
export type SbomDistro = z.infer<typeof SbomDistroSchema>;

export const SbomSourceSchema = object({
  kind: enumOf(['image', 'directory', 'sbom']),
  /** What the user named: an image reference or a directory path. */
  ref: string(),
  digest: optional(string()),
  platform: optional(string()),
  /** RFC 3339 creation time carried into the encoders (image config `created` or SOURCE_DATE_EPOCH). */
  created: optional(string()),
});
export type SbomSource = z.infer<typeof SbomSourceSchema>;

export const SbomWarningSchema = object({
  cataloger: string(),
  path: optional(string()),
  message: string(),
  /**
   * Set when a layer entry (or a whole unreadable layer) was left out of the catalog: what is in
   * the image may be missing from the SBOM, so `rampart sbom` fails unless told to accept it.
   */
  skipped: optional(
    object({
      /** absent for a file the catalog turned down (a package database over its size limit) */
      layer: optional(number().check(int())),
      layerDigest: optional(string()),
      /** position of the entry in its layer; absent when the whole layer was unreadable */
      entry: optional(number().check(int())),
      name: string(),
      reason: string(),
    }),
  ),
});
export type SbomWarning = z.infer<typeof SbomWarningSchema>;

/** rampart's own SBOM model (`-o json`); the scanner reads this. */
export const SbomDocumentSchema = object({
  source: SbomSourceSchema,
  distro: optional(SbomDistroSchema),
  packages: array(SbomPackageSchema),
  warnings: array(SbomWarningSchema),
});
export type SbomDocument = z.infer<typeof SbomDocumentSchema>;

let compiledDocument: typeof SbomDocumentSchema | undefined;

/**
 * Checks a whole document against SbomDocumentSchema with zod's compiled parser, built on first use:
 * an SBOM holds thousands of packages, and zod/mini's own parser walks each object's schema at run
 * time (~3× slower for 3,000 packages of 15 files each: ~170 vs ~55 ms, plus ~6 ms to compile).
 * The same result and the same issues as `SbomDocumentSchema.safeParse`.
 */
export function safeParseSbomDocument(value: unknown): ReturnType<typeof SbomDocumentSchema.safeParse> {
  compiledDocument ??= compile(SbomDocumentSchema);
  return compiledDocument.safeParse(value);
}
