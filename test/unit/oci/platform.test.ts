import { describe, expect, it } from 'vitest';
import {
  debianArchToPlatform,
  formatPlatform,
  hostPlatform,
  parsePlatform,
  platformMatches,
  platformToDebianArch,
} from '../../../src/oci/platform.js';

const TABLE: Array<[string, string]> = [
  ['amd64', 'linux/amd64'],
  ['arm64', 'linux/arm64/v8'],
  ['armhf', 'linux/arm/v7'],
  ['armel', 'linux/arm/v5'],
  ['i386', 'linux/386'],
  ['ppc64el', 'linux/ppc64le'],
  ['s390x', 'linux/s390x'],
  ['riscv64', 'linux/riscv64'],
  ['mips64el', 'linux/mips64le'],
];

describe('platforms', () => {
  it.each(TABLE)('%s <-> %s', (debian, oci) => {
    expect(formatPlatform(debianArchToPlatform(debian))).toBe(oci);
    expect(platformToDebianArch(parsePlatform(oci))).toBe(debian);
  });

  it('maps platforms without a variant', () => {
    expect(platformToDebianArch({ os: 'linux', architecture: 'arm64' })).toBe('arm64');
    expect(platformToDebianArch({ os: 'linux', architecture: 'arm' })).toBe('armhf');
    expect(platformToDebianArch({ os: 'linux', architecture: 'arm', variant: 'v6' })).toBe('armel');
  });

  it('rejects unknown architectures and malformed platform strings', () => {
    expect(() => debianArchToPlatform('sparc')).toThrow(/unsupported Debian architecture 'sparc'/);
    expect(() => platformToDebianArch({ os: 'linux', architecture: 'wasm' })).toThrow(/linux\/wasm/);
    for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/arm/']) {
      expect(() => parsePlatform(bad)).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });

  it('matches with optional variants', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, parsePlatform('linux/arm64/v8'))).toBe(
      true,
    );
    expect(platformMatches(parsePlatform('linux/arm/v5'), parsePlatform('linux/arm/v7'))).toBe(false);
    expect(platformMatches(parsePlatform('linux/amd64'), parsePlatform('linux/arm64'))).toBe(false);
  });

  it('describes the host as linux with a Go architecture name', () => {
    const host = hostPlatform();
    expect(host.os).toBe('linux');
    expect(host.architecture).toBe(process.arch === 'x64' ? 'amd64' : host.architecture);
  });
});
