import { afterAll, describe, expect, it } from 'vitest';
import {
  type PeerToolName,
  peerTool,
  peerToolEnv,
  peerToolVersions,
  type ReferrersRegistry,
  startReferrersRegistry,
} from '../../helpers/peer-tools.js';
import { runCommand } from '../../helpers/processes.js';

/** The peer tools the registry e2e tests compare rampart with: each one runs and is the expected release line. */
describe('peer tools from the Debian archive', () => {
  const expected: Record<PeerToolName, { pkg: string; major: string; args: string[] }> = {
    crane: { pkg: 'crane', major: '0.', args: ['version'] },
    oras: { pkg: 'oras', major: '1.', args: ['version'] },
    cosign: { pkg: 'cosign', major: '3.', args: ['version'] },
    cosign2: { pkg: 'cosign', major: '2.', args: ['version'] },
    'in-toto-golang': { pkg: 'in-toto-golang', major: '0.', args: ['--help'] },
  };
  for (const [name, want] of Object.entries(expected) as [PeerToolName, (typeof expected)[PeerToolName]][]) {
    it(`${name} runs \`${want.args.join(' ')}\``, async () => {
      const bin = await peerTool(name);
      expect(bin.startsWith('/')).toBe(true);
      const versions = await peerToolVersions(name);
      expect(versions[want.pkg]?.startsWith(want.major), `${want.pkg} ${versions[want.pkg]}`).toBe(true);
      const result = await runCommand(bin, want.args, { env: peerToolEnv() });
      expect(result.exitCode, result.stderr).toBe(0);
    });
  }

  describe('the referrers registry', () => {
    let registry: ReferrersRegistry | undefined;
    afterAll(async () => registry?.stop());

    it('answers the referrers API and refuses a manifest PUT by a wrong digest', async () => {
      registry = await startReferrersRegistry();
      const empty = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
      const put = await fetch(`${registry.url}/v2/demo/blobs/uploads/?digest=${empty}`, {
        method: 'POST',
        body: '{}',
      });
      expect(put.status).toBe(201);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/example',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
          subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: empty, size: 2 },
        }),
      );
      const type = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
      const wrong = await fetch(`${registry.url}/v2/demo/manifests/${empty}`, {
        method: 'PUT',
        body: manifest,
        headers: type,
      });
      expect(wrong.status).toBe(400);
      const ok = await fetch(`${registry.url}/v2/demo/manifests/art`, {
        method: 'PUT',
        body: manifest,
        headers: type,
      });
      expect(ok.status).toBe(201);
      expect(ok.headers.get('oci-subject')).toBe(empty);
      const listed = await fetch(
        `${registry.url}/v2/demo/referrers/${empty}?artifactType=application/example`,
      );
      expect(listed.headers.get('oci-filters-applied')).toBe('artifactType');
      const index = (await listed.json()) as { manifests: { artifactType: string }[] };
      expect(index.manifests.map((m) => m.artifactType)).toEqual(['application/example']);
      const none = await fetch(`${registry.url}/v2/demo/referrers/${empty}?artifactType=application/other`);
      expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    });
  });
});
