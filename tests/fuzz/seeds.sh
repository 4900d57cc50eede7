#!/usr/bin/env bash
# Seed corpora for the fuzz targets: small objects built from seed.c in the
# shapes rsprobe meets (DWARF 4 and 5, .eh_frame or only .debug_frame, frame
# pointers or not, stripped), the fixtures' stripped Rust binaries, and real
# /proc maps. Usage: tests/fuzz/seeds.sh OUTDIR FIXDIR
set -euo pipefail
out=${1:?usage: seeds.sh OUTDIR FIXDIR}
fix=${2:?usage: seeds.sh OUTDIR FIXDIR}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-gcc}
mkdir -p "$out/objs" "$out/procmaps"
obj() {
	local name=$1
	shift
	[ "$out/objs/$name" -nt "$here/seed.c" ] && return
	"$cc" -shared -fPIC -nostdlib -Wl,--build-id "$@" -o "$out/objs/$name" "$here/seed.c"
}
obj seed-O2-g5.so -O2 -g -gdwarf-5
obj seed-O2-g4.so -O2 -g -gdwarf-4
obj seed-O0-fp.so -O0 -g -fno-omit-frame-pointer
obj seed-debugframe.so -O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables
obj seed-nodebug.so -O2
if [ ! -e "$out/objs/seed-stripped.so" ] || [ "$out/objs/seed-O2-g5.so" -nt "$out/objs/seed-stripped.so" ]; then
	strip --strip-all -o "$out/objs/seed-stripped.so" "$out/objs/seed-O2-g5.so"
	objcopy --add-gnu-debuglink="$out/objs/seed-O2-g5.so" "$out/objs/seed-stripped.so"
fi
# Stripped Rust binaries from the fixtures: .eh_frame, build ID, Rust's marks.
for f in ownership-stripped layers-sys-stripped; do
	[ -e "$fix/$f" ] && cp -u "$fix/$f" "$out/objs/$f"
done
# /proc/PID/maps as the kernel writes it, and the shapes it can take.
cat /proc/self/maps >"$out/procmaps/self"
cat >"$out/procmaps/crafted" <<'MAPS'
55d0c0a00000-55d0c0a24000 r--p 00000000 fd:01 1234567                    /usr/bin/x (deleted)
55d0c0a24000-55d0c0aff000 r-xp 00024000 fd:01 1234567                    /usr/bin/x
7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [heap]
7f0000001000-7f0000002000 r-xp 00000000 00:00 0
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]
MAPS
