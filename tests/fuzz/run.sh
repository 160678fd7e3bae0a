#!/bin/bash
# Runs every libFuzzer harness of tests/fuzz for a while each, from the checked-in seed corpus
# (copied: the run's findings stay in a scratch directory, not in the repository). Exits non-zero
# when a harness finds a crash, a leak, undefined behaviour or a time-out, and keeps the input
# that did it under DIR/crashes.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]     (SECONDS per harness, default 20)
set -uo pipefail

build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/rollcall-fuzz.XXXXXX)
mkdir -p "$work/crashes"
status=0
for harness in "$build"/fuzz_*; do
	[[ -x $harness ]] || continue
	name=$(basename "$harness")
	target=${name#fuzz_}
	mkdir -p "$work/$target"
	cp -r "$here/corpus/$target/." "$work/$target/" 2>/dev/null || true
	if "$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix="$work/crashes/$target-" "$work/$target" >"$work/$target.log" 2>&1; then
		grep -E 'DONE' "$work/$target.log" | tail -n 1 | sed "s/^/$name: /"
	else
		echo "$name: FAILED (log and input in $work)" >&2
		tail -n 40 "$work/$target.log" >&2
		status=1
	fi
done
[[ $status -eq 0 ]] && rm -rf "$work"
exit $status
