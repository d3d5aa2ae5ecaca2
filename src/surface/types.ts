/**
 * The attack-surface contract (issue 15): metrics of one image or root, shared by `compare`,
 * `diff`, `lint` and the maintenance service. Plain serialisable data.
 */

/** A count plus the paths behind it (sorted, capped by the producer; `total` is the true count). */
export interface PathList {
  total: number;
  paths: string[];
}

export interface SurfaceMetrics {
  /** What was measured: the reference the user gave, the resolved digest, the platform. */
  subject: { reference: string; digest?: string; platform?: string };
  /** See countPackages (src/surface/metrics.ts) for what counts as a package, and why. */
  packages: {
    /**
     * Distribution packages: what the distribution's package manager installed (dpkg's database,
     * as `dpkg-query -W` lists it). The package figure of `compare` and its reduction.
     */
    total: number;
    /**
     * Language packages (npm, PyPI, Maven, Go modules, Rust crates) found in the files,
     * including those a distribution package ships (a `node-*` deb and the npm module in it).
     */
    language: number;
    /** Every package of the SBOM by ecosystem (`deb`, `npm`, ...): both kinds together. */
    byEcosystem: Record<string, number>;
  };
  files: number;
  bytes: { uncompressed: number; compressed?: number };
  /** ELF executables (ET_EXEC or ET_DYN with an interpreter) and shared libraries. */
  elf: { executables: number; sharedLibraries: number };
  /** Executable regular files (any mode bit x) in the default PATH directories. */
  executablesOnPath: PathList;
  shells: PathList;
  packageManagers: PathList;
  interpreters: PathList;
  setuid: PathList;
  setgid: PathList;
  worldWritable: PathList;
  capabilities: PathList;
  /** The config's user ("" or absent means root), and whether it resolves to uid 0. */
  user: { name: string; root: boolean };
  exposedPorts: string[];
  /** Present only when an advisory store exists. */
  vulnerabilities?: Record<string, number>;
  /**
   * What could not be measured, or was measured only in part (an unsafe layer entry left out,
   * capabilities of a directory root): one sentence each. Absent when everything was measured.
   */
  warnings?: string[];
}

/** `rampart compare -o json` (a contract). Reductions are percentages (0–100, may be negative). */
export interface CompareResult {
  a: SurfaceMetrics;
  b: SurfaceMetrics;
  reduction: {
    /** of distribution packages (`packages.total`) */
    packages: number;
    /** of language packages (`packages.language`) */
    languagePackages: number;
    files: number;
    bytes: number;
    executables: number;
    vulnerabilities?: number;
  };
}
