#!/usr/bin/env bash
# Cluster benchmarks: builds the release `gatehouse` binary and the two cluster programs, then
# runs them (see docs/benchmarks.md, "Cluster"):
#
# - cluster-propagation: a real console and 1, 4, 16 real engines (127.0.0.2…), time until every
#   engine serves a new application (target < 1 s with 16 engines);
# - cluster-idle-cpu: a real console and 100 simulated long-polling engines, the console's CPU
#   (target < 1 % of one core).
#
# Usage: benches/load/cluster.sh [propagation|idle|all]   (default all)
#   env of the programs: ENGINES, CHANGES, POLL_MS (propagation); ENGINES, DURATION_SECS,
#   BASELINE_SECS, WARMUP_SECS, POLLING_DELAY_MS (idle). Give ENGINES only with one program.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
what=${1:-all}
target=${CARGO_TARGET_DIR:-$root/target}

cd "$root"
cargo build --release -q --bin gatehouse
cargo build --release -q -p gatehouse-benches --bin cluster-propagation --bin cluster-idle-cpu
export GATEHOUSE_BIN="$target/release/gatehouse"

echo "machine: $(nproc) CPUs, $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2
case "$what" in
  propagation) "$target/release/cluster-propagation" ;;
  idle) "$target/release/cluster-idle-cpu" ;;
  all)
    "$target/release/cluster-propagation"
    echo
    "$target/release/cluster-idle-cpu"
    ;;
  *) echo "usage: $0 [propagation|idle|all]" >&2; exit 2 ;;
esac
