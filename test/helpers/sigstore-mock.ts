import { createHash, sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// The handlers and authorities of @sigstore/mock, without its nock front (its index requires nock,
// which patches node:http): served by a real HTTP server on 127.0.0.1.
import { fulcioHandler, initializeCA, initializeCTLog } from '@sigstore/mock/dist/fulcio/index.js';
import { initializeTLog, rekorHandler } from '@sigstore/mock/dist/rekor/index.js';
import type { Handler } from '@sigstore/mock/dist/shared.types.js';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';

/**
 * Fulcio and Rekor (sigstore-js's @sigstore/mock: an ephemeral CA with a CT log embedding SCTs, a
 * log signing entry timestamps) behind one local HTTP server, and the trusted root that verifies
 * what they issue. `trustedRoot()` can leave out a part (the CA, the CT log, the log) to test a
 * root that does not trust it.
 */
export interface SigstoreMock {
  url: string;
  /** The trusted root JSON (sigstore trustedroot v0.1) of this CA, CT log and log. */
  trustedRoot(omit?: { ca?: boolean; ctlog?: boolean; tlog?: boolean }): string;
  /** Requests served, by path. */
  requests: string[];
  close(): Promise<void>;
}

const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

export async function startSigstoreMock(): Promise<SigstoreMock> {
  const ctlog = await initializeCTLog(ec());
  const ca = await initializeCA(ec(), ctlog);
  const requests: string[] = [];
  let server: Server | undefined;
  const handlers = new Map<string, Handler>();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push(req.url ?? '');
      if (req.method === 'POST' && req.url === FULCIO_V1_PATH) {
        fulcioV1(handlers, req.headers.authorization, Buffer.concat(chunks).toString('utf8')).then(
          ({ statusCode, body, contentType }) =>
            res.writeHead(statusCode, { 'content-type': contentType }).end(body),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
        return;
      }
      const handler = req.method === 'POST' ? handlers.get(req.url ?? '') : undefined;
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      const body = withBearerToken(
        req.url ?? '',
        req.headers.authorization,
        Buffer.concat(chunks).toString('utf8'),
      );
      handler.fn(asRekorStores(req.url ?? '', body)).then(
        ({ statusCode, response, contentType }) => {
          // Fulcio answers 200 (sigstore-go, in cosign 3, takes nothing else); the mock says 201.
          const status = statusCode === 201 && req.url === '/api/v2/signingCert' ? 200 : statusCode;
          res.writeHead(status, { 'content-type': contentType ?? 'text/plain' });
          res.end(typeof response === 'string' ? response : Buffer.from(response.buffer));
        },
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
  });
  await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tlog = await initializeTLog(url, ec());
  for (const handler of [fulcioHandler(ca), rekorHandler(tlog)]) handlers.set(handler.path, handler);
  // Valid from an hour ago: the CA's certificates and the log's entries are dated now.
  const start = new Date(Date.now() - 3600_000);
  const trustedRoot = (omit: { ca?: boolean; ctlog?: boolean; tlog?: boolean } = {}) =>
    JSON.stringify(
      TrustedRoot.toJSON({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: omit.tlog
          ? []
          : [
              {
                baseUrl: url,
                hashAlgorithm: HashAlgorithm.SHA2_256,
                publicKey: {
                  rawBytes: tlog.publicKey,
                  keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                  validFor: { start },
                },
                logId: { keyId: createHash('sha256').update(tlog.publicKey).digest() },
                checkpointKeyId: undefined,
                operator: 'sigstore.mock',
              },
            ],
        certificateAuthorities: omit.ca
          ? []
          : [
              {
                subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
                uri: url,
                certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] },
                validFor: { start },
                operator: 'sigstore.mock',
              },
            ],
        ctlogs: omit.ctlog
          ? []
          : [
              {
                baseUrl: url,
                hashAlgorithm: HashAlgorithm.SHA2_256,
                publicKey: {
                  rawBytes: ctlog.publicKey,
                  keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                  validFor: { start },
                },
                logId: { keyId: Buffer.from(ctlog.logID.buffer) },
                checkpointKeyId: undefined,
                operator: 'sigstore.mock',
              },
            ],
        timestampAuthorities: [],
      }),
    );
  return {
    url,
    trustedRoot,
    requests,
    close: () => new Promise<void>((done) => (server ? server.close(() => done()) : done())),
  };
}

/**
 * sigstore-go (cosign 3) sends the identity token to Fulcio v2 as a bearer credential, not in the
 * body's `credentials` (both are Fulcio's API); the mock reads the body only: the token goes there.
 */
function withBearerToken(path: string, authorization: string | undefined, body: string): string {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (path !== '/api/v2/signingCert' || !token) return body;
  const request = JSON.parse(body) as { credentials?: unknown };
  return request.credentials
    ? body
    : JSON.stringify({ ...request, credentials: { oidcIdentityToken: token } });
}

/** Fulcio's v1 signing-certificate API, which cosign 2 uses (the mock serves v2 only). */
const FULCIO_V1_PATH = '/api/v1/signingCert';

/**
 * A Fulcio v1 request (`{"publicKey": {"content": base64(PEM), "algorithm"}, "signedEmailAddress"}`
 * with the token as a bearer credential) answered by the mock's v2 handler, and its answer as v1's
 * PEM certificate chain (leaf first, SCT embedded).
 */
async function fulcioV1(
  handlers: Map<string, Handler>,
  authorization: string | undefined,
  body: string,
): Promise<{ statusCode: number; body: string; contentType: string }> {
  const v2 = handlers.get('/api/v2/signingCert');
  const request = JSON.parse(body) as { publicKey?: { content?: string; algorithm?: string } };
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!v2 || !token || !request.publicKey?.content)
    return { statusCode: 400, body: 'bad v1 request', contentType: 'text/plain' };
  const answer = await v2.fn(
    JSON.stringify({
      credentials: { oidcIdentityToken: token },
      publicKeyRequest: {
        publicKey: {
          algorithm: request.publicKey.algorithm ?? 'ECDSA',
          content: Buffer.from(request.publicKey.content, 'base64').toString('utf8'),
        },
        proofOfPossession: '',
      },
    }),
  );
  if (answer.statusCode !== 201 || typeof answer.response !== 'string')
    return { statusCode: answer.statusCode, body: String(answer.response), contentType: 'text/plain' };
  const chain = (
    JSON.parse(answer.response) as { signedCertificateEmbeddedSct: { chain: { certificates: string[] } } }
  ).signedCertificateEmbeddedSct.chain.certificates;
  return {
    statusCode: 201,
    body: chain.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join(''),
    contentType: 'application/pem-certificate-chain',
  };
}

/**
 * The mock log stores a proposed entry as it is; real Rekor stores a `dsse` v0.0.1 entry in its
 * canonical form (rekor `pkg/types/dsse/v0.0.1`: the envelope's and payload's sha256, the
 * signatures with their verifiers), which is what verifiers compare. This plays that part.
 */
function asRekorStores(path: string, body: string): string {
  if (path !== '/api/v1/log/entries') return body;
  const entry = JSON.parse(body) as {
    kind?: string;
    apiVersion?: string;
    spec?: { proposedContent?: { envelope: string; verifiers: string[] } };
  };
  const proposed = entry.spec?.proposedContent;
  if (entry.kind !== 'dsse' || !proposed) return body;
  const envelope = JSON.parse(proposed.envelope) as { payload: string; signatures: Array<{ sig: string }> };
  const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
  return JSON.stringify({
    apiVersion: entry.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha(proposed.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha(Buffer.from(envelope.payload, 'base64')) },
      signatures: envelope.signatures.map((signature, i) => ({
        signature: signature.sig,
        verifier: proposed.verifiers[i] ?? proposed.verifiers[0],
      })),
    },
  });
}

/** An unsigned OIDC identity token (the mock Fulcio reads, it does not verify) naming `sub` and `iss`. */
export function mockIdentityToken(claims: { sub: string; iss: string; exp?: number }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const exp = claims.exp ?? Math.floor(Date.now() / 1000) + 600;
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, exp, aud: 'sigstore' })}.${part('unsigned')}`;
}

/**
 * The same claims in an ES256 token signed by a throwaway key: cosign (go-jose) refuses `alg: none`
 * before it sends anything; the mock Fulcio reads the claims and checks no signature.
 */
export function mockSignedIdentityToken(claims: { sub: string; iss: string; exp?: number }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signed = `${part({ alg: 'ES256', typ: 'JWT' })}.${part({ ...claims, exp: claims.exp ?? now + 600, iat: now, nbf: now, aud: 'sigstore' })}`;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signature = cryptoSign('sha256', Buffer.from(signed), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signed}.${signature.toString('base64url')}`;
}
