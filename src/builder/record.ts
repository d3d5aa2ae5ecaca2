import { writeFileAtomic } from '../util/atomic-file.js';
import type { LockedRelease } from './lock.js';
import type { RecordedScan } from './scan-stage.js';

/**
 * What a build used and made, kept beside the output: everything SLSA provenance (v1) needs —
 * the builder id, the invocation's parameters, every resolved dependency with its digest (each
 * InRelease, each .deb, each `files:` source) and the start/finish times from the build's clock.
 */
export type BuildRecord = {
  recordVersion: 2;
  builder: { id: string; name: 'rampart'; version: string };
  spec: { path: string; sha256: string; name: string; variant?: string };
  lock: { path: string; sha256: string };
  /** The build's external parameters as given (not defaults filled in). */
  invocation: BuildInvocation;
  /** Each suite's signed InRelease: where it came from and its sha256. */
  releases: Array<Pick<LockedRelease, 'suite' | 'url' | 'inReleaseSha256' | 'date' | 'validUntil'>>;
  /** Every .deb of every platform, once. */
  packages: Array<{
    name: string;
    version: string;
    architecture: string;
    url: string;
    sha256: string;
    size: number;
  }>;
  /** The spec's `files:` sources: a file's sha256, or a directory's tree digest. */
  files: Array<{ source: string; type: 'file' | 'directory'; sha256: string; files: number }>;
  output: { reference: string; digest: string };
  platforms: Array<{ architecture: string; digest: string; packages: number }>;
  sourceDateEpoch?: number;
  /** The image's `created` time. */
  created: string;
  startedOn: string;
  finishedOn: string;
  /**
   * Each image's vulnerability scan (`rampart scan -o json` shape) when an advisory store
   * existed at build time, or why it could not be read; absent without a store.
   */
  scans?: RecordedScan[];
};

export type BuildInvocation = {
  spec: string;
  variant?: string;
  archs: string[];
  output: string;
  locked: boolean;
  sbomDir?: string;
  repository?: { mirror?: string; securityMirror?: string; keyring?: string };
  allowOutsideContext?: string[];
  /** SOURCE_DATE_EPOCH as set in the environment. */
  sourceDateEpoch?: string;
};

/**
 * Beside the output, not inside it (an OCI layout holds only what the spec defines):
 * `oci:out/nodejs:latest` -> `out/nodejs.build.json` (`out/nodejs-dev.build.json` for a variant),
 * `oci-archive:x.tar` -> `x.tar.build.json`.
 */
export function buildRecordPath(outputPath: string, transport: string, variant?: string): string {
  if (transport === 'oci')
    return `${outputPath.replace(/\/+$/, '')}${variant ? `-${variant}` : ''}.build.json`;
  return `${outputPath}.build.json`;
}

export async function writeBuildRecord(path: string, record: BuildRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`);
}
