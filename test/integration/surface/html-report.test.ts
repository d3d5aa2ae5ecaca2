import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../../src/oci/open.js';
import { compareMetrics, compareRows } from '../../../src/surface/compare.js';
import { renderCompareHtml } from '../../../src/surface/html-report.js';
import { measureSurface } from '../../../src/surface/metrics.js';
import type { CompareResult } from '../../../src/surface/types.js';
import { SURFACE_LAYERS, surfaceImage, surfaceRoot } from '../../helpers/surface-fixtures.js';

/**
 * The HTML report in a real browser: Debian's chromium (installed by `npm test` through
 * scripts/install-system-deps.sh when run as root), driven by playwright-core.
 */
const CHROMIUM = '/usr/bin/chromium';
const skipReason =
  existsSync(CHROMIUM) || process.getuid?.() === 0
    ? undefined
    : `${CHROMIUM} is missing and this is not root (run scripts/install-system-deps.sh as root, or apt-get install chromium)`;
if (skipReason) console.warn(`skipping the HTML report browser test: ${skipReason}`);

const HOSTILE = 'root<img src=x onerror=alert(1)><script>alert(2)</script>';
let work: string;
let browser: Browser;
let result: CompareResult;
let file: string;

beforeAll(async () => {
  if (skipReason) return;
  work = mkdtempSync(join(tmpdir(), 'rampart-surface-html-'));
  // A: the fixture root (plus bash) under a hostile name; B: the fixture image without shells.
  const root = join(work, HOSTILE);
  await surfaceRoot(root);
  writeFileSync(join(root, 'usr/bin/bash'), 'not really bash');
  const slim = SURFACE_LAYERS.map((layer) => layer.filter((e) => !/dash|usr\/bin\/sh$|apt$/.test(e.path)));
  await writeImage(`oci:${join(work, 'layout')}:v1`, await surfaceImage(work, slim));
  result = compareMetrics(
    await measureSurface(`dir:${root}`),
    await measureSurface(`oci:${join(work, 'layout')}:v1`),
  );
  file = join(work, 'report.html');
  writeFileSync(file, renderCompareHtml(result, { generated: '2026-01-01T00:00:00Z' }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(skipReason !== undefined)('the compare HTML report in headless Chromium', () => {
  it('renders one chart per metric with two non-empty bars each, no console error, no request', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href);
    const rows = compareRows(result);
    const charts = page.locator('figure.chart svg');
    expect(await charts.count()).toBe(rows.length);
    expect(await page.locator('figure.chart svg rect.bar').count()).toBe(rows.length * 2);
    // Every chart is laid out with a real size; a bar with a non-zero value has a real width.
    for (let i = 0; i < rows.length; i++) {
      const box = await charts.nth(i).boundingBox();
      expect(box?.width).toBeGreaterThan(100);
      expect(box?.height).toBeGreaterThan(20);
      const bars = charts.nth(i).locator('rect.bar');
      const [a, b] = [await bars.nth(0).boundingBox(), await bars.nth(1).boundingBox()];
      if ((rows[i]?.a ?? 0) > 0) expect(a?.width, rows[i]?.metric).toBeGreaterThan(0);
      if ((rows[i]?.b ?? 0) > 0) expect(b?.width, rows[i]?.metric).toBeGreaterThan(0);
    }
    const shells = rows.find((r) => r.metric === 'shells');
    expect(shells).toMatchObject({ a: 3, b: 0 });
    // Screen readers: each chart is an image with a name and a description.
    expect(await page.locator('svg[role="img"][aria-labelledby]').count()).toBe(rows.length);
    const png = await page.screenshot({ fullPage: true, path: join(work, 'report.png') });
    expect(png.length).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    // The hostile file name is text, not markup.
    expect(await page.locator('script, img').count()).toBe(0);
    expect(await page.locator('.subjects dd').first().textContent()).toContain(HOSTILE);
    await page.close();
  });
});
