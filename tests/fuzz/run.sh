#!/usr/bin/env bash
# Run each fuzz target for FUZZ_SECS seconds (default 60) on its corpus,
# seeded by seeds.sh. Usage: tests/fuzz/run.sh DIR FIXDIR TARGET...
# DIR keeps the grown corpora between runs and any crash-*/timeout-* input;
# a target that finds one fails the run, naming the input to replay with
#   .output/fuzz/fuzz_TARGET INPUT
set -euo pipefail
dir=${1:?usage: run.sh DIR FIXDIR TARGET...}
fix=${2:?usage: run.sh DIR FIXDIR TARGET...}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bins=$(cd "$here/../.." && pwd)/.output/fuzz
secs=${FUZZ_SECS:-60}
# Seconds one input may take; raise it on a loaded machine (a run at nice 19
# next to busy processes can be descheduled that long without any fault).
timeout=${FUZZ_TIMEOUT:-20}
bash "$here/seeds.sh" "$dir/seeds" "$fix"
fail=0
for t in "$@"; do
	case $t in
	procmaps) seeds=$dir/seeds/procmaps ;;
	*) seeds=$dir/seeds/objs ;;
	esac
	mkdir -p "$dir/corpus-$t"
	log=$dir/$t.log
	echo "  FUZZ     $t (${secs}s)"
	# Mutations stay under 512 KiB (the largest seed is about 420 KiB).
	start=$(date +%s)
	if "$bins/fuzz_$t" -max_total_time="$secs" -timeout="$timeout" -rss_limit_mb=2048 \
		-max_len=524288 -print_final_stats=1 -artifact_prefix="$dir/$t-" \
		"$dir/corpus-$t" "$seeds" >"$log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$log" |
			sed "s/^/           $t /"
		echo "           $t ran $(($(date +%s) - start)) s, no failing input"
	else
		echo "fuzz: $t found a failing input (log: $log):" >&2
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2
		fail=1
	fi
done
exit $fail
