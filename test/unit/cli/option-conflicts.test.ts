/**
 * Options that contradict each other, or that only mean something beside another option, are a
 * usage error (exit 2) naming the option, refused before anything is read or built.
 */
import { describe, expect, it } from 'vitest';
import { rampart } from '../../helpers/run-cli.js';

const errorOf = (stderr: string) =>
  (JSON.parse(stderr) as { error: { code: string; details: Record<string, unknown> } }).error;

describe('contradictory and orphaned options', () => {
  it('build --db FILE --no-scan: a usage error naming both, instead of silently not scanning', async () => {
    // The spec does not exist: the options are refused before it would be read.
    const run = await rampart(
      'build',
      '/nonexistent/spec.yaml',
      '--db',
      '/nonexistent/a.db',
      '--no-scan',
      '-o',
      'json',
    );
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(errorOf(run.stderr)).toMatchObject({
      code: 'USAGE',
      details: { option: '--db', conflictsWith: '--no-scan' },
    });
  });

  it('verify --cache/--mirror/--keyring without --rebuild: a usage error naming the option', async () => {
    for (const [option, value] of [
      ['--cache', '/nonexistent/cache'],
      ['--mirror', 'http://127.0.0.1:9/debian'],
      ['--keyring', '/nonexistent/keyring.gpg'],
    ] as const) {
      const run = await rampart(
        'verify',
        '-o',
        'json',
        '--key',
        '/nonexistent/k.pub',
        option,
        value,
        'oci:/nonexistent/layout:app',
      );
      expect(run.code, option).toBe(2);
      expect(errorOf(run.stderr)).toMatchObject({ code: 'USAGE', details: { option } });
    }
  });

  it('verify --spec without --rebuild is refused before the key or the image is read', async () => {
    const run = await rampart(
      'verify',
      '-o',
      'json',
      '--key',
      '/nonexistent/k.pub',
      '--spec',
      'x.yaml',
      'oci:/nonexistent/layout:app',
    );
    expect(run.code).toBe(2);
    expect(errorOf(run.stderr)).toMatchObject({ code: 'USAGE', details: { option: '--spec' } });
  });
});
