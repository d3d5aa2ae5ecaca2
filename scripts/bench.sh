#!/bin/sh
# `npm run bench`: installs what the benchmarks need, builds, then runs every bench/*.bench.ts
# (through tsx) and prints their figures. Pass a name fragment to run only matching benches.
set -eu
cd "$(dirname "$0")/.."
. scripts/ensure-node.sh
sh scripts/install-system-deps.sh
sh scripts/install-npm-deps.sh
npx tsc -p tsconfig.build.json
node scripts/bundle-zod.mjs
npx tsx bench/run.ts "$@"
