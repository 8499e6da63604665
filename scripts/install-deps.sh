#!/usr/bin/env bash
# Installs zdag's build and test dependencies from Debian when any is missing.
# Called by the Makefile; safe to run again (does nothing when all are present).
set -euo pipefail

pkgs=(build-essential cmake pkg-config libzmq3-dev libmsgpack-dev libcmocka-dev libyaml-dev
      libjansson-dev libsodium-dev zlib1g-dev ninja-build make procps python3 clang
      libclang-rt-14-dev iproute2 parallel libmicrohttpd-dev chromium fonts-dejavu-core
      python3-dev python3-setuptools python3-matplotlib python3-pip python3-yaml)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "zdag: installing missing packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
