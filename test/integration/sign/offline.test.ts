import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../src/sign/keys.js';
import { spawnTracked, stopAllTracked } from '../../helpers/processes.js';
import { type LayoutSignFixture, layoutSignFixture } from '../../helpers/sign-fixtures.js';

// Keyed signing never touches the network: the real CLI (bin/rampart.js over the built dist/)
// signs, attests and verifies an OCI layout inside a network namespace with no interface up, not
// even loopback; a control shows that nothing can be reached from there.
const repo = join(import.meta.dirname, '../../..');
const PASSWORD = 'offline test password';
const PROVENANCE = {
  buildDefinition: {
    buildType: 'https://example.org/rampart-test/build/v1',
    externalParameters: {
      spec: { path: 'images/app.yaml', name: 'app', sha256: 'ab'.repeat(32), content: 'name: app\n' },
    },
  },
  runDetails: {
    builder: { id: 'https://example.org/builder' },
    metadata: { startedOn: '2026-12-01T00:00:00Z' },
  },
};

let fx: LayoutSignFixture;
let server: Server;
let url: string;

beforeAll(async () => {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'pipe' });
  fx = await layoutSignFixture('rampart-sign-offline-');
  const pair = await generateKeyPair(PASSWORD, { scryptCost: 32768 });
  await writeFile(join(fx.work, 'k.key'), pair.privateKey);
  await writeFile(join(fx.work, 'k.pub'), pair.publicKey);
  await writeFile(join(fx.work, 'prov.json'), JSON.stringify(PROVENANCE));
  await writeFile(
    join(fx.work, 'policy.yaml'),
    'version: 1\nsigners:\n  - key: k.pub\npredicate-types: [slsaprovenance1]\nprovenance:\n  builder-id: https://example.org/builder\n',
  );
  server = createServer((_req, res) => res.end('reached'));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}, 300_000);

afterAll(async () => {
  await stopAllTracked();
  await new Promise((done) => server?.close(done));
  await fx?.cleanup();
});

/** Runs `node ARGS...` in a new network namespace (`unshare -n`): no route anywhere. */
async function offline(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTracked('unshare', ['-n', process.execPath, ...args], {
    env: { ...process.env, RAMPART_PASSWORD: PASSWORD },
  });
  const { code } = await child.exited;
  return { code, ...child.output() };
}
const cli = (...args: string[]) => offline([join(repo, 'bin/rampart.js'), ...args]);

describe('keyed signing with no network', () => {
  it('the control: a server on 127.0.0.1 answers here and cannot be reached from the namespace', async () => {
    expect(await (await fetch(url)).text()).toBe('reached');
    const probe = await offline([
      '-e',
      `fetch(${JSON.stringify(url)}).then(() => process.exit(0), () => process.exit(3))`,
    ]);
    expect(probe.code).toBe(3);
  });

  it('sign, attest, verify, verify-attestation, verify --bundle and verify --policy all succeed offline', async () => {
    const { ref } = await fx.freshLayout('offline');
    const key = join(fx.work, 'k.key');
    const pub = join(fx.work, 'k.pub');
    const bundle = join(fx.work, 'offline.sigstore.json');
    for (const args of [
      ['sign', '--key', key, '--bundle', bundle, ref],
      ['attest', '--key', key, '--type', 'slsaprovenance1', '--predicate', join(fx.work, 'prov.json'), ref],
      ['verify', '--key', pub, ref],
      ['verify-attestation', '--key', pub, '--type', 'slsaprovenance1', ref],
      ['verify', '--key', pub, '--bundle', bundle, ref],
      ['verify', '--policy', join(fx.work, 'policy.yaml'), ref],
    ]) {
      const run = await cli(...args);
      expect(run.code, `${args[0]}: ${run.stderr}`).toBe(0);
    }
  });

  it('keyed signing loads nothing of keyless signing (no sigstore-js module); --keyless does, and fails offline with NETWORK', async () => {
    const { ref } = await fx.freshLayout('no-keyless');
    // A module hook recording every resolved URL of sigstore-js or rampart's keyless modules.
    const log = join(fx.work, 'loaded.log');
    const hook = join(fx.work, 'record-keyless.mjs');
    await writeFile(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ resolve(specifier, context, next) {
  const resolved = next(specifier, context);
  if (/node_modules\\/@sigstore\\/|\\/sign\\/keyless/.test(resolved.url)) appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
} });
`,
    );
    const loaded = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const recorded = (...args: string[]) =>
      offline(['--import', hook, join(repo, 'bin/rampart.js'), ...args]);
    const key = join(fx.work, 'k.key');
    const pub = join(fx.work, 'k.pub');
    for (const args of [
      ['sign', '--key', key, ref],
      ['attest', '--key', key, '--type', 'slsaprovenance1', '--predicate', join(fx.work, 'prov.json'), ref],
      ['verify', '--key', pub, ref],
    ]) {
      const run = await recorded(...args);
      expect(run.code, `${args[0]}: ${run.stderr}`).toBe(0);
    }
    expect(await loaded()).toEqual([]);
    // The control: the hook sees keyless signing load them (it then cannot reach Fulcio).
    await writeFile(
      join(fx.work, 'token'),
      'eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoibWUifQ.c2ln',
    );
    const keyless = await recorded(
      'sign',
      '--keyless',
      '--identity-token-file',
      join(fx.work, 'token'),
      '--fulcio-url',
      url,
      '--rekor-url',
      url,
      '-o',
      'json',
      ref,
    );
    expect(keyless.code).toBe(1);
    expect(JSON.parse(keyless.stderr.trim().split('\n').at(-1) as string).error.code).toBe('NETWORK');
    expect((await loaded()).some((entry) => entry.includes('@sigstore/sign'))).toBe(true);
  });
});
