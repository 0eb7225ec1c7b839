#!/usr/bin/env bash
# Rewrites the expected rows of tests/slt/*.slt (or of the files given) with Apache Flink 2.3
# in streaming mode, on the CSV files of tests/slt/data: see regenerate.py for what each
# record becomes. `--check` writes nothing and fails when a file is out of date.
#
# Needs the Flink reference of ../shared/flink (setup.sh: PyFlink 2.3.0 in a virtual
# environment under $MILLSTREAM_FLINK_HOME, default ~/.cache/millstream-flink) and Java 17.
# One JVM runs every file (Flink starts in ~10 s); about 2 s per query after that.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
home="${MILLSTREAM_FLINK_HOME:-$HOME/.cache/millstream-flink}"
py="$home/venv/bin/python"
if [ ! -x "$py" ]; then
  echo "no PyFlink in $home/venv: run ../shared/flink/setup.sh first" >&2
  exit 1
fi
check=()
if [ "${1:-}" = "--check" ]; then
  check=(--check)
  shift
fi
if [ $# -eq 0 ]; then
  set -- "$here"/*.slt
fi
exec "$py" "$here/regenerate.py" --data "$here/data" "${check[@]}" "$@"
