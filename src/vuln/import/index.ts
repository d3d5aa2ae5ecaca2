/**
 * `rampart db import`: reads advisory files into the store, all of them in one transaction (a
 * failure, a cancellation or a kill leaves the store as it was). The format is detected per file
 * (`detectFormat`) unless the caller names it. Each input is a *feed*: importing it again
 * replaces what it brought the last time. The tracker dump is always the feed `debian-tracker`
 * (it is the whole of Debian's data, so a newer dump replaces an older one wherever it came
 * from); other inputs are named `FORMAT:LOCATION` unless the caller names them.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import yauzl from 'yauzl';
import { RampartError } from '../../errors.js';
import { throwIfCancelled } from '../../http/client.js';
import type { AdvisoryStore, AdvisoryWriter } from '../store.js';
import type { AdvisorySourceName, ImportProgress, ImportResult } from '../types.js';
import { looksLikeOpenVex, openVexStatements } from './openvex.js';
import { looksLikeOsv, OSV_SOURCE, osvRecord } from './osv.js';
import { RecordSink } from './sink.js';
import { importTracker, TRACKER_SOURCE } from './tracker.js';

export type ImportFormat = 'debian-tracker' | 'osv' | 'openvex';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['debian-tracker', 'osv', 'openvex'];

/** The most one OSV record or OpenVEX document may hold (they are KBs; the tracker dump is streamed). */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
const PEEK_BYTES = 64 * 1024;
const TRACKER_PREFIX = /^\uFEFF?\s*\{\s*(?:\}|"(?:[^"\\]|\\.)*"\s*:\s*\{\s*(?:\}|"(?:CVE|TEMP|DSA|DLA)-))/;

export interface ImportInput {
  /** A local file or directory. */
  path: string;
  /** What to call it in the store and in reports (a URL it was downloaded from); default the absolute path. */
  location?: string;
  format?: ImportFormat;
  /** The feed name; default `debian-tracker` for the tracker dump, else `FORMAT:LOCATION`. */
  feed?: string;
  /** Conditional-request validators to keep with the feed (`db update`). */
  etag?: string;
  lastModified?: string;
}

export interface ImportOptions {
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
}

export interface FeedImportResult extends ImportResult {
  feed: string;
}

function feedInvalid(location: string, message: string, format?: string, cause?: unknown): RampartError {
  return new RampartError('FEED_INVALID', message, {
    ...(cause !== undefined ? { cause } : {}),
    details: {
      source: format ?? 'unknown',
      ...(/^https?:/.test(location) ? { url: location } : { path: location }),
      ...(format ? { format } : {}),
    },
  });
}

/** The format of one file, from its first bytes (and, for small JSON files, its content). */
export async function detectFormat(path: string, location = path): Promise<ImportFormat | 'osv-zip'> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(PEEK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, PEEK_BYTES, 0);
    const head = buffer.subarray(0, bytesRead);
    if (head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return 'osv-zip';
    if (TRACKER_PREFIX.test(head.toString('utf8'))) return 'debian-tracker';
    const { size } = await handle.stat();
    if (size > MAX_DOCUMENT_BYTES) {
      throw feedInvalid(
        location,
        `${location}: cannot tell its format (not a tracker dump, too big for one OSV or OpenVEX document); pass --format`,
      );
    }
    const doc = parseJson(await handle.readFile(), location);
    if (looksLikeOpenVex(doc)) return 'openvex';
    if (looksLikeOsv(doc)) return 'osv';
    throw feedInvalid(
      location,
      `${location}: not a Debian tracker dump, an OSV record or an OpenVEX document; pass --format`,
    );
  } finally {
    await handle.close();
  }
}

function parseJson(bytes: Buffer | string, location: string, format?: string): unknown {
  try {
    return JSON.parse(bytes.toString());
  } catch (error) {
    throw feedInvalid(location, `${location} is not JSON: ${(error as Error).message}`, format, error);
  }
}

async function isZip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buffer, 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32LE(0) === 0x04034b50;
  } finally {
    await handle.close();
  }
}

/** Imports every input in one transaction; returns one result per input. */
export async function importAdvisories(
  store: AdvisoryStore,
  inputs: ImportInput[],
  options: ImportOptions = {},
): Promise<FeedImportResult[]> {
  // Check every input before the write lock is taken: a typo fails fast and touches nothing.
  const planned = await Promise.all(inputs.map(planInput));
  return store.transaction(async (writer) => {
    const results: FeedImportResult[] = [];
    for (const plan of planned) results.push(await importOne(writer, plan, options));
    return results;
  });
}

interface PlannedInput extends ImportInput {
  location: string;
  kind: 'directory' | 'file';
  detected: ImportFormat | 'osv-zip';
  size: number;
}

async function planInput(input: ImportInput): Promise<PlannedInput> {
  const location = input.location ?? resolve(input.path);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(input.path);
  } catch (error) {
    throw new RampartError('NOT_FOUND', `${location}: no such file or directory`, {
      cause: error,
      details: { path: input.path },
    });
  }
  if (info.isDirectory()) {
    return { ...input, location, kind: 'directory', detected: input.format ?? 'osv', size: 0 };
  }
  let detected: ImportFormat | 'osv-zip';
  if (input.format === 'osv') detected = (await isZip(input.path)) ? 'osv-zip' : 'osv';
  else detected = input.format ?? (await detectFormat(input.path, location));
  return { ...input, location, kind: 'file', detected, size: info.size };
}

function sourceOf(format: ImportFormat | 'osv-zip'): AdvisorySourceName {
  return format === 'debian-tracker' ? TRACKER_SOURCE : format === 'openvex' ? 'openvex' : OSV_SOURCE;
}

async function importOne(
  writer: AdvisoryWriter,
  plan: PlannedInput,
  options: ImportOptions,
): Promise<FeedImportResult> {
  const format: ImportFormat = plan.detected === 'osv-zip' ? 'osv' : plan.detected;
  const source = sourceOf(plan.detected);
  const feed = plan.feed ?? (format === 'debian-tracker' ? TRACKER_SOURCE : `${format}:${plan.location}`);
  writer.clearFeed(feed);
  const sink = new RecordSink(writer, feed, options.onProgress, plan.size || undefined);
  if (plan.kind === 'directory') await importDirectory(plan.path, plan.format, sink, options.signal);
  else if (plan.detected === 'debian-tracker') {
    await importTracker(
      cancellable(createReadStream(plan.path), options.signal, 'db import'),
      plan.location,
      sink,
    );
    if (sink.records === 0) {
      // An empty or wholly broken dump must not wipe the Debian data a previous import brought.
      throw feedInvalid(plan.location, `${plan.location}: the tracker dump holds no valid records`, format);
    }
  } else if (plan.detected === 'osv-zip') await importZip(plan.path, plan.location, sink, options.signal);
  else await importDocument(plan.path, plan.location, format, sink, true);
  sink.report();
  writer.putFeed({
    name: feed,
    source,
    format: plan.kind === 'directory' ? `${format}-directory` : plan.detected,
    records: sink.records,
    skipped: sink.skipped,
    updated: writer.now().toISOString(),
    location: plan.location,
    ...(plan.etag ? { etag: plan.etag } : {}),
    ...(plan.lastModified ? { lastModified: plan.lastModified } : {}),
  });
  return {
    feed,
    source,
    location: plan.location,
    format: plan.detected,
    records: sink.records,
    skipped: sink.skipped,
    skippedSamples: sink.skippedSamples,
  };
}

async function* cancellable(
  chunks: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
  operation: string,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    throwIfCancelled(signal, operation);
    yield chunk;
  }
}

/** One OSV record or OpenVEX document. `whole`: the input is this one file, so an unreadable one fails the import. */
async function importDocument(
  path: string,
  location: string,
  format: ImportFormat,
  sink: RecordSink,
  whole: boolean,
): Promise<void> {
  const info = await stat(path);
  if (info.size > MAX_DOCUMENT_BYTES) {
    if (whole) throw feedInvalid(location, `${location} is larger than ${MAX_DOCUMENT_BYTES} bytes`, format);
    sink.skip(location, `larger than ${MAX_DOCUMENT_BYTES} bytes`);
    return;
  }
  const bytes = await readFile(path);
  sink.progress(bytes.length);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    if (whole)
      throw feedInvalid(location, `${location} is not JSON: ${(error as Error).message}`, format, error);
    sink.skip(location, `not JSON: ${(error as Error).message}`);
    return;
  }
  addDocument(doc, location, format, sink, whole);
}

function addDocument(
  doc: unknown,
  location: string,
  format: ImportFormat,
  sink: RecordSink,
  whole: boolean,
): void {
  if (format === 'openvex') {
    let result: ReturnType<typeof openVexStatements>;
    try {
      result = openVexStatements(doc, location);
    } catch (error) {
      if (whole) throw feedInvalid(location, `${location}: ${(error as Error).message}`, format, error);
      sink.skip(location, (error as Error).message);
      return;
    }
    for (const statement of result.statements) {
      sink.vex(statement);
      sink.record();
    }
    for (const skipped of result.skipped) sink.skip(`${location}#${skipped.record}`, skipped.reason);
    return;
  }
  if (format === 'debian-tracker') {
    sink.skip(location, 'a tracker dump inside a directory or archive is not read; import it on its own');
    return;
  }
  try {
    const { vulnerability, affected } = osvRecord(doc);
    sink.vulnerability(vulnerability);
    for (const record of affected) sink.affected([record]);
    sink.record();
  } catch (error) {
    const id = typeof (doc as { id?: unknown })?.id === 'string' ? (doc as { id: string }).id : location;
    if (whole && !looksLikeOsv(doc))
      throw feedInvalid(location, `${location}: not an OSV record`, format, error);
    sink.skip(id.slice(0, 200), (error as Error).message);
  }
}

/** Every `*.json` and `*.zip` below `dir` (sorted, hidden entries skipped), each detected on its own. */
async function importDirectory(
  dir: string,
  format: ImportFormat | undefined,
  sink: RecordSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    throwIfCancelled(signal, 'db import');
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await importDirectory(path, format, sink, signal);
      continue;
    }
    if (!entry.isFile()) continue;
    if (entry.name.endsWith('.zip')) {
      await importZip(path, path, sink, signal);
      continue;
    }
    if (!entry.name.endsWith('.json')) continue;
    let fileFormat: ImportFormat | 'osv-zip' | undefined = format;
    if (!fileFormat) {
      try {
        fileFormat = await detectFormat(path);
      } catch (error) {
        sink.skip(path, error instanceof RampartError ? error.message : String(error));
        continue;
      }
    }
    if (fileFormat === 'osv-zip') await importZip(path, path, sink, signal);
    else await importDocument(path, path, fileFormat, sink, false);
  }
}

/**
 * An OSV `all.zip`: every `*.json` entry is one record. yauzl (rather than the jar reader in
 * `sbom/catalogers/java/zip.ts`) because these archives exceed 65,535 entries and need zip64,
 * which that reader refuses; yauzl also checks each entry's declared sizes against the data.
 */
async function importZip(
  path: string,
  location: string,
  sink: RecordSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolvePromise, reject) =>
      yauzl.open(path, { lazyEntries: true, autoClose: false }, (error, file) =>
        error ? reject(error) : resolvePromise(file),
      ),
    );
  } catch (error) {
    throw feedInvalid(
      location,
      `${location} is not a readable zip archive: ${(error as Error).message}`,
      'osv',
      error,
    );
  }
  try {
    await new Promise<void>((resolvePromise, reject) => {
      const next = () => zip.readEntry();
      zip.on('error', (error: Error) =>
        reject(feedInvalid(location, `${location}: damaged zip archive: ${error.message}`, 'osv', error)),
      );
      zip.on('end', () => resolvePromise());
      zip.on('entry', (entry: yauzl.Entry) => {
        if (signal?.aborted) {
          reject(
            new RampartError('CANCELLED', 'db import was cancelled', { details: { operation: 'db import' } }),
          );
          return;
        }
        if (entry.fileName.endsWith('/') || !entry.fileName.endsWith('.json')) return next();
        const name = `${location}!${entry.fileName}`.slice(0, 300);
        if (entry.uncompressedSize > MAX_DOCUMENT_BYTES) {
          sink.skip(name, `larger than ${MAX_DOCUMENT_BYTES} bytes`);
          return next();
        }
        zip.openReadStream(entry, (error, stream) => {
          if (error) {
            sink.skip(name, error.message);
            return next();
          }
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', (streamError: Error) => {
            sink.skip(name, streamError.message);
            next();
          });
          stream.on('end', () => {
            const bytes = Buffer.concat(chunks);
            sink.progress(entry.compressedSize);
            try {
              addDocument(JSON.parse(bytes.toString('utf8')), name, 'osv', sink, false);
            } catch (parseError) {
              sink.skip(name, `not JSON: ${(parseError as Error).message}`);
            }
            next();
          });
        });
      });
      next();
    });
  } finally {
    zip.close();
  }
}
