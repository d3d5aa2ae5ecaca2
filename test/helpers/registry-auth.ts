import { createSign } from 'node:crypto';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { runCommand } from './processes.js';

/**
 * What a secured test registry needs, made by the test: a CA and a server certificate for
 * 127.0.0.1 (openssl), an htpasswd file (bcrypt, as distribution requires), and a token server
 * (node:http) that issues RS256 JWTs the way distribution 2.8's `auth.token` verifies them: an
 * `x5c` header whose certificate chains to `rootcertbundle`, `iss`, `aud` = service, and the
 * granted `access` list.
 */

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await runCommand('openssl', args, { cwd, timeoutMs: 30_000 });
  if (result.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

export interface TestCertificates {
  /** The CA certificate (PEM) that clients trust. */
  caCertificate: string;
  /** The server certificate for 127.0.0.1 and localhost, signed by the CA, and its key. */
  certificate: string;
  key: string;
}

/** `dnsNames`: more names the server certificate is valid for (a registry reached through a proxy). */
export async function makeCertificates(
  dir: string,
  dnsNames: readonly string[] = [],
): Promise<TestCertificates> {
  const subject = (cn: string) => ['-subj', `/CN=${cn}`];
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      ...subject('rampart test CA'),
    ],
    dir,
  );
  await openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      ...subject('127.0.0.1'),
    ],
    dir,
  );
  const names = ['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((name) => `DNS:${name}`)];
  await writeFile(join(dir, 'server.ext'), `subjectAltName=${names.join(',')}\n`);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  return {
    caCertificate: join(dir, 'ca.pem'),
    certificate: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
  };
}

/** An htpasswd file with bcrypt entries (glibc's crypt through python3: no apache2-utils here). */
export async function makeHtpasswd(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    const result = await runCommand(
      'python3',
      [
        '-W',
        'ignore',
        '-c',
        'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<4)))',
        password,
      ],
      { timeoutMs: 30_000 },
    );
    const hash = result.stdout.trim();
    if (result.exitCode !== 0 || !hash.startsWith('$2')) throw new Error(`bcrypt failed: ${result.stderr}`);
    lines.push(`${user}:${hash}`);
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

export interface TokenServer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** The signing certificate (PEM), for the registry's `rootcertbundle`. */
  rootCertBundle: string;
  /** Token requests answered so far (granted or refused). */
  requests: number;
  /** Every token issued, to check none of them leaks. */
  issued: string[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  dir: string;
  users: Record<string, string>;
  /** Refresh tokens (docker's `identitytoken`) and whom they stand for. */
  refreshTokens?: Record<string, string>;
  /** Repositories anyone may pull from without credentials (prefix match). */
  publicPrefix?: string;
  /** Lifetime of issued tokens, seconds. */
  expiresIn?: number;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'token.key',
      '-out',
      'token.pem',
      '-days',
      '2',
      '-subj',
      '/CN=rampart test token signer',
    ],
    options.dir,
  );
  const key = await readFile(join(options.dir, 'token.key'), 'utf8');
  const pem = await readFile(join(options.dir, 'token.pem'), 'utf8');
  const der = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const service = 'rampart-test-registry';
  const issuer = 'rampart-test-token-server';

  const sign = (subject: string, access: Array<{ type: string; name: string; actions: string[] }>) => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = base64url(
      JSON.stringify({
        iss: issuer,
        sub: subject,
        aud: service,
        exp: now + (options.expiresIn ?? 300),
        nbf: now - 10,
        iat: now,
        jti: `${now}-${Math.random()}`,
        access,
      }),
    );
    const signer = createSign('RSA-SHA256');
    signer.update(`${header}.${claims}`);
    return `${header}.${claims}.${base64url(signer.sign(key))}`;
  };

  const state = { requests: 0, issued: [] as string[] };
  const server: Server = createServer((request, response) => {
    void handle(request).then(
      ({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      },
      () => {
        response.writeHead(500);
        response.end();
      },
    );
  });

  async function handle(request: IncomingMessage): Promise<{ status: number; body: unknown }> {
    state.requests++;
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    let scopes = url.searchParams.getAll('scope');
    let subject: string | undefined;
    if (request.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      subject = options.refreshTokens?.[form.get('refresh_token') ?? ''];
      if (form.get('grant_type') !== 'refresh_token' || subject === undefined)
        return { status: 401, body: { error: 'invalid_grant' } };
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    } else {
      const authorization = request.headers.authorization ?? '';
      if (authorization.startsWith('Basic ')) {
        const [user, ...rest] = Buffer.from(authorization.slice(6), 'base64').toString().split(':');
        if (user === undefined || options.users[user] !== rest.join(':'))
          return { status: 401, body: { errors: [{ code: 'UNAUTHORIZED' }] } };
        subject = user;
      }
    }
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      const granted =
        subject !== undefined
          ? actions.split(',')
          : name.startsWith(options.publicPrefix ?? '\0')
            ? ['pull'].filter((a) => actions.split(',').includes(a))
            : [];
      return [{ type, name, actions: granted }];
    });
    const token = sign(subject ?? '', access);
    state.issued.push(token);
    return {
      status: 200,
      body: {
        token,
        access_token: token,
        expires_in: options.expiresIn ?? 300,
        issued_at: new Date().toISOString(),
      },
    };
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port for the token server');
  const rootCertBundle = join(options.dir, 'token.pem');
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    service,
    issuer,
    rootCertBundle,
    get requests() {
      return state.requests;
    },
    get issued() {
      return state.issued;
    },
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
