import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** rampart's version, from package.json (src/ and dist/ both sit one level below it). */
export const VERSION: string = packageJson.version;
