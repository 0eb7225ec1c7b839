#!/usr/bin/env bash
# The SQL plan of a Nexmark query vs the same query written with the DataStream API, on the
# built-in generator, back to back: `millstream nexmark --query Q --events N --json` and
# `millstream sql -f` on the query's Flink SQL text over `nexmark` connector tables (the
# DDL of tests/golden/nexmark/sql/sources.sql with the filesystem options replaced by
# 'connector' = 'nexmark', 'events.num' = N) into a blackhole sink. Median of three runs
# each; events/s = N / the job's seconds.
#
# Usage: benches/sql_vs_datastream.sh [EVENTS] [PARALLELISM] [QUERY...]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
par="${2:-2}"
shift $(( $# > 2 ? 2 : $# ))
queries=("$@")
[ ${#queries[@]} -gt 0 ] || queries=(q0 q1 q2 q3 q5 q7 q8 tumble_count)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/millstream-target}"
cargo build --release -q --bin millstream
bin="$CARGO_TARGET_DIR/release/millstream"
sqldir=tests/golden/nexmark/sql
work="$(mktemp -d "${TMPDIR:-/tmp}/sql-vs-ds.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The source DDL on the generator: each table's WITH clause becomes the nexmark connector.
python3 - "$sqldir/sources.sql" "$events" > "$work/sources.sql" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def repl(m):
    return "WITH (\n    'connector' = 'nexmark', 'table' = '%s', 'events.num' = '%s'\n)" % (m.group(1), sys.argv[2])
text = re.sub(r"WITH \(\s*'connector' = 'filesystem',\s*'path' = '\$\{DATA_DIR\}/(\w+)\.csv',\s*'format' = 'csv'\s*\)", repl, text)
print(text)
PY
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| query | DataStream events/s | SQL events/s | SQL / DataStream |"
echo "|---|---:|---:|---:|"
for q in "${queries[@]}"; do
  { cat "$work/sources.sql"; sed "s|\${SINK}|'connector' = 'blackhole'|" "$sqldir/$q.sql"; } > "$work/$q.sql"
  ds=() sq=()
  for _ in 1 2 3; do
    ds+=("$("$bin" nexmark --query "$q" --events "$events" --parallelism "$par" --json 2>/dev/null | tail -n 1 \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["events_per_sec"])')")
    sq+=("$("$bin" sql -f "$work/$q.sql" --parallelism "$par" --json 2>/dev/null | grep '^{' | tail -n 1 \
      | python3 -c 'import json,sys; print(sys.argv[1] and float(sys.argv[1]) / json.load(sys.stdin)["seconds"])' "$events")")
  done
  d=$(printf '%s\n' "${ds[@]}" | median)
  s=$(printf '%s\n' "${sq[@]}" | median)
  python3 -c 'import sys; d, s = float(sys.argv[2]), float(sys.argv[3]); print("| %s | %.1f M | %.1f M | %.2f |" % (sys.argv[1], d / 1e6, s / 1e6, s / d))' "$q" "$d" "$s"
done
