/**
 * The pure parts of `rampart lint`: gitleaks-derived secret rules (hits, misses, redaction, a
 * hostile input that must stay fast enough to finish), the `.rampart-lint.yaml` parser (every
 * error is POLICY_INVALID naming its field) and the end-of-life table against a given clock.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isRampartError } from '../../../src/errors.js';
import { catalogFileSource } from '../../../src/sbom/catalog.js';
import { memoryFileSource } from '../../../src/sbom/source/file-source.js';
import { parseLintConfig } from '../../../src/surface/lint/config.js';
import { PACKAGE_CHECKS } from '../../../src/surface/lint/packages.js';
import { LINT_CHECKS, listLintChecks } from '../../../src/surface/lint/registry.js';
import { findSecrets } from '../../../src/surface/lint/secret-rules.js';
import type { LintContext } from '../../../src/surface/lint/types.js';

const TOKEN = 'ghp_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4';
const rules = (text: string) => findSecrets(text).map((hit) => hit.rule);

describe('secret rules', () => {
  it('finds private keys of every PEM and OpenSSH kind', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(rules(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toEqual(['private-key']);
    const openssh = `-----BEGIN OPENSSH PRIVATE KEY-----\n${'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW'}\n-----END OPENSSH PRIVATE KEY-----\n`;
    expect(rules(openssh)).toEqual(['private-key']);
    // A certificate and a public key are not secrets.
    expect(rules('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')).toEqual([]);
    expect(rules('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n')).toEqual([]);
  });

  it('finds cloud and API tokens by their shapes', () => {
    expect(rules('aws_key = AKIAZ7Q3VN2LXJ4PW5KD')).toEqual(['aws-access-token']);
    expect(rules('AKIAIOSFODNN7EXAMPLE')).toEqual([]);
    expect(rules('key: AIzaSyD4x9Q2mVb7Kp3LwZ8nT1rJ6hF0cE5gU2s ')).toEqual(['gcp-api-key']);
    expect(rules(`GH=${TOKEN}`)).toEqual(['github-pat']);
    // gitleaks' entropy floor: a repetitive value is not a token.
    expect(rules(`GH=ghp_${'Zx8'.repeat(12)}`)).toEqual([]);
    expect(rules(`xoxb-1234567890-1234567890123-${'aBcD'.repeat(6)}`)).toEqual(['slack-bot-token']);
    expect(
      rules('https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXXX1234567890ab'),
    ).toEqual(['slack-webhook-url']);
  });

  it('finds generic high-entropy assignments, not low-entropy or placeholder ones', () => {
    expect(rules('DB_PASSWORD=s8Kq2Lw9Zx4Rt7Vb')).toEqual(['generic-api-key']);
    expect(rules('API_KEY=aaaaaaaaaaaaaaaa')).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable reference, on purpose
    expect(rules('SECRET_FILE=${SECRET_PATH}')).toEqual([]);
    expect(rules('KEYRING=/usr/share/keyrings/debian.gpg')).toEqual([]);
    expect(rules('NODE_ENV=production')).toEqual([]);
  });

  it('a named token hides the generic hit on its own line only, not an unrelated secret elsewhere', () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(3)}123456`;
    expect(rules(`GITHUB_TOKEN=${token}`)).toEqual(['github-pat']);
    expect(rules(`DB_PASSWORD=s8Kq2Lw9Zx4Rt7Vb\nGITHUB_TOKEN=${token}`).sort()).toEqual([
      'generic-api-key',
      'github-pat',
    ]);
  });

  it('never returns the secret itself', () => {
    const token = TOKEN;
    const [hit] = findSecrets(`T=${token}`);
    expect(hit?.redacted).toBe('ghp_…(40 chars)');
    expect(JSON.stringify(hit)).not.toContain(token);
  });

  it('stays linear on a hostile file of unterminated key headers and keyword lines', () => {
    const header = '-----BEGIN RSA PRIVATE KEY-----\n';
    const hostile = `${`${header}${'A'.repeat(20_000)}\n`.repeat(10)}${'token token token = '.repeat(5000)}`;
    expect(hostile.length).toBeGreaterThan(200_000);
    // Finishing at all is the assertion (an unbounded lazy scan is quadratic here).
    expect(rules(hostile)).toEqual([]);
  });
});

describe('.rampart-lint.yaml', () => {
  const fieldOf = (text: string) => {
    try {
      parseLintConfig(text, 'lint.yaml');
    } catch (error) {
      if (isRampartError(error, 'POLICY_INVALID')) return error.details?.field ?? '(none)';
      throw error;
    }
    return undefined;
  };

  it('reads disabled checks with their reasons', () => {
    expect(parseLintConfig('disable:\n  - check: root-user\n    reason: runs in a VM\n', 'f')).toEqual({
      disable: [{ check: 'root-user', reason: 'runs in a VM' }],
    });
    expect(parseLintConfig('', 'f')).toEqual({ disable: [] });
  });

  it('names the bad field of every invalid file', () => {
    expect(fieldOf('disable:\n  - check: root-user\n')).toBe('disable[0].reason');
    expect(fieldOf('disable:\n  - check: root-user\n    reason: "  "\n')).toBe('disable[0].reason');
    expect(fieldOf('disable:\n  - check: no-such-check\n    reason: x\n')).toBe('disable[0].check');
    expect(fieldOf('disable:\n  - {check: root-user, reason: a}\n  - {check: root-user, reason: b}\n')).toBe(
      'disable[1].check',
    );
    expect(fieldOf('ignore: [root-user]\n')).toBe('ignore');
    expect(fieldOf('disable: root-user\n')).toBe('disable');
    expect(fieldOf('disable: [\n')).toBe('(none)');
  });
});

describe('check registry', () => {
  it('has unique stable ids, each with a severity and a fix', () => {
    const ids = LINT_CHECKS.map((check) => check.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const info of listLintChecks()) {
      expect(info.fix.length).toBeGreaterThan(10);
      expect(['info', 'warning', 'error']).toContain(info.severity);
    }
  });
});

describe('end of life', () => {
  const run = (id: string, versionId: string, now: string) => {
    const check = PACKAGE_CHECKS.find((c) => c.id === id);
    const context = {
      sbom: { distro: { id: 'debian', versionId } },
      now: new Date(now),
    } as unknown as LintContext;
    return check?.run(context) as Array<{ message: string }>;
  };

  it('flags a release past LTS as an error and one in LTS as a warning, by the given clock', () => {
    expect(run('eol-distro', '10', '2026-12-06')).toHaveLength(1);
    expect(run('eol-distro', '12', '2026-12-06')).toEqual([]);
    expect(run('lts-only-distro', '12', '2026-12-06')).toHaveLength(1);
    expect(run('lts-only-distro', '12', '2026-01-01')).toEqual([]);
    expect(run('lts-only-distro', '13', '2026-12-06')).toEqual([]);
    expect(run('eol-distro', '11', '2026-09-01')).toHaveLength(1);
  });
});

describe('outdated-package', () => {
  it('asks the archive about installed packages only, never a Built-Using source (arch=source)', async () => {
    const cataloged = await catalogFileSource(
      memoryFileSource({
        '/usr/lib/os-release': 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n',
        '/var/lib/dpkg/status':
          'Package: ripgrep\nStatus: install ok installed\nArchitecture: amd64\nVersion: 14.1.1-1+b4\nBuilt-Using: rustc (= 1.85.0+dfsg3-1)\nDescription: search\n',
      }),
    );
    expect(cataloged.packages.map((p) => `${p.name}:${p.architecture}`).sort()).toEqual([
      'ripgrep:amd64',
      'rustc:source',
    ]);
    const asked: string[] = [];
    const context = {
      sbom: { distro: cataloged.distro, packages: cataloged.packages, warnings: [] },
      now: new Date('2026-12-06'),
      // An archive where every name has a newer version: what the check asks about is what it flags.
      newerVersion: (pkg: { name: string; architecture?: string }) => {
        asked.push(`${pkg.name}:${pkg.architecture}`);
        return '99.0-1';
      },
    } as unknown as LintContext;
    const check = PACKAGE_CHECKS.find((c) => c.id === 'outdated-package')!;
    const findings = check.run(context) as Array<{ location: { name: string } }>;
    expect(findings.map((f) => f.location.name)).toEqual(['ripgrep']);
    expect(asked).toEqual(['ripgrep:amd64']);
  });
});
