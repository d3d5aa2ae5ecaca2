#!/bin/sh
# `npm run demo`: builds the Node.js image of the catalog for amd64 from the real Debian archive
# (the mirror comes from /etc/apt/sources.list.d/debian.sources) into ./out, prints what it
# built, and inspects the result. A second run reuses the download cache and is much faster.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-system-deps.sh
sh scripts/install-npm-deps.sh
npx tsc -p tsconfig.build.json
echo "==> rampart build images/nodejs.yaml --arch amd64 --output oci:./out/nodejs:latest"
node bin/rampart.js build images/nodejs.yaml --arch amd64 --output oci:./out/nodejs:latest
echo
echo "==> rampart inspect oci:./out/nodejs:latest"
node bin/rampart.js inspect oci:./out/nodejs:latest
