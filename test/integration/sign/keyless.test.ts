import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keylessFromFlags } from '../../../src/cli/keyless-options.js';
import { isRampartError } from '../../../src/errors.js';
import { attestImage } from '../../../src/sign/attest.js';
import {
  COSIGN_BUNDLE_ANNOTATION,
  COSIGN_CERTIFICATE_ANNOTATION,
  keylessMaterial,
} from '../../../src/sign/keyless.js';
import { verifyAttestationsKeyless, verifyImageKeyless } from '../../../src/sign/keyless-verify.js';
import { signImage } from '../../../src/sign/sign.js';
import type { VerifyResult } from '../../../src/sign/verify.js';
import { rampart } from '../../helpers/run-cli.js';
import {
  blobPath,
  type LayoutSignFixture,
  layoutSignFixture,
  putBlob,
  readJson,
} from '../../helpers/sign-fixtures.js';
import { mockIdentityToken, type SigstoreMock, startSigstoreMock } from '../../helpers/sigstore-mock.js';

// Keyless signing against sigstore-js's mock Fulcio and Rekor served on 127.0.0.1, verified offline
// against the trusted root of that CA, CT log and log: the right identity and issuer pass; another
// identity, another issuer, a root without the CA (or the log), a changed byte are refused, each
// with the check that failed.
const COSIGN_SIGNATURE = 'dev.cosignproject.cosign/signature';
const IDENTITY = 'https://example.org/rampart/ci/release.yml@refs/heads/main';
const ISSUER = 'https://token.example.org';

let fx: LayoutSignFixture;
let mock: SigstoreMock;
let token: string;
let root: Buffer;

beforeAll(async () => {
  fx = await layoutSignFixture('rampart-keyless-');
  mock = await startSigstoreMock();
  token = mockIdentityToken({ sub: IDENTITY, iss: ISSUER });
  root = Buffer.from(mock.trustedRoot());
  await writeFile(join(fx.work, 'root.json'), root);
}, 120_000);

afterAll(async () => {
  await mock?.close();
  await fx?.cleanup();
});

const material = () => keylessMaterial({ identityToken: token, fulcioURL: mock.url, rekorURL: mock.url });
const verify = (ref: string, extra: Partial<Parameters<typeof verifyImageKeyless>[1]> = {}) =>
  verifyImageKeyless(ref, { trustedRoot: root, identity: IDENTITY, issuer: ISSUER, ...extra });
/** Points index.json's entry `digest` at a new manifest (keeping its annotations). */
async function replaceEntry(layout: string, digest: string, manifest: Buffer): Promise<string> {
  const next = await putBlob(layout, manifest);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  for (const entry of index.manifests) {
    if (entry.digest === digest) Object.assign(entry, { digest: next, size: manifest.length });
  }
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return next;
}
/** The manifest `digest` with its first layer's bytes changed by `change`, stored anew. */
async function rewriteLayer(
  layout: string,
  digest: string,
  change: (bytes: Buffer) => Buffer,
): Promise<void> {
  const manifest = await readJson(layout, digest);
  const bytes = change(await readFile(blobPath(layout, manifest.layers[0].digest)));
  manifest.layers[0].digest = await putBlob(layout, bytes);
  manifest.layers[0].size = bytes.length;
  await replaceEntry(layout, digest, Buffer.from(JSON.stringify(manifest)));
}
const failures = (result: VerifyResult) => result.signatures.map((s) => [s.format, s.valid, s.failed]);

describe('keyless signing (mock Fulcio and Rekor)', () => {
  let signed: { layout: string; ref: string; digest: string };
  let result: Awaited<ReturnType<typeof signImage>>;

  beforeAll(async () => {
    signed = await fx.freshLayout('signed');
    result = await signImage(signed.ref, await material());
  });

  it('writes a v0.3 bundle with the certificate and a dsse log entry, and a .sig layer with cosign annotations', async () => {
    expect(result.signatures.map((s) => s.format).sort()).toEqual(['bundle', 'legacy']);
    // One certificate for the command, one log entry per signature.
    expect(mock.requests.filter((path) => path === '/api/v2/signingCert')).toHaveLength(1);
    const referrer = result.signatures.find((s) => s.format === 'bundle');
    const manifest = await readJson(signed.layout, referrer?.digest as string);
    const bundle = JSON.parse(await readFile(blobPath(signed.layout, manifest.layers[0].digest), 'utf8'));
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(Object.keys(bundle.verificationMaterial.certificate)).toEqual(['rawBytes']);
    expect(bundle.verificationMaterial.tlogEntries[0].kindVersion).toEqual({
      kind: 'dsse',
      version: '0.0.1',
    });
    expect(bundle.verificationMaterial.tlogEntries[0].inclusionPromise.signedEntryTimestamp).toBeTruthy();
    // @sigstore/verify, the reference verifier, accepts it with this identity.
    const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(root.toString()))));
    const signer = verifier.verify(toSignedEntity(bundleFromJSON(bundle)), {
      subjectAlternativeName: IDENTITY,
      extensions: { issuer: ISSUER },
    });
    expect(signer.identity?.subjectAlternativeName).toBe(IDENTITY);

    const legacy = result.signatures.find((s) => s.format === 'legacy');
    const sig = await readJson(signed.layout, legacy?.digest as string);
    const annotations = sig.layers[0].annotations;
    expect(annotations[COSIGN_CERTIFICATE_ANNOTATION]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    const rekor = JSON.parse(annotations[COSIGN_BUNDLE_ANNOTATION]);
    expect(Object.keys(rekor)).toEqual(['SignedEntryTimestamp', 'Payload']);
    expect(Object.keys(rekor.Payload)).toEqual(['body', 'integratedTime', 'logIndex', 'logID']);
    expect(JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString()).kind).toBe('hashedrekord');
  });

  it('verifies with the right identity and issuer (both formats), and with a matching identity regexp', async () => {
    const ok = await verify(signed.ref);
    expect(ok.verified).toBe(true);
    expect(failures(ok).sort()).toEqual([
      ['bundle', true, undefined],
      ['legacy', true, undefined],
    ]);
    expect(ok.signatures[0]?.certificate).toEqual({
      identity: IDENTITY,
      issuer: ISSUER,
      key: expect.any(String),
    });
    // One signing: its bundle and its .sig carry the same certificate key.
    expect(ok.signatures[1]?.certificate?.key).toBe(ok.signatures[0]?.certificate?.key);
    const byRegexp = await verifyImageKeyless(signed.ref, {
      trustedRoot: root,
      identityRegexp: '^https://example\\.org/rampart/',
      issuer: ISSUER,
    });
    expect(byRegexp.verified).toBe(true);
  });

  it('refuses another identity, another issuer, a non-matching regexp', async () => {
    const other = await verify(signed.ref, { identity: 'https://example.org/someone-else' });
    expect(other.verified).toBe(false);
    expect(other.signatures.map((s) => s.failed)).toEqual(['certificate-identity', 'certificate-identity']);
    const issuer = await verify(signed.ref, { issuer: 'https://accounts.example.com' });
    expect(issuer.verified).toBe(false);
    expect(issuer.signatures.map((s) => s.failed)).toEqual(['certificate-issuer', 'certificate-issuer']);
    const regexp = await verifyImageKeyless(signed.ref, {
      trustedRoot: root,
      identityRegexp: '^https://example\\.org/other/',
      issuer: ISSUER,
    });
    expect(regexp.signatures.map((s) => s.failed)).toEqual(['certificate-identity', 'certificate-identity']);
  });

  it('an empty or blank identity, regexp or issuer is USAGE naming the option (an empty regexp would match anyone)', async () => {
    const usage = async (call: () => Promise<unknown>) => {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      return isRampartError(error, 'USAGE') ? error.details.option : error;
    };
    const id = { identity: IDENTITY };
    for (const [given, option] of [
      [{ identityRegexp: '', issuer: ISSUER }, '--certificate-identity-regexp'],
      [{ identityRegexp: '  ', issuer: ISSUER }, '--certificate-identity-regexp'],
      [{ identity: '', issuer: ISSUER }, '--certificate-identity'],
      [{ ...id, issuer: '' }, '--certificate-oidc-issuer'],
      [{ ...id, issuer: ' ' }, '--certificate-oidc-issuer'],
    ] as const) {
      const options = { trustedRoot: root, ...given };
      const what = JSON.stringify(given);
      expect(await usage(() => verifyImageKeyless(signed.ref, options)), what).toBe(option);
      expect(await usage(() => verifyAttestationsKeyless(signed.ref, options)), what).toBe(option);
    }
    const cli = await rampart(
      'verify',
      signed.ref,
      '--certificate-identity-regexp',
      '',
      '--certificate-oidc-issuer',
      ISSUER,
      '--trusted-root',
      join(fx.work, 'root.json'),
      '-o',
      'json',
    );
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stderr).error).toMatchObject({
      code: 'USAGE',
      details: { option: '--certificate-identity-regexp' },
    });
    // A regexp not anchored at both ends verifies, with a warning; an anchored one without.
    const byRegexp = (re: string) =>
      rampart(
        'verify',
        signed.ref,
        '--certificate-identity-regexp',
        re,
        '--certificate-oidc-issuer',
        ISSUER,
        '--trusted-root',
        join(fx.work, 'root.json'),
        '-o',
        'json',
      );
    const loose = await byRegexp('example\\.org/rampart/');
    expect(loose.code, loose.stderr).toBe(0);
    expect(loose.stderr.startsWith('warning: ')).toBe(true);
    const anchored = await byRegexp('^https://example\\.org/rampart/.*$');
    expect(anchored.code, anchored.stderr).toBe(0);
    expect(anchored.stderr).toBe('');
  });

  it('refuses against a trusted root without the CA, without the log, without the CT log or with another one', async () => {
    const noCa = await verify(signed.ref, { trustedRoot: Buffer.from(mock.trustedRoot({ ca: true })) });
    expect(noCa.verified).toBe(false);
    expect(noCa.signatures.map((s) => s.failed)).toEqual(['certificate', 'certificate']);
    const noLog = await verify(signed.ref, { trustedRoot: Buffer.from(mock.trustedRoot({ tlog: true })) });
    expect(noLog.verified).toBe(false);
    expect(noLog.signatures.map((s) => s.failed)).toEqual(['tlog', 'tlog']);
    // Another CA altogether (a second mock): the certificate chains to none of its root. And our CA
    // with another CT log: the certificate's SCT is signed by no log the root trusts.
    const stranger = await startSigstoreMock();
    try {
      const foreign = await verify(signed.ref, { trustedRoot: Buffer.from(stranger.trustedRoot()) });
      expect(foreign.signatures.map((s) => s.failed)).toEqual(['certificate', 'certificate']);
      const ours = JSON.parse(root.toString());
      ours.ctlogs = JSON.parse(stranger.trustedRoot()).ctlogs;
      const otherCt = await verify(signed.ref, { trustedRoot: Buffer.from(JSON.stringify(ours)) });
      expect(otherCt.signatures.map((s) => s.failed)).toEqual(['certificate', 'certificate']);
    } finally {
      await stranger.close();
    }
    // A root listing no CT log cannot vouch for the SCT the certificate carries (@sigstore/verify
    // checks every SCT present; it requires none only when the root lists no CT log).
    const noCt = await verify(signed.ref, { trustedRoot: Buffer.from(mock.trustedRoot({ ctlog: true })) });
    expect(noCt.signatures.map((s) => s.failed)).toEqual(['certificate', 'certificate']);
  });

  it('refuses a stored blob changed under its digest (caught before any signature is read)', async () => {
    const { layout, ref } = await fx.freshLayout('flipped');
    const written = await signImage(ref, await material());
    for (const signature of written.signatures) {
      const manifest = await readJson(layout, signature.digest);
      const path = blobPath(layout, manifest.layers[0].digest);
      const bytes = await readFile(path);
      bytes[10] = (bytes[10] as number) ^ 0x01;
      await writeFile(path, bytes);
    }
    const tampered = await verify(ref);
    expect(tampered.verified).toBe(false);
    expect(Object.fromEntries(tampered.signatures.map((s) => [s.format, s.failed]))).toEqual({
      bundle: 'blob',
      legacy: 'blob',
    });
  });

  // Each change below is stored as a new blob under its own digest, the manifest and index.json
  // rewritten to name it: only the cryptographic checks stand between it and "valid".
  const flip = (base64: string, at: number) => {
    const bytes = Buffer.from(base64, 'base64');
    const i = at < 0 ? bytes.length + at : at;
    bytes[i] = (bytes[i] as number) ^ 0x01;
    return bytes.toString('base64');
  };
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON changed in place
  type Json = Record<string, any>;
  const bundleChanges: Array<[string, (bundle: Json) => void, string]> = [
    [
      'the DSSE signature',
      (b) => {
        b.dsseEnvelope.signatures[0].sig = flip(b.dsseEnvelope.signatures[0].sig, 20);
      },
      'tlog',
    ],
    [
      'the statement',
      (b) => {
        b.dsseEnvelope.payload = flip(b.dsseEnvelope.payload, 40);
      },
      'tlog',
    ],
    [
      'the certificate',
      (b) => {
        const certificate = b.verificationMaterial.certificate;
        certificate.rawBytes = flip(certificate.rawBytes, -20);
      },
      'certificate',
    ],
    [
      'the signed entry timestamp',
      (b) => {
        const promise = b.verificationMaterial.tlogEntries[0].inclusionPromise;
        promise.signedEntryTimestamp = flip(promise.signedEntryTimestamp, 20);
      },
      'tlog',
    ],
    [
      'the log entry time',
      (b) => {
        const entry = b.verificationMaterial.tlogEntries[0];
        // An hour earlier: before the certificate was issued, which is checked at that time first.
        entry.integratedTime = String(Number(entry.integratedTime) - 3600);
      },
      'certificate',
    ],
  ];
  it.each(bundleChanges)(
    'refuses a bundle with %s changed, naming the check',
    async (what, change, check) => {
      const { layout, ref } = await fx.freshLayout(`bundle-${what.replace(/\W/g, '-')}`);
      const written = await signImage(ref, await material(), { formats: ['bundle'] });
      await rewriteLayer(layout, written.signatures[0]?.digest as string, (bytes) => {
        const bundle = JSON.parse(bytes.toString('utf8'));
        change(bundle);
        return Buffer.from(JSON.stringify(bundle));
      });
      const result = await verify(ref);
      expect(result.verified).toBe(false);
      expect(result.signatures.map((s) => s.failed)).toEqual([check]);
      expect(result.signatures[0]?.reason).toBeTruthy();
    },
  );

  const legacyChanges: Array<[string, (layer: Json, payload: Buffer) => Buffer, string]> = [
    [
      'the payload changed',
      (_l, payload) => Buffer.from(payload.toString().replace('sha256:', 'sha256:0')),
      'tlog',
    ],
    [
      'the signature changed',
      (l, p) => {
        l.annotations[COSIGN_SIGNATURE] = flip(l.annotations[COSIGN_SIGNATURE], 20);
        return p;
      },
      'tlog',
    ],
    [
      'the certificate changed',
      (l, p) => {
        const pem: string = l.annotations[COSIGN_CERTIFICATE_ANNOTATION];
        const body = pem.replace(/-----[A-Z ]+-----|\s/g, '');
        l.annotations[COSIGN_CERTIFICATE_ANNOTATION] =
          `-----BEGIN CERTIFICATE-----\n${flip(body, -20)}\n-----END CERTIFICATE-----\n`;
        return p;
      },
      'certificate',
    ],
    [
      'the Rekor bundle changed',
      (l, p) => {
        const rekor = JSON.parse(l.annotations[COSIGN_BUNDLE_ANNOTATION]);
        rekor.SignedEntryTimestamp = flip(rekor.SignedEntryTimestamp, 20);
        l.annotations[COSIGN_BUNDLE_ANNOTATION] = JSON.stringify(rekor);
        return p;
      },
      'tlog',
    ],
    [
      'no Rekor bundle at all',
      (l, p) => {
        delete l.annotations[COSIGN_BUNDLE_ANNOTATION];
        return p;
      },
      'timestamp',
    ],
  ];
  it.each(legacyChanges)(
    'refuses a .sig layer with %s changed, naming the check',
    async (what, change, check) => {
      const { layout, ref } = await fx.freshLayout(`legacy-${what.replace(/\W/g, '-')}`);
      const written = await signImage(ref, await material(), { formats: ['legacy'] });
      const sigDigest = written.signatures[0]?.digest as string;
      const manifest = await readJson(layout, sigDigest);
      const layer = manifest.layers[0];
      const payload = change(layer, await readFile(blobPath(layout, layer.digest)));
      layer.digest = await putBlob(layout, payload);
      layer.size = payload.length;
      await replaceEntry(layout, sigDigest, Buffer.from(JSON.stringify(manifest)));
      const result = await verify(ref);
      expect(result.verified).toBe(false);
      expect(result.signatures.map((s) => s.failed)).toEqual([check]);
    },
  );

  it('attests keylessly in both formats: the bundle, and the .att envelope with the certificate and an intoto log entry', async () => {
    const { ref, layout } = await fx.freshLayout('attested');
    const attested = await attestImage(ref, await material(), 'openvex', { statements: [] });
    expect(attested.attestations.map((a) => a.format).sort()).toEqual(['bundle', 'legacy']);
    const legacy = attested.attestations.find((a) => a.format === 'legacy');
    const att = await readJson(layout, legacy?.digest as string);
    const annotations = att.layers[0].annotations;
    expect(att.layers[0].mediaType).toBe('application/vnd.dsse.envelope.v1+json');
    expect(annotations[COSIGN_SIGNATURE]).toBe('');
    expect(annotations.predicateType).toBe('https://openvex.dev/ns');
    expect(annotations[COSIGN_CERTIFICATE_ANNOTATION]).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    const rekor = JSON.parse(annotations[COSIGN_BUNDLE_ANNOTATION]);
    expect(JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString()).kind).toBe('intoto');

    const options = { trustedRoot: root, identity: IDENTITY, issuer: ISSUER };
    const ok = await verifyAttestationsKeyless(ref, { ...options, type: 'openvex' });
    expect(ok.verified).toBe(true);
    expect(ok.attestations.map((a) => [a.format, a.valid, a.predicateType]).sort()).toEqual([
      ['bundle', true, 'https://openvex.dev/ns'],
      ['legacy', true, 'https://openvex.dev/ns'],
    ]);
    expect(ok.attestations[0]?.certificate).toEqual({
      identity: IDENTITY,
      issuer: ISSUER,
      key: expect.any(String),
    });
    const other = await verifyAttestationsKeyless(ref, { ...options, identity: 'https://example.org/x' });
    expect(other.verified).toBe(false);
    expect(other.attestations.map((a) => a.failed)).toEqual(['certificate-identity', 'certificate-identity']);
    // The CLI, with -o json.
    const cli = await rampart(
      'verify-attestation',
      '--trusted-root',
      join(fx.work, 'root.json'),
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      ISSUER,
      '--type',
      'openvex',
      '-o',
      'json',
      ref,
    );
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).attestations).toHaveLength(2);
    // A key's verification finds no valid attestation among keyless ones.
    await writeFile(join(fx.work, 'key.pub'), fx.pub.export({ type: 'spki', format: 'pem' }));
    const keyed = await rampart('verify-attestation', '--key', join(fx.work, 'key.pub'), '-o', 'json', ref);
    expect(keyed.code).toBe(1);
    expect(JSON.parse(keyed.stdout).verified).toBe(false);

    // One changed byte of the envelope's statement or signature: the .att is refused.
    for (const field of ['payload', 'sig'] as const) {
      const changed = await fx.freshLayout(`attested-${field}`);
      const made = await attestImage(
        changed.ref,
        await material(),
        'openvex',
        { statements: [] },
        {
          formats: ['legacy'],
        },
      );
      await rewriteLayer(changed.layout, made.attestations[0]?.digest as string, (bytes) => {
        const envelope = JSON.parse(bytes.toString());
        const target = field === 'payload' ? envelope : envelope.signatures[0];
        const raw = Buffer.from(target[field], 'base64');
        const at = raw.length >> 1;
        raw[at] = (raw[at] ?? 0) ^ 1;
        target[field] = raw.toString('base64');
        return Buffer.from(JSON.stringify(envelope));
      });
      const refused = await verifyAttestationsKeyless(changed.ref, options);
      expect(refused.verified, field).toBe(false);
      expect(refused.attestations[0]?.valid, field).toBe(false);
    }
  });
});

describe('keyless errors', () => {
  it('an expired, malformed or absent token is refused before anything goes online, never echoed', async () => {
    const before = mock.requests.length;
    const expired = mockIdentityToken({
      sub: IDENTITY,
      iss: ISSUER,
      exp: Math.floor(Date.now() / 1000) - 10,
    });
    const late = await keylessMaterial({
      identityToken: expired,
      fulcioURL: mock.url,
      rekorURL: mock.url,
    }).catch((e: unknown) => e);
    expect(isRampartError(late, 'TOKEN_EXPIRED') && late.details).toEqual({
      variable: 'SIGSTORE_ID_TOKEN',
      expiredAt: expect.any(String),
    });
    for (const identityToken of ['not-a-jwt', '', 'a.b.c']) {
      const error = await keylessMaterial({ identityToken, fulcioURL: mock.url, rekorURL: mock.url }).catch(
        (e: unknown) => e,
      );
      expect(isRampartError(error) && error.code).toBe('INVALID_ENVIRONMENT');
      expect(isRampartError(error) && error.details).toEqual({ variable: 'SIGSTORE_ID_TOKEN' });
      if (identityToken.length > 3)
        expect(String((error as Error).message).includes(identityToken)).toBe(false);
    }
    expect(mock.requests.length).toBe(before);
  });

  it('a certificate asked for again (after a long build) reads the token file again; an expired one is TOKEN_EXPIRED', async () => {
    // The clock moves past the certificate's 10 minutes (the mock Fulcio's) and past the first
    // token's expiry, as after a long build: the token file rewritten meanwhile is what is sent.
    const file = join(fx.work, 'refreshed.jwt');
    const start = Date.now();
    let clock = new Date(start);
    const tokenUntil = (ms: number) =>
      mockIdentityToken({ sub: IDENTITY, iss: ISSUER, exp: Math.floor(ms / 1000) });
    await writeFile(file, tokenUntil(start + 5 * 60_000));
    const made = (await keylessFromFlags(
      { keyless: true, fulcioUrl: mock.url, rekorUrl: mock.url, identityTokenFile: file },
      {},
      new AbortController().signal,
      () => clock,
    )) as Awaited<ReturnType<typeof keylessMaterial>>;
    const before = await made.identity(); // certified at the start, as build does
    clock = new Date(start + 20 * 60_000);
    await writeFile(file, tokenUntil(start + 25 * 60_000));
    const { ref } = await fx.freshLayout('refreshed');
    await signImage(ref, made);
    expect((await made.identity()).certificate).not.toBe(before.certificate);
    expect((await verify(ref)).verified).toBe(true);

    // Later still, the file not refreshed: refused before Fulcio is asked, naming when and where.
    clock = new Date(start + 40 * 60_000);
    const asked = mock.requests.length;
    const error = await signImage((await fx.freshLayout('expired')).ref, made).catch((e: unknown) => e);
    expect(isRampartError(error, 'TOKEN_EXPIRED') && error.details).toEqual({
      option: '--identity-token-file',
      expiredAt: new Date(Math.floor((start + 25 * 60_000) / 1000) * 1000).toISOString(),
    });
    expect(mock.requests.length).toBe(asked);

    // A token read again for another identity is refused: one command signs as one identity.
    await writeFile(
      file,
      mockIdentityToken({
        sub: 'https://example.org/other',
        iss: ISSUER,
        exp: Math.floor(start / 1000) + 3600,
      }),
    );
    const other = await signImage((await fx.freshLayout('other-identity')).ref, made).catch(
      (e: unknown) => e,
    );
    expect(isRampartError(other, 'USAGE') && other.details).toEqual({ option: '--identity-token-file' });
  });

  it('a Fulcio that refuses is a NETWORK error naming its URL and status; nothing is stored', async () => {
    const { layout, ref } = await fx.freshLayout('refused');
    const bad = await keylessMaterial({
      identityToken: token,
      fulcioURL: `${mock.url}/nowhere`,
      rekorURL: mock.url,
      retries: 0,
    });
    const error = await signImage(ref, bad).catch((e: unknown) => e);
    expect(isRampartError(error) && error.code).toBe('NETWORK');
    expect(isRampartError(error) && error.details).toMatchObject({ url: `${mock.url}/nowhere`, status: 404 });
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(1);
  });

  it('a Fulcio or Rekor that redirects elsewhere is refused: the token (or entry) goes to no other host', async () => {
    // The redirect target: another host, in plain http. It must see no request at all.
    const seen: string[] = [];
    const elsewhere = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(500).end();
    });
    await new Promise<void>((done) => elsewhere.listen(0, '127.0.0.2', done));
    const target = `http://127.0.0.2:${(elsewhere.address() as AddressInfo).port}/steal`;
    const redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: target }).end();
    });
    await new Promise<void>((done) => redirector.listen(0, '127.0.0.1', done));
    const redirecting = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    try {
      for (const [fulcioURL, rekorURL] of [
        [redirecting, mock.url],
        [mock.url, redirecting],
      ] as const) {
        const { layout, ref } = await fx.freshLayout('redirected');
        const material = await keylessMaterial({ identityToken: token, fulcioURL, rekorURL, retries: 0 });
        const error = await signImage(ref, material).catch((e: unknown) => e);
        expect(isRampartError(error) && error.code, String(error)).toBe('NETWORK');
        expect(isRampartError(error) && error.details).toMatchObject({
          status: 307,
          location: target,
        });
        const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
        expect(index.manifests).toHaveLength(1);
      }
      const { ref } = await fx.freshLayout('redirected-cli');
      const tokenFile = join(fx.work, 'redirect-token');
      await writeFile(tokenFile, token);
      const cli = await rampart(
        'sign',
        '--keyless',
        '--identity-token-file',
        tokenFile,
        '--fulcio-url',
        redirecting,
        '--rekor-url',
        mock.url,
        ref,
        '-o',
        'json',
      );
      expect(cli.code).toBe(1);
      expect(seen).toEqual([]);
    } finally {
      elsewhere.close();
      redirector.close();
    }
  });

  it('Fulcio and Rekor URLs are shown without their credentials (usage and service errors)', async () => {
    const usage = await keylessMaterial({
      identityToken: token,
      fulcioURL: 'http://user:s3cret@fulcio.example.internal/',
      rekorURL: mock.url,
    }).catch((e: unknown) => e);
    expect(isRampartError(usage) && usage.code).toBe('USAGE');
    expect(isRampartError(usage) && usage.details).toEqual({
      option: '--fulcio-url',
      value: 'http://fulcio.example.internal/',
    });
    expect(String((usage as Error).message).includes('s3cret')).toBe(false);
    const { ref } = await fx.freshLayout('redacted');
    const credentialed = mock.url.replace('http://', 'http://user:s3cret@');
    const material = await keylessMaterial({
      identityToken: token,
      fulcioURL: `${credentialed}/nowhere`,
      rekorURL: mock.url,
      retries: 0,
    });
    const service = await signImage(ref, material).catch((e: unknown) => e);
    expect(isRampartError(service) && service.code).toBe('NETWORK');
    expect(isRampartError(service) && service.details).toMatchObject({
      url: `${mock.url}/nowhere`,
      status: 404,
    });
    expect(String((service as Error).message).includes('s3cret')).toBe(false);
  });

  it('a Fulcio or Rekor URL in plain http off this machine is refused (the token would travel in clear)', async () => {
    for (const [fulcioURL, rekorURL, option] of [
      ['http://fulcio.example.internal', mock.url, '--fulcio-url'],
      [mock.url, 'http://10.1.2.3:3000', '--rekor-url'],
      ['file:///etc/passwd', mock.url, '--fulcio-url'],
    ] as const) {
      const error = await keylessMaterial({ identityToken: token, fulcioURL, rekorURL }).catch(
        (e: unknown) => e,
      );
      expect(isRampartError(error) && error.code).toBe('USAGE');
      expect(isRampartError(error) && error.details).toMatchObject({ option });
    }
  });

  it('a trusted root that is not one is KEY_INVALID naming the file', async () => {
    const { ref } = await fx.freshLayout('badroot');
    const error = await verify(ref, {
      trustedRoot: Buffer.from('{"mediaType":"nope"}'),
      trustedRootFile: 'root.json',
    }).catch((e: unknown) => e);
    expect(isRampartError(error) && error.code).toBe('KEY_INVALID');
    expect(isRampartError(error) && error.details).toMatchObject({ path: 'root.json', reason: 'format' });
  });
});

describe('rampart sign --keyless / verify --trusted-root (CLI)', () => {
  it('signs with SIGSTORE_ID_TOKEN and verifies with -o json; the wrong issuer exits 1', async () => {
    const { ref } = await fx.freshLayout('cli');
    const saved = process.env.SIGSTORE_ID_TOKEN;
    process.env.SIGSTORE_ID_TOKEN = token;
    try {
      const signedCli = await rampart(
        'sign',
        '--keyless',
        '--fulcio-url',
        mock.url,
        '--rekor-url',
        mock.url,
        ref,
      );
      expect(signedCli.code, signedCli.stderr).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.SIGSTORE_ID_TOKEN;
      else process.env.SIGSTORE_ID_TOKEN = saved;
    }
    const rootFile = join(fx.work, 'root.json');
    const ok = await rampart(
      'verify',
      ref,
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      ISSUER,
      '--trusted-root',
      rootFile,
      '-o',
      'json',
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).signatures).toHaveLength(2);
    const wrong = await rampart(
      'verify',
      ref,
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      'https://other.example',
      '--trusted-root',
      rootFile,
    );
    expect(wrong.code).toBe(1);
    const tokenFile = join(fx.work, 'token');
    await writeFile(tokenFile, `${token}\n`);
    const attested = await rampart(
      'attest',
      '--keyless',
      '--identity-token-file',
      tokenFile,
      '--fulcio-url',
      mock.url,
      '--rekor-url',
      mock.url,
      '--type',
      'openvex',
      '--predicate',
      join(fx.work, 'root.json'),
      ref,
    );
    expect(attested.code, attested.stderr).toBe(0);
  });

  it('usage errors: --key with --keyless, keyless options without --keyless, verify without an issuer', async () => {
    const { ref } = await fx.freshLayout('usage');
    for (const args of [
      ['sign', '--keyless', '--key', 'k.key', ref],
      ['sign', '--fulcio-url', mock.url, '--key', 'k.key', ref],
      ['sign', ref],
      ['verify', ref, '--certificate-identity', IDENTITY, '--trusted-root', join(fx.work, 'root.json')],
      ['verify', ref, '--certificate-oidc-issuer', ISSUER, '--trusted-root', join(fx.work, 'root.json')],
      ['verify', ref, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER],
    ]) {
      const run = await rampart(...args, '-o', 'json');
      expect(run.code, args.join(' ')).toBe(2);
    }
  });

  it('sign --keyless --bundle FILE is read by verify --bundle FILE with the keyless options', async () => {
    const { ref } = await fx.freshLayout('bundle-file');
    const tokenFile = join(fx.work, 'bundle-token');
    await writeFile(tokenFile, token);
    const bundleFile = join(fx.work, 'keyless.sigstore.json');
    const signedCli = await rampart(
      'sign',
      '--keyless',
      '--identity-token-file',
      tokenFile,
      '--fulcio-url',
      mock.url,
      '--rekor-url',
      mock.url,
      '--format',
      'legacy',
      '--bundle',
      bundleFile,
      ref,
    );
    expect(signedCli.code, signedCli.stderr).toBe(0);
    const rootFile = join(fx.work, 'root.json');
    const keyless = (issuer: string) => [
      '--certificate-identity',
      IDENTITY,
      '--certificate-oidc-issuer',
      issuer,
      '--trusted-root',
      rootFile,
    ];
    const ok = await rampart('verify', ref, '--bundle', bundleFile, ...keyless(ISSUER), '-o', 'json');
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.signatures).toHaveLength(1);
    expect(report.signatures[0]).toMatchObject({
      format: 'bundle',
      valid: true,
      file: bundleFile,
      certificate: { identity: IDENTITY, issuer: ISSUER, key: expect.any(String) },
    });
    const wrong = await rampart(
      'verify',
      ref,
      '--bundle',
      bundleFile,
      ...keyless('https://other.example'),
      '-o',
      'json',
    );
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout).signatures[0]).toMatchObject({
      valid: false,
      failed: 'certificate-issuer',
    });
    // Another image's digest: the statement does not name it.
    const other = await fx.freshLayout('bundle-file-other');
    const elsewhere = await rampart(
      'verify',
      other.ref,
      '--bundle',
      bundleFile,
      ...keyless(ISSUER),
      '-o',
      'json',
    );
    expect(JSON.parse(elsewhere.stdout).signatures[0]).toMatchObject({ valid: false, failed: 'digest' });
    expect(elsewhere.code).toBe(1);
  });

  it('--allow-insecure-key with --keyless is a usage error naming it (sign and attest)', async () => {
    const { ref } = await fx.freshLayout('insecure-key');
    const tokenFile = join(fx.work, 'insecure-token');
    await writeFile(tokenFile, token);
    const keyless = ['--keyless', '--identity-token-file', tokenFile, '--fulcio-url', mock.url];
    const predicate = ['--type', 'openvex', '--predicate', join(fx.work, 'root.json')];
    for (const args of [
      ['sign', ...keyless, '--allow-insecure-key', ref],
      ['attest', ...keyless, ...predicate, '--allow-insecure-key', ref],
    ]) {
      const before = mock.requests.length;
      const run = await rampart(...args, '-o', 'json');
      expect(run.code, args.join(' ')).toBe(2);
      expect(JSON.parse(run.stderr).error).toMatchObject({
        code: 'USAGE',
        details: { option: '--allow-insecure-key' },
      });
      expect(mock.requests.length).toBe(before);
    }
  });
});
