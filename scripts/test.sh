#!/bin/sh
# `npm test`: installs what the suites need, then typechecks, lints and runs every suite
# (unit, integration, e2e), checking that none writes into the user's cache. Works on a fresh clone
# without a prior `npm install`.
set -eu
cd "$(dirname "$0")/.."
. scripts/ensure-node.sh
sh scripts/install-system-deps.sh
sh scripts/install-npm-deps.sh
npx tsc -p tsconfig.build.json
node scripts/bundle-zod.mjs
npx tsc -p tsconfig.json --noEmit
npx biome check .
sh scripts/check-test-cache.sh "$@"
