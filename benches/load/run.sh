#!/usr/bin/env bash
# Load benchmark (issue 2): the backend directly, nginx as a plain reverse proxy and Gatehouse
# proxying an unprotected application, measured in ONE run on loopback. The proxy under test is
# pinned to CPU 0; wrk and the backend share CPU 1. Prints a Markdown table with req/s, p50, p99,
# CPU µs per request and the ratios to nginx.
#
# Usage: benches/load/run.sh   (DURATION=20s CONNECTIONS=64 ROUNDS=3 SCENARIOS="backend nginx gatehouse")
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-backend nginx gatehouse}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
work=$(mktemp -d /tmp/gatehouse-load.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=benches/load/common.sh
source "$here/common.sh"

measure() { # name url pids...
  local name=$1 url=$2; shift 2
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
  local best=""
  for round in $(seq "$ROUNDS"); do
    local before after out
    before=$(cpu_us "$@")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$here/report.lua" "$url")
    after=$(cpu_us "$@")
    local line; line=$(grep '^RESULT' <<<"$out")
    local requests; requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
    local cpu=$(( (after - before) ))
    echo "$name round=$round $line cpu_us=$cpu" | tee -a "$work/raw.txt" >&2
  done
}

install_tools
cd "$root"
cargo build --release -q --bin gatehouse

backend_port=$(free_port); nginx_port=$(free_port); gh_port=$(free_port)

# Backend: nginx answering a small fixed body, on the load CPU.
nginx_conf backend "$backend_port" 'location / { return 200 "hello from the backend\n"; }' ''
taskset -c "$LOAD_CPU" nginx -c "$work/backend/nginx.conf" -p "$work/backend" &
pids+=($!)

# nginx as a plain reverse proxy with upstream keep-alive, on the proxy CPU.
nginx_conf proxy "$nginx_port" 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }' \
  "upstream backend { server 127.0.0.1:$backend_port; keepalive 128; }"
taskset -c "$PROXY_CPU" nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" &
pids+=($!)

# Gatehouse: a plain engine listener, any host, one unprotected application at /.
plain_gatehouse "$work/gatehouse" "$gh_port" "$backend_port"
taskset -c "$PROXY_CPU" "$root/target/release/gatehouse" --properties "$work/gatehouse/run.properties" \
  2>"$work/gatehouse/stderr.log" &
gh_pid=$!; pids+=("$gh_pid")

wait_http "http://127.0.0.1:$backend_port/"
wait_http "http://127.0.0.1:$nginx_port/"
wait_http "http://127.0.0.1:$gh_port/"
nginx_worker=$(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -1)
backend_master=$(cat "$work/backend/nginx.pid")

: > "$work/raw.txt"
for scenario in $SCENARIOS; do
  case $scenario in
    backend) measure backend "http://127.0.0.1:$backend_port/bench" "$backend_master" ;;
    nginx) measure nginx "http://127.0.0.1:$nginx_port/bench" "$(cat "$work/proxy/nginx.pid")" "$nginx_worker" ;;
    gatehouse) measure gatehouse "http://127.0.0.1:$gh_port/bench" "$gh_pid" ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done

python3 "$here/summarise.py" "$work/raw.txt" "$DURATION" "$CONNECTIONS" "$ROUNDS"
