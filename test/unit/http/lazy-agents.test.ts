import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../helpers/processes.js';

// The connection pools are made when a request first needs one: a client that only speaks plain
// http never loads node:https/node:tls (nor builds a TLS context). Each case is a fresh Node
// process (through tsx) that serves and fetches over http on 127.0.0.1, then reports what it loaded.
const REPO = resolve(import.meta.dirname, '../../..');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-lazy-agents-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function loadsTls(client: 'default' | 'registry'): Promise<{ body: string; tls: boolean }> {
  const script = join(work, `${client}.mjs`);
  const make =
    client === 'default'
      ? `const { httpClientFor } = await import(${JSON.stringify(join(REPO, 'src/http/client.ts'))});
const http = httpClientFor({});`
      : `const { registryHttpClient } = await import(${JSON.stringify(join(REPO, 'src/registry/transport.ts'))});
const http = registryHttpClient({ insecure: true, loopbackOnly: true });`;
  await writeFile(
    script,
    `const { createServer } = process.getBuiltinModule('node:http');
const server = createServer((request, response) => response.end('pong'));
await new Promise((done) => server.listen(0, '127.0.0.1', done));
${make}
const response = await http.request('http://127.0.0.1:' + server.address().port + '/');
const body = (await response.bytes()).toString();
await http.close();
server.close();
const tls = process.moduleLoadList.some((name) => name === 'NativeModule tls' || name === 'NativeModule https');
process.stdout.write(JSON.stringify({ body, tls }));
`,
  );
  const run = await runCommand(process.execPath, ['--import', 'tsx', script], { cwd: REPO });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as { body: string; tls: boolean };
}

describe('HTTP connection pools', () => {
  it('a client that only sends plain http never loads node:https or node:tls', async () => {
    expect(await loadsTls('default')).toEqual({ body: 'pong', tls: false });
  });

  it('neither does a registry client talking plain http', async () => {
    expect(await loadsTls('registry')).toEqual({ body: 'pong', tls: false });
  });
});
