import type { DeclaredLicense, PackageType, SbomFile } from './model.js';
import type { FileContent, FileNode, RandomAccessFile } from './source/file-source.js';

/** What a cataloger knows about a package before identity (purl, CPE, id) is assigned. */
export interface RawPackage {
  type: PackageType;
  name: string;
  version: string;
  /** purl namespace where the ecosystem has one (maven groupId); npm scopes stay in the name. */
  namespace?: string;
  architecture?: string;
  source?: { name: string; version: string };
  license?: DeclaredLicense;
  supplier?: string;
  locations: string[];
  files?: SbomFile[];
  sha256?: string;
  /**
   * Dependencies as alternatives, resolved later within the same ecosystem: a package name, or a
   * name pinned to the exact version a binary was built with (two binaries, or one Rust binary,
   * can hold several versions of the same module).
   */
  depends?: Array<Array<string | { name: string; version: string }>>;
  /** Extra names this package answers to (dpkg Provides). */
  provides?: string[];
  description?: string;
  homepage?: string;
  /** The application the root was built for (see SbomPackage.application). */
  application?: boolean;
  /** Debian source packages compiled into this binary, by the dpkg field that lists them. */
  builtUsing?: Array<{ name: string; version: string; field: BuiltUsingField }>;
  /** Packages inside this one (nested jars), by `rawPackageKey`. */
  contains?: string[];
  /**
   * Set on a package found inside another archive (a jar in a fat jar): it stays its own package,
   * never merged with a copy of the same artifact elsewhere in the root.
   */
  nested?: boolean;
}

export type BuiltUsingField = 'Built-Using' | 'Static-Built-Using' | 'X-Cargo-Built-Using';

/**
 * The key under which catalogued copies of one package merge into one: ecosystem, coordinates and
 * architecture; a nested package (jar in a jar) keeps its own location, so it is never merged.
 */
export function rawPackageKey(pkg: RawPackage): string {
  return [
    pkg.type,
    pkg.namespace ?? '',
    pkg.name,
    pkg.version,
    pkg.architecture ?? '',
    pkg.nested ? (pkg.locations[0] ?? '') : '',
  ].join('\0');
}

export interface CatalogContext {
  warn(path: string | undefined, message: string): void;
  /** Resolves symlinks inside the catalogued root; undefined when the path does not exist. */
  resolve(path: string): string | undefined;
}

/** One run of a cataloger: it sees the matching files (in any order), then reports its packages. */
export interface CatalogerRun {
  accept(file: FileContent, ctx: CatalogContext): void | Promise<void>;
  /** Optional: used instead of `accept` when the source offers positional reads. */
  inspect?(path: string, file: RandomAccessFile, ctx: CatalogContext): Promise<void>;
  finish(ctx: CatalogContext): RawPackage[];
}

export interface Cataloger {
  name: string;
  /** Decides from the listing alone whether a file's bytes are needed; keep it cheap. */
  matches(node: FileNode): boolean;
  /**
   * Optional: why a file that `matches` turned down would have been this cataloger's but for a
   * limit (its size, say). The catalog records the reason as a warning, so nothing is left out silently.
   */
  skipReason?(node: FileNode): string | undefined;
  /**
   * Whether a file turned down for a limit can hide packages (a package database): then the skip
   * is recorded like an unsafe layer entry, and `rampart sbom` fails unless told to accept it.
   */
  skipHidesPackages?: boolean;
  start(): CatalogerRun;
}
