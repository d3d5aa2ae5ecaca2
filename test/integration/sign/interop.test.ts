import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPrivateKey, keySigner } from '../../../src/sign/keys.js';
import type { PolicyResult } from '../../../src/sign/policy.js';
import type { SignResult } from '../../../src/sign/sign.js';
import { signStatementDsse } from '../../../src/sign/sign.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import { peerTool, peerToolEnv, skopeoTrixieRoot } from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  type CosignRegistryFixture,
  cosignRegistryFixture,
  SIGN_TEST_PASSWORD,
} from '../../helpers/sign-fixtures.js';

// The acceptance checks of issue 13 against the other reference tools, offline: oras 1.3.3 lists
// rampart's referrers, skopeo 1.18 (trixie root) accepts rampart's signatures under a
// sigstoreSigned policy and signs what rampart verifies, cosign's `save` layout verifies with
// rampart, and an air-gapped copy verifies (signatures and policy) with the registry stopped.
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const PROVENANCE = {
  buildDefinition: {
    buildType: 'https://example.org/rampart-test/build/v1',
    externalParameters: {
      spec: { path: 'images/app.yaml', name: 'app', sha256: 'ab'.repeat(32), content: 'name: app\n' },
    },
    internalParameters: {},
    resolvedDependencies: [],
  },
  runDetails: {
    builder: { id: 'https://example.org/rampart-test/builder/v1' },
    metadata: {
      invocationId: 'run-1',
      startedOn: '2026-12-01T00:00:00Z',
      finishedOn: '2026-12-01T00:02:00Z',
    },
  },
};

let fx: CosignRegistryFixture;
let oras: string;
let inToto: string;
let skopeoRoot: string;
/** A folder inside the trixie root, for skopeo's files; `inRoot` is its path as skopeo sees it. */
let rootWork: string;
let inRoot: string;

beforeAll(async () => {
  [fx, oras, inToto, skopeoRoot] = await Promise.all([
    cosignRegistryFixture('rampart-sign-interop-', ['oras', 'skopeo', 'by-skopeo', 'saved', 'airgap']),
    peerTool('oras'),
    peerTool('in-toto-golang'),
    skopeoTrixieRoot(),
  ]);
  await mkdir(join(skopeoRoot, 'tmp'), { recursive: true });
  rootWork = await mkdtemp(join(skopeoRoot, 'tmp', 'rampart-interop-'));
  inRoot = rootWork.slice(skopeoRoot.length);
  await writeFile(join(fx.work, 'provenance.json'), JSON.stringify(PROVENANCE));
  // skopeo reads and writes sigstore signatures (.sig) of this registry only when told so.
  await mkdir(join(rootWork, 'registries.d'));
  await writeFile(
    join(rootWork, 'registries.d', 'local.yaml'),
    `docker:\n  ${fx.registry.host}:\n    use-sigstore-attachments: true\n`,
  );
}, 900_000);

afterAll(async () => {
  if (rootWork) await rm(rootWork, { recursive: true, force: true });
  await fx?.cleanup();
});

const key = (name: string) => join(fx.work, name);

async function rampartOk(...args: string[]): Promise<string> {
  const run = await rampart(...args);
  expect(run.code, `rampart ${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

async function skopeo(...args: string[]) {
  return runCommand('chroot', [skopeoRoot, 'skopeo', ...args], { env: peerToolEnv(), timeoutMs: 300_000 });
}

/** A containers policy.json inside the root: docker:// from the test registry must carry a sigstore signature by `pub`. */
async function sigstorePolicy(name: string, pub: string): Promise<string> {
  await cp(pub, join(rootWork, `${name}.pub`));
  const policy = {
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        [fx.registry.host]: [
          {
            type: 'sigstoreSigned',
            keyPath: `${inRoot}/${name}.pub`,
            signedIdentity: { type: 'matchRepository' },
          },
        ],
      },
      oci: { '': [{ type: 'insecureAcceptAnything' }] },
    },
  };
  await writeFile(join(rootWork, `${name}.json`), JSON.stringify(policy));
  return `${inRoot}/${name}.json`;
}

describe('rampart and oras, skopeo, cosign save, air-gapped', () => {
  it('oras discover lists the referrers rampart pushed (bundle signature and attestation)', async () => {
    const ref = `docker://${fx.ref('oras')}`;
    const signed = JSON.parse(
      await rampartOk(
        'sign',
        '-o',
        'json',
        '--format',
        'bundle',
        '--key',
        key('rampart.key'),
        ref,
        '--insecure',
      ),
    ) as SignResult;
    const attested = JSON.parse(
      await rampartOk(
        'attest',
        '-o',
        'json',
        '--format',
        'bundle',
        '--key',
        key('rampart.key'),
        '--type',
        'slsaprovenance1',
        '--predicate',
        key('provenance.json'),
        ref,
        '--insecure',
      ),
    ) as { attestations: Array<{ digest: string }> };
    const discovered = await runCommand(
      oras,
      ['discover', '--plain-http', '--format', 'json', fx.ref('oras')],
      { env: peerToolEnv(), timeoutMs: 120_000 },
    );
    expect(discovered.exitCode, discovered.stderr).toBe(0);
    const listing = JSON.parse(discovered.stdout) as {
      referrers?: Array<{ digest: string; artifactType: string }>;
      manifests?: Array<{ digest: string; artifactType: string }>;
    };
    const referrers = listing.referrers ?? listing.manifests ?? [];
    const ours = [signed.signatures[0]?.digest, attested.attestations[0]?.digest].sort();
    expect(
      referrers
        .filter((r) => r.artifactType === BUNDLE)
        .map((r) => r.digest)
        .sort(),
    ).toEqual(ours);
  });

  it('skopeo 1.18 accepts rampart signatures under a sigstoreSigned policy and rejects another key', async () => {
    await rampartOk(
      'sign',
      '--format',
      'legacy',
      '--key',
      key('rampart.key'),
      `docker://${fx.ref('skopeo')}`,
      '--insecure',
    );
    const copy = (policy: string, out: string) =>
      skopeo(
        '--policy',
        policy,
        '--registries.d',
        `${inRoot}/registries.d`,
        'copy',
        '-q',
        '--remove-signatures',
        '--src-tls-verify=false',
        `docker://${fx.ref('skopeo')}`,
        `oci:${inRoot}/${out}:x`,
      );
    const accepted = await copy(await sigstorePolicy('rampart', key('rampart.pub')), 'accepted');
    expect(accepted.exitCode, accepted.stderr).toBe(0);
    const rejected = await copy(await sigstorePolicy('cosign', key('cosign.pub')), 'rejected');
    expect(rejected.exitCode).not.toBe(0);
    expect(rejected.stderr).toContain('signature');
  });

  it('rampart verifies what skopeo signed with --sign-by-sigstore-private-key (a rampart key)', async () => {
    await cp(join(fx.work, 'layout'), join(rootWork, 'img'), { recursive: true });
    await cp(key('rampart.key'), join(rootWork, 'rampart.key'));
    await writeFile(join(rootWork, 'pass'), SIGN_TEST_PASSWORD);
    const signed = await skopeo(
      '--registries.d',
      `${inRoot}/registries.d`,
      'copy',
      '-q',
      '--dest-tls-verify=false',
      '--sign-by-sigstore-private-key',
      `${inRoot}/rampart.key`,
      '--sign-passphrase-file',
      `${inRoot}/pass`,
      `oci:${inRoot}/img:app`,
      `docker://${fx.registry.host}/by-skopeo:signed`,
    );
    expect(signed.exitCode, signed.stderr).toBe(0);
    const run = await rampart(
      'verify',
      '-o',
      'json',
      '--key',
      key('rampart.pub'),
      `docker://${fx.registry.host}/by-skopeo:signed`,
      '--insecure',
      '--identity',
      `${fx.registry.host}/by-skopeo:signed`,
    );
    expect(run.code, run.stdout).toBe(0);
    const result = JSON.parse(run.stdout) as VerifyResult;
    expect(result.signatures.filter((s) => s.valid).map((s) => s.format)).toEqual(['legacy']);
    const wrong = await rampart(
      'verify',
      '--key',
      key('cosign.pub'),
      `docker://${fx.registry.host}/by-skopeo:signed`,
      '--insecure',
    );
    expect(wrong.code).toBe(1);
  });

  it('in-toto-golang verifies a link in a DSSE envelope rampart signed, with the rampart public key', async () => {
    const dir = join(fx.work, 'in-toto');
    await mkdir(dir);
    const tool = (...args: string[]) =>
      runCommand(inToto, args, { env: peerToolEnv(), cwd: dir, timeoutMs: 120_000 });
    const keyId = (await tool('key', 'id', key('rampart.pub'))).stdout.trim();
    expect(keyId).toMatch(/^[0-9a-f]{64}$/);
    const layoutKey = (await tool('key', 'layout', key('rampart.pub'))).stdout.trim();
    const owner = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'owner.pem'), owner.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(dir, 'owner.pub'), owner.publicKey.export({ type: 'spki', format: 'pem' }));
    const digest = { sha256: 'cd'.repeat(32) };
    const link = {
      _type: 'link',
      byproducts: {},
      command: ['rampart', 'build'],
      environment: {},
      materials: { 'images/app.yaml': digest },
      name: 'build',
      products: { 'out/app.tar': digest },
    };
    const layout = {
      signed: {
        _type: 'layout',
        expires: '2030-01-01T00:00:00Z',
        readme: 'rampart interop',
        keys: JSON.parse(`{${layoutKey}}`),
        steps: [
          {
            _type: 'step',
            name: 'build',
            threshold: 1,
            pubkeys: [keyId],
            expected_command: [],
            expected_materials: [['ALLOW', '*']],
            expected_products: [['ALLOW', '*']],
          },
        ],
        inspect: [],
      },
      signatures: [],
    };
    await writeFile(join(dir, 'root.layout.unsigned'), JSON.stringify(layout));
    const signedLayout = await tool(
      'sign',
      '-f',
      'root.layout.unsigned',
      '-k',
      'owner.pem',
      '-o',
      'root.layout',
    );
    expect(signedLayout.exitCode, signedLayout.stderr).toBe(0);
    // The link, signed by rampart's DSSE code with the key `rampart key generate` wrote.
    const pem = await readFile(key('rampart.key'), 'utf8');
    const signer = keySigner(await decryptPrivateKey(pem, SIGN_TEST_PASSWORD));
    // in-toto matches a signature to a functionary by its keyid (in-toto's own: `key id`).
    const envelope = await signStatementDsse(signer, Buffer.from(JSON.stringify(link)), keyId);
    const linkFile = join(dir, `build.${keyId.slice(0, 8)}.link`);
    await writeFile(linkFile, JSON.stringify(envelope));
    const verify = () => tool('verify', '-l', 'root.layout', '-k', 'owner.pub', '-d', dir);
    const ok = await verify();
    expect(ok.exitCode, ok.stderr + ok.stdout).toBe(0);
    // One flipped bit of the signature: in-toto-golang refuses it.
    const sig = Buffer.from(envelope.signatures[0]?.sig ?? '', 'base64');
    sig[10] = (sig[10] as number) ^ 0x01;
    await writeFile(
      linkFile,
      JSON.stringify({ ...envelope, signatures: [{ keyid: keyId, sig: sig.toString('base64') }] }),
    );
    expect((await verify()).exitCode).not.toBe(0);
  });

  it('rampart verifies the layout cosign save wrote, as cosign verify --local-image does', async () => {
    await rampartOk('sign', '--key', key('rampart.key'), `docker://${fx.ref('saved')}`, '--insecure');
    const saved = join(fx.work, 'saved');
    const save = await fx.cosign(fx.cosign3, [
      'save',
      '--allow-insecure-registry',
      '--dir',
      saved,
      fx.ref('saved'),
    ]);
    expect(save.exitCode, save.stderr).toBe(0);
    const local = await fx.cosign(fx.cosign3, [
      'verify',
      '--key',
      key('rampart.pub'),
      '--insecure-ignore-tlog=true',
      '--local-image',
      saved,
    ]);
    expect(local.exitCode, local.stderr).toBe(0);
    const run = await rampart(
      'verify',
      '-o',
      'json',
      '--key',
      key('rampart.pub'),
      `oci:${saved}@${fx.digest}`,
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as VerifyResult).digest).toBe(fx.digest);
  });

  it('air-gapped: copied with --with-attachments, verify and verify --policy pass with the registry stopped', async () => {
    const ref = `docker://${fx.ref('airgap')}`;
    await rampartOk('sign', '--key', key('rampart.key'), ref, '--insecure');
    await rampartOk(
      'attest',
      '--key',
      key('rampart.key'),
      '--type',
      'slsaprovenance1',
      '--predicate',
      key('provenance.json'),
      ref,
      '--insecure',
    );
    const dir = join(fx.work, 'airgap');
    await rampartOk(
      'copy',
      '-q',
      '--with-attachments',
      `docker://${fx.registry.host}/airgap:v1`,
      `oci:${dir}:v1`,
      '--insecure',
    );
    await fx.registry.stop();
    expect(
      await fetch(`${fx.registry.url}/v2/`).then(
        () => 'up',
        () => 'down',
      ),
    ).toBe('down');
    const verified = await rampart('verify', '-o', 'json', '--key', key('rampart.pub'), `oci:${dir}:v1`);
    expect(verified.code, verified.stdout).toBe(0);
    expect(
      (JSON.parse(verified.stdout) as VerifyResult).signatures.map((s) => [s.format, s.valid]).sort(),
    ).toEqual([
      ['bundle', true],
      ['legacy', true],
    ]);
    const policy = join(fx.work, 'policy.yaml');
    await writeFile(
      policy,
      `version: 1
signers:
  - key: rampart.pub
predicate-types: [slsaprovenance1]
provenance:
  builder-id: ${PROVENANCE.runDetails.builder.id}
  spec-digest: sha256:${'ab'.repeat(32)}
`,
    );
    const evaluated = await rampart('verify', '-o', 'json', '--policy', policy, `oci:${dir}:v1`);
    expect(evaluated.code, evaluated.stdout).toBe(0);
    const result = JSON.parse(evaluated.stdout) as PolicyResult;
    expect(result.rules.map((r) => r.passed)).toEqual([true, true, true, true]);
    expect(await readFile(join(dir, 'index.json'), 'utf8')).toContain(fx.digest);
  });
});
