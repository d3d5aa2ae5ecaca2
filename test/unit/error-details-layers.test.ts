/**
 * The error codes of the layer, link and tree rules, produced through the functions that throw
 * them, with their details (issue 9: every code in the README has such a test).
 */
import { describe, expect, it } from 'vitest';
import { FileTree, type TreeNode } from '../../src/builder/tree.js';
import { isRampartError, type RampartError } from '../../src/errors.js';
import { planLayer } from '../../src/oci/layer-writer.js';
import { safeHardlinkTarget } from '../../src/oci/tar-safety.js';

function thrown(run: () => unknown): RampartError {
  try {
    run();
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  throw new Error('expected a RampartError');
}

const file = (owner: string, text: string): TreeNode => ({
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  content: Buffer.from(text),
  owner,
});

describe('layer, link and tree error details', () => {
  it('FILE_CONFLICT names the path and both packages, for a clash and for a file where a directory must be', () => {
    const tree = new FileTree();
    tree.add('usr/bin/tool', file('pkg-a', 'one'));
    const clash = thrown(() => tree.add('usr/bin/tool', file('pkg-b', 'two')));
    expect(clash.code).toBe('FILE_CONFLICT');
    expect(clash.details).toEqual({ path: '/usr/bin/tool', packages: ['pkg-a', 'pkg-b'] });
    const parent = thrown(() => tree.add('usr/bin/tool/inner', file('pkg-c', 'x')));
    expect(parent.code).toBe('FILE_CONFLICT');
    expect(parent.details).toEqual({ path: '/usr/bin/tool', packages: ['pkg-a', 'pkg-c'] });
  });

  it('INVALID_LAYER_ENTRY names the entry', () => {
    const entry = {
      path: 'etc/x',
      type: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      content: Buffer.from('a'),
    };
    const error = thrown(() => planLayer([entry, { ...entry }]));
    expect(error.code).toBe('INVALID_LAYER_ENTRY');
    expect(error.details).toEqual({ path: 'etc/x' });
  });

  it('UNSAFE_LINK names the hardlink and its target', () => {
    for (const target of ['../etc/shadow', '/etc/shadow', '']) {
      const error = thrown(() => safeHardlinkTarget('usr/bin/x', target));
      expect(error.code, target).toBe('UNSAFE_LINK');
      expect(error.details, target).toEqual({ path: 'usr/bin/x', target });
    }
  });
});
