#!/usr/bin/env bash
# Runs `millstream nexmark` for each query three times and prints the median events/s and peak
# RSS as a Markdown table. Usage:
#   benches/nexmark.sh [EVENTS] [DATA_DIR]
# With DATA_DIR (CSV files from ../shared/flink/gen_nexmark.py) the CSV queries run too.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
data="${2:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/millstream-target}"
cargo build --release -q
bin="$CARGO_TARGET_DIR/release/millstream"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() { # label, args...
  local label="$1"; shift
  local rates=() rss=()
  for _ in 1 2 3; do
    local line
    line=$("$bin" nexmark "$@" --json 2>/dev/null | tail -n 1)
    rates+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_sec"])')")
    rss+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peak_rss_bytes"])')")
  done
  local r m
  r=$(printf '%s\n' "${rates[@]}" | median)
  m=$(printf '%s\n' "${rss[@]}" | median)
  python3 -c 'import sys; print("| %s | %.1f M | %.0f MB |" % (sys.argv[1], float(sys.argv[2]) / 1e6, float(sys.argv[3]) / 1e6))' "$label" "$r" "$m"
}
echo "| run | events/s (median of 3) | peak RSS |"
echo "|---|---:|---:|"
for q in q0 q1 q2 q3 q5 q7 q8 tumble_count; do
  row "$q, generator, $events events" --query "$q" --events "$events"
done
row "tumble_count, generator, 100000000 events" --query tumble_count --events 100000000
if [ -n "$data" ]; then
  for q in q1 q2 tumble_count q5; do
    row "$q, CSV $data" --query "$q" --data "$data"
  done
fi
