#!/bin/sh
# `npm run demo`: builds the Node.js image of the catalog for amd64 from the real Debian archive
# (the mirror comes from /etc/apt/sources.list.d/debian.sources) into ./out, prints what it
# built, and inspects the result. A second run reuses the download cache and is much faster.
set -eu
cd "$(dirname "$0")/.."
. scripts/ensure-node.sh
sh scripts/install-system-deps.sh
sh scripts/install-npm-deps.sh
npx tsc -p tsconfig.build.json
echo "==> rampart build images/nodejs.yaml oci:./out/nodejs:latest --arch amd64"
node bin/rampart.js build images/nodejs.yaml oci:./out/nodejs:latest --arch amd64
echo
echo "==> rampart inspect oci:./out/nodejs:latest"
node bin/rampart.js inspect oci:./out/nodejs:latest
echo
echo "==> rampart sbom oci:./out/nodejs:latest -o spdx-json=... -o cyclonedx-json=... -o table"
node bin/rampart.js sbom oci:./out/nodejs:latest \
  -o spdx-json=./out/nodejs.spdx.json -o cyclonedx-json=./out/nodejs.cdx.json -o table
echo
echo "Wrote ./out/nodejs (OCI layout), ./out/nodejs.build.json (build record), images/nodejs.lock.json (lock),"
echo "./out/nodejs.spdx.json and ./out/nodejs.cdx.json (SBOMs). Run it with umoci + runc, or:"
echo "  npx rampart copy oci:./out/nodejs:latest docker-archive:nodejs.tar:nodejs:latest && podman load -i nodejs.tar"
echo "Coming next: pushing to registries, cosign-compatible signing and attestations, the CVE scanner."
echo
echo "==> rampart compare oci:./out/nodejs:latest --against debian:trixie -o html=./out/nodejs-surface.html"
echo "    (the attack surface against the standard Debian root: trixie minbase + the image's main packages;"
echo "    built from the verified archive on the first run and cached)"
node bin/rampart.js compare oci:./out/nodejs:latest --against debian:trixie -o html=./out/nodejs-surface.html
