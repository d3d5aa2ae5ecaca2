import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getSystemErrorMap } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatCliError } from '../../src/cli/print-error.js';
import {
  ERROR_CODES,
  exitStatusOf,
  fromSystemError,
  isLocalFilesystemError,
  isRampartError,
  RampartError,
  type RampartErrorCode,
  type SerializedError,
} from '../../src/errors.js';
import { makeDirectory, writeFileAtomic, writeStreamAtomic } from '../../src/util/atomic-file.js';

/** A system error exactly as Node builds one (`uvException`): code, errno, syscall, path, message. */
function systemError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const errno = -(constants.errno as Record<string, number>)[code]!;
  // libuv has no name for some errnos (EDQUOT); Node then still sets the code it was given here.
  const description = getSystemErrorMap().get(errno)?.[1] ?? 'unknown error';
  return Object.assign(new Error(`${code}: ${description}, ${syscall} '${path}'`), {
    errno,
    code,
    syscall,
    path,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rampart-errors-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('RampartError JSON form', () => {
  it('round-trips through JSON with details and a cause chain ending in a system error', async () => {
    const enoent = await rejection(readFile(join(work, 'missing')));
    const translated = fromSystemError(enoent, { path: join(work, 'missing'), operation: 'read' });
    const top = new RampartError('MALFORMED_DEB', 'x.deb: cannot read', {
      cause: translated,
      details: { path: 'x.deb', member: 'data.tar.xz' },
    });
    const json = JSON.parse(JSON.stringify(top)) as SerializedError;
    expect(json).toEqual(top.toJSON());
    expect(json).toMatchObject({
      name: 'RampartError',
      code: 'MALFORMED_DEB',
      details: { path: 'x.deb', member: 'data.tar.xz' },
      cause: {
        code: 'NOT_FOUND',
        details: { path: join(work, 'missing') },
        cause: { name: 'Error', code: 'ENOENT', syscall: 'open', path: join(work, 'missing') },
      },
    });
    const back = RampartError.fromJSON(json);
    expect(isRampartError(back, 'MALFORMED_DEB')).toBe(true);
    expect((back as RampartError<'MALFORMED_DEB'>).details).toEqual({ path: 'x.deb', member: 'data.tar.xz' });
    expect(isRampartError((back as Error).cause, 'NOT_FOUND')).toBe(true);
    expect((((back as Error).cause as Error).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((back as RampartError).toJSON()).toEqual(json);
  });

  it('leaves out empty details, and serialises non-Error causes and cyclic chains without looping', () => {
    expect(new RampartError('IO', 'plain').toJSON()).toEqual({
      name: 'RampartError',
      code: 'IO',
      message: 'plain',
    });
    expect(new RampartError('IO', 'odd', { cause: 42 }).toJSON().cause).toEqual({
      name: 'Error',
      message: '42',
    });
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    let depth = 0;
    for (
      let c: SerializedError | undefined = new RampartError('IO', 'top', { cause: a }).toJSON();
      c;
      c = c.cause
    )
      depth++;
    expect(depth).toBeLessThanOrEqual(10);
  });

  it('reads back a hostile, deeply nested chain without overflowing the stack', () => {
    let value: SerializedError = { name: 'Error', message: 'root' };
    for (let i = 0; i < 100_000; i++)
      value = { name: 'RampartError', code: 'IO', message: `m${i}`, cause: value };
    let depth = 0;
    for (let e: unknown = RampartError.fromJSON(value); e instanceof Error; e = e.cause) depth++;
    expect(depth).toBeLessThanOrEqual(10);
    expect(exitStatusOf(Object.assign(new RampartError('IO', 'm'), { code: 'toString' }))).toBe(1);
  });

  it('an unknown code read back is a plain Error, not a RampartError with a code the type does not have', () => {
    const back = RampartError.fromJSON({ name: 'RampartError', code: 'NO_SUCH_CODE', message: 'm' });
    expect(back instanceof RampartError).toBe(false);
    expect((back as NodeJS.ErrnoException).code).toBe('NO_SUCH_CODE');
  });
});

describe('fromSystemError', () => {
  it('ENOENT (real) is NOT_FOUND naming the path the user gave', async () => {
    const path = join(work, 'nope', 'file');
    const error = fromSystemError(await rejection(readFile(path)), { path, operation: 'read' });
    expect(error.code).toBe('NOT_FOUND');
    expect(error.details).toEqual({ path });
    expect(error.message).toBe(`cannot read ${path}: no such file or directory; check the path`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('ENOTDIR (real) is NOT_FOUND', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    const error = fromSystemError(await rejection(readFile(join(file, 'child'))), {
      path: join(file, 'child'),
    });
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
    expect(error.code).toBe('NOT_FOUND');
    expect(error.details).toEqual({ path: join(file, 'child') });
    expect(error.message).toMatch(/is a file, not a directory/);
  });

  it('EISDIR (real) is IO with errno and syscall', async () => {
    const error = fromSystemError(await rejection(writeFile(work, 'x')), { path: work, operation: 'write' });
    expect(error.code).toBe('IO');
    expect(error.details).toEqual({ path: work, errno: 'EISDIR', syscall: 'open' });
    expect(error.message).toBe(`cannot write ${work}: illegal operation on a directory (EISDIR)`);
  });

  it('ENOSPC (real, /dev/full) is NO_SPACE', async () => {
    const handle = await open('/dev/full', 'w');
    const raw = await rejection(handle.writeFile('data')).finally(() => handle.close());
    const error = fromSystemError(raw, { path: '/dev/full', operation: 'write' });
    expect((raw as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(error.code).toBe('NO_SPACE');
    expect(error.details).toEqual({ path: '/dev/full' });
    expect(error.message).toMatch(/no space left on the device; free some space/);
  });

  it.each([
    ['EACCES', 'PERMISSION_DENIED', { syscall: 'open' }, /permission denied; choose a location/],
    ['EPERM', 'PERMISSION_DENIED', { syscall: 'open' }, /permission denied/],
    ['EROFS', 'READ_ONLY_FILESYSTEM', {}, /the file system is read-only; choose a writable location/],
    ['EDQUOT', 'NO_SPACE', {}, /disk quota is exceeded/],
    ['ELOOP', 'IO', { errno: 'ELOOP', syscall: 'open' }, /: too many symbolic links encountered \(ELOOP\)$/],
  ] as const)('%s (as Node builds it) is %s', (errno, code, extra, message) => {
    const raw = systemError(errno, 'open', '/out/.image.tmp-1234');
    const error = fromSystemError(raw, { path: '/out/image', operation: 'write' });
    expect(error.code).toBe(code);
    expect(error.details).toEqual({ path: '/out/image', ...extra });
    expect(error.message).toMatch(/^cannot write \/out\/image: /);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/tmp-1234/);
    expect(error.cause).toBe(raw);
  });

  it('without a context, words the syscall and takes the path from the error', () => {
    const error = fromSystemError(systemError('EROFS', 'mkdir', '/out/x'));
    expect(error.message).toBe(
      'cannot create the directory /out/x: the file system is read-only; choose a writable location',
    );
    expect(error.details).toEqual({ path: '/out/x' });
  });

  it('quotes a path with control characters, so a hostile name cannot split or colour the line', () => {
    const error = fromSystemError(systemError('EROFS', 'open', 'x'), {
      path: '/out/a\n\u001b[31mb',
      operation: 'write',
    });
    expect(error.message).toBe(
      'cannot write "/out/a\\n\\u001b[31mb": the file system is read-only; choose a writable location',
    );
    expect((error.details as { path?: string }).path).toBe('/out/a\n\u001b[31mb');
  });

  it('passes a RampartError through and makes anything else IO', () => {
    const own = new RampartError('LOCKED', 'held', { details: { path: '/x' } });
    expect(fromSystemError(own)).toBe(own);
    const other = fromSystemError(new Error('boom'), { path: '/p', operation: 'write' });
    expect(other.code).toBe('IO');
    expect(other.message).toBe('cannot write /p: boom');
    expect(isLocalFilesystemError(other)).toBe(true);
    expect(isLocalFilesystemError(new RampartError('NETWORK', 'x'))).toBe(false);
  });
});

describe('atomic writes report what the filesystem said', () => {
  it('writeFileAtomic under a file: NOT_FOUND naming the target, no temp file left', async () => {
    const file = join(work, 'plain');
    await writeFile(file, 'x');
    const error = await rejection(writeFileAtomic(join(file, 'sub', 'out.json'), '{}'));
    expect(isRampartError(error, 'NOT_FOUND')).toBe(true);
    expect((error as RampartError<'NOT_FOUND'>).details.path).toBe(join(file, 'sub', 'out.json'));
  });

  it('writeFileAtomic onto a directory: IO with EISDIR from the rename, and the temp file removed', async () => {
    const dir = await mkdtemp(join(work, 'isdir-'));
    await makeDirectory(join(dir, 'target', 'inner'));
    const error = await rejection(
      writeFileAtomic(join(dir, 'target'), 'data', { operation: 'write the SBOM' }),
    );
    expect(isRampartError(error, 'IO')).toBe(true);
    expect((error as RampartError<'IO'>).details).toMatchObject({
      path: join(dir, 'target'),
      syscall: 'rename',
    });
    expect((error as Error).message).toMatch(/^cannot write the SBOM /);
    expect(spawnSync('ls', ['-A', dir]).stdout.toString().trim()).toBe('target');
  });

  it('writeStreamAtomic: a failing source is thrown as it is, not as a failure to write', async () => {
    const source = new Readable({
      read() {
        this.destroy(
          new RampartError('NETWORK', 'connection reset', { details: { url: 'http://x/y', status: 0 } }),
        );
      },
    });
    const error = await rejection(writeStreamAtomic(join(work, 'stream-out'), source));
    expect(isRampartError(error, 'NETWORK')).toBe(true);
    const raw = systemError('ECONNRESET', 'read', 'socket');
    const error2 = await rejection(
      writeStreamAtomic(
        join(work, 'stream-out2'),
        new Readable({
          read() {
            this.destroy(raw);
          },
        }),
      ),
    );
    expect(error2).toBe(raw);
  });

  it('writeStreamAtomic into a folder that does not exist: NOT_FOUND naming the target', async () => {
    const error = await rejection(writeStreamAtomic(join(work, 'absent-dir', 'x'), Readable.from(['a'])));
    expect(isRampartError(error, 'NOT_FOUND')).toBe(true);
    expect((error as RampartError<'NOT_FOUND'>).details.path).toBe(join(work, 'absent-dir', 'x'));
  });

  it.runIf(process.platform === 'linux')(
    'makeDirectory returns (does not loop) where mkdir answers ENOENT under an existing parent',
    { timeout: 20_000 },
    async () => {
      // procfs answers ENOENT to mkdir under /proc/sys; Node's recursive mkdir retries forever.
      const error = await rejection(writeFileAtomic('/proc/sys/rampart-test/x/out.json', '{}'));
      expect(isRampartError(error, 'NOT_FOUND')).toBe(true);
    },
  );
});

/** Whether this machine lets us mount a tmpfs in a private mount namespace (root with CAP_SYS_ADMIN). */
function canMountPrivately(): boolean {
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=16k tmpfs /mnt'], {
    timeout: 10_000,
  });
  return r.status === 0;
}

describe('real read-only and full file systems (private mount namespace)', () => {
  it.runIf(process.platform === 'linux' && canMountPrivately())(
    'writeFileAtomic into a new folder on a read-only fs is READ_ONLY_FILESYSTEM (Node says ENOENT), on a full one NO_SPACE',
    { timeout: 60_000 },
    async () => {
      const dir = await mkdtemp(join(work, 'ns-'));
      const script = join(dir, 'probe.mts');
      const atomic = resolve('src/util/atomic-file.ts');
      await writeFile(
        script,
        `import { writeFileAtomic } from ${JSON.stringify(atomic)};
const [ro, full] = process.argv.slice(2);
const out: unknown[] = [];
for (const [path, data] of [[ro + '/new/dir/sbom.json', '{}'], [full + '/big.bin', Buffer.alloc(256 * 1024)]] as const) {
  try { await writeFileAtomic(path, data); out.push('written'); }
  catch (error) { out.push(JSON.parse(JSON.stringify(error))); }
}
process.stdout.write(JSON.stringify(out));
`,
      );
      const ro = join(dir, 'ro');
      const full = join(dir, 'full');
      const r = spawnSync(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          'mkdir -p "$1" "$2" && mount -t tmpfs -o ro,size=64k tmpfs "$1" && mount -t tmpfs -o size=64k tmpfs "$2" && exec "$3" --import tsx "$4" "$1" "$2"',
          'sh',
          ro,
          full,
          process.execPath,
          script,
        ],
        { cwd: resolve('.'), timeout: 50_000 },
      );
      expect(r.stderr.toString()).toBe('');
      const [roError, fullError] = JSON.parse(r.stdout.toString()) as SerializedError[];
      expect(roError).toMatchObject({
        code: 'READ_ONLY_FILESYSTEM',
        details: { path: `${ro}/new/dir/sbom.json` },
        cause: { code: 'EROFS', syscall: 'mkdir' },
      });
      expect(fullError).toMatchObject({ code: 'NO_SPACE', details: { path: `${full}/big.bin` } });
    },
  );
});

describe('exit status', () => {
  it('is 2 for usage-type codes, 130 for CANCELLED, 1 for everything else', () => {
    const usage: RampartErrorCode[] = [
      'USAGE',
      'INVALID_REFERENCE',
      'INVALID_ENVIRONMENT',
      'UNSUPPORTED_OPERATION',
      'UNSUPPORTED_TRANSPORT',
      'SPEC_INVALID',
      'SOURCE_OUTSIDE_CONTEXT',
      'POLICY_INVALID',
      'TOKEN_EXPIRED',
    ];
    for (const code of ERROR_CODES) {
      const expected = usage.includes(code) ? 2 : code === 'CANCELLED' ? 130 : 1;
      expect([code, exitStatusOf(new RampartError(code, 'm'))]).toEqual([code, expected]);
    }
    expect(exitStatusOf(new Error('x'))).toBe(1);
    expect(exitStatusOf('a string')).toBe(1);
    expect(exitStatusOf(undefined)).toBe(1);
  });

  it('ERROR_CODES lists each code once', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(ERROR_CODES.length).toBeGreaterThan(30);
  });
});

describe('CLI error output', () => {
  const error = new RampartError('PACKAGE_NOT_FOUND', 'package nodjs is not in the configured suites', {
    details: { package: 'nodjs', architecture: 'amd64' },
  });

  it('is one line by default', () => {
    expect(formatCliError(error, { json: false, debug: false })).toBe(
      'error: package nodjs is not in the configured suites\n',
    );
  });

  it('is the JSON form, one line, with -o json', () => {
    const text = formatCliError(error, { json: true, debug: false });
    expect(text.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(text)).toEqual({ error: error.toJSON() });
  });

  it('under --debug: the line, the JSON form with every cause, the stack', () => {
    const text = formatCliError(new RampartError('IO', 'outer', { cause: error }), {
      json: true,
      debug: true,
    });
    expect(text.startsWith('error: outer\n{\n')).toBe(true);
    expect(text).toContain('"package": "nodjs"');
    expect(text).toMatch(/\n {4}at /);
  });

  it('translates a raw system error that reached the top', () => {
    expect(formatCliError(systemError('EROFS', 'open', '/out/a.json'), { json: false, debug: false })).toBe(
      'error: cannot open /out/a.json: the file system is read-only; choose a writable location\n',
    );
  });

  async function runCli(...args: string[]): Promise<{ code: number; stderr: string }> {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await main(['node', 'rampart', ...args]);
      return { code, stderr: spy.mock.calls.map((c) => String(c[0])).join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('through main(): -o json on the command gives the JSON form on stderr, with the exit status of its code', async () => {
    const dir = await mkdtemp(join(work, 'not-a-cache-'));
    await mkdir(join(dir, 'pip'));
    const json = await runCli('cache', 'prune', '--cache', dir, '-o', 'json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'NOT_FOUND', details: { path: dir } } });
    const usage = await runCli('cache', 'prune', '--cache', dir, '--older-than', '3x', '-o', 'json');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr)).toMatchObject({
      error: { code: 'USAGE', details: { option: '--older-than', value: '3x' }, cause: { code: 'USAGE' } },
    });
    const text = await runCli('cache', 'prune', '--cache', dir);
    expect(text.stderr).toMatch(/^error: [^\n]+ does not look like a rampart cache[^\n]*\n$/);
  });

  it('a pipeline failure keeps its first error', async () => {
    // Guard for writeStreamAtomic's reasoning: pipeline() rejects with the upstream error object.
    const boom = new Error('upstream');
    const err = await rejection(
      pipeline(
        new Readable({
          read() {
            this.destroy(boom);
          },
        }),
        async function* (source) {
          for await (const chunk of source) yield chunk;
        },
      ),
    );
    expect(err).toBe(boom);
  });
});

describe('README error table', () => {
  /** The rows of the table under "## Error codes": code, details column. */
  async function readmeRows(): Promise<Array<{ code: string; details: string[] }>> {
    const readme = await readFile(resolve('README.md'), 'utf8');
    const start = readme.indexOf('\n## Error codes\n');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
    return section
      .split('\n')
      .filter((line) => /^\| `[A-Z_]+` \|/.test(line))
      .map((line) => {
        const cells = line.split(' | ');
        return {
          code: cells[0]!.slice('| `'.length, -1),
          // Top-level fields only: `position` (`file`, `line`) names the sub-fields in brackets.
          details: [...cells[2]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-zA-Z]+)`/g)].map((m) => m[1]!),
        };
      });
  }

  it('lists exactly the codes of ErrorDetailsByCode, each once, in its order', async () => {
    expect((await readmeRows()).map((r) => r.code)).toEqual([...ERROR_CODES]);
  });

  it('names only details fields a code can carry', async () => {
    // Field names per code, read from the interface's source text so README and type cannot drift.
    const source = await readFile(resolve('src/errors.ts'), 'utf8');
    const body = source.slice(source.indexOf('export interface ErrorDetailsByCode {'));
    for (const row of await readmeRows()) {
      const line = new RegExp(`^\\s*${row.code}: \\{([^}]*)`, 'm').exec(body)?.[1] ?? '';
      const fields = [...line.matchAll(/(\w+)\??:/g)].map((m) => m[1]);
      const unknown = row.details.filter((field) => !fields.includes(field));
      expect({ code: row.code, unknown }).toEqual({ code: row.code, unknown: [] });
    }
  });
});

describe('printing hostile thrown values never throws', () => {
  it('null-prototype objects, throwing toString and message getters, bigint details, null causes', () => {
    const throwingToString = {
      toString: () => {
        throw new Error('no');
      },
    };
    const throwingMessage = new Error('x');
    Object.defineProperty(throwingMessage, 'message', {
      get: () => {
        throw new Error('no');
      },
    });
    const bigint = new RampartError('USAGE', 'big', { details: { value: 10n as unknown as string } });
    const causeless = new RampartError('IO', 'outer', { cause: Object.create(null) });
    for (const thrown of [Object.create(null), throwingToString, throwingMessage, bigint, causeless]) {
      for (const json of [false, true]) {
        for (const debug of [false, true]) {
          const text = formatCliError(thrown, { json, debug });
          expect(text.startsWith(json && !debug ? '{"error":' : 'error: '), String(json)).toBe(true);
        }
      }
    }
    expect(JSON.parse(formatCliError(bigint, { json: true, debug: false })).error.details.value).toBe('10');
    const rebuilt = RampartError.fromJSON({
      name: 'RampartError',
      code: 'IO',
      message: 'm',
      cause: null,
    } as never);
    expect(rebuilt).toBeInstanceOf(RampartError);
    expect(rebuilt.cause).toBeUndefined();
  });
});
