#!/usr/bin/env bash
# Run a command on other kernels: boot each kernel of a list under qemu and run
# the command there, in a chroot of this machine's own root.
#
# Usage: scripts/kernel-matrix.sh [--list FILE] -- CMD [ARGS...]
#
# The guest sees the host's root read-only over 9p, with fresh proc, sys, dev,
# debugfs, tracefs, bpffs and cgroup2 mounts, and tmpfs on /tmp, /dev/shm and
# /run. CMD runs in the same absolute working directory as here, with PATH,
# HOME, CI and RSPROBE_* passed through and RSPROBE_IN_VM=1 set, stdin from
# /dev/null, and stdout and stderr merged onto this script's stdout.
#
# Exit status: 0 if CMD exited 0 on every kernel, 1 if it failed (or the guest
# did not finish) on any, 2 for bad usage.
#
# Environment:
#   RSPROBE_VM_TIMEOUT    seconds per kernel before qemu is killed (600)
#   RSPROBE_VM_MEM        guest memory (4G when the host has room, else 2G)
#   RSPROBE_VM_SMP        guest CPUs (2, at most the host's)
#   RSPROBE_VM_ACCEL      auto, kvm or tcg (auto)
#   RSPROBE_VM_TCG        single or multi: TCG's vCPU threads (single; see below)
#   RSPROBE_KERNEL_CACHE  where kernels are cached (/var/cache/rsprobe/kernels)
#   RSPROBE_VM_DEBUG      set to show the kernel's boot messages
set -euo pipefail

prog="kernel-matrix"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

die() { echo "$prog: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 [--list FILE] -- CMD [ARGS...]" >&2
	exit 2
}

list=$repo/tests/kernels.list
while [ $# -gt 0 ]; do
	case $1 in
	--list)
		[ $# -ge 2 ] || usage
		list=$2
		shift 2
		;;
	--list=*)
		list=${1#--list=}
		shift
		;;
	--)
		shift
		break
		;;
	*) usage ;;
	esac
done
[ $# -ge 1 ] || usage
[ -r "$list" ] || die "cannot read kernel list $list"

timeout_s=${RSPROBE_VM_TIMEOUT:-600}
[[ $timeout_s =~ ^[0-9]+$ ]] && [ "$timeout_s" -gt 0 ] ||
	die "RSPROBE_VM_TIMEOUT must be a positive number of seconds, not '$timeout_s'"

# CI runs this with stdin closed; qemu's serial backend reads stdin, so give it
# (and everything else here) /dev/null rather than whatever fd 0 happens to be.
exec </dev/null

# --- machine -------------------------------------------------------------------
# /dev/kvm on these machines is a nested "PVM" layer (kvm_pvm) in which a stock
# kernel hangs in its decompressor. Use KVM only when it is the ordinary
# kvm_intel/kvm_amd; otherwise emulate with TCG, which boots Debian's kernel
# to userspace in a few seconds.
pick_accel() {
	case ${RSPROBE_VM_ACCEL:-auto} in
	kvm | tcg)
		echo "${RSPROBE_VM_ACCEL}"
		return
		;;
	auto) ;;
	*) die "RSPROBE_VM_ACCEL must be auto, kvm or tcg" ;;
	esac
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] &&
		{ [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; }; then
		echo kvm
	else
		echo tcg
	fi
}
accel=$(pick_accel)
if [ "$accel" = kvm ]; then
	accel_args=(-accel kvm -cpu host)
else
	# One host thread runs every vCPU in turn (thread=single). With a thread
	# per vCPU (qemu 7.2's multi-threaded TCG), one vCPU can still run a
	# translation of kernel text that another has just patched and synced:
	# the guest kernel then dies of an int3 it no longer knows (a static key
	# flipped with text_poke_bp; perf_sched_events does it whenever a task's
	# perf event, such as a uprobe's, comes and goes). Seen on Debian's 6.12:
	# "Oops: int3" in __schedule, in 3 of 6 multi-threaded runs against 0 of
	# 8 single-threaded. On 2 host cores the suite is no slower for it.
	case ${RSPROBE_VM_TCG:-single} in
	single | multi) ;;
	*) die "RSPROBE_VM_TCG must be single or multi" ;;
	esac
	# shellcheck disable=SC2054 # commas belong to the -accel value
	accel_args=(-accel "tcg,thread=${RSPROBE_VM_TCG:-single}" -cpu max)
fi

host_cpus=$(nproc)
smp=${RSPROBE_VM_SMP:-$((host_cpus < 2 ? host_cpus : 2))}
if [ -n "${RSPROBE_VM_MEM:-}" ]; then
	mem=$RSPROBE_VM_MEM
else
	avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	# 4G leaves room for tests that load big BPF maps; take it only when the
	# host keeps at least as much again for itself.
	if [ "${avail_kb:-0}" -ge $((8 * 1024 * 1024)) ]; then mem=4G; else mem=2G; fi
fi

# --- guest command -------------------------------------------------------------
# cmd.sh runs inside the chroot under the host's bash; printf %q quotes in bash's
# own syntax, so any argument or value survives.
write_cmd() {
	local name
	echo '#!/bin/bash'
	for name in PATH HOME LANG LC_ALL CARGO_HOME RUSTUP_HOME RUSTUP_TOOLCHAIN CI \
		$(compgen -e | grep '^RSPROBE_' || true); do
		if [ -n "${!name+set}" ]; then printf 'export %s=%q\n' "$name" "${!name}"; fi
	done
	echo 'export TERM=dumb RSPROBE_IN_VM=1'
	printf 'cd -- %q || { echo "%s: working directory %s is not visible in the guest" >&2; exit 125; }\n' \
		"$PWD" "$prog" "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
}
# The guest mounts fresh filesystems on these: a working directory below one of
# them is shared on its own and mounted back over it (read-only, like the rest).
workdir_share=
case $PWD in
/tmp/* | /run/* | /dev/shm/*) workdir_share=$PWD ;;
/proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /tmp | /run)
	die "cannot run from $PWD: the guest mounts its own filesystem there"
	;;
esac

# --- run ------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%01d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }

work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-matrix.XXXXXX")
pipe_pid=
cleanup() { rm -rf "$work"; }
on_signal() {
	local i
	# qemu runs under timeout(1), which makes itself a process group of its own:
	# the terminal's ^C does not reach it, so stop it by pid (it passes the
	# signal on to qemu). Give a guest that is just starting a moment to appear.
	for ((i = 0; i < 20; i++)); do
		[ -n "$pipe_pid" ] && kill -0 "$pipe_pid" 2>/dev/null || break
		if [ -s "$work/timeout.pid" ]; then
			kill -TERM "$(cat "$work/timeout.pid")" 2>/dev/null || true
			break
		fi
		sleep 0.05
	done
	echo "$prog: interrupted" >&2
	wait 2>/dev/null || true
	cleanup
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

# Boots one kernel; sets r_status (the command's exit status, or empty),
# r_release, r_version, r_note.
run_kernel() {
	local kdir=$1 share=$work/share qrc
	shift
	rm -rf "$share"
	mkdir -p "$share"
	write_cmd "$@" >"$share/cmd.sh"
	if [ -n "$workdir_share" ]; then printf '%s\n' "$workdir_share" >"$share/workdir"; fi

	# The uncompressed kernel boots ~5 s sooner under emulation (no unpacking).
	local kernel=$kdir/vmlinuz
	[ -s "$kdir/vmlinux" ] && kernel=$kdir/vmlinux
	local kernel_verbosity="quiet loglevel=1"
	[ -n "${RSPROBE_VM_DEBUG:-}" ] && kernel_verbosity="loglevel=7 earlyprintk=serial"

	# console=ttyS0 with quiet loglevel=1 keeps the kernel's messages (all but
	# emergencies) off the serial line that carries the command's output.
	# panic=-1 reboots at once on a panic, and -no-reboot turns that into qemu
	# exiting instead of hanging until the timeout. -display none rather than
	# -nographic: with -nographic SeaBIOS writes its banner to the serial line
	# too. -nodefaults drops the NIC, VGA and drives that a test does not need.
	local -a qemu=(qemu-system-x86_64
		"${accel_args[@]}" -m "$mem" -smp "$smp"
		-display none -nodefaults -serial stdio -no-reboot
		-kernel "$kernel" -initrd "$kdir/initramfs.cpio.gz"
		-append "console=ttyS0 $kernel_verbosity panic=-1 rdinit=/init"
		-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap"
		-virtfs "local,path=${share//,/,,},mount_tag=result,security_model=passthrough")
	if [ -n "$workdir_share" ]; then
		qemu+=(-virtfs "local,path=${workdir_share//,/,,},mount_tag=work,security_model=passthrough,readonly=on,multidevs=remap")
	fi

	# timeout(1) runs in the background so that the INT/TERM trap can fire while
	# we wait; its status goes through a file since the pipeline hides it. sed
	# drops the \r that the kernel's serial console adds to its own lines, and
	# the "Power down" line, printed at the one level loglevel=1 still shows.
	(
		timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null &
		echo $! >"$work/timeout.pid"
		wait $! && echo 0 >"$work/qemu.rc" || echo $? >"$work/qemu.rc"
	) 2>&1 | sed -u -e 's/\r$//' -e '/^\[ *[0-9.]*\] reboot: Power down$/d' &
	pipe_pid=$!
	wait "$pipe_pid" || true
	pipe_pid=
	rm -f "$work/timeout.pid"
	qrc=$(cat "$work/qemu.rc" 2>/dev/null || echo '?')
	rm -f "$work/qemu.rc"

	r_status=$(cat "$share/status" 2>/dev/null || true)
	r_release=$(cat "$share/kernel.release" 2>/dev/null || true)
	r_version=$(cat "$share/kernel.version" 2>/dev/null || true)
	r_note=
	if [ -s "$share/uptime.start" ] && [ -s "$share/uptime.end" ]; then
		r_note=$(awk -v s="$(cat "$share/uptime.start")" -v e="$(cat "$share/uptime.end")" \
			'BEGIN { printf "guest: boot %.1fs, command %.1fs", s, e - s }')
	fi
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		r_status=
		r_note="timed out after ${timeout_s}s (RSPROBE_VM_TIMEOUT); qemu killed"
	elif [ -s "$share/error" ]; then
		r_status=
		r_note="guest setup failed: $(cat "$share/error")"
	elif [ -z "$r_status" ]; then
		r_note="guest stopped before the command finished (qemu exit status $qrc)"
	fi
}

mapfile -t entries < <(sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$list" | grep -v '^$' || true)
[ ${#entries[@]} -gt 0 ] || die "no kernels in $list"

total_start=$(now_us)
summary=()
passed=0
failed=0
for entry in "${entries[@]}"; do
	start=$(now_us)
	echo "==> $prog: $entry: fetching" >&2
	if ! kdir=$("$here/kernel-fetch.sh" "$entry"); then
		failed=$((failed + 1))
		summary+=("FAIL  $entry  (could not fetch the kernel)")
		continue
	fi
	read -r pkg pkgver kver <"$kdir/package"
	echo "==> $prog: $pkg ($pkgver): booting ($accel, $smp CPUs, $mem): $*" >&2
	run_kernel "$kdir" "$@"
	elapsed=$(secs $(($(now_us) - start)))
	if [ "$r_status" = 0 ]; then
		result="PASS (exit 0)"
		passed=$((passed + 1))
	elif [ -n "$r_status" ]; then
		result="FAIL (exit $r_status)"
		failed=$((failed + 1))
	else
		result="FAIL ($r_note)"
		r_note=
		failed=$((failed + 1))
	fi
	line="$result  $pkg  ${r_release:-$kver} ${r_version:+($r_version)}  ${elapsed}s${r_note:+  [$r_note]}"
	echo "<== $prog: $line" >&2
	summary+=("$line")
done

echo "$prog: results (CMD: $*)"
printf '  %s\n' "${summary[@]}"
echo "$prog: total ${#entries[@]} kernel(s) in $(secs $(($(now_us) - total_start)))s"
echo "$prog: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
