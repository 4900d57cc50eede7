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
	if [ ! -e "$dst" ] || [ "$src" -nt "$dst" ] || [ "$here/fixtures/counting.rs" -nt "$dst" ] ||
	   [ "$here/fixtures/counts_at_exit.rs" -nt "$dst" ] || [ "$here/fixtures/rawio.rs" -nt "$dst" ]; then
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
# Sampling: sites in known proportions, and a program that allocates slowly.
build "$out/sites" "$here/fixtures/sites.rs" -O "${ext[@]}"
build "$out/slow" "$here/fixtures/slow.rs" -O "${ext[@]}"
# The daemon (tests/daemon.py): known lifetimes and counts, released on stdin.
build "$out/lifetimes" "$here/fixtures/lifetimes.rs" -O "${ext[@]}"
# The bundled example, as make demo builds it.
build "$out/move_borrow" "$here/../examples/move_borrow.rs" -O
build "$out/ownership-dbg" "$here/fixtures/ownership.rs" -O -C debuginfo=2 "${ext[@]}"
build "$out/workers" "$here/fixtures/workers.rs" -O
build "$out/threads" "$here/fixtures/threads.rs" -O "${ext[@]}"
build "$out/deepalloc" "$here/fixtures/deepalloc.rs" -O "${ext[@]}"
# The live heap's peak, the timeline, and two runs to compare (rsprobe diff).
build "$out/peak" "$here/fixtures/peak.rs" -O "${ext[@]}"
# Overload (tests/robustness.py, scripts/soak.sh): many threads allocating flat out.
build "$out/churn" "$here/fixtures/churn.rs" -O
# dlopen: a Rust host that loads a Rust cdylib once told to.
build "$out/libcdy.so" "$here/fixtures/cdy.rs" -O --crate-type cdylib --crate-name cdy
build "$out/dlhost" "$here/fixtures/dlhost.rs" -O
# Attach mode: a program that execs another while rsprobe is attached.
build "$out/execs" "$here/fixtures/execs.rs" -O
# Several processes in one capture (-p A -p B): replicas of a counting program.
build "$out/replica" "$here/fixtures/replica.rs" -O "${ext[@]}"
if [ ! -e "$out/ownership-stripped" ] || [ "$out/ownership" -nt "$out/ownership-stripped" ]; then
	strip --strip-all -o "$out/ownership-stripped" "$out/ownership"
fi
# DWARF-CFI unwinding (test_cfi): deep has no frame pointers, as cargo --release.
build "$out/deep" "$here/fixtures/deep.rs" -O
build "$out/deep-fp" "$here/fixtures/deep.rs" -O -C force-frame-pointers=yes
# DWARF symbolization (test_dwarfsym): full debug info, inlining as in release builds.
build "$out/inline" "$here/fixtures/inline.rs" -O -C debuginfo=2

# Allocation layers (tests/layers.py): layers.rs over three global allocators
# (System, jemalloc, mimalloc, each with a counting wrapper), with and without
# LTO, and stripped. LTO inlines the __rust_alloc shims away, so user code
# calls the C allocator directly. jemalloc and mimalloc come from Debian's
# libjemalloc-dev and libmimalloc-dev (scripts/setup.sh); without them those
# builds are skipped here and their tests say why.
have_clib() { [ "$(${CC:-cc} -print-file-name="$1")" != "$1" ]; }
# build_layers DST RLIB FLAGS...: layers.rs linked with RLIB as `counting`;
# rebuilt when RLIB changed too.
build_layers() {
	local dst=$1 rlib=$2
	shift 2
	if [ -e "$dst" ] && [ "$rlib" -nt "$dst" ]; then
		rm -f "$dst"
	fi
	build "$dst" "$here/fixtures/layers.rs" --extern "counting=$rlib" "$@"
}
strip_copy() {
	if [ ! -e "$2" ] || [ "$1" -nt "$2" ]; then
		strip --strip-all -o "$2" "$1"
	fi
}
cnt_sys=$out/librsprobe_counting.rlib
build_layers "$out/layers-sys" "$cnt_sys" -O
build_layers "$out/layers-sys-cgu1" "$cnt_sys" -O -C codegen-units=1
build_layers "$out/layers-sys-lto-thin" "$cnt_sys" -O -C lto=thin
build_layers "$out/layers-sys-lto-fat" "$cnt_sys" -O -C lto=fat
strip_copy "$out/layers-sys" "$out/layers-sys-stripped"
# The counting allocator in the program's own crate (layers_samecrate.rs).
if [ -e "$out/layers-samecrate" ] && [ "$here/fixtures/layers.rs" -nt "$out/layers-samecrate" ]; then
	rm -f "$out/layers-samecrate"
fi
build "$out/layers-samecrate" "$here/fixtures/layers_samecrate.rs" -O --crate-name layers
# A counting allocator inlined into the shims, which then start with `lock`
# (counting_lock.rs); non-PIE, so the counters are addressed rip-relative.
cnt_lock=$out/librsprobe_counting_lock.rlib
build "$cnt_lock" "$here/fixtures/counting_lock.rs" -O -C relocation-model=static \
	--crate-type=rlib --crate-name rsprobe_counting_lock
build_layers "$out/layers-lock" "$cnt_lock" -O -C relocation-model=static
objdump -d --no-show-raw-insn "$out/layers-lock" >"$out/layers-lock.dis"
for shim in __rust_alloc __rust_dealloc; do
	first=$(awk -v s="$shim>:" '$2 ~ s"$" { getline; sub(/^[ \t]*[0-9a-f]+:[ \t]*/, "")
		print; exit }' "$out/layers-lock.dis")
	case $first in
	lock\ *) ;;
	*)
		echo "build-fixtures: layers-lock: $shim starts with '$first', not a lock prefix" \
			"(the compiler no longer inlines the allocator into the shim)" >&2
		rm -f "$out/layers-lock"
		exit 1
		;;
	esac
done
# Rust's default allocator (no #[global_allocator], no counts), fat LTO.
build "$out/libno_counting.rlib" "$here/fixtures/no_counting.rs" \
	-O --crate-type=rlib --crate-name no_counting
build_layers "$out/layers-default-lto" "$out/libno_counting.rlib" -O -C lto=fat
if have_clib libjemalloc.so; then
	cnt_je=$out/librsprobe_counting_jemalloc.rlib
	build "$cnt_je" "$here/fixtures/counting_backends.rs" -O --crate-type=rlib \
		--crate-name rsprobe_counting_jemalloc --cfg 'backend="jemalloc"' -l jemalloc
	build_layers "$out/layers-jemalloc" "$cnt_je" -O
	build_layers "$out/layers-jemalloc-lto" "$cnt_je" -O -C lto=fat
	strip_copy "$out/layers-jemalloc" "$out/layers-jemalloc-stripped"
else
	echo "build-fixtures: libjemalloc-dev not installed: jemalloc fixtures skipped (scripts/setup.sh installs it)" >&2
fi
# jemalloc inside the executable with its symbols renamed _rjem_*, as
# tikv-jemallocator builds it: Debian's static library, renamed with objcopy.
pic=$(${CC:-cc} -print-file-name=libjemalloc_pic.a)
if [ "$pic" != libjemalloc_pic.a ]; then
	if [ ! -e "$out/libjemalloc_rjem.a" ] || [ "$pic" -nt "$out/libjemalloc_rjem.a" ]; then
		for f in aligned_alloc calloc dallocx free mallctl mallctlbymib mallctlnametomib \
			malloc malloc_message malloc_stats_print malloc_usable_size mallocx memalign \
			nallocx posix_memalign rallocx realloc sallocx sdallocx valloc xallocx; do
			echo "$f _rjem_$f"
		done >"$out/rjem.syms"
		objcopy --redefine-syms="$out/rjem.syms" "$pic" "$out/libjemalloc_rjem.a.tmp"
		mv "$out/libjemalloc_rjem.a.tmp" "$out/libjemalloc_rjem.a"
	fi
	cnt_rjem=$out/librsprobe_counting_rjem.rlib
	if [ -e "$cnt_rjem" ] && [ "$out/libjemalloc_rjem.a" -nt "$cnt_rjem" ]; then
		rm -f "$cnt_rjem"
	fi
	build "$cnt_rjem" "$here/fixtures/counting_backends.rs" -O --crate-type=rlib \
		--crate-name rsprobe_counting_rjem --cfg 'backend="jemalloc"' --cfg jemalloc_prefixed \
		-L "native=$out" -l static=jemalloc_rjem
	build_layers "$out/layers-rjem-lto" "$cnt_rjem" -O -C lto=fat
else
	echo "build-fixtures: libjemalloc-dev not installed: static jemalloc fixture skipped (scripts/setup.sh installs it)" >&2
fi
if have_clib libmimalloc.so; then
	cnt_mi=$out/librsprobe_counting_mimalloc.rlib
	build "$cnt_mi" "$here/fixtures/counting_backends.rs" -O --crate-type=rlib \
		--crate-name rsprobe_counting_mimalloc --cfg 'backend="mimalloc"' -l mimalloc
	build_layers "$out/layers-mimalloc" "$cnt_mi" -O
	build_layers "$out/layers-mimalloc-lto" "$cnt_mi" -O -C lto=fat
else
	echo "build-fixtures: libmimalloc-dev not installed: mimalloc fixtures skipped (scripts/setup.sh installs it)" >&2
fi
