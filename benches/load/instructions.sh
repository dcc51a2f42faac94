#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: a deterministic measure of
# Gatehouse's user-space work for A/B comparisons when the machine's timing is too noisy. Each
# binary serves the plain scenario of run.sh (one unprotected application); only the requests
# of a measured wrk run are counted (instrumentation is switched on after a warm-up).
# SCENARIO=rs256 (or es256) counts an API application instead, every request carrying the same
# valid bearer token (a verified-token cache hit after the first), as tokens.sh's
# gatehouse-<alg>-one.
#
# A binary named bare-proxy is the yardstick of ab.sh (hyper alone), run with its addresses.
#
# Usage: benches/load/instructions.sh NAME=/path/to/gatehouse ...   (DURATION=15s CONNECTIONS=16
#                                                                    SCENARIO=plain|rs256|es256)
# Prints, per binary: requests, instructions (Ir) and Ir per request.
set -euo pipefail
DURATION=${DURATION:-15s}; CONNECTIONS=${CONNECTIONS:-16}; SCENARIO=${SCENARIO:-plain}
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/gatehouse-ir.XXXXXX); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=benches/load/common.sh
source "$here/common.sh"
install_tools valgrind
backend_port=$(free_port); jwks_location=''; wrk_args=(-s "$here/report.lua")
case $SCENARIO in
  plain) ;;
  rs256 | es256)
    (cd "$root" && cargo run -q -p gatehouse-benches --bin mint-tokens -- "$work/tokens" 1)
    chmod o+x "$work" "$work/tokens"; chmod o+r "$work/tokens/jwks.json"
    jwks_location="location = /jwks.json { alias $work/tokens/jwks.json; }"
    head -1 "$work/tokens/$SCENARIO.tokens" > "$work/token"
    export TOKENS_FILE=$work/token; wrk_args=(-s "$here/tokens.lua") ;;
  *) echo "unknown SCENARIO $SCENARIO (plain, rs256, es256)" >&2; exit 2 ;;
esac
nginx_conf backend "$backend_port" "location / { return 200 \"hello from the backend\n\"; }
    $jwks_location" ''
taskset -c 1 nginx -c "$work/backend/nginx.conf" -p "$work/backend" & pids+=($!)
wait_http "http://127.0.0.1:$backend_port/"

# Turns plain_gatehouse's unprotected application into an API application whose every request
# needs a bearer token, validated against the backend's JWKS (as tokens.sh's instance).
api_application() { # toml backend-port
  sed -i -e 's/^unprotected = true$//' \
    -e 's/^siteId = 1$/siteId = 1\napplicationType = "API"\naccessValidatorId = 2\nrealm = "bench"/' "$1"
  echo >> "$1"
  token_validator_toml "$2" https://issuer.gatehouse.bench api://bench >> "$1"
}

for spec in "$@"; do
  name=${spec%%=*}; bin=${spec#*=}; port=$(free_port)
  plain_gatehouse "$work/$name" "$port" "$backend_port"
  [ "$SCENARIO" = plain ] || api_application "$work/$name/gatehouse.toml" "$backend_port"
  args=(--properties "$work/$name/run.properties")
  # bare-proxy (benches/src/bin/bare_proxy.rs), the hyper yardstick, takes its addresses instead
  [ "$(basename "$bin")" = bare-proxy ] && args=("127.0.0.1:$port" "127.0.0.1:$backend_port")
  taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/$name/callgrind.out" \
    "$bin" "${args[@]}" 2>"$work/$name/stderr.log" &
  vg=$!; pids+=("$vg")
  deadline=$((SECONDS + 120))
  until curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$work/token" 2>/dev/null)" \
    "http://127.0.0.1:$port/" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$name did not start" >&2; exit 1; }
    sleep 0.5
  done
  url="http://127.0.0.1:$port/bench"
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3s "${wrk_args[@]}" "$url" >/dev/null
  callgrind_control -i on "$vg" >/dev/null 2>&1
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "${wrk_args[@]}" "$url")
  callgrind_control -i off "$vg" >/dev/null 2>&1
  requests=$(grep '^RESULT' <<<"$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  kill "$vg"; wait "$vg" 2>/dev/null || true
  ir=$(awk '/^totals:/ {print $2; exit}' "$work/$name/callgrind.out")
  echo "$name requests=$requests Ir=$ir Ir_per_request=$((ir / requests))"
done
