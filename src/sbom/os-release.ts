import type { SbomDistro } from './model.js';

export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;

/** Parses os-release(5): shell-style KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): SbomDistro | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = match[2]!.trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    values.set(match[1]!, value);
  }
  const id = values.get('ID');
  if (!id) return undefined;
  const versionId = values.get('VERSION_ID');
  const versionCodename = values.get('VERSION_CODENAME');
  const prettyName = values.get('PRETTY_NAME');
  return {
    id,
    ...(versionId ? { versionId } : {}),
    ...(versionCodename ? { versionCodename } : {}),
    ...(prettyName ? { prettyName } : {}),
  };
}
