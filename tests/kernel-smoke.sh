#!/usr/bin/env bash
# Smoke test for a kernel: does it have what rsprobe's BPF side needs?
# Runs on the host, or on another kernel through scripts/kernel-matrix.sh.
set -euo pipefail

bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
fails=0
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok    $what"
	else
		echo "FAIL  $what"
		fails=$((fails + 1))
	fi
}

echo "kernel: $(uname -r) ($(uname -v))"

# CO-RE relocations need the kernel's own BTF.
check "BTF at /sys/kernel/btf/vmlinux" test -s /sys/kernel/btf/vmlinux
# libbpf attaches uprobes through the uprobe PMU (perf_event_open).
check "uprobe PMU" test -r /sys/bus/event_source/devices/uprobe/type

# bpftool's probe loads small programs and maps, so this also exercises the
# verifier of the kernel under test. uprobe programs are of type kprobe.
probe=$("$bpftool" feature probe kernel 2>/dev/null) || probe=
has() { grep -qxF -- "$1" <<<"$probe"; }
helper_for_kprobe() {
	awk -v h="$1" '
		/^eBPF helpers supported for program type / { in_kp = ($NF == "kprobe:" || $NF == "kprobe") }
		in_kp && $1 == "-" && $2 == h { found = 1 }
		END { exit !found }' <<<"$probe"
}
check "bpftool feature probe ran" test -n "$probe"
check "program type kprobe" has "eBPF program_type kprobe is available"
check "map type ringbuf" has "eBPF map_type ringbuf is available"
check "helper bpf_ringbuf_reserve (kprobe)" helper_for_kprobe bpf_ringbuf_reserve
check "helper bpf_get_stack (kprobe)" helper_for_kprobe bpf_get_stack
check "BPF JIT enabled" grep -qx '[12]' /proc/sys/net/core/bpf_jit_enable

if [ "$fails" -eq 0 ]; then
	echo "kernel-smoke: $(uname -r): all checks passed"
else
	echo "kernel-smoke: $(uname -r): $fails check(s) failed"
	exit 1
fi
