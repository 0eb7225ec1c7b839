#!/usr/bin/env bash
# A/B of millstream binaries on one SQL script: the binaries run in turn, N rounds, so the
# machine's drift hits each alike; prints each one's mean and best job seconds and mean CPU
# seconds (user + system, GNU time).
#
# Usage: benches/ab_sql.sh N SCRIPT.sql BINARY... [-- extra millstream sql args]
#   e.g. keep a build: cp $CARGO_TARGET_DIR/release/millstream /tmp/ms-before, change, build,
#   then benches/ab_sql.sh 8 q14.sql /tmp/ms-before $CARGO_TARGET_DIR/release/millstream
set -euo pipefail
n="$1"; script="$2"; shift 2
bins=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
timing="$(mktemp)"; trap 'rm -f "$timing"' EXIT
for _ in $(seq "$n"); do
  for b in "${bins[@]}"; do
    line=$(/usr/bin/time -o "$timing" -f "%U %S" "$b" sql -f "$script" --parallelism 2 --json "$@" \
      2>/dev/null | grep '^{' | tail -n 1)
    secs=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    echo "$b $secs $(awk '{print $1 + $2}' "$timing")"
  done
done | awk '{s[$1]+=$2; u[$1]+=$3; c[$1]++; if (!($1 in m) || $2 < m[$1]) m[$1]=$2}
  END {for (k in s) printf "%s: job s mean %.3f best %.3f, CPU s mean %.3f (%d runs)\n",
       k, s[k]/c[k], m[k], u[k]/c[k], c[k]}'
