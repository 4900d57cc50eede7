#!/usr/bin/env bash
# Build the Rust test programs (std only, rustc directly: no crate registry).
# Usage: tests/build-fixtures.sh OUTDIR
set -euo pipefail
out=${1:?usage: build-fixtures.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
rustc=${RUSTC:-$(command -v rustc || echo "$HOME/.cargo/bin/rustc")}
[ -x "$rustc" ] || { echo "build-fixtures: rustc not found (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$out"

# Rebuild only what changed: fixtures are inputs of many tests.
build() {
	local dst=$1 src=$2
	shift 2
	if [ ! -e "$dst" ] || [ "$src" -nt "$dst" ] || [ "$here/fixtures/counting.rs" -nt "$dst" ]; then
		"$rustc" --edition 2021 "$@" -o "$dst.tmp" "$src"
		mv "$dst.tmp" "$dst"
	fi
}

build "$out/librsprobe_counting.rlib" "$here/fixtures/counting.rs" \
	-O --crate-type=rlib --crate-name rsprobe_counting
ext=(--extern "rsprobe_counting=$out/librsprobe_counting.rlib")
for f in ownership workers exitcode; do
	# -fp: frame pointers, so the kernel's stack walk reaches main.
	build "$out/$f-fp" "$here/fixtures/$f.rs" -O -C force-frame-pointers=yes "${ext[@]}"
done
# As users build: rustc -O / cargo --release (no frame pointers, no debug info),
# the same with full debug info (inline frames), and a stripped copy.
build "$out/ownership" "$here/fixtures/ownership.rs" -O "${ext[@]}"
build "$out/ownership-dbg" "$here/fixtures/ownership.rs" -O -C debuginfo=2 "${ext[@]}"
build "$out/workers" "$here/fixtures/workers.rs" -O
# dlopen: a Rust host that loads a Rust cdylib once told to.
build "$out/libcdy.so" "$here/fixtures/cdy.rs" -O --crate-type cdylib --crate-name cdy
build "$out/dlhost" "$here/fixtures/dlhost.rs" -O
if [ ! -e "$out/ownership-stripped" ] || [ "$out/ownership" -nt "$out/ownership-stripped" ]; then
	strip --strip-all -o "$out/ownership-stripped" "$out/ownership"
fi
# DWARF-CFI unwinding (test_cfi): deep has no frame pointers, as cargo --release.
build "$out/deep" "$here/fixtures/deep.rs" -O
build "$out/deep-fp" "$here/fixtures/deep.rs" -O -C force-frame-pointers=yes
# DWARF symbolization (test_dwarfsym): full debug info, inlining as in release builds.
build "$out/inline" "$here/fixtures/inline.rs" -O -C debuginfo=2
