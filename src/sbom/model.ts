import { z } from 'zod';

/** Ecosystems rampart catalogs; the values match purl types so matchers can key on them. */
export const PackageTypeSchema = z.enum(['deb', 'npm', 'pypi', 'golang', 'maven', 'cargo']);
export type PackageType = z.infer<typeof PackageTypeSchema>;

export const SbomFileSchema = z.object({
  path: z.string(),
  /** Digest as recorded by the package manager (dpkg md5sums, RECORD sha256), not recomputed. */
  digest: z.object({ algorithm: z.enum(['md5', 'sha1', 'sha256']), value: z.string() }).optional(),
  /**
   * SHA-1 of the file's bytes in the catalogued root, computed while reading when file digests are
   * asked for (`rampart sbom --files`: SPDX 2.3 requires one on every file). Absent when the file
   * is not in the root (removed after install) or was not hashed.
   */
  sha1: z.string().optional(),
});
export type SbomFile = z.infer<typeof SbomFileSchema>;

export const LicenseRefSchema = z.object({
  /** `LicenseRef-<sanitised name>`, as it appears in the expression. */
  id: z.string(),
  /** The licence name exactly as the package wrote it (`BSD-4-clause-POWERDOG`, `GPL-2+ with OpenSSL exception`). */
  name: z.string(),
  /** The licence text the package gives for that name (a DEP-5 stand-alone License paragraph), when it gives one. */
  text: z.string().optional(),
});
export type LicenseRef = z.infer<typeof LicenseRefSchema>;

/** What a package declares about its licence, as one SPDX expression. */
export const DeclaredLicenseSchema = z.object({
  /**
   * One SPDX licence expression keeping the package's structure (OR, AND, WITH, or-later): a Debian
   * package's is the AND of its copyright file's Files paragraphs. Names SPDX lacks are `LicenseRef-`s.
   */
  expression: z.string(),
  /** What each `LicenseRef-` in the expression stands for; absent when it has none. */
  refs: z.array(LicenseRefSchema).optional(),
});
export type DeclaredLicense = z.infer<typeof DeclaredLicenseSchema>;

export const SbomPackageSchema = z.object({
  /** Stable within one document: `<type>:<name>@<version>` plus the architecture or location when needed. */
  id: z.string(),
  name: z.string(),
  /** Empty when the package has none (a Go main module built from a working tree, `(devel)`). */
  version: z.string(),
  type: PackageTypeSchema,
  purl: z.string(),
  cpes: z.array(z.string()),
  /** The declared licence; absent when the package declares none that rampart could read. */
  license: DeclaredLicenseSchema.optional(),
  supplier: z.string().optional(),
  source: z.object({ name: z.string(), version: z.string() }).optional(),
  architecture: z.string().optional(),
  /** Files that evidence the package (status file, package.json, binary). */
  locations: z.array(z.string()),
  files: z.array(SbomFileSchema).optional(),
  /** sha256 of the evidencing file, when the cataloger read a binary or archive anyway. */
  sha256: z.string().optional(),
  dependsOn: z.array(z.string()),
  /** One-line summary from the package's metadata (dpkg Description synopsis, npm, PyPI Summary, pom). */
  description: z.string().optional(),
  homepage: z.string().optional(),
  /** The application the root was built for (an npm project root), not a dependency of it. */
  application: z.boolean().optional(),
  /**
   * Sources compiled into this binary package (dpkg `Built-Using`, `Static-Built-Using`,
   * `X-Cargo-Built-Using`): ids of the Debian source packages (architecture `source`) in this document.
   */
  builtUsing: z
    .array(
      z.object({
        id: z.string(),
        field: z.enum(['Built-Using', 'Static-Built-Using', 'X-Cargo-Built-Using']),
      }),
    )
    .optional(),
  /** Ids of packages physically inside this one (jars nested in a fat jar). */
  contains: z.array(z.string()).optional(),
});
export type SbomPackage = z.infer<typeof SbomPackageSchema>;

export const SbomDistroSchema = z.object({
  id: z.string(),
  versionId: z.string().optional(),
  versionCodename: z.string().optional(),
  prettyName: z.string().optional(),
});
export type SbomDistro = z.infer<typeof SbomDistroSchema>;

export const SbomSourceSchema = z.object({
  kind: z.enum(['image', 'directory', 'sbom']),
  /** What the user named: an image reference or a directory path. */
  ref: z.string(),
  digest: z.string().optional(),
  platform: z.string().optional(),
  /** RFC 3339 creation time carried into the encoders (image config `created` or SOURCE_DATE_EPOCH). */
  created: z.string().optional(),
});
export type SbomSource = z.infer<typeof SbomSourceSchema>;

export const SbomWarningSchema = z.object({
  cataloger: z.string(),
  path: z.string().optional(),
  message: z.string(),
  /**
   * Set when a layer entry (or a whole unreadable layer) was left out of the catalog: what is in
   * the image may be missing from the SBOM, so `rampart sbom` fails unless told to accept it.
   */
  skipped: z
    .object({
      /** absent for a file the catalog turned down (a package database over its size limit) */
      layer: z.number().int().optional(),
      layerDigest: z.string().optional(),
      /** position of the entry in its layer; absent when the whole layer was unreadable */
      entry: z.number().int().optional(),
      name: z.string(),
      reason: z.string(),
    })
    .optional(),
});
export type SbomWarning = z.infer<typeof SbomWarningSchema>;

/** rampart's own SBOM model (`-o json`); the scanner reads this. */
export const SbomDocumentSchema = z.object({
  source: SbomSourceSchema,
  distro: SbomDistroSchema.optional(),
  packages: z.array(SbomPackageSchema),
  warnings: z.array(SbomWarningSchema),
});
export type SbomDocument = z.infer<typeof SbomDocumentSchema>;
