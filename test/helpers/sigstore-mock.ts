import { createHash, generateKeyPairSync } from 'node:crypto';
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
      const handler = req.method === 'POST' ? handlers.get(req.url ?? '') : undefined;
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      handler.fn(asRekorStores(req.url ?? '', Buffer.concat(chunks).toString('utf8'))).then(
        ({ statusCode, response, contentType }) => {
          res.writeHead(statusCode, { 'content-type': contentType ?? 'text/plain' });
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
