#!/usr/bin/env bash
# Regenerates the Nexmark test data set (tests/data/nexmark) and the golden results
# (tests/golden/nexmark/<query>.csv, plus a copy of the SQL texts in tests/golden/nexmark/sql/)
# by running real Apache Flink 2.3.0 through the shared Flink reference kit (../shared/flink,
# relative to the repository root): gen_nexmark.py writes the CSVs, run_query.py runs each
# query in streaming mode at parallelism 1 and writes its canonical, sorted result.csv.
#
# CI never runs this script: the golden files are committed and the Rust tests only read them.
# Run it by hand after changing the generator arguments or the query list, then review the diff.
#
# Options (environment):
#   FLINK_KIT=DIR          the Flink kit (default: ../shared/flink)
#   MILLSTREAM_FLINK_HOME  where setup.sh installs PyFlink (default: ~/.cache/millstream-flink)
#   CHECK_PARALLEL=N       also run every query at parallelism N and fail if the result differs
#                          from the parallelism-1 result (default: 0 = skip)
#   REFCHECK=1             also compare each result with the kit's pandas reference_check.py
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

kit="${FLINK_KIT:-../shared/flink}"
home="${MILLSTREAM_FLINK_HOME:-$HOME/.cache/millstream-flink}"
PY="$home/venv/bin/python"
data=tests/data/nexmark
golden=tests/golden/nexmark
queries=(q0 q1 q2 q3 q4 q5 q7 q8 q9 q11 q14 q15 q16 q17 q18 q19 q20 q21 q22 tumble_count tumble_count_tvf)
work="$(mktemp -d "${TMPDIR:-/tmp}/millstream-golden.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$PY" ] || [ ! -d "$home/build" ]; then
  "$kit/setup.sh"
fi

# 28,000 events at 700 events/s of event time: ~40 s of data (00:00:00 to 00:00:40 plus
# events moved back up to 2 s), so 10 s windows fire 5 times; ~5.5 MB of CSV.
rm -rf "$data"
"$PY" "$kit/gen_nexmark.py" --events 28000 --seed 42 --rate 700 --out "$data"

# q13's side input: keys 0..9999 with a value derived from the key.
"$PY" -c "
with open('$data/side_input.csv', 'w') as f:
    for k in range(10000):
        f.write(f'{k},side-{k * 7919 % 10007}\\n')
"

mkdir -p "$golden/sql"
cp "$kit/queries/sources.sql" "$golden/sql/"
for q in "${queries[@]}"; do
  echo "== $q"
  "$PY" "$kit/run_query.py" "$q" "$data" "$work/$q-p1" --parallelism 1 --quiet
  cp "$work/$q-p1/result.csv" "$golden/$q.csv"
  cp "$kit/queries/$q.sql" "$golden/sql/"
  if [ "${CHECK_PARALLEL:-0}" != 0 ]; then
    "$PY" "$kit/run_query.py" "$q" "$data" "$work/$q-pN" --parallelism "$CHECK_PARALLEL" --quiet
    cmp "$work/$q-p1/result.csv" "$work/$q-pN/result.csv" \
      || { echo "$q: parallelism $CHECK_PARALLEL differs from parallelism 1" >&2; exit 1; }
  fi
  if [ "${REFCHECK:-0}" = 1 ]; then
    "$PY" "$kit/reference_check.py" "$data" "$q" "$golden/$q.csv"
  fi
done
# Millstream's own query files (not in the kit): q10, q12 and q13 live in $golden/sql. Flink
# runs them through the kit with ${DATA_DIR} substituted in a scratch copy:
# - q10's golden is q10_flat (the same rows into an unpartitioned sink: the kit's
#   run_query.py cannot parse PARTITIONED BY);
# - q13's golden is q13_regular (Flink 2.3 rejects q13's FOR SYSTEM_TIME AS OF on the
#   filesystem connector, which is no lookup source; over a static side input a lookup
#   join gives the rows of the regular join);
# - q12 uses processing-time windows: its rows depend on the wall clock, so no golden
#   file; the test checks the counts per bidder.
own="$work/own-queries"
mkdir -p "$own"
cp "$golden/sql/sources.sql" "$own/"
for pair in q10:q10_flat q13:q13_regular; do
  q="${pair%%:*}"; flink_q="${pair##*:}"
  echo "== $q (Flink runs $flink_q)"
  sed "s|\${DATA_DIR}|$root/$data|g" "$golden/sql/$flink_q.sql" > "$own/$flink_q.sql"
  "$PY" "$kit/run_query.py" "$flink_q" "$data" "$work/$q-p1" --parallelism 1 --quiet --queries-dir "$own"
  cp "$work/$q-p1/result.csv" "$golden/$q.csv"
done
wc -l "$golden"/*.csv
