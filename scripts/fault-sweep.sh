#!/usr/bin/env bash
# The fault sweep of docs/reliability.md: `vkassets stress` for every seed
# in SEEDS and every fault rate in RATES, FRAMES frames each, synchronization
# validation on; one row per run, and a non-zero exit if any run failed.
#   make fault-sweep                      (seeds 1-20 x 0.01 0.05 0.2 x 3000 frames)
#   SEEDS="1 2" RATES=0.2 FRAMES=300 scripts/fault-sweep.sh
set -uo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-$(seq 1 20)}
RATES=${RATES:-"0.01 0.05 0.2"}
FRAMES=${FRAMES:-3000}
tmp=$(mktemp -d)
bin=$tmp/vkassets
errs=$tmp/stderr
go build -o "$bin" ./cmd/vkassets || exit 1
failed=0
printf '%-6s %-5s %-7s %-9s %-9s %-9s %-11s %-6s %-5s\n' rate seed frames injected survived surfaced validation leaks exit
for rate in $RATES; do
	for seed in $SEEDS; do
		out=$("$bin" stress --frames "$FRAMES" --seed "$seed" --faults "$rate" --json 2>"$errs")
		code=$?
		if [ "$code" -ne 0 ]; then
			failed=1
			grep -v ' frames (' "$errs" | tail -3 | sed "s/^/  rate $rate seed $seed: /" >&2
		fi
		printf '%-6s %-5s %s %s\n' "$rate" "$seed" "$(printf '%s' "$out" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print("%-7d %-9d %-9d %-9d %-11d %-6d" % (d["frames"], d["faults_injected"], d["faults_survived"], d["faults_surfaced"], d["validation_errors"], d["leaks"]))
except Exception:
    print("(no result)")
')" "$code"
	done
done
exit $failed
