import type { AdvisoryWriter } from '../store.js';
import type { AffectedRecord, ImportProgress, VexStatementRecord, VulnerabilityRecord } from '../types.js';

/** How many skipped records an import keeps as samples for its report. */
export const SKIPPED_SAMPLES = 10;
const PROGRESS_EVERY_BYTES = 1024 * 1024;

/**
 * Where an importer puts what it reads: the writer of the open transaction, plus the counts and
 * samples the import reports. Importers are plain parsers; they never see the store.
 */
export class RecordSink {
  records = 0;
  skipped = 0;
  readonly skippedSamples: Array<{ record: string; reason: string }> = [];
  bytes = 0;
  private lastProgressBytes = 0;
  private readonly vulnerabilities = new Set<string>();
  private readonly releases = new Set<string>();

  constructor(
    private readonly writer: AdvisoryWriter,
    readonly feed: string,
    private readonly onProgress?: (progress: ImportProgress) => void,
    readonly totalBytes?: number,
  ) {}

  vulnerability(record: VulnerabilityRecord): void {
    if (this.vulnerabilities.has(record.id)) return;
    this.vulnerabilities.add(record.id);
    this.writer.putVulnerability(this.feed, record);
  }

  /** Affected records of one package (the tracker: all of a source package's at once). */
  affected(records: AffectedRecord[]): void {
    const first = records[0];
    if (first) this.writer.putAffected(this.feed, first.ecosystem, first.packageName, records);
  }

  debianRelease(release: string): void {
    if (this.releases.has(release)) return;
    this.releases.add(release);
    this.writer.putDebianRelease(this.feed, release);
  }

  vex(statement: VexStatementRecord): void {
    this.writer.putVex(this.feed, statement);
  }

  record(): void {
    this.records++;
  }

  skip(record: string, reason: string): void {
    this.skipped++;
    if (this.skippedSamples.length < SKIPPED_SAMPLES) this.skippedSamples.push({ record, reason });
  }

  /** `bytes` more of the input were read. */
  progress(bytes: number): void {
    this.bytes += bytes;
    if (this.onProgress && this.bytes - this.lastProgressBytes >= PROGRESS_EVERY_BYTES) {
      this.lastProgressBytes = this.bytes;
      this.report();
    }
  }

  report(): void {
    this.onProgress?.({
      source: this.feed,
      records: this.records,
      skipped: this.skipped,
      bytes: this.bytes,
      ...(this.totalBytes !== undefined ? { totalBytes: this.totalBytes } : {}),
    });
  }
}
