import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTimestamp } from '../../../src/builder/config.js';
import { isRampartError } from '../../../src/errors.js';
import { openRootfsDirectory } from '../../../src/oci/rootfs-source.js';
import { generateSbom } from '../../../src/sbom/generate.js';
import { sourceDateEpoch } from '../../../src/util/source-date-epoch.js';

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('sourceDateEpoch: one rule for SOURCE_DATE_EPOCH', () => {
  it('reads whole seconds and treats unset or empty as unset', () => {
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1700000000);
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: ' 0 ' })).toBe(0);
    expect(sourceDateEpoch({})).toBeUndefined();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' })).toBeUndefined();
  });

  it.each(['yesterday', '1.5', '-1', '1e9', '0x10', '99999999999999999999', '9000000000000'])(
    'refuses %j with INVALID_ENVIRONMENT naming the variable',
    (value) => {
      const error = refusal(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: value }));
      expect(isRampartError(error, 'INVALID_ENVIRONMENT'), String(error)).toBe(true);
      expect((error as { details: unknown }).details).toEqual({ variable: 'SOURCE_DATE_EPOCH', value });
    },
  );

  it('is the rule of the build timestamp, the dir: source and the SBOM (which used to ignore a bad value)', async () => {
    const env = { SOURCE_DATE_EPOCH: 'yesterday' };
    expect(
      isRampartError(
        refusal(() => buildTimestamp(env, [])),
        'INVALID_ENVIRONMENT',
      ),
    ).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'rampart-sde-'));
    try {
      await writeFile(join(dir, 'a'), 'a');
      const sbom = await generateSbom({ kind: 'directory', path: dir }, { env }).catch((e: unknown) => e);
      expect(isRampartError(sbom, 'INVALID_ENVIRONMENT'), String(sbom)).toBe(true);
      const good = await generateSbom(
        { kind: 'directory', path: dir },
        { env: { SOURCE_DATE_EPOCH: '86400' } },
      );
      expect(good.source.created).toBe('1970-01-02T00:00:00.000Z');
      const saved = process.env.SOURCE_DATE_EPOCH;
      process.env.SOURCE_DATE_EPOCH = 'yesterday';
      try {
        const opened = await openRootfsDirectory(dir).catch((e: unknown) => e);
        expect(isRampartError(opened, 'INVALID_ENVIRONMENT'), String(opened)).toBe(true);
      } finally {
        if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
        else process.env.SOURCE_DATE_EPOCH = saved;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
