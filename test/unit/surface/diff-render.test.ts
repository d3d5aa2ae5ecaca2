/**
 * The diff renderers treat names from images as hostile: a file name with an escape sequence or a
 * newline, a package name with HTML or a table pipe, cannot drive the terminal, add a line, or
 * break out of the Markdown table.
 */
import { describe, expect, it } from 'vitest';
import type { ImageDiff } from '../../../src/surface/diff.js';
import { renderDiffMarkdown, renderDiffText } from '../../../src/surface/diff-render.js';

const file = (path: string) => ({ path, kind: 'file', size: 3, mode: '0644' });
const hostile: ImageDiff = {
  schemaVersion: 1,
  old: { reference: 'oci:a', digest: 'sha256:aa', platform: 'linux/amd64' },
  new: { reference: 'oci:b', digest: 'sha256:bb', platform: 'linux/amd64' },
  packages: {
    added: [
      {
        name: '<img src=x onerror=alert(1)>|x',
        version: '1\n| injected | row |',
        type: 'npm',
        purl: 'pkg:npm/x@1',
      },
    ],
    removed: [],
    changed: [],
  },
  files: { added: [file('/etc/\u001b[31mred\nfake line')], removed: [], changed: [], bytesDelta: 3 },
  config: [{ field: 'env', key: 'A\u001b]0;title\u0007', new: 'v\nw' }],
};

describe('diff renderers on hostile names', () => {
  it('text: no raw control character reaches the terminal, no line is added', () => {
    const text = renderDiffText(hostile);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(text.split('\n').some((line) => line.startsWith('fake line'))).toBe(false);
    expect(text).toContain('"/etc/\\u001b[31mred\\nfake line"');
  });

  it('markdown: HTML is escaped and the table keeps its rows', () => {
    const markdown = renderDiffMarkdown(hostile);
    expect(markdown).not.toContain('<img');
    expect(markdown).toContain('&lt;img src=x onerror=alert(1)&gt;\\|x');
    expect(markdown).not.toMatch(/^\| injected/m);
    expect(markdown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });
});
