import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer } from '../../../src/oci/layer-writer.js';
import { pidExists, runCommand, spawnTracked, stopAllTracked } from '../../helpers/processes.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { runOciImage } from '../../helpers/runc.js';
import { layoutBlobDir, writeOciLayout } from './oci-layout.js';

/** A static program for the image: prints who it runs as and $GREETING, exits with argv[1]. */
const HELLO_C = `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  const char *greeting = getenv("GREETING");
  printf("hello from rampart uid=%d gid=%d greeting=%s\\n", (int)getuid(), (int)getgid(), greeting ? greeting : "-");
  fprintf(stderr, "a line on stderr\\n");
  return argc > 1 ? atoi(argv[1]) : 0;
}
`;

const work = mkdtempSync(join(tmpdir(), 'rampart-harness-'));
afterAll(async () => {
  await stopAllTracked();
  rmSync(work, { recursive: true, force: true });
});

describe('startRegistry', () => {
  it('serves /v2/ on 127.0.0.1 and is gone after stop()', async () => {
    const registry = await startRegistry();
    expect(registry.url).toBe(`http://${registry.host}`);
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const response = await fetch(`${registry.url}/v2/`);
    expect(response.status).toBe(200);
    expect(statSync(registry.storageDir).isDirectory()).toBe(true);
    expect(pidExists(registry.pid)).toBe(true);
    await registry.stop();
    expect(pidExists(registry.pid)).toBe(false);
    await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  });
});

describe('spawnTracked', () => {
  it('throws a message naming a missing program, and leaves no unhandled error behind', async () => {
    expect(() => spawnTracked('rampart-no-such-program', [])).toThrow(
      /could not start rampart-no-such-program: not found/,
    );
    // spawn's own 'error' event comes a tick later; without a listener vitest reports it.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});

describe('runCommand', () => {
  it('returns at the timeout even when a leftover grandchild holds its output pipes', async () => {
    const started = Date.now();
    const result = await runCommand('sh', ['-c', 'sleep 3 & echo started; exec sleep 30'], {
      timeoutMs: 300,
    });
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(result).toMatchObject({ stdout: 'started\n', exitCode: 137, timedOut: true });
  });
});

describe('runOciImage', () => {
  const layout = join(work, 'layout');
  let registry: TestRegistry | undefined;

  beforeAll(async () => {
    const source = join(work, 'hello.c');
    const binary = join(work, 'hello');
    writeFileSync(source, HELLO_C);
    execFileSync('gcc', ['-static', '-Os', '-o', binary, source]);
    const layer = await buildLayer(
      [
        {
          path: 'hello',
          type: 'file',
          mode: 0o755,
          uid: 0,
          gid: 0,
          content: () => createReadStream(binary),
          size: statSync(binary).size,
        },
        { path: 'tmp', type: 'directory', mode: 0o1777, uid: 0, gid: 0 },
      ],
      { dir: layoutBlobDir(layout) },
    );
    await writeOciLayout(layout, 'v1', [layer], { Entrypoint: ['/hello'], Env: ['GREETING=from-config'] });
  });

  afterAll(async () => {
    await registry?.stop();
  });

  it('runs the image entrypoint and returns its output and exit code', async () => {
    const result = await runOciImage(layout, 'v1');
    expect(result).toEqual({
      stdout: 'hello from rampart uid=0 gid=0 greeting=from-config\n',
      stderr: 'a line on stderr\n',
      exitCode: 0,
    });
  });

  it('overrides args, env and user', async () => {
    const result = await runOciImage(layout, 'v1', {
      args: ['/hello', '3'],
      env: ['GREETING=overridden'],
      user: { uid: 65532, gid: 65533 },
    });
    expect(result.stdout).toBe('hello from rampart uid=65532 gid=65533 greeting=overridden\n');
    expect(result.exitCode).toBe(3);
  });

  it('produces a layout that skopeo can push to the test registry', async () => {
    registry = await startRegistry();
    const copy = await runCommand('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      `docker://${registry.host}/harness/hello:v1`,
    ]);
    expect(copy.exitCode, copy.stderr).toBe(0);
    const tags = (await (await fetch(`${registry.url}/v2/harness/hello/tags/list`)).json()) as {
      tags: string[];
    };
    expect(tags.tags).toEqual(['v1']);
  });
});
