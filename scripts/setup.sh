#!/usr/bin/env bash
# Install what building and testing rsprobe needs, from Debian packages.
# Idempotent: does nothing when everything is already present.
set -euo pipefail

pkgs=(make gcc clang llvm libbpf-dev bpftool libelf-dev libdw-dev libunwind-dev
      libiberty-dev libcapstone-dev libdebuginfod-dev debuginfod zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libjson-c-dev
      pkg-config python3
      libmicrohttpd-dev libcurl4-openssl-dev prometheus
      binutils util-linux iproute2 libjemalloc-dev libmimalloc-dev ripgrep libclang-rt-14-dev clang-format)
# Tests also use chromium, golang-go and valgrind (dh_view.js): heavy, so
# tests/outputs.py installs them itself in CI, and skips without them elsewhere.

# Rust fixtures and the example need rustc; a rustup toolchain counts too.
if ! command -v rustc >/dev/null && [ ! -x "$HOME/.cargo/bin/rustc" ]; then
	pkgs+=(rustc)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
