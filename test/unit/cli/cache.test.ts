import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { ContentCache } from '../../../src/debian/cache.js';

let work: string;

/** Runs the CLI in-process, capturing stdout/stderr. */
async function rampart(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await main(['node', 'rampart', ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-cache-cli-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('rampart cache', () => {
  it('info -o json gives entries, bytes and use times per kind', async () => {
    const cache = new ContentCache(work);
    const blobs = [Buffer.from('one'), Buffer.from('two two')];
    for (const blob of blobs) await cache.putBytes(blob);
    await mkdir(join(work, 'tools', 't'), { recursive: true });
    await writeFile(join(work, 'tools', 't', 'bin'), 'tool');

    const { code, stdout } = await rampart('cache', 'info', '--cache', work, '-o', 'json');
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(Object.keys(info)).toEqual(['dir', 'kinds', 'bytes']);
    expect(info.dir).toBe(work);
    expect(info.kinds.map((k: { kind: string }) => k.kind)).toEqual(['blobs', 'tools']);
    expect(info.kinds[0]).toMatchObject({
      kind: 'blobs',
      entries: 2,
      bytes: blobs[0]!.length + blobs[1]!.length,
    });
    expect(Object.keys(info.kinds[0])).toEqual(['kind', 'entries', 'bytes', 'oldest', 'newest']);
    expect(Date.parse(info.kinds[0].oldest)).toBeLessThanOrEqual(Date.parse(info.kinds[0].newest));
    expect(info.bytes).toBe(blobs[0]!.length + blobs[1]!.length + 'tool'.length);

    const text = await rampart('cache', 'info', '--cache', work);
    expect(text.stdout).toMatch(/^blobs\s+2\s/m);
  });

  it('prune -o json reports what it removed, and --dry-run removes nothing', async () => {
    const cache = new ContentCache(work);
    const old = cache.blobPath(await cache.putBytes(Buffer.from('old blob')));
    await cache.putBytes(Buffer.from('fresh blob'));
    const threeDaysAgo = (Date.now() - 3 * 86_400_000) / 1000;
    await utimes(old, threeDaysAgo, threeDaysAgo);

    const dry = await rampart(
      'cache',
      'prune',
      '--cache',
      work,
      '--older-than',
      '2d',
      '--dry-run',
      '-o',
      'json',
    );
    expect(dry.code).toBe(0);
    const expected = {
      dir: work,
      removed: [{ kind: 'blobs', path: `blobs/sha256/${old.split('/').pop()}`, bytes: 8, reason: 'unused' }],
      bytesFreed: 8,
      dryRun: true,
    };
    expect(JSON.parse(dry.stdout)).toEqual(expected);
    expect(await readdir(join(work, 'blobs', 'sha256'))).toHaveLength(2);

    const real = await rampart('cache', 'prune', '--cache', work, '--older-than', '2d', '-o', 'json');
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toEqual({ ...expected, dryRun: false });
    expect(await readdir(join(work, 'blobs', 'sha256'))).toHaveLength(1);

    const text = await rampart('cache', 'prune', '--cache', work, '--all');
    expect(text.stdout).toMatch(/^removed 1 entries \(10 B\)/m);
  });

  it('exits 2 on an --older-than below an hour, naming the minimum', async () => {
    const cache = new ContentCache(work);
    const blob = cache.blobPath(await cache.putBytes(Buffer.from('used minutes ago')));
    for (const value of ['0s', '30m', '59m']) {
      const { code, stderr } = await rampart('cache', 'prune', '--cache', work, '--older-than', value);
      expect(code).toBe(2);
      expect(stderr).toMatch(new RegExp(`^error: --older-than: "${value}" .*minimum is 1h`));
    }
    expect(await readdir(join(work, 'blobs', 'sha256'))).toEqual([blob.split('/').pop()]);
    expect((await rampart('cache', 'prune', '--cache', work, '--older-than', '1h')).code).toBe(0);
  });

  it('prune refuses a directory that is not a rampart cache, in one line, exit 1', async () => {
    await mkdir(join(work, 'pip', 'http'), { recursive: true });
    await writeFile(join(work, 'pip', 'http', 'x'), 'not ours');
    const old = (Date.now() - 90 * 86_400_000) / 1000;
    await utimes(join(work, 'pip', 'http', 'x'), old, old);

    const { code, stdout, stderr } = await rampart('cache', 'prune', '--cache', work, '--all');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: .* does not look like a rampart cache[^\n]*\n$/);
    expect(await readdir(join(work, 'pip', 'http'))).toEqual(['x']);
    // info just reports nothing of ours.
    const info = await rampart('cache', 'info', '--cache', work, '-o', 'json');
    expect(JSON.parse(info.stdout)).toEqual({ dir: work, kinds: [], bytes: 0 });
  });

  it('prune --help says --all is not for a cache in use', async () => {
    const { stdout } = await rampart('cache', 'prune', '--help');
    expect(stdout).toMatch(/--all is not/);
    expect(stdout).toMatch(/at least 1h/);
  });

  it('exits 2 naming a bad --older-than value', async () => {
    const { code, stderr } = await rampart('cache', 'prune', '--cache', work, '--older-than', '3x');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: --older-than: .*"3x"/);
  });
});
