#!/bin/sh
# The inspector's cost to the demo's frames (docs/inspector.md): the demo's
# wall time for FRAMES frames without --inspect, with it and no client,
# with a client doing what an open page does (the event stream, and the
# assets tab with a selected asset's Why and graph, and the chart, once a
# second), and with every endpoint polled at 10 Hz; RUNS runs, the modes
# taking turns.
set -eu
FRAMES=${FRAMES:-20000}
RUNS=${RUNS:-5}
PORT=${PORT:-6071}
BIN=${BIN:-/tmp/vkassets-cost}
go build -o "$BIN" ./cmd/vkassets
OUT=$(mktemp -d)
page() { # what the open page asks: events, and a refresh of one tab a second
	curl -sN "http://127.0.0.1:$PORT/api/events" >/dev/null 2>&1 &
	ev=$!
	while sleep 1; do
		for p in api/assets api/assets/1 graph/1.svg api/chart; do
			curl -sf "http://127.0.0.1:$PORT/$p" >/dev/null 2>&1 || true
		done
	done
	kill $ev 2>/dev/null || true
}
heavy() { # every endpoint at 10 Hz
	while sleep 0.1; do
		for p in api/state api/assets api/assets/1 api/assets/1/why api/graph/1 graph/1.svg api/memory api/memory/vma.json api/retire api/chart api/leaks; do
			curl -sf "http://127.0.0.1:$PORT/$p" >/dev/null 2>&1 || true
		done
	done
}
run() { # mode
	case $1 in
	none) args="" ;;
	*) args="--inspect 127.0.0.1:$PORT" ;;
	esac
	client=
	case $1 in
	page) (sleep 0.3; page) & client=$! ;;
	heavy) (sleep 0.3; heavy) & client=$! ;;
	esac
	start=$(date +%s.%N)
	"$BIN" demo --frames "$FRAMES" --out "$OUT" --json $args >/dev/null 2>"$OUT/stderr"
	end=$(date +%s.%N)
	[ -n "$client" ] && { pkill -P "$client" 2>/dev/null || true; kill "$client" 2>/dev/null || true; wait "$client" 2>/dev/null || true; }
	echo "$1 $(echo "($end - $start) * 1000000 / $FRAMES" | bc -l | xargs printf '%.1f')"
}
for i in $(seq "$RUNS"); do
	for m in none idle page heavy; do
		run $m
	done
done | awk '{ v[$1] = v[$1] " " $2 } END { for (m in v) print m ":" v[m] " µs/frame (wall time of the run / frames)" }'
rm -rf "$OUT"
