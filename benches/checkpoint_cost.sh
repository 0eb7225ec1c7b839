#!/usr/bin/env bash
# Checkpoint cost at ~100 MB and ~1 GB of keyed state, memory and RocksDB backends: each
# configuration runs without and then with checkpoints every second, back to back, and prints
# rows/s, checkpoint duration, state size and bytes written (examples/big_state.rs).
# Usage: benches/checkpoint_cost.sh [WORK_DIR]   (needs ~3 GB of disk in WORK_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/millstream-target}"
cargo build --release --example big_state
B="$CARGO_TARGET_DIR/release/examples/big_state"
run() { echo "== $*"; /usr/bin/time -f "wall=%e s maxrss=%M KiB" "$B" "$@" 2>&1; }
for cfg in "memory 1000000 3" "rocksdb 1000000 3" "memory 10000000 2" "rocksdb 10000000 2"; do
  set -- $cfg
  common=(--backend "$1" --keys "$2" --rounds "$3" --pad 64 --budget-mb 64 --dir "$work/rdb")
  run "${common[@]}"
  run "${common[@]}" --checkpoint-dir "$work/ck" --checkpoint-interval-ms 1000
done
