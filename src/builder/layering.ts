import { compareText } from '../util/compare-text.js';
import { CONFIG_OWNER } from './generated.js';
import { type FileTree, parentOf } from './tree.js';

/** Layer key of the spec's `files:` (the application), always the last layer. */
export const APP_OWNER = '(files)';

/**
 * Shared layers, lowest first. Each tier holds exactly these packages when an image has them,
 * so images of the catalog built from the same lock share the layer blobs in a registry:
 * `static` ⊂ `base` ⊂ `cc` ⊂ `python3`/`nodejs`. A tier's package that an image lacks is simply
 * absent (its layer then differs, which is correct).
 */
export const LAYER_TIERS: ReadonlyArray<{ name: string; packages: readonly string[] }> = [
  { name: 'static', packages: ['base-files', 'ca-certificates', 'netbase', 'tzdata'] },
  {
    name: 'libc',
    packages: [
      'gcc-14-base',
      'libc6',
      'libgcc-s1',
      'libssl3t64',
      'libzstd1',
      'openssl-provider-legacy',
      'zlib1g',
    ],
  },
  { name: 'cc', packages: ['libstdc++6'] },
];

export type LayerPlanEntry = {
  /** Short name: a tier, `packages`, `config` or `app`. */
  name: string;
  /** What the layer holds, for the image history. */
  comment: string;
  /** The owners (packages or generated-content labels) whose paths the layer carries. */
  owners: string[];
  /** Sorted canonical paths, parents first, including the parent directories the layer needs. */
  paths: string[];
};

/** Orders packages for unpacking: tier packages first (tier order, then name), the rest by name. */
export function unpackOrder(packages: readonly string[]): string[] {
  const tierRank = new Map<string, number>();
  LAYER_TIERS.forEach((tier, i) => {
    for (const p of tier.packages) tierRank.set(p, i);
  });
  return [...packages].sort((a, b) => {
    const ra = tierRank.get(a) ?? LAYER_TIERS.length;
    const rb = tierRank.get(b) ?? LAYER_TIERS.length;
    return ra - rb || compareText(a, b);
  });
}

/**
 * Splits the tree into deterministic layers: one per non-empty tier, the remaining packages,
 * the spec-derived config (accounts, paths) and the application files last.
 */
export function planLayers(tree: FileTree, packages: readonly string[]): LayerPlanEntry[] {
  const installed = new Set(packages);
  const groups: Array<{ name: string; owners: string[]; comment: string }> = [];
  const tiered = new Set<string>();
  for (const tier of LAYER_TIERS) {
    const owners = tier.packages.filter((p) => installed.has(p));
    for (const p of owners) tiered.add(p);
    if (owners.length) groups.push({ name: tier.name, owners, comment: `${tier.name}: ${owners.join(' ')}` });
  }
  const rest = [...installed].filter((p) => !tiered.has(p)).sort();
  if (rest.length) groups.push({ name: 'packages', owners: rest, comment: `packages: ${rest.join(' ')}` });
  groups.push({
    name: 'config',
    owners: [CONFIG_OWNER],
    comment: 'config: accounts, home directories, paths',
  });
  groups.push({ name: 'app', owners: [APP_OWNER], comment: 'app: files from the spec' });

  const plan: LayerPlanEntry[] = [];
  const sortedPaths = tree.paths();
  for (const group of groups) {
    const owners = new Set(group.owners);
    const selected = new Set<string>();
    for (const path of sortedPaths) {
      const node = tree.get(path)!;
      const mine =
        node.type === 'directory'
          ? [...(tree.directoryOwners.get(path) ?? [])].some((o) => owners.has(o))
          : owners.has(node.owner);
      if (!mine) continue;
      selected.add(path);
      for (let p = parentOf(path); p !== '' && !selected.has(p); p = parentOf(p)) selected.add(p);
    }
    if (selected.size === 0 && (group.name === 'config' || group.name === 'app')) continue;
    const paths = sortedPaths.filter((p) => selected.has(p));
    plan.push({ name: group.name, comment: group.comment, owners: group.owners, paths });
  }
  return plan;
}
