import { envMap } from '../diff.js';
import { visitFinalFiles } from '../image-files.js';
import { findSecrets } from './secret-rules.js';
import type { LintCheck, LintContext, LintFinding } from './types.js';
import { findingOf } from './types.js';

/**
 * Secrets in the config (env, labels) and in files. Files owned by a Debian package (listed in its
 * md5sums) are not read: their bytes are the archive's, verified at build time, and Debian ships
 * test keys that are not secrets. Every other regular file is read up to `limits.fileBytes`, in
 * path order, until `limits.totalBytes` have been read; files that look binary (a NUL in the first
 * 8 KiB) are skipped. Paths gitleaks allows globally (vendored dependencies, fonts, images) too.
 */

/** From gitleaks' global path allowlist: third-party trees whose test fixtures are not secrets. */
const ALLOWED_PATHS: readonly RegExp[] = [
  /(?:^|\/)node_modules(?:\/.*)?$/,
  /(?:^|\/)[a-z0-9_.]+-[0-9.]+\.dist-info(?:\/.+)?$/i,
  /\.(?:bmp|gif|jpe?g|png|svg|tiff?|eot|[ot]tf|woff2?|pdf|gz|xz|zst|zip|jar|so(?:\.\d+)*)$/i,
];
const BINARY_SNIFF_BYTES = 8 * 1024;

const secretInEnv: LintCheck = {
  id: 'secret-in-env',
  group: 'secrets',
  severity: 'error',
  title: 'A secret is in the image environment',
  fix: 'Pass secrets at run time (a mounted file, the orchestrator’s secret store), never in the image config; rotate this one.',
  requires: [],
  run(context) {
    const env = envMap(context.image.config.config?.Env);
    return Object.entries(env).flatMap(([name, value]) =>
      findSecrets(`${name}=${value}`).map((hit) =>
        findingOf(
          this,
          `environment variable ${name} holds a ${hit.description} (${hit.rule}): ${hit.redacted}`,
          {
            kind: 'env',
            name,
          },
        ),
      ),
    );
  },
};

const secretInLabel: LintCheck = {
  id: 'secret-in-label',
  group: 'secrets',
  severity: 'error',
  title: 'A secret is in an image label',
  fix: 'Remove the label (labels are public to anyone who can pull the image); rotate the secret.',
  requires: [],
  run(context) {
    const labels = context.image.config.config?.Labels ?? {};
    return Object.entries(labels).flatMap(([name, value]) =>
      findSecrets(`${name}=${value}`).map((hit) =>
        findingOf(this, `label ${name} holds a ${hit.description} (${hit.rule}): ${hit.redacted}`, {
          kind: 'label',
          name,
        }),
      ),
    );
  },
};

const secretInFile: LintCheck = {
  id: 'secret-in-file',
  group: 'secrets',
  severity: 'error',
  title: 'A file holds a private key or token',
  fix: 'Keep keys and tokens out of the image: mount them at run time; rotate this one, since everyone who pulled the image has it.',
  requires: [],
  async run(context) {
    return scanFiles(context, this);
  },
};

function packageOwnedPaths(context: LintContext): Set<string> {
  const owned = new Set<string>();
  for (const pkg of context.sbom.packages) {
    if (pkg.type !== 'deb') continue;
    for (const file of pkg.files ?? []) owned.add(file.path.startsWith('/') ? file.path : `/${file.path}`);
  }
  return owned;
}

async function scanFiles(context: LintContext, check: LintCheck): Promise<LintFinding[]> {
  const owned = packageOwnedPaths(context);
  const candidates = context.tree
    .entries()
    .filter(
      (node) =>
        (node.kind === 'file' || node.kind === 'hardlink') &&
        node.size > 0 &&
        !owned.has(node.path) &&
        !ALLOWED_PATHS.some((allowed) => allowed.test(node.path)),
    )
    .map((node) => node.path);
  const { limits, stats } = context;
  const findings: LintFinding[] = [];
  // Budget first: which files fit is decided before reading (path order), so results are stable.
  const budget = new Map<string, number>();
  let left = limits.totalBytes;
  for (const path of candidates) {
    if (left <= 0) {
      stats.budgetExhausted = true;
      break;
    }
    const take = Math.min(context.tree.get(path)?.size ?? 0, limits.fileBytes, left);
    budget.set(path, take);
    left -= take;
  }
  await visitFinalFiles(
    context.image,
    context.tree,
    budget.keys(),
    async (paths, body) => {
      const want = Math.max(...paths.map((path) => budget.get(path) ?? 0));
      const chunks: Buffer[] = [];
      let have = 0;
      // Read on past the budget without keeping it: breaking out would destroy the tar entry
      // stream under the layer reader, which drains it for the next entry anyway.
      for await (const chunk of body) {
        if (have >= want) continue;
        chunks.push(chunk);
        have += chunk.length;
      }
      const bytes = Buffer.concat(chunks).subarray(0, want);
      const size = context.tree.get(paths[0] as string)?.size ?? 0;
      stats.filesScanned += paths.length;
      stats.bytesScanned += bytes.length;
      if (bytes.length < size) stats.filesTruncated += paths.length;
      if (bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return;
      for (const hit of findSecrets(bytes.toString('latin1'))) {
        for (const path of paths)
          findings.push(
            findingOf(
              check,
              `${path} line ${hit.line} holds a ${hit.description} (${hit.rule}): ${hit.redacted}`,
              {
                kind: 'file',
                path,
              },
            ),
          );
      }
    },
    context.signal,
  );
  return findings;
}

export const SECRET_CHECKS: readonly LintCheck[] = [secretInEnv, secretInLabel, secretInFile];
