import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LockedPackage } from '../../../src/builder/lock.js';
import type { BuildEvent } from '../../../src/builder/pipeline.js';
import { createProgressReporter, isInteractive, type ProgressStream } from '../../../src/cli/progress.js';

/** A stand-in for stderr that keeps what was written. */
function fakeStream(tty: boolean, columns = 100): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return {
    isTTY: tty,
    columns,
    write: (chunk: string) => chunks.push(chunk),
    text: () => chunks.join(''),
  };
}

/**
 * What a terminal shows after `output`: the rows and where the cursor is. Knows the codes that
 * readline and cli-progress write, and fails on any other, so a new code cannot slip by unseen.
 */
function screenAfter(output: string): { rows: string[]; row: number; col: number } {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  const line = () => {
    rows[row] ??= [];
    return rows[row]!;
  };
  for (let i = 0; i < output.length; i++) {
    const ch = output[i]!;
    if (ch === '\x1b') {
      const rest = output.slice(i);
      const csi = /^\x1b\[(\??)(\d*)([A-Za-z])/.exec(rest);
      if (rest.startsWith('\x1b7')) {
        saved = { row, col };
        i += 1;
      } else if (rest.startsWith('\x1b8')) {
        ({ row, col } = saved);
        i += 1;
      } else if (csi) {
        const [all, privateMode, n, op] = csi;
        if (privateMode) {
          // cursor shown/hidden, line wrapping: nothing on the screen
        } else if (op === 'G') col = Number(n || 1) - 1;
        else if (op === 'K' && (n === '' || n === '0')) line().length = Math.min(line().length, col);
        else if (op === 'K' && n === '2') rows[row] = [];
        else throw new Error(`unexpected control sequence ${JSON.stringify(all)}`);
        i += all!.length - 1;
      } else {
        throw new Error(`unexpected escape at ${JSON.stringify(rest.slice(0, 8))}`);
      }
    } else if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      line();
    } else {
      const cells = line();
      while (cells.length < col) cells.push(' ');
      cells[col++] = ch;
    }
  }
  return { rows: rows.map((r) => (r ?? []).join('').trimEnd()), row, col };
}

function pkg(name: string, size: number): LockedPackage {
  return {
    name,
    version: '1.0-1',
    architecture: 'amd64',
    suite: 'trixie',
    filename: `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`,
    size,
    sha256: name.padEnd(64, '0'),
  } as LockedPackage;
}

const MiB = 1024 * 1024;

/** A two-package build of one architecture, one package fetched and one from the cache. */
function buildEvents(): BuildEvent[] {
  const a = pkg('libfoo1', 3 * MiB);
  const b = pkg('tool', MiB);
  return [
    {
      phase: 'resolve',
      kind: 'start',
      locked: false,
      lockPath: 'demo.lock.json',
      requested: 1,
      suites: ['trixie'],
      archs: ['amd64'],
    },
    { phase: 'resolve', kind: 'index', message: 'trixie/main/binary-amd64: 2 packages' },
    { phase: 'resolve', kind: 'done', locked: false, packages: { amd64: 2 }, elapsedMs: 1200 },
    { phase: 'download', kind: 'start', packages: 2, bytes: 4 * MiB },
    { phase: 'download', kind: 'bytes', bytes: MiB },
    { phase: 'download', kind: 'bytes', bytes: MiB },
    { phase: 'download', kind: 'bytes', bytes: MiB },
    { phase: 'download', kind: 'package', pkg: a, cached: false },
    { phase: 'download', kind: 'bytes', bytes: MiB },
    { phase: 'download', kind: 'package', pkg: b, cached: true },
    { phase: 'download', kind: 'done', packages: 2, fetched: 1, fetchedBytes: 3 * MiB, elapsedMs: 2000 },
    { phase: 'assemble', kind: 'start', arch: 'amd64', packages: 2 },
    { phase: 'assemble', kind: 'done', arch: 'amd64', packages: 2, paths: 40, elapsedMs: 300 },
    { phase: 'layers', kind: 'start', arch: 'amd64' },
    {
      phase: 'layers',
      kind: 'layer',
      arch: 'amd64',
      name: 'base',
      entries: 30,
      digest: `sha256:${'a'.repeat(64)}`,
      size: 2048,
      uncompressedSize: 8192,
      cached: true,
      elapsedMs: 60,
    },
    { phase: 'layers', kind: 'done', arch: 'amd64', layers: 1, size: 2048, elapsedMs: 70 },
    { phase: 'sboms', kind: 'start', arch: 'amd64' },
    { phase: 'sboms', kind: 'done', arch: 'amd64', packages: 2, elapsedMs: 90_500 },
    { phase: 'write', kind: 'start', reference: 'oci:out/demo:latest' },
    {
      phase: 'write',
      kind: 'done',
      reference: 'oci:out/demo:latest',
      digest: `sha256:${'b'.repeat(64)}`,
      elapsedMs: 10,
    },
  ];
}

/** A clock that only the test moves. */
function steppingClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Feeds the build's events; the clock moves 0.5 s before each download event after the first. */
function play(reporter: ReturnType<typeof createProgressReporter>, clock = steppingClock(), tick = () => {}) {
  for (const event of buildEvents()) {
    if (event.phase === 'download' && event.kind !== 'start') {
      clock.advance(500);
      tick();
    }
    reporter.build(event);
  }
  reporter.stop();
}

afterEach(() => {
  vi.useRealTimers();
});

describe('progress in a log (not a terminal)', () => {
  it('writes one line per event, no control codes, and cached packages only in the tally', () => {
    const stream = fakeStream(false);
    const clock = steppingClock();
    play(createProgressReporter({ stream, prefix: 'rampart build: ', now: clock.now }), clock);
    expect(stream.text().split('\n')).toEqual([
      'rampart build: resolving 1 packages from trixie for amd64',
      'rampart build: trixie/main/binary-amd64: 2 packages',
      'rampart build: resolved 2 packages for amd64 in 1.2s',
      'rampart build: downloading 2 packages (4.0 MiB)',
      'rampart build: [1/2] fetched libfoo1 1.0-1 amd64 (3.0 MiB)',
      'rampart build: downloaded 1 packages (3.0 MiB at 1.0 MiB/s), 1 from the cache in 3.0s',
      'rampart build: amd64: assembling 2 packages',
      'rampart build: amd64: assembled 2 packages (40 paths) in 0.3s',
      'rampart build: amd64: layer base: 30 entries, 2.0 KiB (cached) in 0.1s',
      'rampart build: amd64: 1 layers, 2.0 KiB compressed in 0.1s',
      'rampart build: amd64: SBOM with 2 packages in 1m31s',
      'rampart build: writing oci:out/demo:latest',
      'rampart build: wrote oci:out/demo:latest in 0.0s',
      '',
    ]);
    expect(stream.text()).not.toContain('\x1b');
  });

  it('lists cached packages too for apt download, from the download events alone', () => {
    const stream = fakeStream(false);
    const reporter = createProgressReporter({ stream, listCached: true });
    reporter.download({ timestamp: 0, kind: 'start', packages: 2, bytes: 2 * MiB });
    reporter.download({ timestamp: 0, kind: 'bytes', bytes: MiB });
    reporter.download({ timestamp: 0, kind: 'done', pkg: pkg('app', MiB), path: '/c/app', cached: true });
    reporter.download({ timestamp: 0, kind: 'bytes', bytes: MiB });
    reporter.download({
      timestamp: 0,
      kind: 'done',
      pkg: pkg('libapp1', MiB),
      path: '/c/lib',
      cached: false,
    });
    reporter.stop();
    const lines = stream.text().trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'downloading 2 packages (2.0 MiB)',
      '[1/2] cached app 1.0-1 amd64',
      '[2/2] fetched libapp1 1.0-1 amd64 (1.0 MiB)',
    ]);
    expect(lines[3]).toMatch(/^downloaded 1 packages \(1\.0 MiB at [\d.]+ MiB\/s\), 1 from the cache in /);
    expect(lines).toHaveLength(4);
  });

  it('closes a download of nothing at once', () => {
    const stream = fakeStream(false);
    createProgressReporter({ stream }).download({ timestamp: 0, kind: 'start', packages: 0, bytes: 0 });
    expect(stream.text()).toBe(
      'downloading 0 packages (0 B)\ndownloaded 0 packages (0 B), 0 from the cache in 0.0s\n',
    );
  });
});

describe('-q', () => {
  it.each([false, true])('writes nothing (terminal: %s)', (tty) => {
    const stream = fakeStream(tty);
    play(createProgressReporter({ stream, quiet: true, env: {} }));
    expect(stream.text()).toBe('');
  });
});

describe('progress on a terminal', () => {
  it('draws a download bar and leaves one line per finished phase, the cursor on a clean line', () => {
    vi.useFakeTimers();
    const stream = fakeStream(true);
    const clock = steppingClock();
    const reporter = createProgressReporter({ stream, prefix: 'rampart build: ', now: clock.now, env: {} });
    const drawn: string[] = [];
    // The bar redraws on its own timer: let it run between the download's events.
    play(reporter, clock, () => {
      vi.advanceTimersByTime(150);
      drawn.push(stream.text());
    });
    const output = stream.text();
    // the bar, with packages, MiB and speed, drawn while the download ran
    expect(output).toMatch(
      /rampart build: downloading \[[\u2588\u2591]{24}\] 0\/2 packages \| 0\.0\/4\.0 MiB \| 0\.0 MiB\/s/,
    );
    expect(drawn.some((o) => /\] 1\/2 packages \| 3\.0\/4\.0 MiB \| [\d.]+ MiB\/s/.test(o))).toBe(true);
    // a status line showed the running phase before its line replaced it
    expect(output).toContain('rampart build: resolving 1 packages from trixie for amd64');

    const screen = screenAfter(output);
    expect(screen.rows).toEqual([
      'rampart build: resolved 2 packages for amd64 in 1.2s',
      'rampart build: downloaded 1 packages (3.0 MiB at 1.0 MiB/s), 1 from the cache in 3.0s',
      'rampart build: amd64: assembled 2 packages (40 paths) in 0.3s',
      'rampart build: amd64: 1 layers, 2.0 KiB compressed in 0.1s',
      'rampart build: amd64: SBOM with 2 packages in 1m31s',
      'rampart build: wrote oci:out/demo:latest in 0.0s',
      '',
    ]);
    expect({ row: screen.row, col: screen.col }).toEqual({ row: 6, col: 0 });
    // stopped: the bar's timer is gone, nothing more is drawn
    vi.advanceTimersByTime(1000);
    expect(stream.text()).toBe(output);
  });

  it('takes the bar down when the download fails half-way', () => {
    vi.useFakeTimers();
    const stream = fakeStream(true);
    const reporter = createProgressReporter({ stream, env: {} });
    reporter.download({ timestamp: 0, kind: 'start', packages: 3, bytes: 3 * MiB });
    reporter.download({ timestamp: 0, kind: 'bytes', bytes: MiB });
    vi.advanceTimersByTime(150);
    reporter.stop();
    expect(stream.text()).toContain('downloading [');
    const screen = screenAfter(stream.text());
    expect(screen.rows.every((r) => r === '')).toBe(true);
    expect(screen.col).toBe(0);
  });

  it('keeps a status line within the terminal width', () => {
    const stream = fakeStream(true, 30);
    const reporter = createProgressReporter({ stream, env: {} });
    reporter.build({ phase: 'write', kind: 'start', reference: `oci:${'x'.repeat(100)}:latest` });
    const screen = screenAfter(stream.text());
    expect(screen.rows[0]!.length).toBeLessThan(30);
    reporter.stop();
    expect(screenAfter(stream.text()).rows).toEqual(['']);
  });
});

describe('isInteractive', () => {
  it('is a terminal outside CI', () => {
    expect(isInteractive({ write: () => true, isTTY: true }, {})).toBe(true);
    expect(isInteractive({ write: () => true, isTTY: true }, { CI: 'false' })).toBe(true);
    expect(isInteractive({ write: () => true, isTTY: true }, { CI: 'true' })).toBe(false);
    expect(isInteractive({ write: () => true, isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(isInteractive({ write: () => true, isTTY: false }, {})).toBe(false);
    expect(isInteractive({ write: () => true }, {})).toBe(false);
  });
});

describe('copy progress', () => {
  const time = new Date(0);
  const digest = (n: number) => `sha256:${String(n).repeat(64)}` as const;
  const events = [
    { kind: 'plan', time, blobs: 3, bytes: 3 * 1024 * 1024 },
    { kind: 'blob', time, digest: digest(1), size: 1024 * 1024, mediaType: 'x', status: 'exists' },
    { kind: 'blob', time, digest: digest(2), size: 1024 * 1024, mediaType: 'x', status: 'start' },
    { kind: 'blob-progress', time, digest: digest(2), bytes: 1024 * 1024, size: 1024 * 1024 },
    { kind: 'blob', time, digest: digest(2), size: 1024 * 1024, mediaType: 'x', status: 'copied' },
    { kind: 'blob', time, digest: digest(3), size: 1024 * 1024, mediaType: 'x', status: 'mounted' },
  ] as const;

  it('writes one line per blob to a log, no control codes', () => {
    const stream = fakeStream(false);
    const progress = createProgressReporter({ stream, interactive: false, prefix: 'rampart copy: ' });
    for (const event of events) progress.copy(event);
    progress.stop();
    expect(stream.text().split('\n')).toEqual([
      'rampart copy: copying 3 blobs (3.0 MiB)',
      `rampart copy: [1/3] already there ${digest(1).slice(0, 19)} (1.0 MiB)`,
      `rampart copy: [2/3] copied ${digest(2).slice(0, 19)} (1.0 MiB)`,
      `rampart copy: [3/3] mounted ${digest(3).slice(0, 19)} (1.0 MiB)`,
      '',
    ]);
  });

  it("counts an attachment's blobs on from the image's (copy --with-attachments)", () => {
    const stream = fakeStream(false);
    const progress = createProgressReporter({ stream, interactive: false, prefix: 'rampart copy: ' });
    for (const event of events) progress.copy(event);
    progress.copy({ kind: 'plan', time, blobs: 0, bytes: 0, attachment: true });
    progress.copy({ kind: 'plan', time, blobs: 2, bytes: 2048, attachment: true });
    for (const n of [4, 5]) {
      progress.copy({ kind: 'blob', time, digest: digest(n), size: 1024, mediaType: 'x', status: 'copied' });
    }
    progress.stop();
    expect(stream.text().split('\n').slice(4)).toEqual([
      'rampart copy: copying 2 blob(s) of an attachment (2.0 KiB)',
      `rampart copy: [4/5] copied ${digest(4).slice(0, 19)} (1.0 KiB)`,
      `rampart copy: [5/5] copied ${digest(5).slice(0, 19)} (1.0 KiB)`,
      '',
    ]);
  });

  it('draws a byte bar on a terminal and takes it down when done', () => {
    const stream = fakeStream(true);
    const progress = createProgressReporter({ stream, interactive: true, prefix: 'rampart copy: ' });
    for (const event of events) progress.copy(event);
    progress.stop();
    expect(stream.text()).toContain('copying [');
    expect(screenAfter(stream.text()).rows.join('').trim()).toBe('');
  });

  it("draws a build's push (write/copy events) as copy does, between the write lines", () => {
    const stream = fakeStream(false);
    const progress = createProgressReporter({ stream, interactive: false, prefix: 'rampart build: ' });
    const reference = 'docker://127.0.0.1:5000/demo:1';
    progress.build({ phase: 'write', kind: 'start', reference });
    for (const event of events) progress.build({ phase: 'write', kind: 'copy', event });
    progress.build({ phase: 'write', kind: 'done', reference, digest: digest(9), elapsedMs: 1500 });
    progress.stop();
    const lines = stream.text().split('\n');
    expect(lines.slice(1, 5)).toEqual([
      'rampart build: copying 3 blobs (3.0 MiB)',
      `rampart build: [1/3] already there ${digest(1).slice(0, 19)} (1.0 MiB)`,
      `rampart build: [2/3] copied ${digest(2).slice(0, 19)} (1.0 MiB)`,
      `rampart build: [3/3] mounted ${digest(3).slice(0, 19)} (1.0 MiB)`,
    ]);
    expect(lines[0]).toContain(`writing ${reference}`);
    expect(lines[5]).toContain(`wrote ${reference}`);
  });
});
