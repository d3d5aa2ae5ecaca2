/**
 * A ~200 MB image through docker-registry with the CLI as a separate process: pushing and pulling
 * stream every blob (peak RSS stays under 150 MB, measured with /usr/bin/time), and SIGINT during a
 * push exits 130 with nothing tagged.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { layerFromFile, newImage } from '../../../src/oci/in-memory.js';
import { writeImage } from '../../../src/oci/open.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

const repo = join(import.meta.dirname, '../../..');
const RSS_LIMIT_KIB = 150 * 1024;
let work: string;
let registry: TestRegistry;
let source: string;

async function sha256File(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Two incompressible layers of ~100 MB, made with head/tar/gzip so the test holds none of it. */
async function largeImage(): Promise<string> {
  const layers = [];
  for (const name of ['a', 'b']) {
    const dir = join(work, `content-${name}`);
    execFileSync('sh', [
      '-c',
      `mkdir -p "$1" && head -c 100M /dev/urandom > "$1/blob" && tar -C "$1" -cf "$2.tar" blob && gzip -1 -c "$2.tar" > "$2.tar.gz"`,
      'sh',
      dir,
      join(work, name),
    ]);
    const gz = join(work, `${name}.tar.gz`);
    layers.push(
      layerFromFile(
        gz,
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: await sha256File(gz),
          size: (await stat(gz)).size,
        },
        await sha256File(join(work, `${name}.tar`)),
      ),
    );
  }
  const image = newImage({
    config: {
      created: '2024-01-01T00:00:00Z',
      os: 'linux',
      architecture: 'amd64',
      rootfs: { type: 'layers', diff_ids: [] },
    },
    layers,
  });
  const ref = `oci:${join(work, 'layout')}:big`;
  await writeImage(ref, image);
  return ref;
}

function cli(args: string[], timed = false) {
  const command = [join(repo, 'bin/rampart.js'), ...args];
  return timed
    ? spawnTracked('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, ...command])
    : spawnTracked(process.execPath, command);
}

const maxRss = (stderr: string) => Number(/maxrss=(\d+)/.exec(stderr)?.[1]);

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  work = await mkdtemp(join(tmpdir(), 'rampart-push-large-'));
  registry = await startRegistry();
  source = await largeImage();
}, 300_000);
afterAll(async () => {
  await stopAllTracked();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a ~200 MB image', () => {
  it(`is pushed and pulled with peak RSS under ${RSS_LIMIT_KIB / 1024} MB`, async () => {
    const target = `docker://${registry.host}/large/app:1`;
    const push = cli(['copy', source, target, '--insecure'], true);
    const pushed = await push.exited;
    expect(pushed.code, push.output().stderr).toBe(0);
    const pull = cli(['copy', target, `oci:${join(work, 'pulled')}:1`, '--insecure'], true);
    const pulled = await pull.exited;
    expect(pulled.code, pull.output().stderr).toBe(0);
    const figures = { push: maxRss(push.output().stderr), pull: maxRss(pull.output().stderr) };
    process.stdout.write(`peak RSS (KiB) of a ~200 MB image: push ${figures.push}, pull ${figures.pull}\n`);
    expect(figures.push).toBeLessThan(RSS_LIMIT_KIB);
    expect(figures.pull).toBeLessThan(RSS_LIMIT_KIB);
  });

  it('SIGINT during a push exits 130 and leaves no tag', async () => {
    const target = `docker://${registry.host}/large/interrupted:1`;
    const uploads = join(registry.storageDir, 'docker/registry/v2/repositories/large/interrupted/_uploads');
    const run = cli(['copy', source, target, '--insecure', '--jobs', '1']);
    // Interrupt once an upload is under way (the registry has started a session for it).
    const started = Date.now();
    while ((await readdir(uploads).catch(() => [])).length === 0) {
      if (Date.now() - started > 60_000) throw new Error('no upload started');
      await new Promise((done) => setTimeout(done, 20));
    }
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code, run.output().stderr).toBe(130);
    const tag = await fetch(`${registry.url}/v2/large/interrupted/manifests/1`, { method: 'HEAD' });
    expect(tag.status).toBe(404);
    const tags = await fetch(`${registry.url}/v2/large/interrupted/tags/list`);
    expect([200, 404]).toContain(tags.status);
    if (tags.status === 200)
      expect(((await tags.json()) as { tags: string[] | null }).tags ?? []).toEqual([]);
  });
});
