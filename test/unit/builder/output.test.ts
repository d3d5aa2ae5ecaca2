import { describe, expect, it } from 'vitest';
import { defaultOutput, parseOutput } from '../../../src/builder/output.js';
import { buildRecordPath } from '../../../src/builder/record.js';
import { DEFAULT_SKIP, lockRequestFor } from '../../../src/builder/resolve.js';
import { parseImageSpec } from '../../../src/builder/spec.js';

describe('build outputs', () => {
  it('defaults to an OCI layout under ./out, with a variant tag', () => {
    expect(defaultOutput('nodejs')).toBe('oci:./out/nodejs:latest');
    expect(defaultOutput('nodejs', 'dev')).toBe('oci:./out/nodejs:latest-dev');
  });

  it('accepts the three local transports and refuses others', () => {
    expect(parseOutput('oci:out/x:v1')).toMatchObject({ transport: 'oci', path: 'out/x', tag: 'v1' });
    expect(parseOutput('oci-archive:x.tar')).toMatchObject({ transport: 'oci-archive', path: 'x.tar' });
    expect(parseOutput('docker-archive:x.tar')).toMatchObject({ transport: 'docker-archive', path: 'x.tar' });
    expect(() => parseOutput('dir:/tmp/x')).toThrow(
      /use oci:DIR:TAG, oci-archive:FILE or docker-archive:FILE/,
    );
  });

  it('keeps the build record beside the output', () => {
    expect(buildRecordPath('out/nodejs', 'oci')).toBe('out/nodejs.build.json');
    expect(buildRecordPath('out/nodejs/', 'oci', 'dev')).toBe('out/nodejs-dev.build.json');
    expect(buildRecordPath('x.tar', 'oci-archive')).toBe('x.tar.build.json');
  });
});

describe('lockRequestFor', () => {
  const text = (extra: string) =>
    `name: x\ncontents:\n  suites: [trixie]\n  packages: [debconf=1.5, tzdata]\n${extra}archs: [amd64]\n`;
  it('skips the default maintainer-script dependencies except the ones asked for', () => {
    const { spec } = parseImageSpec(text(''), 'x.yaml', '/');
    const request = lockRequestFor(spec);
    expect(request.skip).toEqual([...DEFAULT_SKIP].filter((p) => p !== 'debconf').sort());
    expect(request.packages).toEqual(['debconf=1.5', 'tzdata']);
  });

  it('uses the spec list when given', () => {
    const { spec } = parseImageSpec(text('  skip: [ucf]\n'), 'x.yaml', '/');
    expect(lockRequestFor(spec).skip).toEqual(['ucf']);
  });
});
