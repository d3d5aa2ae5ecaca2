#!/bin/sh
# Installs the Debian packages rampart's test suites and demo need, when they are missing.
# Needs root (CI runs as root); otherwise it says what to install and carries on.
set -eu
packages="skopeo umoci runc docker-registry mmdebstrap podman dpkg-dev gpg gpgv xz-utils zstd lz4 binutils zip gcc libc6-dev ca-certificates openssl qemu-user-static util-linux chromium"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "rampart: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
  exit 0
fi
echo "rampart: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
