import { dirname } from 'node:path';
import { type Command, Option } from 'commander';
import { RampartError } from '../../errors.js';
import { HttpClient } from '../../http/client.js';
import {
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportInput,
  importAdvisories,
} from '../../vuln/import/index.js';
import { type StoreStatusReport, storeStatusReport } from '../../vuln/status.js';
import { openAdvisoryStore } from '../../vuln/store.js';
import {
  configuredFeeds,
  DEFAULT_FEEDS,
  downloadForImport,
  type FeedUpdateResult,
  feedUrlVariable,
  type UpdateEvent,
  updateAdvisories,
} from '../../vuln/update.js';
import { addDbOption, dbPathOf } from '../db-option.js';
import { formatBytes, formatTable, parseReportOutput, writeReport } from '../format.js';
import { withInterrupt } from '../interrupt.js';
import { isInteractive } from '../progress.js';

interface DbOptions {
  db?: string;
  output: string;
  quiet?: boolean;
}

interface ImportOptions extends DbOptions {
  format?: ImportFormat;
  feed?: string;
}

interface UpdateOptions extends DbOptions {
  feed: string[];
  only: string[];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').filter((v) => v.length > 0)];
}

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .description('the advisory store the scanner reads: import, update, status')
    .addHelpText(
      'after',
      `
The store is one SQLite file (copy it to air-gapped machines): the Debian security tracker,
OSV advisories (Debian, npm, PyPI, Go, Maven, crates.io) and OpenVEX statements.

Examples:
  $ rampart db update
  $ rampart db import ./tracker.json ./osv/npm-all.zip --db ./advisories.db
  $ rampart db status -o json`,
    );

  addDbOption(
    db
      .command('import')
      .description(
        'import advisory files or URLs (tracker JSON, OSV records/dirs/all.zip, OpenVEX) in one transaction',
      )
      .argument('<path-or-url...>', 'files, directories or http(s) URLs')
      .addOption(
        new Option('--format <format>', 'the format of every input (default: detected per file)').choices(
          IMPORT_FORMATS,
        ),
      )
      .option(
        '--feed <name>',
        'the feed name to import under (one input); importing a feed again replaces it',
      ),
  )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .option('-q, --quiet', 'no progress on stderr')
    .addHelpText(
      'after',
      `
The format is detected per file: a Debian security tracker dump (security-tracker's
/tracker/data/json), an OSV record, a directory of OSV records and OpenVEX documents, an OSV
all.zip, or an OpenVEX document. Malformed records are counted, reported and skipped. All inputs
are imported in one transaction: if anything fails, the store is left as it was.

Each input is a feed: the tracker dump is always "debian-tracker" (a new dump replaces the old);
others are named FORMAT:LOCATION unless --feed names them; importing a feed again replaces it.

Examples:
  $ rampart db import ./json
  $ rampart db import ./npm/all.zip ./pypi/all.zip
  $ rampart db import ./vex/ --format openvex --db ./advisories.db
  $ rampart db import https://example.org/advisories.json -o json`,
    )
    .action(async (inputs: string[], opts: ImportOptions) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      if (opts.feed && inputs.length > 1) {
        throw new RampartError('USAGE', '--feed names one input; import the others separately', {
          details: { option: '--feed', value: opts.feed },
        });
      }
      const path = dbPathOf(opts);
      const store = openAdvisoryStore(path);
      const downloads: Array<() => Promise<void>> = [];
      try {
        const results = await withInterrupt(async (signal) => {
          const planned: ImportInput[] = [];
          for (const input of inputs) {
            const base = {
              ...(opts.format ? { format: opts.format } : {}),
              ...(opts.feed ? { feed: opts.feed } : {}),
            };
            if (/^https?:\/\//.test(input)) {
              if (!opts.quiet) process.stderr.write(`rampart db import: downloading ${input}\n`);
              const download = await downloadForImport(new HttpClient(), input, dirname(path), signal);
              downloads.push(download.remove);
              planned.push({ path: download.path, location: input, ...base });
            } else planned.push({ path: input, ...base });
          }
          return importAdvisories(store, planned, {
            signal,
            ...(opts.quiet ? {} : { onProgress: importProgressPrinter() }),
          });
        });
        const text =
          report.format === 'json'
            ? `${JSON.stringify({ db: path, feeds: results }, null, 2)}\n`
            : results
                .map(
                  (r) =>
                    `${r.feed}: ${r.records} records imported, ${r.skipped} skipped (${r.format})\n${r.skippedSamples
                      .map((s) => `  skipped ${s.record}: ${s.reason}\n`)
                      .join('')}`,
                )
                .join('');
        await writeReport(report, text);
      } finally {
        if (!opts.quiet && isInteractive(process.stderr)) process.stderr.write('\r\x1b[2K');
        store.close();
        for (const remove of downloads) await remove();
      }
    });

  addDbOption(
    db
      .command('update')
      .description('download the configured feeds (conditional requests) and import those that changed')
      .addOption(
        new Option('--feed <name=url>', 'set the URL of a feed, or add one (repeatable)')
          .argParser(collect)
          .default([]),
      )
      .addOption(
        new Option('--only <names>', 'update only these feeds (comma-separated, repeatable)')
          .argParser(collect)
          .default([]),
      ),
  )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .option('-q, --quiet', 'no progress on stderr')
    .addHelpText(
      'after',
      `
Feeds (name: default URL; override with --feed NAME=URL or $RAMPART_FEED_URL_<NAME>):
${DEFAULT_FEEDS.map((f) => `  ${f.name}: ${f.url}  ($${feedUrlVariable(f.name)})`).join('\n')}

Requests carry the ETag/Last-Modified of the last download, so an unchanged feed costs one
304 and no import. Each feed is imported in its own transaction; a feed that fails keeps its
previous data and makes the exit status 1.

Examples:
  $ rampart db update
  $ rampart db update --only debian-tracker,osv-npm
  $ rampart db update --feed debian-tracker=https://mirror.example/tracker.json --db ./advisories.db`,
    )
    .action(async (opts: UpdateOptions) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const feeds = configuredFeeds({ overrides: opts.feed, only: opts.only, env: process.env });
      const path = dbPathOf(opts);
      const store = openAdvisoryStore(path);
      let results: FeedUpdateResult[];
      try {
        results = await withInterrupt((signal) =>
          updateAdvisories(store, {
            http: new HttpClient(),
            feeds,
            signal,
            ...(opts.quiet ? {} : { onEvent: updateProgressPrinter() }),
          }),
        );
      } finally {
        store.close();
      }
      const text =
        report.format === 'json'
          ? `${JSON.stringify({ db: path, feeds: results }, null, 2)}\n`
          : results.map(updateLine).join('');
      await writeReport(report, text);
      if (results.some((r) => r.outcome === 'failed')) process.exitCode = 1;
    });

  addDbOption(
    db
      .command('status')
      .description('each feed of the advisory store: records, age; warns when older than 24 h'),
  )
    .option('-o, --output <format[=file]>', 'report format: text or json, optionally =FILE', 'text')
    .addHelpText(
      'after',
      `
Examples:
  $ rampart db status
  $ rampart db status --db ./advisories.db -o json`,
    )
    .action(async (opts: DbOptions) => {
      const report = parseReportOutput(opts.output, ['text', 'json'] as const);
      const store = openAdvisoryStore(dbPathOf(opts), { readOnly: true });
      let status: StoreStatusReport;
      try {
        status = storeStatusReport(store, new Date());
      } finally {
        store.close();
      }
      if (report.format === 'json') await writeReport(report, `${JSON.stringify(status, null, 2)}\n`);
      else {
        await writeReport(report, statusText(status));
        for (const warning of status.warnings) process.stderr.write(`warning: ${warning.message}\n`);
      }
    });
}

function updateLine(result: FeedUpdateResult): string {
  if (result.outcome === 'failed') return `${result.name}: failed: ${result.error?.message}\n`;
  if (result.outcome === 'not-modified') return `${result.name}: not modified\n`;
  return `${result.name}: updated, ${result.records} records, ${result.skipped} skipped (${formatBytes(result.bytes ?? 0)})\n${(
    result.skippedSamples ?? []
  )
    .map((s) => `  skipped ${s.record}: ${s.reason}\n`)
    .join('')}`;
}

function formatAge(seconds: number): string {
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

function statusText(status: StoreStatusReport): string {
  const rows = status.sources.map((s) => [
    s.name,
    s.format,
    String(s.records),
    String(s.skipped ?? 0),
    s.updated,
    `${formatAge(s.ageSeconds)}${s.stale ? ' (stale)' : ''}`,
  ]);
  return `store: ${status.path} (schema ${status.schemaVersion}, built ${status.built || 'never'})\n${formatTable(
    ['FEED', 'FORMAT', 'RECORDS', 'SKIPPED', 'UPDATED', 'AGE'],
    rows,
  )}`;
}

/** Progress on stderr: a status line overwritten in place on a terminal, a line per 10 MiB in a log. */
function importProgressPrinter(): (progress: {
  source: string;
  records: number;
  bytes?: number;
  totalBytes?: number;
}) => void {
  const interactive = isInteractive(process.stderr);
  let lastLogged = 0;
  return (progress) => {
    const bytes = progress.bytes ?? 0;
    const of = progress.totalBytes ? ` of ${formatBytes(progress.totalBytes)}` : '';
    const line = `rampart db import: ${progress.source}: ${progress.records} records, ${formatBytes(bytes)}${of}`;
    if (interactive) process.stderr.write(`\r\x1b[2K${line}`);
    else if (bytes - lastLogged >= 10 * 1024 * 1024) {
      lastLogged = bytes;
      process.stderr.write(`${line}\n`);
    }
  };
}

function updateProgressPrinter(): (event: UpdateEvent) => void {
  const interactive = isInteractive(process.stderr);
  const importProgress = importProgressPrinter();
  let lastLogged = 0;
  return (event) => {
    if (event.kind === 'import') importProgress(event.progress);
    else if (event.kind === 'download') {
      const of = event.totalBytes ? ` of ${formatBytes(event.totalBytes)}` : '';
      const line = `rampart db update: ${event.feed}: downloading ${formatBytes(event.bytes)}${of}`;
      if (interactive) process.stderr.write(`\r\x1b[2K${line}`);
      else if (event.bytes - lastLogged >= 10 * 1024 * 1024 || event.bytes < lastLogged) {
        lastLogged = event.bytes;
        process.stderr.write(`${line}\n`);
      }
    } else {
      if (interactive) process.stderr.write('\r\x1b[2K');
      process.stderr.write(`rampart db update: ${updateLine(event.feed)}`);
    }
  };
}
