import { once } from 'node:events';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/http/client.js';
import { registryAgents } from '../../../src/registry/transport.js';
import { VERSION } from '../../../src/version.js';

// The registry's connection pools (node:http agents): who they say they are, and that an unused
// pooled connection is closed while one in use keeps no socket timeout.
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** A server that never closes idle connections itself (Go's http.Server without IdleTimeout). */
async function serve(
  handler: (answer: ServerResponse, path: string, headers: Record<string, unknown>) => void,
): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((incoming, answer) => handler(answer, incoming.url ?? '', incoming.headers));
  server.keepAliveTimeout = 0;
  server.on('connection', (socket: Socket) => sockets.push(socket));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/`, sockets };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await sleep(50);
  }
  throw new Error(`never: ${what}`);
}

describe('registry connection pools', () => {
  it('send User-Agent rampart/VERSION on both transports', async () => {
    const seen: unknown[] = [];
    const { url } = await serve((answer, _path, headers) => {
      seen.push(headers['user-agent']);
      answer.end('ok');
    });
    const viaAgents = new HttpClient({ agents: registryAgents({}) });
    await (await viaAgents.request(url)).bytes();
    await (await new HttpClient().request(url)).bytes();
    // A caller's own header is kept.
    await (await viaAgents.request(url, { headers: { 'User-Agent': 'other/1' } })).bytes();
    await viaAgents.close();
    expect(seen).toEqual([`rampart/${VERSION}`, `rampart/${VERSION}`, 'other/1']);
  });

  it('close a pooled connection left unused', async () => {
    const { url, sockets } = await serve((answer) => answer.end('ok'));
    const client = new HttpClient({ agents: registryAgents({ freeSocketTimeoutMs: 200 }) });
    await (await client.request(url)).bytes();
    expect(sockets).toHaveLength(1);
    await until(() => sockets[0]?.destroyed === true, 'the idle pooled socket closed');
  });

  it('put no timeout on a reused connection in flight: a slow body arrives whole', async () => {
    const { url } = await serve((answer, path) => {
      if (path !== '/slow') return answer.end('ok');
      answer.write('first;');
      // Silent for longer than a free socket may idle, well within the client's idle timeout.
      setTimeout(() => answer.end('last'), 800);
    });
    const pools = registryAgents({ freeSocketTimeoutMs: 200 })();
    const client = new HttpClient({ agents: () => pools });
    await (await client.request(url)).bytes();
    // The pooled socket is reused; while the request is in flight its socket has no timeout.
    const { http: agent } = await pools;
    const inFlight = await new Promise<{ body: string; reused: boolean; timeout: number }>(
      (resolve, reject) => {
        const sent = request(`${url}slow`, { agent }, (answer) => {
          // The socket's timeout while the answer arrives (0: none).
          const timeout = sent.socket?.timeout ?? 0;
          let body = '';
          answer.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          answer.on('end', () => resolve({ body, reused: sent.reusedSocket, timeout }));
          answer.on('error', reject);
        });
        sent.on('error', reject);
        sent.end();
      },
    );
    expect(inFlight.reused).toBe(true);
    expect(inFlight.timeout).toBe(0);
    expect(inFlight.body).toBe('first;last');
    // Through the client as well (it has its own pools: a first request, then the slow one reusing it).
    expect((await (await client.request(`${url}slow`)).bytes()).toString()).toBe('first;last');
    await client.close();
  });
});
