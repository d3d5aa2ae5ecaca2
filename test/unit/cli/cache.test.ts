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

  it('exits 2 naming a bad --older-than value', async () => {
    const { code, stderr } = await rampart('cache', 'prune', '--cache', work, '--older-than', '3x');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: --older-than: .*"3x"/);
  });
});
