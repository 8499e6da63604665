#!/usr/bin/env bash
# Installs zdag's build and test dependencies from Debian when any is missing.
# Called by the Makefile; safe to run again (does nothing when all are present).
# slurm-wlm and munge are for the Slurm tests (scripts/slurm-cluster.sh runs a one-node cluster
# from them): their services are not started by the install (a policy-rc.d that exits 101 is
# in place while apt runs, unless the machine has one already).
set -euo pipefail

pkgs=(build-essential cmake pkg-config libzmq3-dev libmsgpack-dev libcmocka-dev libyaml-dev
      libjansson-dev libsodium-dev zlib1g-dev ninja-build make procps python3 clang
      libclang-rt-14-dev iproute2 parallel libmicrohttpd-dev chromium fonts-dejavu-core
      python3-dev python3-setuptools python3-matplotlib python3-pip python3-yaml slurm-wlm munge)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "zdag: installing missing packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
rc=0
# (another apt may be running: wait for its lock rather than fail)
{ $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
        "${missing[@]}"; } || rc=$?
[ "$made_policy" -eq 1 ] && $sudo rm -f "$policy"
exit "$rc"
