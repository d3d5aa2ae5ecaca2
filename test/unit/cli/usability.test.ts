/**
 * What a new user hit (issue 11, items 2, 5 and 8): one meaning for -o, single-image outputs that
 * pick the host's architecture, roadmap commands that say when they come, bare paths.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archsForOutput, parseOutput } from '../../../src/builder/output.js';
import { formatBytes, formatTable, parseReportOutput, writeReport } from '../../../src/cli/format.js';
import { comingLater } from '../../../src/cli/roadmap.js';
import { isRampartError } from '../../../src/errors.js';
import { parseImageReference } from '../../../src/oci/reference.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { rampart } from '../../helpers/run-cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-usability-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('-o/--output FORMAT[=FILE] on every command', () => {
  it('parses a format and an optional file', () => {
    expect(parseReportOutput('json', ['text', 'json'])).toEqual({ format: 'json' });
    expect(parseReportOutput('json=out/r.json', ['text', 'json'])).toEqual({
      format: 'json',
      path: 'out/r.json',
    });
    const error = thrown(() => parseReportOutput('yaml', ['text', 'json']));
    expect(isRampartError(error) && error.code).toBe('USAGE');
    expect(isRampartError(error) && error.details).toEqual({ option: '--output', value: 'yaml' });
    const empty = thrown(() => parseReportOutput('json=', ['text', 'json']));
    expect(isRampartError(empty) && empty.code).toBe('USAGE');
  });

  it('writes a report to its =FILE', async () => {
    const file = join(work, 'sub', 'report.json');
    await writeReport({ format: 'json', path: file }, '{"a":1}\n');
    expect(await readFile(file, 'utf8')).toBe('{"a":1}\n');
  });

  it.each([
    ['build', 'images/static.yaml'],
    ['inspect', 'oci:x'],
    ['copy', 'oci:x', 'oci:y'],
    ['apt', 'resolve', 'x'],
    ['apt', 'why', 'x', '--for', 'y'],
    ['apt', 'download', '--dir', 'd', 'x'],
  ])('rampart %s ... -o yaml is a usage error (exit 2) naming the formats', async (...args) => {
    const { code, stderr } = await rampart(...args, '-o', 'yaml');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: unknown output format 'yaml'.*formats: text, json/);
  });

  it('build --output oci:… still works for one release, with a warning, and -o json beside it', async () => {
    const spec = join(work, 'bad.yaml');
    // A spec error stops the build right after the options are read.
    await writeFile(spec, 'name: x\ncontents:\n  suites: [trixie]\n  pakages: [tzdata]\narchs: [amd64]\n');
    const { code, stderr } = await rampart(
      'build',
      spec,
      '--output',
      `oci:${join(work, 'out')}:t`,
      '-o',
      'json',
    );
    expect(code).toBe(2); // SPEC_INVALID: an invocation error
    expect(stderr).toMatch(/^warning: --output oci:.* is deprecated .*rampart build .*bad\.yaml oci:/m);
    const both = await rampart(
      'build',
      spec,
      `oci:${join(work, 'o2')}:t`,
      '--output',
      `oci:${join(work, 'o3')}:t`,
    );
    expect(both.code).toBe(2);
  });

  it('formats tables with a header and aligned columns', () => {
    expect(formatTable(['A', 'BB', 'C'], [['xxx', 'y', 'zz']])).toBe('A    BB  C\nxxx  y   zz\n');
  });

  it('prints binary units', () => {
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
  });
});

describe('single-image outputs of a multi-arch spec', () => {
  it("builds the host's architecture into docker-archive, and says so", () => {
    const out = parseOutput('docker-archive:base-dev.tar');
    expect(archsForOutput(out, ['amd64', 'arm64'], 'arm64')).toEqual({
      archs: ['arm64'],
      chosen: 'arm64',
      host: true,
    });
    expect(archsForOutput(out, ['amd64', 'arm64'], 's390x')).toEqual({
      archs: ['amd64'],
      chosen: 'amd64',
      host: false,
    });
    expect(archsForOutput(parseOutput('oci:out/x:t'), ['amd64', 'arm64'], 'amd64')).toEqual({
      archs: ['amd64', 'arm64'],
    });
  });

  it('names a docker-archive after the image when the destination names no NAME:TAG', () => {
    expect(parseOutput('docker-archive:x.tar', { name: 'base', variant: 'dev' }).tag).toBe('base:latest-dev');
    expect(parseOutput('docker-archive:x.tar', { name: 'base' }).tag).toBe('base:latest');
    expect(parseOutput('docker-archive:x.tar:me/x:1', { name: 'base' }).tag).toBe('me/x:1');
    expect(parseOutput('oci:out/x', { name: 'base' }).tag).toBeUndefined();
  });
});

describe('commands on the roadmap', () => {
  it.each(['push'])('rampart %s says which roadmap issue brings it', async (name) => {
    const error = comingLater(name);
    expect(error?.code).toBe('UNSUPPORTED_OPERATION');
    expect(error?.details).toEqual({ operation: name });
    const { code, stderr } = await rampart(name, 'oci:./out/static:latest');
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/unknown command/);
    expect(stderr).toMatch(/^error: 'rampart \w+' is not available yet: it comes with the \w[\w ]* issue/);
  });

  it('leaves other unknown commands to commander', async () => {
    expect(comingLater('frobnicate')).toBeUndefined();
    expect(comingLater('toString')).toBeUndefined();
    expect((await rampart('frobnicate')).code).toBe(2);
  });
});

describe('bare paths', () => {
  it.each(['./out/static', '../out/static', '/srv/image', '~/image', '.'])(
    "'%s' is a path: the error suggests oci: and dir:",
    (value) => {
      const error = thrown(() => parseImageReference(value));
      expect(isRampartError(error) && error.code).toBe('INVALID_REFERENCE');
      expect(isRampartError(error) && error.details).toEqual({ reference: value });
    },
  );

  it('prints the suggestion', async () => {
    const { code, stderr } = await rampart('inspect', './out/static');
    expect(code).toBe(2);
    expect(stderr).toContain('use oci:./out/static for an OCI layout directory');
  });

  it('still reads registry references', () => {
    expect(parseImageReference('localhost:5000/x').transport).toBe('docker');
    expect(parseImageReference('ubuntu').transport).toBe('docker');
  });
});

describe('SBOM of a directory', () => {
  it('is dated now, not 1970, unless SOURCE_DATE_EPOCH is set', async () => {
    const root = join(work, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    const now = new Date('2026-12-05T22:00:00.000Z');
    const doc = await generateSbom({ kind: 'directory', path: root }, { env: {}, now: () => now });
    expect(doc.source.created).toBe(now.toISOString());
    const pinned = await generateSbom(
      { kind: 'directory', path: root },
      { env: { SOURCE_DATE_EPOCH: '1700000000' }, now: () => now },
    );
    expect(pinned.source.created).toBe('2023-11-14T22:13:20.000Z');
  });
});

describe('registry options on a root filesystem', () => {
  it('sbom dir: with --creds is a usage error, as on inspect, not silently ignored', async () => {
    const rootfs = join(work, 'rootfs-creds');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'os-release'), 'ID=debian\n');
    const result = await rampart('sbom', '--creds', 'me:secret', `dir:${rootfs}`);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('--creds');
    expect(result.stderr).not.toContain('secret');
  });
});
