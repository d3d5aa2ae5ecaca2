import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that injects scripted faults, for tests of
 * retry, resume and verification: connection resets in the middle of a blob (pull) or of an upload
 * (push), 503s, 429s with Retry-After, blobs whose bytes are corrupted (same length) and manifests
 * served with other bytes than their digest. Every request is recorded (method, path, Range,
 * status) so a test can assert what the client did. Faults fire a fixed number of times and are
 * counted per proxy; `script` may be changed between steps of a test.
 */

export interface FaultScript {
  /** Blob GETs: send `afterBytes` of the body, then reset the connection; `times` (default 1) times per digest. */
  resetBlob?: { digest?: string; afterBytes: number; times?: number };
  /** Blob uploads (PATCH/PUT with a body): reset after `afterBytes` of the request body arrived; `times` (default 1). */
  resetUpload?: { afterBytes: number; times?: number };
  /** 503 Service Unavailable for the first `count` requests that `match` (default: all but `GET /v2/`). */
  unavailable?: { count: number; match?: RequestMatcher };
  /** 429 Too Many Requests with `Retry-After: retryAfter` for the first `count` requests that `match`. */
  tooManyRequests?: { count: number; retryAfter: string; match?: RequestMatcher };
  /** Blob GETs of these digests get one byte flipped in the middle of the body (same length, same headers). */
  corruptBlobs?: readonly string[];
  /**
   * Manifest GETs of these references (tag or digest) are served re-indented: a valid manifest of
   * the same media type whose bytes no longer match the Docker-Content-Digest header or the digest.
   */
  tamperManifests?: readonly string[];
}

export type RequestMatcher = (request: { method: string; path: string }) => boolean;

export interface RecordedRequest {
  method: string;
  /** path and query, as sent */
  path: string;
  /** the Range header, if any */
  range?: string;
  /** the status the proxy answered with (0: the connection was reset before a status line) */
  status: number;
  /** the fault injected, if any */
  fault?:
    | 'reset-blob'
    | 'reset-upload'
    | 'unavailable'
    | 'too-many-requests'
    | 'corrupt-blob'
    | 'tamper-manifest';
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, for image references */
  host: string;
  /** the faults; mutable between steps of a test */
  script: FaultScript;
  /** every request so far, in arrival order */
  readonly requests: RecordedRequest[];
  /** forget recorded requests and fault counters (not the script) */
  reset(): void;
  close(): Promise<void>;
}

const BLOB_PATH = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/;
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/([^/?]+)$/;
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\//;

const notPing: RequestMatcher = ({ path }) => path !== '/v2/' && path !== '/v2';

/** Starts a fault proxy in front of `upstream` (`http://127.0.0.1:PORT` of a registry). */
export async function startFaultProxy(upstream: string, script: FaultScript = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const requests: RecordedRequest[] = [];
  let counters = new Map<string, number>();
  const sockets = new Set<Socket>();
  const take = (key: string, limit: number): boolean => {
    const used = counters.get(key) ?? 0;
    if (used >= limit) return false;
    counters.set(key, used + 1);
    return true;
  };

  const proxy: FaultProxy = {
    url: '',
    host: '',
    script,
    requests,
    reset() {
      requests.length = 0;
      counters = new Map();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://proxy');
    const path = url.pathname;
    const record: RecordedRequest = { method, path: `${url.pathname}${url.search}`, status: 0 };
    const range = req.headers.range;
    if (range !== undefined) record.range = range;
    requests.push(record);
    const s = proxy.script;

    if (
      s.unavailable &&
      (s.unavailable.match ?? notPing)({ method, path }) &&
      take('503', s.unavailable.count)
    ) {
      record.fault = 'unavailable';
      return answer(
        res,
        record,
        503,
        { 'content-type': 'application/json' },
        registryError('UNAVAILABLE', 'scripted 503'),
      );
    }
    const tooMany = s.tooManyRequests;
    if (tooMany && (tooMany.match ?? notPing)({ method, path }) && take('429', tooMany.count)) {
      record.fault = 'too-many-requests';
      return answer(
        res,
        record,
        429,
        { 'content-type': 'application/json', 'retry-after': tooMany.retryAfter },
        registryError('TOOMANYREQUESTS', 'scripted 429'),
      );
    }

    const blob = method === 'GET' ? BLOB_PATH.exec(path)?.[1] : undefined;
    const manifestRef = method === 'GET' ? MANIFEST_PATH.exec(path)?.[1] : undefined;
    let bodyFault: ((upstream: IncomingMessage) => void) | undefined;
    if (
      blob &&
      s.resetBlob &&
      (s.resetBlob.digest ?? blob) === blob &&
      take(`reset:${blob}`, s.resetBlob.times ?? 1)
    ) {
      const after = s.resetBlob.afterBytes;
      bodyFault = (up) => {
        record.fault = 'reset-blob';
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, forwardedHeaders(up.headers));
        res.flushHeaders();
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= after) return;
          const part = chunk.subarray(0, after - sent);
          sent += part.length;
          res.write(part);
          if (sent >= after) {
            up.destroy();
            // Let the bytes already written leave before the reset.
            setTimeout(() => req.socket.resetAndDestroy(), 20);
          }
        });
      };
    } else if (blob && s.corruptBlobs?.includes(blob)) {
      bodyFault = (up) => {
        record.fault = 'corrupt-blob';
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, forwardedHeaders(up.headers));
        const length = Number(up.headers['content-length'] ?? 0);
        const flipAt = Math.floor(length / 2);
        let offset = 0;
        up.on('data', (chunk: Buffer) => {
          if (flipAt >= offset && flipAt < offset + chunk.length) {
            const copy = Buffer.from(chunk);
            copy[flipAt - offset] = (copy[flipAt - offset] ?? 0) ^ 0xff;
            res.write(copy);
          } else res.write(chunk);
          offset += chunk.length;
        });
        up.on('end', () => res.end());
      };
    } else if (manifestRef && s.tamperManifests?.includes(manifestRef)) {
      bodyFault = (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (chunk: Buffer) => chunks.push(chunk));
        up.on('end', () => {
          const original = Buffer.concat(chunks);
          if (up.statusCode !== 200) {
            record.status = up.statusCode ?? 0;
            res.writeHead(up.statusCode ?? 502, forwardedHeaders(up.headers));
            res.end(original);
            return;
          }
          record.fault = 'tamper-manifest';
          const other = Buffer.from(`${JSON.stringify(JSON.parse(original.toString()), null, 3)}\n`);
          const headers = forwardedHeaders(up.headers);
          headers['content-length'] = String(other.length);
          answer(res, record, 200, headers, other);
        });
      };
    }

    const upstreamReq = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path: `${url.pathname}${url.search}`,
        // The Host header stays the proxy's, so the registry's Location headers point back here.
        headers: req.headers,
      },
      (up) => {
        if (bodyFault) return bodyFault(up);
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, forwardedHeaders(up.headers));
        up.pipe(res);
      },
    );
    upstreamReq.on('error', () => req.socket.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });

    const upload = s.resetUpload;
    if (
      (method === 'PATCH' || method === 'PUT') &&
      UPLOAD_PATH.test(path) &&
      upload &&
      take('reset-upload', upload.times ?? 1)
    ) {
      let received = 0;
      let armed = true;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (armed && received >= upload.afterBytes) {
          armed = false;
          record.fault = 'reset-upload';
          upstreamReq.destroy();
          req.socket.resetAndDestroy();
        } else if (armed) upstreamReq.write(chunk);
      });
      req.on('end', () => {
        if (armed) {
          // The body was shorter than the threshold: no fault after all (and it may fire later).
          counters.set('reset-upload', (counters.get('reset-upload') ?? 1) - 1);
          upstreamReq.end();
        }
      });
    } else {
      req.pipe(upstreamReq);
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  proxy.host = `127.0.0.1:${port}`;
  proxy.url = `http://${proxy.host}`;
  return proxy;
}

function answer(
  res: ServerResponse,
  record: RecordedRequest,
  status: number,
  headers: Record<string, string>,
  body: Buffer | string,
): void {
  record.status = status;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function registryError(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

/** Response headers to pass on (hop-by-hop ones are the proxy's own business). */
function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || ['connection', 'keep-alive', 'transfer-encoding'].includes(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
