#!/usr/bin/env bash
# Installs the Debian 12 packages retort needs to build (and, with --test, to run its tests).
# Only missing packages are installed; nothing is downloaded when all are present.
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev
            libcpp-httplib-dev libreadline-dev)
test_pkgs=(libgtest-dev libbenchmark-dev bubblewrap python3 chromium)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then pkgs+=("${test_pkgs[@]}"); fi
# The server's client tests (tests/clients) run the official npm SDKs; any node >= 20 will do,
# so Debian's packages are only added when no node is on the PATH at all.
if [[ "${1:-}" == "--test" ]] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
