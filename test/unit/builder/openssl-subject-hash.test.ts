import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashLinks } from '../../../src/builder/ca-bundle.js';
import { opensslSubjectHash } from '../../../src/builder/openssl-subject-hash.js';

// The host's Mozilla roots (Debian's ca-certificates, installed by the test script) and
// certificates with awkward subjects made here are the inputs; `openssl` itself is the oracle.
const MOZILLA = '/usr/share/ca-certificates/mozilla';
const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' }).trim();

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-subject-hash-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function selfSigned(name: string, subject: string, ...extra: string[]): string {
  const path = join(work, `${name}.pem`);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    '/dev/null',
    '-days',
    '1',
    '-utf8',
    '-subj',
    subject,
    '-out',
    path,
    ...extra,
  );
  return path;
}

describe('opensslSubjectHash', () => {
  it('matches `openssl x509 -subject_hash` for every Mozilla root on the host', async () => {
    const files = (await readdir(MOZILLA)).filter((f) => f.endsWith('.crt'));
    expect(files.length).toBeGreaterThan(100);
    const mismatches: string[] = [];
    for (const file of files) {
      const path = join(MOZILLA, file);
      const theirs = openssl('x509', '-noout', '-subject_hash', '-in', path);
      const ours = opensslSubjectHash(await readFile(path));
      if (ours !== theirs) mismatches.push(`${file}: ${ours} != ${theirs}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('canonicalises case, whitespace, non-ASCII, string types and multi-valued RDNs as OpenSSL does', async () => {
    const subjects = [
      ['spaces', '/CN=  Mixed   CASE\tName  /O=Org'],
      ['unicode', '/CN=Ünïcödé Wurzel ÄÖÜ/C=DE'],
      ['multi', '/CN=b+O=A/OU=Unit'],
      ['email', '/emailAddress=Root@Example.ORG/CN=x'],
      ['empty-looking', '/CN= /O=o'],
    ];
    for (const [name, subject] of subjects) {
      const path = selfSigned(name!, subject!, ...(name === 'multi' ? ['-multivalue-rdn'] : []));
      expect(opensslSubjectHash(await readFile(path)), subject).toBe(
        openssl('x509', '-noout', '-subject_hash', '-in', path),
      );
    }
  });

  it('names CApath links exactly as `openssl rehash` does, duplicates and non-certificates skipped', async () => {
    const dir = await mkdtemp(join(work, 'certs-'));
    const pems = new Map<string, Buffer>();
    for (const file of (await readdir(MOZILLA)).filter((f) => f.endsWith('.crt'))) {
      const name = file.replace(/\.crt$/, '.pem');
      await copyFile(join(MOZILLA, file), join(dir, name));
      pems.set(name, await readFile(join(dir, name)));
    }
    // A second copy of a root (skipped as a duplicate) and a file that holds no certificate.
    const [firstName, firstPem] = [...pems][0]!;
    await writeFile(join(dir, `zz-copy-of-${firstName}`), firstPem);
    pems.set(`zz-copy-of-${firstName}`, firstPem);
    await writeFile(join(dir, 'not-a-cert.pem'), 'hello\n');
    pems.set('not-a-cert.pem', Buffer.from('hello\n'));
    // A file holding two certificates (a bundle) is not linked either.
    const two = Buffer.concat([
      await readFile(selfSigned('bundled-1', '/CN=Bundled One')),
      await readFile(selfSigned('bundled-2', '/CN=Bundled Two')),
    ]);
    await writeFile(join(dir, 'two-certs.pem'), two);
    pems.set('two-certs.pem', two);
    // Two certificates with one subject share a hash and take .0 and .1.
    for (const n of ['twin-a', 'twin-b']) {
      const path = selfSigned(n, '/CN=Twin Root');
      pems.set(`${n}.pem`, await readFile(path));
      await copyFile(path, join(dir, `${n}.pem`));
    }

    execFileSync('openssl', ['rehash', dir], { stdio: 'ignore' });
    const expected = new Map<string, string>();
    for (const entry of await readdir(dir)) {
      if (/^[0-9a-f]{8}\.\d+$/.test(entry)) expected.set(entry, await readlink(join(dir, entry)));
    }
    const ours = hashLinks(pems);
    expect(ours.size).toBe(expected.size);
    expect(Object.fromEntries([...ours].sort())).toEqual(Object.fromEntries([...expected].sort()));
    expect([...ours.keys()].filter((k) => k.endsWith('.1')).length).toBeGreaterThan(0);
  });
});
