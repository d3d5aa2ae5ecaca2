/**
 * Runs every bench/*.bench.ts module and prints its figures. A bench module's default export
 * returns a list of figures; a figure with a target is marked ok/SLOW against it.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** Upper bound the figure should stay below. */
  target?: number;
  note?: string;
}

export type Bench = () => Promise<BenchFigure[]>;

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = (await readdir(here))
  .filter((f) => /\.bench\.(ts|js)$/.test(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let slow = 0;
for (const file of files) {
  const module = (await import(pathToFileURL(join(here, file)).href)) as { default: Bench };
  process.stdout.write(`# ${file}\n`);
  for (const figure of await module.default()) {
    const verdict = figure.target === undefined ? '' : figure.value <= figure.target ? '  ok' : '  SLOW';
    if (verdict === '  SLOW') slow++;
    const target = figure.target === undefined ? '' : ` (target < ${figure.target} ${figure.unit})`;
    const note = figure.note ? `  [${figure.note}]` : '';
    process.stdout.write(
      `${figure.name.padEnd(72)} ${formatValue(figure.value).padStart(10)} ${figure.unit}${target}${verdict}${note}\n`,
    );
  }
}
if (slow > 0) process.stdout.write(`${slow} figure(s) missed their target\n`);

function formatValue(value: number): string {
  return Math.abs(value) < 10 ? value.toPrecision(3) : value.toFixed(1);
}
