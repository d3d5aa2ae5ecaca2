import type { CopyEvent } from '../oci/copy.js';
import type { LockedPackage } from './lock.js';

/**
 * What a build reports while it runs, phase by phase, in this order: resolve, download, then
 * assemble and layers for each architecture, sboms for each architecture (with `sbomDir`), write.
 * Every phase opens with `start` and closes with `done`, which carries its elapsed milliseconds.
 */
export type BuildEvent = BuildEventBody & {
  /** When it happened (RFC 3339, from the build's clock); every event buildImage sends has it. */
  at?: string;
  /** The caller's job id (`BuildOptions.jobId`), for services that run several builds. */
  jobId?: string;
};

export type BuildEventBody =
  | {
      phase: 'resolve';
      kind: 'start';
      /** Packages come from the lock (`--locked`) rather than the archive's indexes. */
      locked: boolean;
      lockPath: string;
      /** Packages the spec asks for. */
      requested: number;
      suites: string[];
      archs: string[];
    }
  /** A verified index was loaded, or found unchanged since the cached copy. */
  | { phase: 'resolve'; kind: 'index'; message: string }
  /** `packages`: the closure's size per architecture. */
  | { phase: 'resolve'; kind: 'done'; locked: boolean; packages: Record<string, number>; elapsedMs: number }
  /** Distinct .deb files of every architecture, and their bytes (cached ones included). */
  | { phase: 'download'; kind: 'start'; packages: number; bytes: number }
  /** Bytes verified from the mirror or found in the cache. */
  | { phase: 'download'; kind: 'bytes'; bytes: number }
  | { phase: 'download'; kind: 'package'; pkg: LockedPackage; cached: boolean }
  | {
      phase: 'download';
      kind: 'done';
      packages: number;
      /** Packages and bytes that came from the mirror; the rest were in the cache. */
      fetched: number;
      fetchedBytes: number;
      elapsedMs: number;
    }
  | { phase: 'assemble'; kind: 'start'; arch: string; packages: number }
  /** `paths`: files, directories and links in the assembled root filesystem. */
  | { phase: 'assemble'; kind: 'done'; arch: string; packages: number; paths: number; elapsedMs: number }
  | { phase: 'layers'; kind: 'start'; arch: string }
  | {
      phase: 'layers';
      kind: 'layer';
      arch: string;
      name: string;
      entries: number;
      digest: string;
      /** Compressed bytes. */
      size: number;
      uncompressedSize: number;
      /** Taken from the layer cache rather than built. */
      cached: boolean;
      elapsedMs: number;
    }
  /** `size`: compressed bytes of all the layers. */
  | { phase: 'layers'; kind: 'done'; arch: string; layers: number; size: number; elapsedMs: number }
  | { phase: 'sboms'; kind: 'start'; arch: string }
  /** `packages`: what the SBOM catalogued (Debian and any other ecosystem found in the image). */
  | { phase: 'sboms'; kind: 'done'; arch: string; packages: number; elapsedMs: number }
  | { phase: 'write'; kind: 'start'; reference: string }
  /**
   * A docker:// output's transfer, as `copy()` reports it (plan, each blob, bytes sent, each
   * manifest), for progress bars; local outputs send none.
   */
  | { phase: 'write'; kind: 'copy'; event: CopyEvent }
  /** With `sign`: the signatures and attestations attached, before the write is done. */
  | { phase: 'write'; kind: 'signed'; signatures: number; attestations: number; elapsedMs: number }
  /** The output, the SBOM files, the lock and the build record are written. */
  | { phase: 'write'; kind: 'done'; reference: string; digest: string; elapsedMs: number };

export type BuildPhase = BuildEvent['phase'];
