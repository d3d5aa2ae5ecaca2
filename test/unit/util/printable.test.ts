import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { printable, printableText } from '../../../src/util/printable.js';
import { writeRandomImage } from '../../helpers/random-image.js';
import { rampart } from '../../helpers/run-cli.js';

it('escapes control characters, DEL, C1 and bidi overrides; keeps the rest', () => {
  expect(printable('plain ascii, ünïcode, 日本')).toBe('plain ascii, ünïcode, 日本');
  expect(printable('\x1b]0;PWNED\x07')).toBe('\\u001b]0;PWNED\\u0007');
  expect(printable('a\r\nb\tc')).toBe('a\\u000d\\u000ab\\u0009c');
  expect(printable('\x7f\x9b\u202e\u2066')).toBe('\\u007f\\u009b\\u202e\\u2066');
  expect(printableText('line one\n\tline\r two\x1b[2K')).toBe('line one\n\tline\\u000d two\\u001b[2K');
});

it('inspect prints what an image config holds without its control characters', async () => {
  const work = await mkdtemp(join(tmpdir(), 'rampart-printable-'));
  try {
    const hostile = '\x1b]0;PWNED\x07\rok\nDigest:      sha256:0000fake';
    await writeRandomImage(join(work, 'l'), 'app', [100], {
      User: hostile,
      WorkingDir: hostile,
      Env: [`A=${hostile}`],
      Labels: { [hostile]: hostile },
    });
    const run = await rampart('inspect', `oci:${join(work, 'l')}:app`);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('Digest:'))).toHaveLength(1);
    expect(run.stdout).toContain('User:        \\u001b]0;PWNED\\u0007\\u000dok\\u000aDigest:');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
