import { describe, expect, it } from 'vitest';
import { newIndex } from '../../../src/oci/in-memory.js';
import { openImage, writeImage } from '../../../src/oci/open.js';
import { formatImageReference, parseImageReference } from '../../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:24.04', 'docker.io/library/ubuntu:24.04'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/library/debian:bookworm', 'docker.io/library/debian:bookworm'],
    ['index.docker.io/x/y:1', 'docker.io/x/y:1'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    [`ghcr.io/a/b@${D}`, `ghcr.io/a/b@${D}`],
    [`ghcr.io/a/b:v1@${D}`, `ghcr.io/a/b:v1@${D}`],
    ['docker://localhost:5000/x:t', 'localhost:5000/x:t'],
    ['Registry/x', 'Registry/x:latest'],
    ['[::1]:5000/x:t', '[::1]:5000/x:t'],
  ])('normalises %s', (input, expected) => {
    const ref = parseImageReference(input);
    expect(ref.transport).toBe('docker');
    expect(formatImageReference(ref)).toBe(expected);
    expect(ref.raw).toBe(input);
  });

  it('splits registry and repository', () => {
    expect(parseImageReference('localhost:5000/team/app:1')).toMatchObject({
      registry: 'localhost:5000',
      repository: 'team/app',
      tag: '1',
    });
  });

  it.each([
    ['oci:./out/nodejs:latest', { transport: 'oci', path: './out/nodejs', tag: 'latest' }],
    ['oci:/tmp/layout', { transport: 'oci', path: '/tmp/layout' }],
    [`oci:/tmp/layout@${D}`, { transport: 'oci', path: '/tmp/layout', digest: D }],
    ['oci-archive:img.tar:v1', { transport: 'oci-archive', path: 'img.tar', tag: 'v1' }],
    ['docker-archive:img.tar', { transport: 'docker-archive', path: 'img.tar' }],
    ['docker-archive:img.tar:app:1.0', { transport: 'docker-archive', path: 'img.tar', tag: 'app:1.0' }],
    ['dir:/srv/rootfs', { transport: 'dir', path: '/srv/rootfs' }],
  ])('parses %s', (input, expected) => {
    const ref = parseImageReference(input);
    expect(ref).toEqual({ ...expected, raw: input });
  });

  it.each([
    'Ubuntu',
    'a/B:1',
    'ubuntu:',
    'ubuntu@sha256:zz',
    'oci:',
    'oci:x:',
    'dir:',
    'docker-archive:f:Bad',
    '',
    // A port out of range: port 0 would reach 443/80 instead of failing.
    'docker://127.0.0.1:0/a/b',
    'docker://localhost:65536/a/b',
    'docker://[::1]:0/a/b',
  ])('rejects %j', (input) => {
    expect(() => parseImageReference(input)).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }));
  });

  it.each(['ftp://x/y', 'docker-daemon:nginx', 'containers-storage:x:latest'])(
    'rejects the unknown transport of %s',
    (input) => {
      expect(() => parseImageReference(input)).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_TRANSPORT' }),
      );
    },
  );
});

describe('transports rampart does not read', () => {
  it('stay UNSUPPORTED_TRANSPORT for reading and writing (docker:// is a transport now)', async () => {
    for (const ref of ['docker-daemon:nginx:1', 'containers-storage:nginx', 'ostree:x']) {
      await expect(openImage(ref)).rejects.toMatchObject({ code: 'UNSUPPORTED_TRANSPORT' });
      await expect(writeImage(ref, newIndex([]))).rejects.toMatchObject({ code: 'UNSUPPORTED_TRANSPORT' });
    }
  });
});
