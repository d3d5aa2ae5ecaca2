import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RampartError } from '../errors.js';
import type { FetchFn } from '../http/fetch.js';
import { parsePlatform, platformToDebianArch } from '../oci/platform.js';
import { type SbomDocument, safeParseSbomDocument } from '../sbom/model.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { codeFingerprint } from '../util/code-fingerprint.js';
import { VERSION } from '../version.js';
import {
  METRICS_FORMAT,
  type MeasureOptions,
  measureDirectory,
  measureSurface,
  withVulnerabilities,
} from './metrics.js';
import { archiveState, ensureStandardRoot, mainPackages, parseAgainst } from './standard-root.js';
import type { CompareResult, SurfaceMetrics } from './types.js';

/**
 * How much smaller `b` is than `a`, in percent with one decimal (negative when `b` is bigger).
 * A baseline of 0 gives 0 when `b` is 0 too and -100 otherwise (there is no finite percentage).
 */
export function reductionPercent(a: number, b: number): number {
  if (a === 0) return b === 0 ? 0 : -100;
  return Math.round(((a - b) / a) * 1000) / 10;
}

function vulnerabilityTotal(m: SurfaceMetrics): number | undefined {
  return m.vulnerabilities ? Object.values(m.vulnerabilities).reduce((s, n) => s + n, 0) : undefined;
}

/** `rampart compare -o json`: A is the baseline, B the image measured against it. */
export function compareMetrics(a: SurfaceMetrics, b: SurfaceMetrics): CompareResult {
  const va = vulnerabilityTotal(a);
  const vb = vulnerabilityTotal(b);
  return {
    a,
    b,
    reduction: {
      packages: reductionPercent(a.packages.total, b.packages.total),
      languagePackages: reductionPercent(a.packages.language, b.packages.language),
      files: reductionPercent(a.files, b.files),
      bytes: reductionPercent(a.bytes.uncompressed, b.bytes.uncompressed),
      executables: reductionPercent(a.executablesOnPath.total, b.executablesOnPath.total),
      ...(va !== undefined && vb !== undefined ? { vulnerabilities: reductionPercent(va, vb) } : {}),
    },
  };
}

/** One row of the side-by-side view; shared by the text table and the HTML report. */
export interface CompareRow {
  metric: string;
  a: number;
  b: number;
  reduction: number;
  /** bytes are shown in MB */
  unit?: 'bytes';
}

/** The rows every view shows, in order (the HTML report draws one bar chart per row). */
export function compareRows(result: CompareResult): CompareRow[] {
  const { a, b } = result;
  const row = (metric: string, x: number, y: number, unit?: 'bytes'): CompareRow => ({
    metric,
    a: x,
    b: y,
    reduction: reductionPercent(x, y),
    ...(unit ? { unit } : {}),
  });
  const rows = [
    row('packages', a.packages.total, b.packages.total),
    row('language packages', a.packages.language, b.packages.language),
    row('files', a.files, b.files),
    row('bytes', a.bytes.uncompressed, b.bytes.uncompressed, 'bytes'),
    row('ELF executables', a.elf.executables, b.elf.executables),
    row('shared libraries', a.elf.sharedLibraries, b.elf.sharedLibraries),
    row('executables on PATH', a.executablesOnPath.total, b.executablesOnPath.total),
    row('shells', a.shells.total, b.shells.total),
    row('package managers', a.packageManagers.total, b.packageManagers.total),
    row('interpreters', a.interpreters.total, b.interpreters.total),
    row('setuid files', a.setuid.total, b.setuid.total),
    row('setgid files', a.setgid.total, b.setgid.total),
    row('world-writable paths', a.worldWritable.total, b.worldWritable.total),
    row('files with capabilities', a.capabilities.total, b.capabilities.total),
  ];
  const va = vulnerabilityTotal(a);
  const vb = vulnerabilityTotal(b);
  if (va !== undefined && vb !== undefined) rows.push(row('vulnerabilities', va, vb));
  return rows;
}

export function formatQuantity(value: number, unit?: 'bytes'): string {
  if (unit === 'bytes') return `${(value / 1e6).toFixed(1)} MB`;
  return String(value);
}

export function formatReduction(value: number): string {
  return `${value > 0 ? '-' : value < 0 ? '+' : ''}${Math.abs(value)}%`;
}

/** `rampart compare -o text`: the side-by-side table, then the user of each. */
export function formatCompareText(result: CompareResult): string {
  const rows = compareRows(result);
  const header = ['metric', 'A', 'B', 'change'];
  const cells = rows.map((r) => [
    r.metric,
    formatQuantity(r.a, r.unit),
    formatQuantity(r.b, r.unit),
    formatReduction(r.reduction),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) =>
    c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const user = (m: SurfaceMetrics) => `${m.user.name || '(default)'}${m.user.root ? ' (root)' : ''}`;
  return [
    `A: ${result.a.subject.reference}${result.a.subject.digest ? ` (${result.a.subject.digest})` : ''}`,
    `B: ${result.b.subject.reference}${result.b.subject.digest ? ` (${result.b.subject.digest})` : ''}`,
    '',
    line(header),
    ...cells.map(line),
    '',
    `user: A ${user(result.a)}, B ${user(result.b)}`,
    `reduction (B vs A): ${result.reduction.packages}% fewer packages, ${result.reduction.languagePackages}% fewer language packages, ${result.reduction.executables}% fewer executables on PATH, ${result.reduction.bytes}% fewer bytes`,
    'packages: distribution packages (dpkg); language packages (npm, PyPI, ...) are counted apart',
    '',
  ].join('\n');
}

export type CompareOptions = Omit<MeasureOptions, 'onSbom'>;

/** `rampart compare A B`: measures both (any transport, or root directories) and compares. */
export async function compareSurfaces(
  a: string,
  b: string,
  options: CompareOptions = {},
): Promise<CompareResult> {
  const [ma, mb] = [await measureSurface(a, options), await measureSurface(b, options)];
  return compareMetrics(ma, mb);
}

export interface AgainstOptions extends CompareOptions {
  cacheDir?: string;
  /** For the archive (the image itself goes through `registry`). */
  fetch?: FetchFn;
  log?: (message: string) => void;
}

/**
 * `rampart compare IMAGE --against debian:SUITE`: A is the standard Debian root of that suite for
 * the image's architecture with the image's main packages (see ensureStandardRoot and
 * mainPackages), B the image. The standard root is built once and cached.
 */
export async function compareAgainst(
  image: string,
  against: string,
  options: AgainstOptions = {},
): Promise<CompareResult & { standardRoot: { description: string; path: string; packages: string[] } }> {
  const { suite } = parseAgainst(against);
  const archiveRequest = {
    suite,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  // The archive check (network, signatures) needs nothing of the image: it runs while the image is
  // measured. Awaited below; when the measure fails first it is stopped, not left running or
  // unhandled.
  const stop = new AbortController();
  const archive = archiveState({
    ...archiveRequest,
    signal: options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal,
  });
  archive.catch(() => undefined);
  let sbom: SbomDocument | undefined;
  let mb: SurfaceMetrics;
  let platform: string;
  try {
    mb = await measureSurface(image, {
      ...options,
      onSbom: (doc) => {
        sbom = doc;
      },
    });
    const given = mb.subject.platform ?? options.platform;
    if (!given)
      throw new RampartError(
        'USAGE',
        `${image} is a root directory with no platform: give --platform os/arch for --against`,
        { details: { option: '--platform' } },
      );
    platform = given;
  } catch (error) {
    stop.abort();
    throw error;
  }
  const packages = mainPackages(sbom?.packages ?? []);
  const root = await ensureStandardRoot({
    ...archiveRequest,
    architecture: platformToDebianArch(parsePlatform(platform)),
    packages,
    archive: await archive,
  });
  const ma = await standardRootMetrics(root.path, root.description, options);
  return {
    ...compareMetrics(ma, mb),
    standardRoot: { description: root.description, path: root.path, packages },
  };
}

/** The folders of the code that measures a root: the metrics, and the catalogers they run. */
export const METRICS_CODE = ['surface', 'sbom', 'oci', 'debian', 'util'] as const;

/**
 * The key of a standard root's kept metrics and SBOM: the digest of rampart's version,
 * METRICS_FORMAT (the shape of the file), the fingerprint of the measuring code
 * (`codeFingerprint(METRICS_CODE)`; `codeRoot` is for tests), the path-list cap and the
 * description (the subject's reference).
 */
export async function standardRootMetricsKey(
  maxPaths: number,
  description: string,
  codeRoot?: string,
): Promise<string> {
  const code = await codeFingerprint(METRICS_CODE, codeRoot);
  return createHash('sha256')
    .update(JSON.stringify([VERSION, METRICS_FORMAT, code, maxPaths, description]))
    .digest('hex')
    .slice(0, 32);
}

/**
 * A standard root never changes once built (its directory is named by the digest of its package
 * closure, see ensureStandardRoot), so its metrics are kept beside it, in
 * `metrics-KEY.json`: KEY is standardRootMetricsKey's. The root and every input of the
 * measurement are in the key, the code that measures too, so a rampart that measures differently
 * (another release, or a checkout whose catalogers or metrics changed) reads another file. A
 * file that does not parse is measured again. The root's SBOM is kept too (`sbom-KEY.json`),
 * so counting vulnerabilities against today's advisory store re-scans it without a re-measure.
 * A warm `--against` measures only the image.
 */
async function standardRootMetrics(
  path: string,
  description: string,
  options: CompareOptions,
): Promise<SurfaceMetrics> {
  const key = await standardRootMetricsKey(options.maxPaths ?? 1000, description);
  const metricsFile = join(dirname(path), `metrics-${key}.json`);
  const sbomFile = join(dirname(path), `sbom-${key}.json`);
  const { vulnerabilities: count, ...plain } = options;
  const cached = await readFile(metricsFile, 'utf8').then(
    (text) => JSON.parse(text) as SurfaceMetrics,
    () => undefined,
  );
  if (cached?.subject?.reference === description && typeof cached.files === 'number') {
    if (!count) return cached;
    const sbom = await readFile(sbomFile, 'utf8').then(
      (text) => safeParseSbomDocument(JSON.parse(text)),
      () => undefined,
    );
    if (sbom?.success) return withVulnerabilities(cached, await count(sbom.data, options.signal));
  }
  let sbom: SbomDocument | undefined;
  const measured = await measureDirectory(path, {
    ...plain,
    reference: description,
    onSbom: (doc) => {
      sbom = doc;
    },
  });
  // The SBOM first: metrics without it would send a warm count of vulnerabilities to a re-measure.
  await writeFileAtomic(sbomFile, JSON.stringify(sbom))
    .then(() => writeFileAtomic(metricsFile, JSON.stringify(measured)))
    .catch(() => undefined);
  return count && sbom ? withVulnerabilities(measured, await count(sbom, options.signal)) : measured;
}
