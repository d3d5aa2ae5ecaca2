/**
 * The rules every `node:http`/`node:https` agent pool of rampart follows (registries, the Debian
 * archive): which proxy it goes through and how long an unused connection is kept.
 */
import type { Agent as HttpAgent, AgentOptions as HttpAgentOptions } from 'node:http';
import type { Agent as HttpsAgent, AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { HttpAgents } from './client.js';

/**
 * How long a kept-alive connection may sit unused in a pool before it is closed: undici's
 * keep-alive default (fetch's), so a long-lived library caller holds no idle sockets to a
 * registry it is done with. A connection in use has no socket timeout at all (the client's
 * idle timer and deadline, http/client.ts, bound a request).
 */
export const FREE_SOCKET_TIMEOUT_MS = 4_000;

/**
 * The proxy variables to send through, or undefined for direct connections. The rule is fetch's
 * (Node's built-in proxy support), so that one switch sends all of rampart's traffic the same way:
 * `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and lowercase) are honoured when `NODE_USE_ENV_PROXY=1`
 * is set (in `env`, or Node was started with `--use-env-proxy`).
 */
export function environmentProxy(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  const enabled =
    env.NODE_USE_ENV_PROXY === '1' ||
    process.execArgv.includes('--use-env-proxy') ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes('--use-env-proxy');
  if (!enabled) return undefined;
  const names = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy'];
  const picked = Object.fromEntries(names.flatMap((name) => (env[name] ? [[name, env[name]]] : [])));
  return Object.keys(picked).length > 0 ? picked : undefined;
}

/**
 * Gives the pool's free sockets a timeout, and takes it off a socket when it is reused. The
 * Agent's own `timeout` option would not do: it is set on every socket at connect, so a request
 * in flight (a slow blob) would carry it too. A free socket that times out is destroyed by the
 * Agent (its `timeout` listener closes sockets in the free list).
 */
export function closingIdleSockets<T extends HttpAgents['http'] | HttpAgents['https']>(
  agent: T,
  idleMs: number,
): T {
  const keepSocketAlive = agent.keepSocketAlive.bind(agent);
  const reuseSocket = agent.reuseSocket.bind(agent);
  agent.keepSocketAlive = (socket) => {
    // Node's returns whether the socket is kept (its typings say void).
    const kept = keepSocketAlive(socket) as unknown as boolean;
    if (kept && 'setTimeout' in socket) (socket as Socket).setTimeout(idleMs);
    return kept as unknown as undefined;
  };
  agent.reuseSocket = (socket, request) => {
    if ('setTimeout' in socket) (socket as Socket).setTimeout(0);
    reuseSocket(socket, request);
  };
  return agent;
}

/**
 * The pools of one client, each made when a request first needs it: a client that only speaks
 * plain http (a Debian mirror, a registry on loopback known to be http) never loads
 * `node:https`/`node:tls` nor builds a TLS context (10-60 ms of CPU by load), and the other way round.
 */
export function lazyAgents(make: { http: () => HttpAgent; https: () => HttpsAgent }): HttpAgents {
  let http: HttpAgent | undefined;
  let https: HttpsAgent | undefined;
  return {
    get http() {
      http ??= make.http();
      return http;
    },
    get https() {
      https ??= make.https();
      return https;
    },
    destroy() {
      http?.destroy();
      https?.destroy();
    },
  };
}

/** The agents `keepAliveAgents` made: their connections follow only the options they were given. */
const ownAgents = new WeakSet<object>();

/**
 * Whether `agent` is one of rampart's own pools, whose connections are fully described by its
 * `options` (no overridden `createConnection`, as a proxy agent has): the bulk reader
 * (bulk-get.ts) opens connections from those options and must not bypass anything else.
 */
export function isOwnAgent(agent: object): boolean {
  return ownAgents.has(agent);
}

/**
 * rampart's keep-alive pools: `shared` options for both (a proxy, a lookup), `https` ones for TLS
 * (a CA list, verification), free sockets closed after `idleMs`, each pool made on first use.
 * node:http/node:https are taken with getBuiltinModule, not imported: an ESM import of node:http
 * loads fetch's undici (see sendNode in http/client.ts).
 */
export function keepAliveAgents(
  shared: HttpAgentOptions = {},
  https: HttpsAgentOptions = {},
  idleMs: number = FREE_SOCKET_TIMEOUT_MS,
): HttpAgents {
  return lazyAgents({
    http: () =>
      own(
        closingIdleSockets(
          new (process.getBuiltinModule('node:http').Agent)({ keepAlive: true, ...shared }),
          idleMs,
        ),
      ),
    https: () =>
      own(
        closingIdleSockets(
          new (process.getBuiltinModule('node:https').Agent)({ keepAlive: true, ...https, ...shared }),
          idleMs,
        ),
      ),
  });
}

function own<T extends object>(agent: T): T {
  ownAgents.add(agent);
  return agent;
}
