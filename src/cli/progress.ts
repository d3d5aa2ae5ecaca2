import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import type { BuildEvent } from '../builder/pipeline.js';
import type { DownloadEvent } from '../debian/download.js';
import type { CopyEvent } from '../oci/copy.js';
import { formatBytes } from './format.js';

/*
 * Progress on stderr for `rampart build` and `rampart apt download`. A person at a terminal gets a
 * download bar and one line per finished phase, with a status line (overwritten in place) while
 * a phase runs; a log (CI, a pipe, a file) gets one short line per event and no control codes.
 */

/** Where progress goes: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressOptions = {
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Nothing at all (errors are the CLI's to print). */
  quiet?: boolean;
  /** Bar and status line; default: the stream is a terminal and this is not CI. */
  interactive?: boolean;
  /** Before every line, e.g. `rampart build: `. */
  prefix?: string;
  /** A line for each package found in the cache too, not only for those fetched. */
  listCached?: boolean;
  /** Milliseconds, for elapsed times and speed; default performance.now. */
  now?: () => number;
  /** Read for CI and TERM; default process.env. */
  env?: Record<string, string | undefined>;
};

export interface ProgressReporter {
  /** Events of `downloadPackages`. */
  download(event: DownloadEvent): void;
  /** Events of `buildImage`. */
  build(event: BuildEvent): void;
  /** Events of `copy()`: a byte bar on a terminal, a line per blob in a log. */
  copy(event: CopyEvent): void;
  /** Takes down the bar and the status line; call once when done, also when the work failed. */
  stop(): void;
}

/** A terminal that a person watches: not CI (where stderr may still be a pseudo-terminal), not a dumb terminal. */
export function isInteractive(
  stream: ProgressStream,
  env: Record<string, string | undefined> = process.env,
): boolean {
  const ci = env.CI !== undefined && !['', '0', 'false'].includes(env.CI.toLowerCase());
  return stream.isTTY === true && !ci && env.TERM !== 'dumb';
}

export function createProgressReporter(opts: ProgressOptions = {}): ProgressReporter {
  if (opts.quiet)
    return {
      download: () => undefined,
      build: () => undefined,
      copy: () => undefined,
      stop: () => undefined,
    };
  const stream = opts.stream ?? process.stderr;
  const interactive = opts.interactive ?? isInteractive(stream, opts.env);
  const out: Output = interactive
    ? new TerminalOutput(stream, opts.prefix ?? '')
    : new LogOutput(stream, opts.prefix ?? '');
  const now = opts.now ?? (() => performance.now());
  const download = downloadReporter(out, now, opts.listCached === true);
  const copy = copyReporter(out);
  return {
    download: (event) =>
      download(event.kind === 'done' ? { kind: 'package', pkg: event.pkg, cached: event.cached } : event),
    build: (event) => {
      if (event.phase === 'download') {
        // The closing line comes with the last package, as for `apt download`, which has no build events.
        if (event.kind !== 'done') download(event);
        return;
      }
      // A push to a registry: the same bar and lines as `rampart copy`.
      if (event.phase === 'write' && event.kind === 'copy') {
        copy(event.event);
        return;
      }
      const said = describeBuildEvent(event);
      if (said) out.say(said.text, said.weight);
    },
    copy,
    stop: () => out.stop(),
  };
}

/** Blob transfers of a copy: one bar over every byte to send, a line for each blob. */
function copyReporter(out: Output): (event: CopyEvent) => void {
  const sent = new Map<string, number>();
  let total = 0;
  let done = 0;
  let count = 0;
  let blobs = 0;
  const progress = () => done + [...sent.values()].reduce((sum, n) => sum + n, 0);
  const barText = (bar: string) =>
    `copying [${bar}] ${count}/${blobs} blobs | ${mib(Math.min(progress(), total))}/${formatMiB(total)}`;
  return (event) => {
    switch (event.kind) {
      case 'plan':
        // An attachment's plan comes after the image's blobs: counted on from them.
        total += event.bytes;
        blobs += event.blobs;
        if (event.attachment && event.blobs === 0) return;
        out.say(
          `copying ${event.blobs} ${event.attachment ? 'blob(s) of an attachment' : 'blobs'} (${formatBytes(event.bytes)})`,
          'event',
        );
        if (event.blobs > 0) {
          out.stopBar();
          out.startBar(total, barText);
          out.updateBar(Math.min(progress(), total));
        }
        return;
      case 'blob-progress':
        sent.set(event.digest, event.bytes);
        out.updateBar(Math.min(progress(), total));
        return;
      case 'blob': {
        if (event.status === 'start') return;
        sent.delete(event.digest);
        done += event.size;
        count++;
        const what = { copied: 'copied', exists: 'already there', mounted: 'mounted' }[event.status];
        out.say(
          `[${count}/${blobs}] ${what} ${event.digest.slice(0, 19)} (${formatBytes(event.size)})`,
          'event',
        );
        out.updateBar(Math.min(progress(), total));
        if (count === blobs) out.stopBar();
        return;
      }
      default:
        return;
    }
  };
}

/**
 * How much a message matters: `done` closes a phase (a line everywhere), `event` is a step
 * (a line in a log, the status line on a terminal), `status` only shows a terminal that work goes on.
 */
type Weight = 'done' | 'event' | 'status';

interface Output {
  say(text: string, weight: Weight): void;
  /** `text(bar)`: the bar's line around the drawn bar. */
  startBar(total: number, text: (bar: string) => string): void;
  updateBar(value: number): void;
  stopBar(): void;
  stop(): void;
}

/** One line per event, no control codes: what CI logs and pipes get. */
class LogOutput implements Output {
  constructor(
    private readonly stream: ProgressStream,
    private readonly prefix: string,
  ) {}
  say(text: string, weight: Weight): void {
    if (weight !== 'status') this.stream.write(`${this.prefix}${text}\n`);
  }
  startBar(): void {}
  updateBar(): void {}
  stopBar(): void {}
  stop(): void {}
}

/**
 * cli-progress and its text-width modules (16 files, ~15 ms) are loaded for the first bar only: a
 * log or `-q` (CI, pipes, the benches) never draws one.
 */
function loadCliProgress(): typeof cliProgress {
  return createRequire(import.meta.url)('cli-progress') as typeof cliProgress;
}

/** Finished phases as lines, the running one on a status line below them, downloads as a bar. */
class TerminalOutput implements Output {
  private statusShown = false;
  private bar: cliProgress.SingleBar | undefined;

  constructor(
    private readonly stream: ProgressStream,
    private readonly prefix: string,
  ) {}

  say(text: string, weight: Weight): void {
    if (weight === 'done') {
      this.clearStatus();
      this.stream.write(`${this.prefix}${text}\n`);
    } else if (!this.bar) {
      // Cut to the width: a status line that wrapped could not be taken back with one \r.
      this.stream.write(`\r\x1b[2K${fitToWidth(`${this.prefix}${text}`, this.width() - 1)}`);
      this.statusShown = true;
    }
  }

  startBar(total: number, text: (bar: string) => string): void {
    this.clearStatus();
    const { SingleBar, Format } = loadCliProgress();
    this.bar = new SingleBar({
      stream: this.stream as NodeJS.WritableStream,
      format: (options, params) =>
        fitToWidth(`${this.prefix}${text(Format.BarFormat(params.progress, options))}`, params.maxWidth - 1),
      barsize: 24,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      // Cut to the width instead of switching the terminal's line wrapping off and on.
      linewrap: true,
      clearOnComplete: true,
      // Draw on the bar's timer only, so events that arrive together are drawn together.
      synchronousUpdate: false,
    });
    this.bar.start(total, 0);
  }

  updateBar(value: number): void {
    this.bar?.update(value);
  }

  stopBar(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  stop(): void {
    this.stopBar();
    this.clearStatus();
  }

  private clearStatus(): void {
    if (this.statusShown) this.stream.write('\r\x1b[2K');
    this.statusShown = false;
  }

  private width(): number {
    return this.stream.columns || 80;
  }
}

type DownloadStep =
  | { kind: 'start'; packages: number; bytes: number }
  | { kind: 'bytes'; bytes: number }
  | {
      kind: 'package';
      pkg: { name: string; version: string; architecture: string; size: number };
      cached: boolean;
    };

/**
 * Downloads: the total up front, a counted line per package fetched from the mirror (cached
 * ones only counted, unless `listCached`) or a bar on a terminal, and a closing tally.
 */
function downloadReporter(
  out: Output,
  now: () => number,
  listCached: boolean,
): (event: DownloadStep) => void {
  let total = 0;
  let totalBytes = 0;
  let done = 0;
  let fetched = 0;
  let fetchedBytes = 0;
  let cachedBytes = 0;
  let received = 0;
  let started = 0;
  // Bytes per second from the mirror; cache hits also report their bytes, so they are taken out.
  const speed = () => {
    const seconds = (now() - started) / 1000;
    return seconds > 0 ? Math.max(0, received - cachedBytes) / seconds : 0;
  };
  const finish = () => {
    out.stopBar();
    const rate = fetched > 0 ? ` at ${formatMiB(speed())}/s` : '';
    out.say(
      `downloaded ${fetched} packages (${formatBytes(fetchedBytes)}${rate}), ${total - fetched} from the cache in ${formatDuration(now() - started)}`,
      'done',
    );
  };
  const barText = (bar: string) =>
    `downloading [${bar}] ${done}/${total} packages | ${mib(Math.min(received, totalBytes))}/${formatMiB(totalBytes)} | ${formatMiB(speed())}/s`;
  return (event) => {
    if (event.kind === 'start') {
      total = event.packages;
      totalBytes = event.bytes;
      started = now();
      out.say(`downloading ${total} packages (${formatBytes(totalBytes)})`, 'event');
      if (total === 0) return finish();
      out.startBar(totalBytes, barText);
    } else if (event.kind === 'bytes') {
      received += event.bytes;
      out.updateBar(Math.min(received, totalBytes));
    } else {
      done++;
      const { pkg } = event;
      if (event.cached) cachedBytes += pkg.size;
      else {
        fetched++;
        fetchedBytes += pkg.size;
      }
      if (!event.cached || listCached) {
        out.say(
          `[${done}/${total}] ${event.cached ? 'cached' : 'fetched'} ${pkg.name} ${pkg.version} ${pkg.architecture}${event.cached ? '' : ` (${formatBytes(pkg.size)})`}`,
          'event',
        );
      }
      if (done === total) finish();
    }
  };
}

/** The line for a build event other than downloads, or nothing. */
function describeBuildEvent(event: BuildEvent): { text: string; weight: Weight } | undefined {
  const step = (text: string) => ({ text, weight: 'event' as const });
  const closing = (text: string, ms: number) => ({
    text: `${text} in ${formatDuration(ms)}`,
    weight: 'done' as const,
  });
  switch (event.phase) {
    case 'resolve':
      if (event.kind === 'start') {
        return step(
          event.locked
            ? `using ${event.lockPath} for ${event.archs.join(', ')}`
            : `resolving ${event.requested} packages from ${event.suites.join(', ')} for ${event.archs.join(', ')}`,
        );
      }
      if (event.kind === 'index') return step(event.message);
      return closing(
        `${event.locked ? 'read' : 'resolved'} ${packagesPerArch(event.packages)}${event.locked ? ' from the lock' : ''}`,
        event.elapsedMs,
      );
    case 'assemble':
      if (event.kind === 'start') return step(`${event.arch}: assembling ${event.packages} packages`);
      return closing(
        `${event.arch}: assembled ${event.packages} packages (${event.paths} paths)`,
        event.elapsedMs,
      );
    case 'layers':
      if (event.kind === 'start') return { text: `${event.arch}: building layers`, weight: 'status' };
      if (event.kind === 'layer') {
        return step(
          `${event.arch}: layer ${event.name}: ${event.entries} entries, ${formatBytes(event.size)}${event.cached ? ' (cached)' : ''} in ${formatDuration(event.elapsedMs)}`,
        );
      }
      return closing(
        `${event.arch}: ${event.layers} layers, ${formatBytes(event.size)} compressed`,
        event.elapsedMs,
      );
    case 'sboms':
      if (event.kind === 'start')
        return { text: `${event.arch}: cataloging the image for its SBOM`, weight: 'status' };
      return closing(`${event.arch}: SBOM with ${event.packages} packages`, event.elapsedMs);
    case 'write':
      if (event.kind === 'start') return step(`writing ${event.reference}`);
      if (event.kind === 'copy') return undefined;
      if (event.kind === 'signed')
        return step(
          `signed: ${event.signatures} signatures, ${event.attestations} attestations in ${formatDuration(event.elapsedMs)}`,
        );
      return closing(`wrote ${event.reference}`, event.elapsedMs);
    default:
      return undefined;
  }
}

/** `7 packages for amd64`, or `7 packages for amd64, 8 for arm64`. */
function packagesPerArch(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([arch, n], i) => `${n}${i === 0 ? ' packages' : ''} for ${arch}`)
    .join(', ');
}

function fitToWidth(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}\u2026`;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function formatMiB(bytes: number): string {
  return `${mib(bytes)} MiB`;
}

/** `0.4s`, `12.3s`, `2m05s`. */
function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}
