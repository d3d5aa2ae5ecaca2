import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyVariant, loadImageSpec, nearestKey, parseImageSpec } from '../../../src/builder/spec.js';
import { isRampartError } from '../../../src/errors.js';

const GOOD = `name: nodejs
description: Node.js runtime
contents:
  suites: [trixie, trixie-security]
  packages: [nodejs, ca-certificates]
  exclude: [bash]
archs: [amd64, arm64]
entrypoint: [/usr/bin/node]
work-dir: /home/nonroot
environment: {NODE_ENV: production}
paths:
  - {path: /app, type: directory, uid: 65532, gid: 65532, permissions: 0o750}
files:
  - {source: ./app, destination: /app}
variants:
  dev: {packages: [busybox], run-as: root}
`;

function errorOf(text: string): Error {
  try {
    parseImageSpec(text, 'spec.yaml', '/specs');
  } catch (error) {
    expect(isRampartError(error, 'SPEC_INVALID')).toBe(true);
    return error as Error;
  }
  throw new Error('expected the spec to be rejected');
}

describe('parseImageSpec', () => {
  it('parses a spec and fills the documented defaults', () => {
    const { spec, locate } = parseImageSpec(GOOD, 'spec.yaml', '/specs');
    expect(spec.name).toBe('nodejs');
    expect(spec.contents.packages).toEqual(['nodejs', 'ca-certificates']);
    expect(spec.contents.exclude).toEqual(['bash']);
    expect(spec.contents.recommends).toBe(false);
    expect(spec.accounts.runAs).toBe('nonroot');
    expect(spec.paths[0]).toMatchObject({ path: '/app', type: 'directory', uid: 65532, mode: 0o750 });
    expect(spec.files[0]).toMatchObject({ source: './app', destination: '/app', uid: 0, gid: 0 });
    expect(spec.prune).toEqual({ keepLocales: ['C'], keepDocs: false, drop: [] });
    expect(spec.baseDir).toBe('/specs');
    // packages[1] starts at column 22 of line 5: "  packages: [nodejs, ca-certificates]"
    expect(locate(['contents', 'packages', 1])).toBe('spec.yaml:5:22');
  });

  it('names the position and the allowed keys of an unknown key', () => {
    const error = errorOf(GOOD.replace('work-dir: /home/nonroot', 'colour: blue'));
    expect(error.message).toMatch(/^spec\.yaml:9:1: unknown key 'colour'/);
    expect(error.message).toContain('allowed: ');
    expect(error.message).toContain('work-dir');
  });

  it('suggests the key a typo meant, with its position', () => {
    const error = errorOf(GOOD.replace('work-dir: /home/nonroot', 'workdir: /home/nonroot'));
    expect(error.message).toBe("spec.yaml:9:1: unknown key 'workdir' (did you mean work-dir?)");
    expect(isRampartError(error, 'SPEC_INVALID') && error.details).toEqual({
      position: { file: 'spec.yaml', line: 9, column: 1 },
      key: 'workdir',
    });
  });

  it('names the position of an unknown nested key', () => {
    const error = errorOf(GOOD.replace('  exclude: [bash]', '  exclud: [bash]'));
    expect(error.message).toBe("spec.yaml:6:3: unknown key 'exclud' (did you mean exclude?)");
  });

  it('suggests nothing for keys far from every allowed one, or absurdly long', () => {
    expect(nearestKey('pakages', ['suites', 'packages'])).toBe('packages');
    expect(nearestKey('colour', ['suites', 'packages'])).toBeUndefined();
    expect(nearestKey('p'.repeat(100_000), ['packages'])).toBeUndefined();
  });

  it('names a misspelt required key as a typo, not as a missing key', () => {
    const error = errorOf(GOOD.replace('  packages: [nodejs', '  pakages: [nodejs'));
    expect(error.message).toBe("spec.yaml:5:3: unknown key 'pakages' (did you mean packages?)");
    expect(isRampartError(error, 'SPEC_INVALID') && error.details).toEqual({
      position: { file: 'spec.yaml', line: 5, column: 3 },
      key: 'contents.pakages',
    });
  });

  it('catches an unknown run-as user when the spec is read, with its position', () => {
    const error = errorOf(
      GOOD.replace('archs: [amd64, arm64]', 'archs: [amd64, arm64]\naccounts: {run-as: nonrot}'),
    );
    expect(isRampartError(error, 'SPEC_INVALID') && error.details).toEqual({
      position: { file: 'spec.yaml', line: 8, column: 20 },
      key: 'accounts.run-as',
    });
    expect(error.message).toMatch(/^spec\.yaml:8:20: accounts\.run-as: unknown user 'nonrot'/);
    const variant = errorOf(GOOD.replace('run-as: root}', 'run-as: rot}'));
    expect(isRampartError(variant, 'SPEC_INVALID') && variant.details?.key).toBe('variants.dev.run-as');
    // Numeric ids and the spec's own users are fine.
    parseImageSpec(GOOD.replace('run-as: root}', "run-as: '1000:1000'}"), 'spec.yaml', '/specs');
    parseImageSpec(
      GOOD.replace(
        'archs: [amd64, arm64]',
        'archs: [amd64, arm64]\naccounts: {run-as: app, users: [{name: app, uid: 1000, gid: 1000}]}',
      ),
      'spec.yaml',
      '/specs',
    );
  });

  it('gives YAML errors a position in details', () => {
    const error = errorOf('name: [x\n');
    expect(isRampartError(error, 'SPEC_INVALID') && error.details?.position?.file).toBe('spec.yaml');
  });

  it('lists the allowed values of an enum', () => {
    const error = errorOf(GOOD.replace('archs: [amd64, arm64]', 'archs: [amd64, sparc]'));
    expect(error.message).toMatch(/^spec\.yaml:7:16: archs\.1: expected one of amd64, arm64, armhf/);
  });

  it('says when a required key is missing', () => {
    const error = errorOf(GOOD.replace('  packages: [nodejs, ca-certificates]\n', ''));
    expect(error.message).toMatch(/^spec\.yaml:3:1: contents\.packages is required/);
  });

  it('accepts Debian package names with + and version pins, and rejects others with a position', () => {
    const { spec } = parseImageSpec(
      GOOD.replace('[nodejs, ca-certificates]', '[libstdc++6, nodejs=20.19.2+dfsg-1, libc6:amd64]'),
      'spec.yaml',
      '/specs',
    );
    expect(spec.contents.packages).toEqual(['libstdc++6', 'nodejs=20.19.2+dfsg-1', 'libc6:amd64']);
    const error = errorOf(GOOD.replace('[nodejs, ca-certificates]', '[nodejs, Bad_Name]'));
    expect(error.message).toMatch(/^spec\.yaml:5:22: contents\.packages\.1: must be a Debian package name/);
  });

  it('refuses destinations that climb out of the root, with a position', () => {
    const error = errorOf(GOOD.replace('destination: /app}', 'destination: /app/../etc/passwd}'));
    expect(error.message).toMatch(
      /^spec\.yaml:14:34: files\.0\.destination: must not contain '\.' or '\.\.'/,
    );
  });

  it('refuses a symlink path without a target', () => {
    const error = errorOf(GOOD.replace('type: directory,', 'type: symlink,'));
    expect(error.message).toMatch(/^spec\.yaml:12:\d+: paths\.0\.target: a symlink needs a target/);
  });

  it('reports YAML syntax errors with a position', () => {
    const error = errorOf('name: x\ncontents: [unclosed\n');
    expect(error.message).toMatch(/^spec\.yaml:\d+:\d+: invalid YAML/);
  });
});

describe('applyVariant', () => {
  it('adds the variant packages and switches to root with / as working dir', () => {
    const { spec } = parseImageSpec(GOOD.replace('work-dir: /home/nonroot\n', ''), 'spec.yaml', '/specs');
    const dev = applyVariant(spec, 'dev');
    expect(dev.variant).toBe('dev');
    expect(dev.contents.packages).toEqual(['nodejs', 'ca-certificates', 'busybox']);
    expect(dev.accounts.runAs).toBe('root');
    expect(dev.workDir).toBe('/');
    expect(applyVariant(spec, undefined)).toBe(spec);
  });

  it('rejects an unknown variant, listing the known ones', () => {
    const { spec } = parseImageSpec(GOOD, 'spec.yaml', '/specs');
    expect(() => applyVariant(spec, 'debug')).toThrow(/no variant 'debug' \(variants: dev\)/);
  });
});

describe('the catalog', () => {
  it('has valid specs, each with a dev variant that adds busybox and runs as root', async () => {
    const dir = resolve(import.meta.dirname, '../../../images');
    const specs = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
    expect(specs).toEqual(['base.yaml', 'cc.yaml', 'nodejs.yaml', 'python3.yaml', 'static.yaml']);
    for (const file of specs) {
      const { spec } = await loadImageSpec(join(dir, file));
      expect(spec.name).toBe(file.replace('.yaml', ''));
      expect(spec.archs).toEqual(['amd64', 'arm64']);
      expect(spec.contents.suites).toEqual(['trixie', 'trixie-updates', 'trixie-security']);
      expect(spec.accounts.runAs).toBe('nonroot');
      const dev = applyVariant(spec, 'dev');
      expect(dev.contents.packages).toContain('busybox');
      expect(dev.accounts.runAs).toBe('root');
    }
  });
});
