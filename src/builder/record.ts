import { writeFileAtomic } from '../util/atomic-file.js';
import type { LockedRelease } from './lock.js';

/** What a build used and made, kept beside the output for provenance. */
export type BuildRecord = {
  recordVersion: 1;
  builder: { name: 'rampart'; version: string };
  spec: { path: string; sha256: string; name: string; variant?: string };
  lock: { path: string; sha256: string };
  releases: LockedRelease[];
  output: { reference: string; digest: string };
  platforms: Array<{ architecture: string; digest: string; packages: number }>;
  sourceDateEpoch?: number;
  startedOn: string;
  finishedOn: string;
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
