import { loadRepositories } from '../../debian/repository.js';
import { compareVersions } from '../../debian/version.js';
import { RampartError } from '../../errors.js';
import type { SbomDocument } from '../../sbom/model.js';
import type { NewerVersionLookup } from './types.js';

export interface LintArchiveOptions {
  /** Suites to compare with; default the image's own release (os-release VERSION_CODENAME). */
  suites?: string[];
  /** Debian architecture of the image (amd64, arm64, ...). */
  architecture: string;
  /** Default: the host's apt sources, as for `rampart build`. */
  mirror?: string;
  securityMirror?: string;
  keyring?: string;
  cacheDir?: string;
  signal?: AbortSignal;
}

/**
 * The configured archive for `outdated-package`: the suites given, or else the image's own release
 * with its `-updates` and `-security` companions, read (signature-verified) from the mirror given
 * or the host's apt sources, exactly as `rampart build` reads them. A package is outdated when the
 * archive's highest version of it, for its architecture (or `all`), is higher by dpkg's order.
 */
export async function loadArchiveLookup(
  sbom: SbomDocument,
  options: LintArchiveOptions,
): Promise<NewerVersionLookup> {
  const codename = sbom.distro?.versionCodename;
  const suites = options.suites && options.suites.length > 0 ? options.suites : codename ? [codename] : [];
  if (suites.length === 0)
    throw new RampartError(
      'USAGE',
      'the image names no Debian release (no VERSION_CODENAME in os-release); give the archive suites with --suite',
      { details: { option: '--suite' } },
    );
  const { index } = await loadRepositories({
    suites,
    architectures: [options.architecture],
    ...(options.mirror ? { mirror: options.mirror } : {}),
    ...(options.securityMirror ? { securityMirror: options.securityMirror } : {}),
    ...(options.keyring ? { keyring: options.keyring } : {}),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    warn: () => undefined,
  });
  return (pkg) => {
    const arch = pkg.architecture ?? options.architecture;
    const best = index
      .candidates(pkg.name)
      .find((candidate) => candidate.architecture === arch || candidate.architecture === 'all');
    if (!best) return undefined;
    try {
      return compareVersions(best.version, pkg.version) > 0 ? best.version : undefined;
    } catch {
      return undefined;
    }
  };
}
