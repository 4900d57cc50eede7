#!/usr/bin/env bash
# Regenerate vmlinux/x86/vmlinux.h from the running kernel's BTF.
# The BPF side is CO-RE: the header only has to describe the types we read, and
# libbpf relocates field offsets for the kernel it is loaded on.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
out=$(dirname "$0")/../vmlinux/x86/vmlinux.h
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable (kernel without BTF?)" >&2; exit 1; }
bpftool btf dump file "$btf" format c >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
