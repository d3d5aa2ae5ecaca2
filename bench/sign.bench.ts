/**
 * Signing (issue 13): sign + verify latency of one image against a local `docker-registry`, by
 * rampart (`bin/rampart.js sign --format bundle` then `verify`) and by cosign 3.1.1 (`sign` then
 * `verify`, offline flags), with the same cosign-generated key, each on its own repository, in the
 * same run; best of RUNS. Prints rampart's time as a fraction of cosign's (target ≤ 1.0). Also DSSE
 * envelope verification throughput in this process on one core (target ≥ 5,000/s).
 * Run with `npm run bench -- sign` (after `npm run build`: it runs bin/rampart.js).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pae } from '../src/sign/formats.js';
import { decryptPrivateKey, keySigner, parsePublicKey, verifySignature } from '../src/sign/keys.js';
import { signImage } from '../src/sign/sign.js';
import { verifyImage } from '../src/sign/verify.js';
import { peerTool, peerToolEnv } from '../test/helpers/peer-tools.js';
import { writeRandomImage } from '../test/helpers/random-image.js';
import { startRegistry } from '../test/helpers/registry.js';
import type { BenchFigure } from './run.js';

const REPO = resolve(import.meta.dirname, '..');
const RUNS = 3;
const PASSWORD = 'bench';

async function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env, cwd });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8 * 1024);
  });
  const [status] = (await once(child, 'close')) as [number | null];
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${status}): ${stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export default async function signBench(): Promise<BenchFigure[]> {
  const work = await mkdtemp(join(tmpdir(), 'rampart-bench-sign-'));
  const registry = await startRegistry();
  try {
    const cosign = await peerTool('cosign');
    const env = peerToolEnv({ COSIGN_PASSWORD: PASSWORD, RAMPART_PASSWORD: PASSWORD });
    await run(cosign, ['generate-key-pair'], env, work);
    const image = await writeRandomImage(join(work, 'layout'), 'app', [1000]);
    const best = { rampart: Infinity, cosign: Infinity };
    for (let i = 0; i < RUNS; i++) {
      for (const tool of i % 2 === 0 ? (['rampart', 'cosign'] as const) : (['cosign', 'rampart'] as const)) {
        const repo = `${registry.host}/${tool}-${i}`;
        await run(
          'skopeo',
          ['copy', '-q', '--dest-tls-verify=false', `oci:${join(work, 'layout')}:app`, `docker://${repo}:v1`],
          env,
          work,
        );
        const at = `${repo}@${image.digest}`;
        let seconds: number;
        if (tool === 'rampart') {
          const cli = join(REPO, 'bin/rampart.js');
          seconds =
            (await run(
              process.execPath,
              [cli, 'sign', '--format', 'bundle', '--key', 'cosign.key', `docker://${at}`, '--insecure'],
              env,
              work,
            )) +
            (await run(
              process.execPath,
              [cli, 'verify', '--key', 'cosign.pub', `docker://${at}`, '--insecure'],
              env,
              work,
            ));
        } else {
          seconds =
            (await run(
              cosign,
              [
                'sign',
                '--key',
                'cosign.key',
                '--use-signing-config=false',
                '--tlog-upload=false',
                '--allow-insecure-registry',
                '-y',
                at,
              ],
              env,
              work,
            )) +
            (await run(
              cosign,
              [
                'verify',
                '--key',
                'cosign.pub',
                '--insecure-ignore-tlog=true',
                '--allow-insecure-registry',
                at,
              ],
              env,
              work,
            ));
        }
        best[tool] = Math.min(best[tool], seconds);
      }
    }

    // DSSE verification: PAE over a small statement, ECDSA P-256 verify, in this process.
    const key = await decryptPrivateKey(await readFile(join(work, 'cosign.key'), 'utf8'), PASSWORD);
    const pub = parsePublicKey(await readFile(join(work, 'cosign.pub'), 'utf8'));
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ digest: { sha256: image.digest.slice(7) } }],
        predicateType: 'https://sigstore.dev/cosign/sign/v1',
        predicate: {},
      }),
    );
    const payload = statement.toString('base64');
    const sig = await keySigner(key).sign(pae('application/vnd.in-toto+json', statement));
    // The same, in this process (the library; no process start, no module loading, key decrypted once).
    let library = Infinity;
    for (let i = 0; i < RUNS; i++) {
      const repo = `${registry.host}/library-${i}`;
      await run(
        'skopeo',
        ['copy', '-q', '--dest-tls-verify=false', `oci:${join(work, 'layout')}:app`, `docker://${repo}:v1`],
        env,
        work,
      );
      const at = `docker://${repo}@${image.digest}`;
      const t0 = process.hrtime.bigint();
      await signImage(at, keySigner(key), { formats: ['bundle'], registry: { insecure: true } });
      const verified = await verifyImage(at, pub, { registry: { insecure: true } });
      if (!verified.verified) throw new Error('library sign/verify did not verify');
      library = Math.min(library, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    let count = 0;
    const started = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 2) {
      for (let j = 0; j < 100; j++) {
        if (!verifySignature(pub, pae('application/vnd.in-toto+json', Buffer.from(payload, 'base64')), sig))
          throw new Error('did not verify');
      }
      count += 100;
      elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    }
    return [
      {
        name: 'sign + verify one image: rampart (bundle)',
        value: best.rampart,
        unit: 's',
        note: `best of ${RUNS}, local docker-registry`,
      },
      { name: 'sign + verify one image: cosign 3.1.1', value: best.cosign, unit: 's' },
      {
        name: 'sign + verify: rampart time ÷ cosign time',
        value: best.rampart / best.cosign,
        unit: '×',
        target: 1.0,
      },
      {
        name: 'sign + verify one image: rampart library, in process',
        value: library,
        unit: 's',
        note: 'the CLI figure less process start and module loading',
      },
      {
        name: 'DSSE envelope verifications per second (one core)',
        value: count / elapsed,
        unit: '/s',
        note: 'target ≥ 5,000/s',
      },
    ];
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}
