import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultOutput, parseOutput, writeOutput } from '../../../src/builder/output.js';
import { buildRecordPath } from '../../../src/builder/record.js';
import { DEFAULT_SKIP, lockRequestFor } from '../../../src/builder/resolve.js';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { isRampartError } from '../../../src/errors.js';
import { newIndex } from '../../../src/oci/in-memory.js';
import { makeTestImage } from '../../helpers/oci-fixtures.js';

describe('build outputs', () => {
  it('defaults to an OCI layout under ./out, with a variant tag', () => {
    expect(defaultOutput('nodejs')).toBe('oci:./out/nodejs:latest');
    expect(defaultOutput('nodejs', 'dev')).toBe('oci:./out/nodejs:latest-dev');
  });

  it('accepts the three local transports and docker://, and refuses others', () => {
    expect(parseOutput('oci:out/x:v1')).toMatchObject({ transport: 'oci', path: 'out/x', tag: 'v1' });
    expect(parseOutput('oci-archive:x.tar')).toMatchObject({ transport: 'oci-archive', path: 'x.tar' });
    expect(parseOutput('docker-archive:x.tar')).toMatchObject({ transport: 'docker-archive', path: 'x.tar' });
    expect(parseOutput('docker://localhost:5000/a/b:1')).toEqual({
      transport: 'docker',
      path: '',
      tag: '1',
      raw: 'docker://localhost:5000/a/b:1',
    });
    expect(() => parseOutput('dir:/tmp/x')).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_TRANSPORT' }),
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

describe('writeOutput under an aborted build', () => {
  it('writes nothing and leaves no staging, for each output transport (SIGINT during the write)', async () => {
    const work = await mkdtemp(join(tmpdir(), 'rampart-output-abort-'));
    try {
      const image = await makeTestImage(work, [{ 'etc/a': 'a\n' }]);
      const index = newIndex([{ image, platform: { os: 'linux', architecture: 'amd64' } }]);
      const controller = new AbortController();
      controller.abort(new Error('received SIGINT'));
      const out = join(work, 'out');
      await mkdir(out);
      for (const raw of [`oci:${out}/layout:t`, `oci-archive:${out}/a.tar`, `docker-archive:${out}/d.tar`]) {
        const error = await writeOutput(parseOutput(raw), index, image, controller.signal).catch(
          (e: unknown) => e,
        );
        expect([raw, isRampartError(error, 'CANCELLED')]).toEqual([raw, true]);
      }
      expect(await readdir(out)).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
