// The least a Node.js program does to verify a cosign 3 bundle signature of an image in a local
// registry without the referrers API (docker-registry): the requests (the manifest, the referrers
// probe and the tag-schema index at once; then each bundle's manifest and blob), one ECDSA check
// over the DSSE PAE, the statement's subject. Node's built-ins only; no schema validation, no CLI,
// no error handling. bench/sign.bench.ts times it beside `rampart verify` and cosign: what Node.js
// itself costs, apart from what rampart adds.
// Usage: node bench/floor-verify.mjs HOST:PORT/REPO@sha256:HEX PUBLIC-KEY.pem
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [, , reference, publicKeyFile] = process.argv;
const slash = reference.indexOf('/');
const [hostname, port] = reference.slice(0, slash).split(':');
const [repository, digest] = reference.slice(slash + 1).split('@');
const agent = new http.Agent({ keepAlive: true });
const OCI = 'application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json';

function get(path) {
  return new Promise((resolve, reject) => {
    const headers = { accept: OCI };
    http
      .get({ hostname, port, path: `/v2/${repository}/${path}`, agent, headers }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

const [manifest, , index] = await Promise.all([
  get(`manifests/${digest}`),
  get(`referrers/${digest}`),
  get(`manifests/${digest.replace(':', '-')}`),
]);
if (manifest.status !== 200 || index.status !== 200)
  throw new Error(`${reference}: no image or no referrers`);
const key = createPublicKey(readFileSync(publicKeyFile));
let verified = false;
for (const entry of JSON.parse(index.body).manifests) {
  const bundleManifest = JSON.parse((await get(`manifests/${entry.digest}`)).body);
  const bundle = JSON.parse((await get(`blobs/${bundleManifest.layers[0].digest}`)).body);
  const envelope = bundle.dsseEnvelope;
  const payload = Buffer.from(envelope.payload, 'base64');
  const type = envelope.payloadType;
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `), payload]);
  const signature = Buffer.from(envelope.signatures[0].sig, 'base64');
  const subject = JSON.parse(payload).subject[0].digest.sha256;
  verified ||= verify('sha256', pae, key, signature) && `sha256:${subject}` === digest;
}
agent.destroy();
if (!verified) throw new Error(`${reference}: no valid bundle signature`);
