import type { Command } from 'commander';
import { defaultCacheDir } from '../../debian/cache.js';
import {
  type CacheUsage,
  cacheUsage,
  DEFAULT_PRUNE_AGE_MS,
  MIN_PRUNE_AGE_MS,
  type PruneResult,
  parseDuration,
  pruneCache,
} from '../../debian/cache-maintenance.js';
import { RampartError } from '../../errors.js';
import { compareText } from '../../util/compare-text.js';
import { formatBytes, parseReportOutput, writeReport } from '../format.js';

const CACHE_OPTION_HELP = 'the cache (default: $XDG_CACHE_HOME/rampart or ~/.cache/rampart)';
const DEFAULT_OLDER_THAN = `${DEFAULT_PRUNE_AGE_MS / 86_400_000}d`;
const MIN_OLDER_THAN = `${MIN_PRUNE_AGE_MS / 3600_000}h`;

interface InfoOptions {
  cache?: string;
  output: string;
}

interface PruneCliOptions extends InfoOptions {
  olderThan: string;
  all?: boolean;
  dryRun?: boolean;
}

export function registerCache(program: Command): void {
  const cache = program
    .command('cache')
    .description('show and prune the download cache')
    .addHelpText(
      'after',
      `
The cache holds verified downloads (.debs, indexes) by digest, InRelease metadata, parsed
Packages indexes, the build cache and test tools. A cache hit marks an entry as used.
Only the folders rampart writes are listed or pruned; prune refuses a directory without any.

Examples:
  $ rampart cache info
  $ rampart cache prune --older-than 2w --dry-run`,
    );

  cache
    .command('info')
    .description('entries, size and oldest/newest use of each kind of cache entry')
    .option('--cache <dir>', CACHE_OPTION_HELP)
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .addHelpText(
      'after',
      `
Examples:
  $ rampart cache info
  $ rampart cache info --cache /var/cache/rampart -o json`,
    )
    .action(async (opts: InfoOptions) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const usage = await cacheUsage(opts.cache ?? defaultCacheDir());
      await writeReport(
        report,
        report.format === 'json' ? `${JSON.stringify(usage, null, 2)}\n` : usageText(usage),
      );
    });

  cache
    .command('prune')
    .description('remove stale parsed indexes and entries not used for a while')
    .option('--cache <dir>', CACHE_OPTION_HELP)
    .option(
      '--older-than <duration>',
      `remove entries not used for this long: 12h, 30d, 2w (at least ${MIN_OLDER_THAN})`,
      DEFAULT_OLDER_THAN,
    )
    .option('--all', 'remove everything, test trees and tools included; not while builds run')
    .option('--dry-run', 'show what would be removed, remove nothing')
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .addHelpText(
      'after',
      `
Files of an older cache layout or parser format always go. Test trees and tools (e2e/,
e2e-apt/, tools/) and kind folders that are symbolic links stay unless --all; --all unlinks
such a link and leaves its target alone. Temp files younger than an hour are kept: another
rampart may be writing them. Pruning by age is safe while builds use the cache; --all is not
(a build may be about to read what it removes): run it only when no rampart is running.

Examples:
  $ rampart cache prune
  $ rampart cache prune --older-than 2w --dry-run
  $ rampart cache prune --all -o json`,
    )
    .action(async (opts: PruneCliOptions) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const olderThanMs = olderThan(opts.olderThan);
      const result = await pruneCache(opts.cache ?? defaultCacheDir(), {
        olderThanMs,
        ...(opts.all ? { all: true } : {}),
        ...(opts.dryRun ? { dryRun: true } : {}),
      });
      await writeReport(
        report,
        report.format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : pruneText(result),
      );
    });
}

function olderThan(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    if (error instanceof RampartError) {
      throw new RampartError('USAGE', `--older-than: ${error.message}`, {
        cause: error,
        details: { option: '--older-than', value },
      });
    }
    throw error;
  }
  if (ms < MIN_PRUNE_AGE_MS) {
    // A hit refreshes an entry's use time only every few minutes: younger "unused" may be in use.
    throw new RampartError(
      'USAGE',
      `--older-than: "${value}" is too short; the minimum is ${MIN_OLDER_THAN}`,
      { details: { option: '--older-than', value } },
    );
  }
  return ms;
}

function usageText(usage: CacheUsage): string {
  const rows = usage.kinds.map((k) => [
    k.kind,
    String(k.entries),
    formatBytes(k.bytes),
    formatTime(k.oldest),
    formatTime(k.newest),
  ]);
  const header = ['KIND', 'ENTRIES', 'SIZE', 'OLDEST USE', 'NEWEST USE'];
  const total = [
    'total',
    String(usage.kinds.reduce((n, k) => n + k.entries, 0)),
    formatBytes(usage.bytes),
    '',
    '',
  ];
  return `cache ${usage.dir}\n${table([header, ...rows, total])}`;
}

function pruneText(result: PruneResult): string {
  const verb = result.dryRun ? 'would remove' : 'removed';
  const groups = new Map<string, { entries: number; bytes: number }>();
  for (const entry of result.removed) {
    const key = `${entry.kind}\0${entry.reason}`;
    const group = groups.get(key) ?? { entries: 0, bytes: 0 };
    groups.set(key, { entries: group.entries + 1, bytes: group.bytes + entry.bytes });
  }
  const rows = [...groups.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([key, g]) => [...key.split('\0'), String(g.entries), formatBytes(g.bytes)]);
  const summary = `${verb} ${result.removed.length} entries (${formatBytes(result.bytesFreed)}) from ${result.dir}\n`;
  return rows.length === 0 ? summary : `${table([['KIND', 'REASON', 'ENTRIES', 'SIZE'], ...rows])}${summary}`;
}

/** Left-aligned columns; numbers and sizes right-aligned. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (cell: string) => /^\d/.test(cell);
  return rows
    .map((r) =>
      r
        .map((cell, i) => (numeric(cell) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

function formatTime(iso: string | null): string {
  return iso ? `${iso.slice(0, 16).replace('T', ' ')}Z` : '-';
}
