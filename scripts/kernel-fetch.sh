#!/usr/bin/env bash
# Fetch a Debian kernel for the kernel matrix and build a boot initramfs for it.
#
# Usage: scripts/kernel-fetch.sh ENTRY
#   ENTRY is a Debian kernel image package name, e.g. linux-image-6.1.0-56-amd64.
#   A '*' in it stands for a version number and picks the newest package that
#   apt knows of: linux-image-6.1.0-*-amd64 -> linux-image-6.1.0-56-amd64.
#
# Prints one line on stdout: the cache directory, which holds
#   vmlinuz           the kernel image
#   vmlinux           the same kernel uncompressed, when it can boot that way
#   initramfs.cpio.gz busybox /init that mounts the host's root over 9p (see below)
#   package           the resolved package name and Debian version
#   modules.load      the modules /init loads, in load order
# Progress and errors go to stderr.
#
# The kernel comes only from Debian's archive (apt-get download) and is cached
# under ${RSPROBE_KERNEL_CACHE:-/var/cache/rsprobe/kernels}, so repeat runs do not
# download again. A package the machine's own apt sources do not carry is looked
# for in bookworm-backports (Debian 12's 6.12 kernels are there) through a
# private apt configuration under the cache directory, with its own sources list
# and package lists: /etc/apt and the system's lists are never changed. Installs its own tools (qemu, busybox-static, cpio, kmod, xz,
# zstd) with apt-get when they are missing, since CI starts from a fresh Debian
# 12 machine.
set -euo pipefail

prog=kernel-fetch
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

if [ $# -ne 1 ] || [ -z "$1" ] || [[ $1 == -* ]]; then
	echo "usage: $0 ENTRY   (e.g. linux-image-6.1.0-*-amd64)" >&2
	exit 2
fi
entry=$1
[[ $entry =~ ^linux-image-[A-Za-z0-9.+*-]+$ ]] ||
	die "not a linux-image package name or pattern: $entry"

cache=${RSPROBE_KERNEL_CACHE:-/var/cache/rsprobe/kernels}
export DEBIAN_FRONTEND=noninteractive

# Modules /init needs for the 9p shares. Debian's generic -amd64 kernel builds
# virtio and 9p as modules; the dependencies among them are read from each
# module's own modinfo (the package ships no modules.dep), which gives, for 6.1:
# virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
# netfs fscache 9pnet 9pnet_virtio 9p. 6.12 builds virtio and virtio_pci in and
# has fscache inside netfs: netfs 9pnet 9pnet_virtio 9p.
root_modules=(virtio_pci 9pnet_virtio 9p)

# --- tools -----------------------------------------------------------------
ensure_tools() {
	local -a missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	# The initramfs has no libc, so busybox must be the static build.
	[ -x /bin/busybox ] && ! LC_ALL=C ldd /bin/busybox >/dev/null 2>&1 ||
		missing+=(busybox-static)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v modinfo >/dev/null || missing+=(kmod)
	# To unpack the kernel image and modules (xz for 6.1, zstd for 6.12).
	command -v xz >/dev/null || missing+=(xz-utils)
	command -v zstd >/dev/null || missing+=(zstd)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}: run as root to install them"
	say "installing ${missing[*]}"
	apt-get update -q >&2 || die "apt-get update failed"
	# No recommends: qemu's pull in GUI and firmware packages a serial-console
	# guest does not use.
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}

# --- apt ----------------------------------------------------------------------
# Every apt call goes through apt_run, which uses the machine's own sources
# (source=system) or a private configuration that knows only bookworm-backports
# (source=backports). The private one keeps its sources list, package lists and
# caches in $cache/apt; it still reads /etc/apt/apt.conf.d (proxy and
# verification settings) and verifies against Debian's archive keyring.
source=system
bpo_dir=
bpo_suite=${RSPROBE_BACKPORTS_SUITE:-bookworm-backports}

apt_run() {
	if [ "$source" = backports ]; then
		APT_CONFIG=$bpo_dir/apt.conf "$@"
	else
		"$@"
	fi
}

# The Debian mirror the machine already uses for bookworm, so the private lists
# come from the same place as the system's.
debian_mirror() {
	local site
	# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
	site=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null |
		awk '$2 == "bookworm" { print $1; exit }') || true
	echo "${RSPROBE_DEBIAN_MIRROR:-${site:-http://deb.debian.org/debian}}"
}

setup_backports() {
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg mirror
	bpo_dir=$cache/apt
	[ -r "$keyring" ] || die "no Debian archive keyring ($keyring): install debian-archive-keyring"
	mirror=$(debian_mirror)
	[[ $mirror =~ ^[A-Za-z0-9+.:/_@%~-]+$ ]] || die "unusable Debian mirror address: $mirror"
	[[ $bpo_suite =~ ^[a-z0-9-]+$ ]] || die "unusable suite name: $bpo_suite"
	mkdir -p "$bpo_dir/lists/partial" "$bpo_dir/cache/archives/partial" "$bpo_dir/sources.list.d"
	cat >"$bpo_dir/sources.list.new" <<-EOF_SOURCES
		# Written by scripts/kernel-fetch.sh: kernels for the kernel matrix only.
		deb [signed-by=$keyring] $mirror $bpo_suite main
	EOF_SOURCES
	mv "$bpo_dir/sources.list.new" "$bpo_dir/sources.list"
	# Dir::Cache::pkgcache "" keeps apt from writing a binary cache anywhere;
	# Dir::State::status is the system's, read only (download installs nothing).
	cat >"$bpo_dir/apt.conf.new" <<-EOF_CONF
		Dir::Etc::sourcelist "$bpo_dir/sources.list";
		Dir::Etc::sourceparts "$bpo_dir/sources.list.d";
		Dir::State::Lists "$bpo_dir/lists";
		Dir::Cache "$bpo_dir/cache";
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
		APT::Sandbox::User "root";
	EOF_CONF
	mv "$bpo_dir/apt.conf.new" "$bpo_dir/apt.conf"
}

apt_update() {
	say "refreshing the $source package lists"
	apt_run apt-get update -q >&2
}

# Lists that have never been fetched (a fresh cache) are fetched before use.
backports_lists_present() {
	find "$bpo_dir/lists" -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null | grep -q .
}

# --- package resolution ------------------------------------------------------
# Print the newest package apt knows of that matches the entry ('*' = digits and
# dots only, so linux-image-6.1.0-*-amd64 never matches -cloud-amd64, -rt-amd64,
# -amd64-unsigned or -amd64-dbg).
pattern_regex() {
	local re
	re=$(printf '%s' "$1" | sed -e 's/[.+]/\\&/g' -e 's/\*/[0-9][0-9.]*/g')
	printf '^%s$' "$re"
}

resolve_from_apt() {
	local re
	re=$(pattern_regex "$1")
	apt_run apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$re" | sort -V | tail -n 1 || true
}

resolve_from_cache() {
	local re
	re=$(pattern_regex "$1")
	[ -d "$cache" ] || return 0
	find "$cache" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
		grep -E "$re" | sort -V | tail -n 1 || true
}

have_candidate() {
	local policy
	policy=$(LC_ALL=C apt_run apt-cache policy "$1" 2>/dev/null) || return 1
	[[ $policy == *'Candidate: '[^\(]* ]]
}

# --- cache -------------------------------------------------------------------
cache_complete() {
	local dir=$1 m
	[ -s "$dir/vmlinuz" ] && [ -s "$dir/modules.load" ] && [ -s "$dir/package" ] || return 1
	[ "$(cat "$dir/roots" 2>/dev/null)" = "${root_modules[*]}" ] || return 1
	while read -r m; do [ -s "$dir/modules/$m.ko" ] || return 1; done <"$dir/modules.load"
}

# Append module $1 and, first, its dependencies to the load order (depth-first,
# so every module comes after the ones it needs).
declare -A seen=()
load_order=()
add_module() {
	local name=$1 rel file dep deps
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	# Built into the kernel: nothing to load.
	grep -qE "/${name//_/[_-]}\\.ko$" "$moddir/modules.builtin" && return 0
	rel=$(grep -m 1 -E "/${name//_/[_-]}\\.ko$" "$moddir/modules.order") ||
		die "module $name not in $pkg"
	# 6.1 ships plain .ko files; later kernels (6.12) compress them, while
	# modules.order still names the .ko.
	for file in "$moddir/$rel" "$moddir/$rel".{xz,zst,gz}; do
		[ -e "$file" ] && break
	done
	[ -e "$file" ] || die "module $rel listed but missing in $pkg"
	deps=$(modinfo -F depends "$file") || die "modinfo $rel failed"
	for dep in ${deps//,/ }; do add_module "$dep"; done
	load_order+=("$name")
	modpath[$name]=${file#"$moddir/"}
}

# Copy a module, decompressed: busybox insmod loads only plain .ko files.
copy_module() {
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.xz) xz -dc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*.zst) zstd -q -dc "$1" >"$2" ;;
	esac
}
declare -A modpath=()

download_kernel() {
	local tmp=$1 deb
	# The sandbox user _apt cannot write to a root-owned temp dir; as root we
	# skip the sandbox rather than print a warning.
	(cd "$tmp" && apt_run apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || return 1
	deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	[ -n "$deb" ]
}

fetch_kernel() {
	local dest=$cache/$pkg tmp deb kver m ver
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	say "downloading $pkg"
	if ! download_kernel "$tmp"; then
		# The package lists may be older than the archive (an ABI bump removes
		# the old package): refresh them once and retry.
		say "download failed; refreshing package lists and retrying"
		apt_update || die "apt-get update failed"
		download_kernel "$tmp" || die "apt-get download $pkg failed"
	fi
	deb=$(find "$tmp" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
	ver=$(dpkg-deb -f "$deb" Version)
	dpkg -x "$deb" "$tmp/x" || die "dpkg -x $deb failed"
	kver=$(find "$tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
	[ -n "$kver" ] && [ -s "$tmp/x/boot/vmlinuz-$kver" ] || die "$pkg has no kernel image"
	moddir=$tmp/x/lib/modules/$kver
	for m in "${root_modules[@]}"; do add_module "$m"; done

	# Keep only what a boot needs: the full tree is ~400 MB, this is ~10 MB.
	mkdir -p "$tmp/out/modules"
	cp "$tmp/x/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
	cp "$tmp/x/boot/config-$kver" "$tmp/out/config"
	for m in "${load_order[@]}"; do
		copy_module "$moddir/${modpath[$m]}" "$tmp/out/modules/$m.ko" || die "cannot copy module $m"
	done
	printf '%s\n' "${load_order[@]}" >"$tmp/out/modules.load"
	printf '%s\n' "${root_modules[*]}" >"$tmp/out/roots"
	printf '%s %s %s\n' "$pkg" "$ver" "$kver" >"$tmp/out/package"
	rm -rf "$dest"
	mv "$tmp/out" "$dest"
	rm -rf "$tmp"
	trap - EXIT
	say "cached $pkg $ver in $dest"
}

# Emulated, unpacking the compressed kernel takes the guest ~5 s, as long as
# the rest of the boot. With CONFIG_PVH qemu can start the uncompressed ELF
# kernel directly (-kernel vmlinux), so unpack it once here. On failure the
# driver boots vmlinuz, only slower.
make_vmlinux() {
	local dir=$1 img=$1/vmlinuz setup_sects payload_off payload_len start unpack
	[ -s "$dir/vmlinux" ] && return 0
	grep -qx 'CONFIG_PVH=y' "$dir/config" || return 0
	if grep -qx 'CONFIG_KERNEL_XZ=y' "$dir/config"; then
		unpack=(xz -dc)
	elif grep -qx 'CONFIG_KERNEL_ZSTD=y' "$dir/config"; then
		unpack=(zstd -q -dc)
	elif grep -qx 'CONFIG_KERNEL_GZIP=y' "$dir/config"; then
		unpack=(gzip -dc)
	else
		return 0
	fi
	# Locate the payload from the bzImage header (Documentation/x86/boot.rst):
	# it starts payload_offset bytes into the protected-mode part, which follows
	# the (setup_sects + 1) * 512 bytes of real-mode setup. Its last 4 bytes are
	# the uncompressed size, not compressed data.
	[ "$(od -An -c -j $((0x202)) -N 4 "$img" | tr -d ' ')" = HdrS ] || return 0
	setup_sects=$(od -An -tu1 -j $((0x1f1)) -N 1 "$img" | tr -d ' ')
	payload_off=$(od -An -tu4 -j $((0x248)) -N 4 "$img" | tr -d ' ')
	payload_len=$(od -An -tu4 -j $((0x24c)) -N 4 "$img" | tr -d ' ')
	start=$(((setup_sects + 1) * 512 + payload_off))
	if dd if="$img" iflag=skip_bytes,count_bytes skip="$start" count="$((payload_len - 4))" \
		bs=1M status=none | "${unpack[@]}" >"$dir/vmlinux.new" 2>/dev/null &&
		[ "$(od -An -tx1 -N 4 "$dir/vmlinux.new" | tr -d ' ')" = 7f454c46 ]; then
		mv "$dir/vmlinux.new" "$dir/vmlinux"
	else
		rm -f "$dir/vmlinux.new"
		say "could not unpack the kernel; booting the compressed image (slower)"
	fi
}

# --- initramfs ----------------------------------------------------------------
# PID 1 in the guest. It runs the command that the driver put in the read-write
# share (cmd.sh) inside a chroot of the host's root, and leaves the results in
# that share for the driver to read.
write_init() {
	cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin

# The kernel found no /dev/console in the initramfs, so fds 0-2 are closed
# until devtmpfs is there.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

fail() {
	echo "kernel-matrix guest: $*"
	echo "$*" >/result/error 2>/dev/null
	poweroff -f
}

# Order matters: insmod does not resolve dependencies, and modules.load lists
# each module after the ones it needs.
while read -r m; do
	insmod "/modules/$m.ko" || fail "insmod $m failed"
done </modules.load

# Results share: read-write, uncached, so what is written lands on the host.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 result /result ||
	fail "cannot mount the result share"
# The host's root: read-only; cache=loose lets the guest page-cache binaries and
# libraries instead of asking the host again on every exec.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /newroot ||
	fail "cannot mount the host root share"

# Fresh kernel filesystems over the host's own (which the share exposes as plain
# directories). Every mount point already exists in the read-only root or in
# the filesystem mounted just before it.
r=/newroot
mount -t proc proc $r/proc &&
mount -t sysfs sysfs $r/sys &&
mount -t devtmpfs devtmpfs $r/dev &&
mkdir -p $r/dev/pts $r/dev/shm &&
mount -t devpts -o ptmxmode=0666 devpts $r/dev/pts &&
mount -t tmpfs -o mode=1777 tmpfs $r/dev/shm &&
mount -t tmpfs -o mode=1777 tmpfs $r/tmp &&
mount -t tmpfs -o mode=0755 tmpfs $r/run &&
mkdir -p $r/run/rsprobe-vm &&
mount -o bind /result $r/run/rsprobe-vm &&
mount -t debugfs debugfs $r/sys/kernel/debug &&
mount -t tracefs tracefs $r/sys/kernel/tracing &&
mount -t bpf bpf $r/sys/fs/bpf &&
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup ||
	fail "cannot set up the chroot's mounts"

# A working directory under a path the guest mounts afresh (/tmp, /run) would be
# hidden by those mounts: the driver shares it separately, to be mounted back
# at its own path.
if [ -s /result/workdir ]; then
	w=$(cat /result/workdir)
	mkdir -p "$r$w" &&
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose work "$r$w" ||
		fail "cannot mount the working directory share at $w"
fi

# 6.1 charges BPF maps to the memory cgroup, not to RLIMIT_MEMLOCK, but older
# userspace (and libbpf's probing) still looks at the limit.
ulimit -l unlimited || fail "cannot raise RLIMIT_MEMLOCK"

uname -r >/result/kernel.release
uname -v >/result/kernel.version
read -r up _ </proc/uptime
echo "$up" >/result/uptime.start

# The console is a serial tty: no \n -> \r\n for the command's output.
stty -F /dev/console -onlcr 2>/dev/null
# The command writes to a pipe, not to the tty, as it would under CI. A plain
# "cmd | cat" would wait for every process that inherited the pipe, so a test
# that leaves a daemon behind would hang the guest until the host's timeout:
# instead cat gets a moment to drain once the command is done, then is stopped.
mkfifo /output
cat /output &
cat_pid=$!
chroot $r /bin/bash /run/rsprobe-vm/cmd.sh </dev/null >/output 2>&1
echo $? >/result/status
read -r up _ </proc/uptime
echo "$up" >/result/uptime.end
i=0
while kill -0 $cat_pid 2>/dev/null && [ $i -lt 20 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill $cat_pid 2>/dev/null
sync
poweroff -f
INIT
}

build_initramfs() {
	local dir=$1 stage m
	stage=$(mktemp -d "$dir/.initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,modules,newroot,result}
	cp /bin/busybox "$stage/bin/busybox"
	write_init >"$stage/init"
	chmod 755 "$stage/init"
	cp "$dir/modules.load" "$stage/modules.load"
	while read -r m; do cp "$dir/modules/$m.ko" "$stage/modules/"; done <"$dir/modules.load"
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null --create --format=newc --quiet --owner=0:0) | gzip -1 >"$dir/initramfs.cpio.gz.new"
	mv "$dir/initramfs.cpio.gz.new" "$dir/initramfs.cpio.gz"
	rm -rf "$stage"
}

# --- main --------------------------------------------------------------------
ensure_tools
mkdir -p "$cache" 2>/dev/null || die "cannot create cache directory $cache"
[ -w "$cache" ] || die "cache directory $cache is not writable"

# One fetch at a time per cache: two matrix runs must not extract into, or
# rebuild the initramfs of, the same kernel at once.
exec 9>"$cache/.lock"
flock 9

setup_backports

# Look the entry up in the package lists apt has (no network); sets pkg and
# source. A pattern picks the newest match of both sets of lists (bookworm's
# security suite also carries 6.12 kernels, newer than backports' at times); a
# package name, the machine's own sources first.
lookup() {
	local best='' best_source='' p
	for source in system backports; do
		if [[ $entry == *'*'* ]]; then
			p=$(resolve_from_apt "$entry")
		elif have_candidate "$entry"; then
			p=$entry
		else
			p=
		fi
		[ -n "$p" ] || continue
		if [ -z "$best" ] || [ "$(printf '%s\n' "$best" "$p" | sort -V | tail -n 1)" != "$best" ]; then
			best=$p
			best_source=$source
		fi
		[[ $entry == *'*'* ]] || break
	done
	pkg=$best
	source=${best_source:-system}
	[ -n "$pkg" ]
}

# Fetch the private lists the first time (a fresh cache); refresh both sets
# of lists only when neither knows the entry, as an ABI bump makes the lists
# name packages the archive no longer has.
lookup_refreshing() {
	pkg=
	if ! backports_lists_present; then
		source=backports
		apt_update || say "apt-get update (backports) failed"
	fi
	lookup && return 0
	say "no package matches $entry in the package lists; refreshing them"
	for source in system backports; do
		apt_update || say "apt-get update ($source) failed"
	done
	lookup
}

pkg=$entry
if [[ $entry == *'*'* ]]; then
	if ! lookup_refreshing; then
		# Offline: fall back on the newest matching kernel already cached.
		pkg=$(resolve_from_cache "$entry")
		[ -n "$pkg" ] || die "no package matches $entry"
		say "using cached $pkg (apt knows no package matching $entry)"
	fi
fi
dir=$cache/$pkg

if ! cache_complete "$dir"; then
	if [[ $entry != *'*'* ]] || ! have_candidate "$pkg"; then
		lookup_refreshing || die "no package $pkg in the Debian archive"
	fi
	say "$pkg comes from the $source package lists"
	fetch_kernel
	# A newer ABI replaces older ones that the same pattern picked before.
	if [[ $entry == *'*'* ]]; then
		re=$(pattern_regex "$entry")
		find "$cache" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | grep -E "$re" |
			while read -r old; do
				[ "$old" = "$pkg" ] || { say "removing older $old"; rm -rf "${cache:?}/$old"; }
			done || true
	fi
fi

make_vmlinux "$dir"

# The initramfs is cheap (~1 s) but rebuilt only when this script or busybox
# changed since it was made.
if [ ! -s "$dir/initramfs.cpio.gz" ] || [ "${BASH_SOURCE[0]}" -nt "$dir/initramfs.cpio.gz" ] ||
	[ /bin/busybox -nt "$dir/initramfs.cpio.gz" ] ||
	[ "$dir/modules.load" -nt "$dir/initramfs.cpio.gz" ]; then
	build_initramfs "$dir"
fi

echo "$dir"
