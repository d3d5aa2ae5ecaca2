#!/bin/sh
# Runs vitest (arguments as for `npx vitest run`, e.g. `--project unit --project integration`) with
# HOME and XDG_CACHE_HOME pointed at empty temp dirs, then fails if anything of rampart's appeared
# there: the suites keep their caches in the repository's .cache/<suite>/ (vitest.config.ts), never
# in the user's ~/.cache/rampart. `npm test` runs its suites through this script.
set -eu
cd "$(dirname "$0")/.."
. scripts/ensure-node.sh
empty_home=$(mktemp -d "${TMPDIR:-/tmp}/test-home-XXXXXX")
empty_cache=$(mktemp -d "${TMPDIR:-/tmp}/test-xdg-XXXXXX")
trap 'rm -rf "$empty_home" "$empty_cache"' EXIT
trap 'exit 130' INT TERM
# npm's own package cache is not rampart's: keep it, so installs stay offline-first.
npm_config_cache="${npm_config_cache:-$(npm config get cache)}"
export npm_config_cache
npm_config_update_notifier=false
export npm_config_update_notifier
status=0
HOME="$empty_home" XDG_CACHE_HOME="$empty_cache" npx vitest run "$@" || status=$?
leaked=$(find "$empty_home" "$empty_cache" -mindepth 1 -name '*rampart*' -print | head -n 20)
if [ -n "$leaked" ]; then
  echo "error: tests wrote into the user's cache instead of .cache/ (see vitest.config.ts):" >&2
  echo "$leaked" >&2
  exit 1
fi
exit "$status"
