/**
 * Secret patterns, taken from gitleaks' default rules (github.com/gitleaks/gitleaks,
 * `config/gitleaks.toml`, MIT licence; rule ids kept): private keys, AWS, GCP, GitHub, GitLab,
 * Slack, and the generic "key/secret/token = high-entropy value" assignment with its entropy
 * threshold and part of its global allowlist. JavaScript regexes (Node 24 supports the `(?-i:)`
 * modifier groups gitleaks uses).
 */

export interface SecretRule {
  id: string;
  description: string;
  regex: RegExp;
  /** Minimum Shannon entropy (bits per character) of the secret (capture group 1, else the match). */
  entropy?: number;
  /** Cheap lowercase pre-filter: the text must contain one of these. */
  keywords: string[];
  /** Matches of the secret that are known placeholders. */
  allow?: RegExp[];
  /** The pattern spans lines (a PEM block); others are tried only on lines holding a keyword. */
  multiLine?: boolean;
}

const END = String.raw`(?:[\x60'"\s;]|\\[nr]|$)`;

export const SECRET_RULES: readonly SecretRule[] = [
  {
    id: 'private-key',
    description: 'Private key (PEM, OpenSSH, PGP)',
    // gitleaks has {64,}?; bounded here (a 16384-bit RSA key is ~12 KiB of PEM) so a hostile file
    // of unterminated BEGIN lines cannot make the lazy scan quadratic.
    regex: /-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,16384}?KEY(?: BLOCK)?-----/i,
    keywords: ['-----begin'],
    multiLine: true,
  },
  {
    id: 'aws-access-token',
    description: 'AWS access key id',
    regex: /\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b/,
    entropy: 3,
    keywords: ['a3t', 'akia', 'asia', 'abia', 'acca'],
    allow: [/.+EXAMPLE$/],
  },
  {
    id: 'gcp-api-key',
    description: 'Google Cloud API key',
    regex: new RegExp(String.raw`\b(AIza[\w-]{35})${END}`),
    entropy: 4,
    keywords: ['aiza'],
  },
  {
    id: 'gcp-service-account',
    description: 'Google Cloud service account key file',
    regex: /"type"\s*:\s*"service_account"[\s\S]{0,2000}?"private_key"\s*:\s*"-----BEGIN/,
    keywords: ['service_account'],
    multiLine: true,
  },
  {
    id: 'github-pat',
    description: 'GitHub personal access token',
    regex: /ghp_[0-9a-zA-Z]{36}/,
    entropy: 3,
    keywords: ['ghp_'],
  },
  {
    id: 'github-fine-grained-pat',
    description: 'GitHub fine-grained personal access token',
    regex: /github_pat_\w{82}/,
    entropy: 3,
    keywords: ['github_pat_'],
  },
  {
    id: 'github-oauth',
    description: 'GitHub OAuth access token',
    regex: /gho_[0-9a-zA-Z]{36}/,
    entropy: 3,
    keywords: ['gho_'],
  },
  {
    id: 'github-app-token',
    description: 'GitHub app token',
    regex: /(?:ghu|ghs)_[0-9a-zA-Z]{36}/,
    entropy: 3,
    keywords: ['ghu_', 'ghs_'],
  },
  {
    id: 'github-refresh-token',
    description: 'GitHub refresh token',
    regex: /ghr_[0-9a-zA-Z]{36}/,
    entropy: 3,
    keywords: ['ghr_'],
  },
  {
    id: 'gitlab-pat',
    description: 'GitLab personal access token',
    regex: /glpat-[\w-]{20}/,
    entropy: 3,
    keywords: ['glpat-'],
  },
  {
    id: 'slack-bot-token',
    description: 'Slack bot token',
    regex: /xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*/,
    keywords: ['xoxb'],
  },
  {
    id: 'slack-user-token',
    description: 'Slack user token',
    regex: /xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}/,
    keywords: ['xoxp-', 'xoxe-'],
  },
  {
    id: 'slack-app-token',
    description: 'Slack app-level token',
    regex: /xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+/i,
    keywords: ['xapp'],
  },
  {
    id: 'slack-webhook-url',
    description: 'Slack webhook URL',
    regex: /(?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9+/]{43,56}/,
    keywords: ['hooks.slack.com'],
  },
  {
    id: 'generic-api-key',
    description: 'Generic API key, secret, token or password assignment',
    regex: new RegExp(
      String.raw`[\w.-]{0,50}?(?:access|auth|(?-i:[Aa]pi|API)|credential|creds|key|passw(?:or)?d|secret|token)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([\w.=-]{10,150}|[a-z0-9][a-z0-9+/]{11,}={0,3})${END}`,
      'i',
    ),
    entropy: 3.5,
    keywords: [
      'access',
      'api',
      'auth',
      'key',
      'credential',
      'creds',
      'passwd',
      'password',
      'secret',
      'token',
    ],
    // gitleaks' global allowlist: booleans, variables and template placeholders, plain paths.
    allow: [
      /^(?:true|false|null)$/i,
      /^\$(?:\d+|\{\d+\})$/,
      /^\$(?:[A-Z_]+|[a-z_]+)$/,
      /^\$\{(?:[A-Z_]+|[a-z_]+)\}$/,
      /^\{\{[ \t]*[\w ().|]+[ \t]*\}\}$/,
      /^%(?:[A-Z_]+|[a-z_]+)%$/,
      /^\/(?:bin|etc|home|opt|tmp|usr|var)\/[\w ./-]+$/,
    ],
  },
];

/** Shannon entropy in bits per character, as gitleaks computes it. */
export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

export interface SecretHit {
  rule: string;
  description: string;
  /** The secret, redacted: its first 4 characters and its length. */
  redacted: string;
  /** 1-based line of the match in a file. */
  line?: number;
}

/** Never print a secret: enough of it to find it, not to use it. */
export function redact(secret: string): string {
  return `${secret.slice(0, 4)}…(${secret.length} chars)`;
}

function firstHit(
  rule: SecretRule,
  candidates: Array<{ text: string; first: number }>,
): SecretHit | undefined {
  const global = new RegExp(rule.regex.source, `${rule.regex.flags.replace('g', '')}g`);
  for (const candidate of candidates) {
    for (const match of candidate.text.matchAll(global)) {
      const secret = match[1] ?? match[0];
      if (rule.entropy !== undefined && shannonEntropy(secret) < rule.entropy) continue;
      if (rule.allow?.some((allowed) => allowed.test(secret))) continue;
      const line = candidate.first + candidate.text.slice(0, match.index).split('\n').length - 1;
      return { rule: rule.id, description: rule.description, redacted: redact(secret), line };
    }
  }
  return undefined;
}

/** Every rule's first match in `text` (one hit per rule), after keywords, entropy and allowlist. */
export function findSecrets(text: string): SecretHit[] {
  const lower = text.toLowerCase();
  const hits: SecretHit[] = [];
  let lines: string[] | undefined;
  for (const rule of SECRET_RULES) {
    if (!rule.keywords.some((keyword) => lower.includes(keyword))) continue;
    // Single-line rules run on the lines that hold a keyword only: the generic rule's bounded
    // but backtracking prefix stays cheap on a large file.
    lines ??= text.split('\n');
    const candidates = rule.multiLine
      ? [{ text, first: 1 }]
      : lines.flatMap((line, i) =>
          rule.keywords.some((keyword) => line.toLowerCase().includes(keyword))
            ? [{ text: line, first: i + 1 }]
            : [],
        );
    const hit = firstHit(rule, candidates);
    if (hit) hits.push(hit);
  }
  // One secret, one hit: a named rule wins over the generic assignment that matches the same line
  // (`GITHUB_TOKEN=ghp_…`), and a service-account file over the private key inside it.
  const namedOn = (line: number | undefined) =>
    hits.some((other) => other.rule !== 'generic-api-key' && other.line === line);
  return hits.filter(
    (hit) =>
      !(hit.rule === 'generic-api-key' && namedOn(hit.line)) &&
      !(hit.rule === 'private-key' && hits.some((other) => other.rule === 'gcp-service-account')),
  );
}
