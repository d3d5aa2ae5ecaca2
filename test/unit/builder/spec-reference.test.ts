import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseImageSpec } from '../../../src/builder/spec.js';
import { specKeyReference } from '../../../src/builder/spec-reference.js';

const DOC = resolve(import.meta.dirname, '../../../docs/spec.md');

/** The rows of docs/spec.md's key table: key, required, type, default, description, example. */
async function documentedRows(): Promise<string[][]> {
  const text = await readFile(DOC, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
}

describe('docs/spec.md, the spec reference', () => {
  it('documents every key of the schema, and only those, with its required flag, type and default', async () => {
    const expected = specKeyReference().map((row) => [
      `\`${row.key}\``,
      row.required ? 'yes' : 'no',
      row.type,
      row.default !== undefined ? `\`${row.default}\`` : '-',
    ]);
    const documented = await documentedRows();
    expect(documented.map((row) => row.slice(0, 4))).toEqual(expected);
  });

  it('gives every key a description and an example', async () => {
    for (const row of await documentedRows()) {
      expect(row, row[0]).toHaveLength(6);
      expect(row[4]!.length, `${row[0]} description`).toBeGreaterThan(3);
      expect(row[5]!.length, `${row[0]} example`).toBeGreaterThan(0);
    }
  });

  it('covers nested keys, defaults and enums', () => {
    const rows = new Map(specKeyReference().map((row) => [row.key, row]));
    expect(rows.get('contents.packages')).toEqual({
      key: 'contents.packages',
      required: true,
      type: 'list of string',
    });
    expect(rows.get('paths[].type')).toEqual({
      key: 'paths[].type',
      required: false,
      type: 'one of directory, file, symlink',
      default: '"directory"',
    });
    expect(rows.get('accounts.users[].uid')?.type).toBe('integer');
    expect(rows.has('variants.<name>.run-as')).toBe(true);
  });

  it('has a minimal spec that parses', async () => {
    const text = await readFile(DOC, 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(text)?.[1];
    expect(yaml).toBeDefined();
    expect(parseImageSpec(yaml!, 'spec.md', '/').spec.name).toBe('hello');
  });
});
