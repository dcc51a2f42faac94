#!/usr/bin/env bash
# Interleaved A/B load run: nginx and several Gatehouse binaries side by side in ONE run, one
# round of each in turn (so drift on a shared machine hits all of them alike). Same backend,
# pinning and wrk settings as run.sh; prints one line per round and scenario.
#
# Usage: BINS="before=/path/to/old/gatehouse after=target/release/gatehouse" benches/load/ab.sh
#        (DURATION=10s ROUNDS=3 CONNECTIONS=64; a BINS path may be a wrapper script that sets
#        environment variables and execs a binary; BARE=target/release/bare-proxy adds the
#        hyper yardstick, `cargo build --release -p gatehouse-benches --bin bare-proxy`)
set -euo pipefail
DURATION=${DURATION:-10s}; ROUNDS=${ROUNDS:-3}; CONNECTIONS=${CONNECTIONS:-64}
work=$(mktemp -d /tmp/gatehouse-ab.XXXXXX); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=benches/load/common.sh
source "$here/common.sh"
install_tools
backend_port=$(free_port); nginx_port=$(free_port)
nginx_conf backend "$backend_port" 'location / { return 200 "hello from the backend\n"; }' ''
taskset -c 1 nginx -c "$work/backend/nginx.conf" -p "$work/backend" & pids+=($!)
nginx_conf proxy "$nginx_port" 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }' \
  "upstream backend { server 127.0.0.1:$backend_port; keepalive 128; }"
taskset -c 0 nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" & pids+=($!)
declare -A url pidof
names=(nginx)
for spec in $BINS; do
  n=${spec%%=*}; bin=${spec#*=}; p=$(free_port); names+=("$n")
  plain_gatehouse "$work/$n" "$p" "$backend_port"
  taskset -c 0 "$bin" --properties "$work/$n/run.properties" 2>"$work/$n/stderr.log" &
  pidof[$n]=$!; pids+=($!); url[$n]="http://127.0.0.1:$p/bench"
done
if [ -n "${BARE:-}" ]; then # the hyper yardstick, benches/src/bin/bare_proxy.rs
  p=$(free_port); names+=(bare-hyper)
  taskset -c 0 "$BARE" "127.0.0.1:$p" "127.0.0.1:$backend_port" & pidof[bare-hyper]=$!; pids+=($!)
  url[bare-hyper]="http://127.0.0.1:$p/bench"
fi
wait_http "http://127.0.0.1:$nginx_port/"
for n in "${names[@]:1}"; do wait_http "${url[$n]}"; done
pidof[nginx]="$(cat "$work/proxy/nginx.pid") $(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -1)"
url[nginx]="http://127.0.0.1:$nginx_port/bench"
for n in "${names[@]}"; do taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3s "${url[$n]}" >/dev/null; done
for r in $(seq "$ROUNDS"); do
  for n in "${names[@]}"; do
    before=$(cpu_us ${pidof[$n]})
    out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$here/report.lua" "${url[$n]}")
    after=$(cpu_us ${pidof[$n]})
    line=$(grep '^RESULT' <<<"$out")
    req=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line"); rps=$(sed 's/.*rps=\([0-9.]*\).*/\1/' <<<"$line"); p99=$(sed 's/.*p99=\([0-9]*\).*/\1/' <<<"$line")
    echo "round=$r $n rps=$rps p99=$p99 cpu_us_per_req=$(python3 -c "print(round(($after-$before)/$req,1))") errors=$(sed 's/.*errors=\([0-9]*\).*/\1/' <<<"$line")"
  done
done
