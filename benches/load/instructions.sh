#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: a deterministic measure of
# Gatehouse's user-space work for A/B comparisons when the machine's timing is too noisy. Each
# binary serves the plain scenario of run.sh (one unprotected application); only the requests
# of a measured wrk run are counted (instrumentation is switched on after a warm-up).
#
# Usage: benches/load/instructions.sh NAME=/path/to/gatehouse ...   (DURATION=15s CONNECTIONS=16)
# Prints, per binary: requests, instructions (Ir) and Ir per request.
set -euo pipefail
DURATION=${DURATION:-15s}; CONNECTIONS=${CONNECTIONS:-16}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gatehouse-ir.XXXXXX); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=benches/load/common.sh
source "$here/common.sh"
install_tools valgrind
backend_port=$(free_port)
nginx_conf backend "$backend_port" 'location / { return 200 "hello from the backend\n"; }' ''
taskset -c 1 nginx -c "$work/backend/nginx.conf" -p "$work/backend" & pids+=($!)
wait_http "http://127.0.0.1:$backend_port/"

for spec in "$@"; do
  name=${spec%%=*}; bin=${spec#*=}; port=$(free_port)
  plain_gatehouse "$work/$name" "$port" "$backend_port"
  taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/$name/callgrind.out" \
    "$bin" --properties "$work/$name/run.properties" 2>"$work/$name/stderr.log" &
  vg=$!; pids+=("$vg")
  deadline=$((SECONDS + 120))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$name did not start" >&2; exit 1; }
    sleep 0.5
  done
  url="http://127.0.0.1:$port/bench"
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3s "$url" >/dev/null
  callgrind_control -i on "$vg" >/dev/null 2>&1
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$here/report.lua" "$url")
  callgrind_control -i off "$vg" >/dev/null 2>&1
  requests=$(grep '^RESULT' <<<"$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  kill "$vg"; wait "$vg" 2>/dev/null || true
  ir=$(awk '/^totals:/ {print $2; exit}' "$work/$name/callgrind.out")
  echo "$name requests=$requests Ir=$ir Ir_per_request=$((ir / requests))"
done
