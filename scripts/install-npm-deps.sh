#!/bin/sh
# Installs npm dependencies (and builds dist/ through the prepare script) when node_modules is stale.
set -eu
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
