import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A real docker-credential-helpers program for tests: `docker-credential-NAME` as a POSIX shell
 * script in `dir/bin`, keeping one file per server URL in `$TEST_HELPER_STORE` (the environment
 * it is started with, so a test also proves the helper gets the env it was given). It speaks the
 * protocol: `store` reads `{ServerURL, Username, Secret}`, `get` prints it back or "credentials
 * not found in native keychain" with exit 1, `erase` removes it. Every call is appended to
 * `$TEST_HELPER_STORE/calls` as `ACTION SERVERURL`.
 */
export function writeCredentialHelper(dir: string, name = 'test'): { bin: string; store: string } {
  const bin = join(dir, 'bin');
  const store = join(dir, 'helper-store');
  mkdirSync(bin, { recursive: true });
  mkdirSync(store, { recursive: true });
  const script = `#!/bin/sh
set -eu
key() { printf '%s' "$1" | od -An -tx1 | tr -d ' \\n'; }
input=$(cat)
case "$1" in
  store)
    url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
    printf 'store %s\\n' "$url" >> "$TEST_HELPER_STORE/calls"
    printf '%s' "$input" > "$TEST_HELPER_STORE/$(key "$url")" ;;
  get)
    printf 'get %s\\n' "$input" >> "$TEST_HELPER_STORE/calls"
    f="$TEST_HELPER_STORE/$(key "$input")"
    if [ -f "$f" ]; then cat "$f"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  erase)
    printf 'erase %s\\n' "$input" >> "$TEST_HELPER_STORE/calls"
    f="$TEST_HELPER_STORE/$(key "$input")"
    if [ -f "$f" ]; then rm "$f"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  *) echo "unknown action $1"; exit 1 ;;
esac
`;
  const path = join(bin, `docker-credential-${name}`);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return { bin, store };
}

/** A helper program with any body, for hostile behaviour (hangs, floods, leaks its secret on failure). */
export function writeHostileHelper(bin: string, name: string, body: string): void {
  const path = join(bin, `docker-credential-${name}`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}
