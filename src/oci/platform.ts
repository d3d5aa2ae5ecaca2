import { RampartError } from '../errors.js';
import type { Platform } from './types.js';

// Debian architecture name -> OCI platform (GOARCH naming, with the GOARM-style variant).
const DEBIAN_TO_OCI: Record<string, { architecture: string; variant?: string }> = {
  amd64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v5' },
  i386: { architecture: '386' },
  ppc64el: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  mips64el: { architecture: 'mips64le' },
};

export function debianArchToPlatform(arch: string): Platform {
  const mapped = DEBIAN_TO_OCI[arch];
  if (!mapped) {
    throw new RampartError(
      'USAGE',
      `unsupported Debian architecture '${arch}': use one of ${Object.keys(DEBIAN_TO_OCI).join(', ')}`,
      { details: { value: arch } },
    );
  }
  return { os: 'linux', ...mapped };
}

export function platformToDebianArch(platform: Platform): string {
  if (platform.architecture === 'arm') {
    // Debian's armel targets ARMv5 (also runs on v6); armhf needs ARMv7, the default for arm images.
    return platform.variant === 'v5' || platform.variant === 'v6' ? 'armel' : 'armhf';
  }
  for (const [debian, oci] of Object.entries(DEBIAN_TO_OCI)) {
    if (oci.architecture === platform.architecture) return debian;
  }
  throw new RampartError('USAGE', `no Debian architecture for platform ${formatPlatform(platform)}`, {
    details: { value: formatPlatform(platform) },
  });
}

export function formatPlatform(platform: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`). */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new RampartError(
      'USAGE',
      `malformed platform '${value}': expected os/arch[/variant], e.g. linux/amd64`,
      { details: { value } },
    );
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

const NODE_ARCH_TO_OCI: Record<string, { architecture: string; variant?: string }> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  mips64el: { architecture: 'mips64le' },
};

/** The platform this process runs on, in OCI terms (images are always linux). */
export function hostPlatform(): Platform {
  const mapped = NODE_ARCH_TO_OCI[process.arch] ?? { architecture: process.arch };
  return { os: 'linux', ...mapped };
}

/** Whether an image platform satisfies a wanted one; a missing variant on either side matches (arm64 ≡ arm64/v8). */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  if (!wanted.variant || !candidate.variant) return true;
  return candidate.variant === wanted.variant;
}
