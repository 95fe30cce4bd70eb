#!/usr/bin/env bash
# Installs a Debian package when its command is missing; idempotent and quick when it is already there.
# Usage: ensure_debian_package.sh COMMAND PACKAGE "what it is for" "what happens without it"
# Without root it only explains and exits 0. Exits 1 when apt-get fails.
set -uo pipefail
command_name=$1 package=$2 purpose=$3 without=$4
tag="ensure_${command_name}"

if command -v "$command_name" >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$tag: $package is not installed and this is not root, so $without." >&2
    echo "$tag: install it with: sudo apt-get install -y --no-install-recommends $package" >&2
    exit 0
fi
echo "$tag: installing Debian's $package for $purpose..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "$package" >/dev/null || {
    echo "$tag: apt-get could not install $package, so $without." >&2
    exit 1
}
command -v "$command_name"
