#!/usr/bin/env bash
# Load benchmark of bearer-token validation, measured in ONE run on loopback:
# - nginx as a plain reverse proxy (no auth): the baseline, as in run.sh;
# - HAProxy 2.6 (1 thread) plain, and verifying RS256 and ES256 JWTs with `jwt_verify` plus
#   `alg`, `iss`, `aud` and `exp` checks (no cache: every request is verified);
# - bare-proxy (benches/src/bin/bare_proxy.rs): hyper's server and client with nothing else, the
#   yardstick of what any hyper-based proxy can reach here;
# - Gatehouse proxying an unprotected application, and validating the same tokens with its
#   verified-token cache (one token repeated; 1,000 rotating tokens) and with the cache defeated
#   (capacity 0, rotating tokens).
# The proxy under test is pinned to CPU 0; wrk and the backend share CPU 1. Every proxy must
# answer 200 to valid tokens and 401/403 to refused ones before anything is measured. Prints a
# Markdown table with req/s, p50, p99, errors, CPU µs per request, the ratios to nginx and to
# HAProxy of the same algorithm, and the targets.
#
# Usage: benches/load/tokens.sh   (DURATION=20s CONNECTIONS=64 ROUNDS=3 TOKENS=1000
#                                  SCENARIOS="nginx haproxy-rs256 gatehouse-rs256-one ..."
#                                  KEEP=1 keeps the work directory: configurations, logs, tokens;
#                                  GATEHOUSE=path runs that binary instead of building one,
#                                  BARE=path the same for bare-proxy;
#                                  INTERLEAVE=0 runs all rounds of a scenario back to back)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
# Interleaved by default: one round of every scenario in turn, ROUNDS times, so a slow phase of
# this VM hits every proxy alike (the summary takes the median of all rounds of a name).
INTERLEAVE=${INTERLEAVE:-1}
TOKENS=${TOKENS:-1000}
ALL_SCENARIOS="backend nginx haproxy-plain bare-hyper gatehouse-plain"
for alg in rs256 es256; do
  ALL_SCENARIOS+=" haproxy-$alg gatehouse-$alg-one gatehouse-$alg-rotating gatehouse-$alg-nocache"
done
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ISSUER=https://issuer.gatehouse.bench # as benches/src/tokens.rs mints them
AUDIENCE=api://bench
work=$(mktemp -d /tmp/gatehouse-tokens.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# shellcheck source=benches/load/common.sh
source "$here/common.sh"

wait_tcp() { # port
  local deadline=$((SECONDS + 30))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for port $1" >&2; exit 1; }
    sleep 0.1
  done
}

# Gatehouse's verified-token cache counters ("hits misses"), from its management port.
cache_counters() { # metrics-url
  [ "$1" = - ] && { echo "0 0"; return; }
  curl -fsS "$1" | awk '/^gatehouse_token_cache_hits/ {h=$2}
    /^gatehouse_token_cache_misses/ {m=$2} END {printf "%d %d\n", h, m}'
}

status_of() { # url token (empty: no Authorization header)
  local auth=()
  [ -n "$2" ] && auth=(-H "Authorization: Bearer $2")
  curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$1"
}

# A proxy must accept the first and last valid token, refuse every token of the refused
# file, refuse a request without a token and (HAProxy) a valid token of the other algorithm.
precheck() { # name url good-file bad-file [other-alg-file]
  local name=$1 url=$2 code failed=0
  refused() { # what status
    case $2 in 401 | 403) ;; *) echo "pre-check $name: $1 answered $2" >&2; return 1 ;; esac
  }
  for token in "$(head -1 "$3")" "$(tail -1 "$3")"; do
    code=$(status_of "$url" "$token")
    [ "$code" = 200 ] || { echo "pre-check $name: valid token answered $code" >&2; failed=1; }
  done
  while read -r what token; do
    code=$(status_of "$url" "$token")
    refused "$what token" "$code" || failed=1
  done < "$4"
  refused "no token" "$(status_of "$url" "")" || failed=1
  if [ -n "${5:-}" ]; then
    refused "other-alg token" "$(status_of "$url" "$(head -1 "$5")")" || failed=1
  fi
  if [ $failed != 0 ]; then
    for log in "$work"/gh*/stderr.log "$work/haproxy/stderr.log"; do
      echo "--- $log" >&2; tail -5 "$log" >&2
    done
    exit 1
  fi
  echo "pre-check $name: ok" >&2
}

measure() { # name url tokens-file metrics-url pids...
  local name=$1 url=$2 tokens=$3 metrics=$4; shift 4
  TOKENS_FILE=$tokens taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" \
    -s "$here/tokens.lua" "$url" >/dev/null
  for round in $(seq "$MEASURE_ROUNDS"); do
    local before after out hits0 misses0 hits1 misses1
    read -r hits0 misses0 < <(cache_counters "$metrics")
    before=$(cpu_us "$@")
    out=$(TOKENS_FILE=$tokens taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
      -s "$here/tokens.lua" "$url")
    after=$(cpu_us "$@")
    read -r hits1 misses1 < <(cache_counters "$metrics")
    local line; line=$(grep '^RESULT' <<<"$out")
    echo "$name round=$round $line cpu_us=$((after - before)) cache_hits=$((hits1 - hits0))" \
      "cache_misses=$((misses1 - misses0))" | tee -a "$work/raw.txt" >&2
  done
}

install_tools haproxy
cd "$root"
if [ -z "${GATEHOUSE:-}" ]; then
  cargo build --release -q --bin gatehouse
  GATEHOUSE=$root/target/release/gatehouse
fi
if [ -z "${BARE:-}" ]; then
  cargo build --release -q -p gatehouse-benches --bin bare-proxy
  BARE=${CARGO_TARGET_DIR:-$root/target}/release/bare-proxy
fi
cargo run -q -p gatehouse-benches --bin mint-tokens -- "$work/tokens" "$TOKENS"
tok=$work/tokens
chmod o+x "$work" "$tok"; chmod o+r "$tok/jwks.json" # the backend's workers serve the JWKS
for alg in rs256 es256; do head -1 "$tok/$alg.tokens" > "$tok/$alg.one"; done

backend_port=$(free_port); nginx_port=$(free_port)
hap_plain_port=$(free_port); hap_rs256_port=$(free_port); hap_es256_port=$(free_port)
gh_port=$(free_port); gh_nocache_port=$(free_port); bare_port=$(free_port)

# Backend: nginx answering a small fixed body, and the JWKS for Gatehouse, on the load CPU.
nginx_conf backend "$backend_port" "location / { return 200 \"hello from the backend\n\"; }
    location = /jwks.json { alias $tok/jwks.json; default_type application/json; }" ''
taskset -c "$LOAD_CPU" nginx -c "$work/backend/nginx.conf" -p "$work/backend" &
pids+=($!)

# nginx as a plain reverse proxy with upstream keep-alive, on the proxy CPU (as run.sh).
nginx_conf proxy "$nginx_port" 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }' \
  "upstream backend { server 127.0.0.1:$backend_port; keepalive 128; }"
taskset -c "$PROXY_CPU" nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" &
pids+=($!)

# HAProxy: one thread on the proxy CPU, a plain frontend (no auth: HAProxy's own proxying cost)
# and one frontend per algorithm, which accepts only its `alg`, the configured `iss` and `aud`,
# an `exp` in the future and a valid signature. Access log on (stdout to a file),
# X-Forwarded-For added, server connections kept alive and shared.
hap_frontend() { # alg port
  local upper key=$tok/$1.pub.pem; upper=$(tr '[:lower:]' '[:upper:]' <<<"$1")
  cat <<CONF
frontend $1
  bind 127.0.0.1:$2
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('\$.iss')
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('\$.aud')
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date
  http-request deny deny_status 401 unless { var(txn.alg) -m str $upper }
  http-request deny deny_status 401 unless { var(txn.iss) -m str $ISSUER }
  http-request deny deny_status 401 unless { var(txn.aud) -m str $AUDIENCE }
  http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify($upper,"$key") -m int 1 }
  default_backend site
CONF
}
mkdir -p "$work/haproxy"
cat > "$work/haproxy/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  option forwardfor
  timeout connect 5s
  timeout client 30s
  timeout server 30s

backend site
  http-reuse always
  server backend 127.0.0.1:$backend_port

frontend plain
  bind 127.0.0.1:$hap_plain_port
  default_backend site

$(hap_frontend rs256 "$hap_rs256_port")

$(hap_frontend es256 "$hap_es256_port")
CONF
haproxy -c -q -f "$work/haproxy/haproxy.cfg"
taskset -c "$PROXY_CPU" haproxy -db -f "$work/haproxy/haproxy.cfg" >"$work/haproxy/access.log" \
  2>"$work/haproxy/stderr.log" &
hap_pid=$!; pids+=("$hap_pid")

# Gatehouse: an API application at / whose every request needs a bearer token, validator 2
# reading the JWKS from the backend, and an unprotected application at /open (the proxying cost
# without a token, as run.sh measures it). One instance with the default token cache (10,000
# entries) and one with the cache capacity set to 0 (every request verified).
start_gatehouse() { # name port cache-entries
  local dir=$work/$1 mgmt; mgmt=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/gatehouse.toml" <<TOML
[[engineListeners]]
id = 2
name = "bench"
port = $2
secure = false

[[virtualHosts]]
id = 1
host = "*"
port = $2

[[sites]]
id = 1
name = "backend"
targets = ["127.0.0.1:$backend_port"]

[[applications]]
id = 1
name = "api"
contextRoot = "/"
virtualHostIds = [1]
siteId = 1
applicationType = "API"
accessValidatorId = 2
realm = "bench"

[[resources]]
id = 1
applicationId = 1
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]

[[applications]]
id = 2
name = "open"
contextRoot = "/open"
virtualHostIds = [1]
siteId = 1

[[resources]]
id = 2
applicationId = 2
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]
unprotected = true

$(token_validator_toml "$backend_port" "$ISSUER" "$AUDIENCE")
TOML
  cat > "$dir/run.properties" <<PROPS
pa.data.dir=$dir/data
pa.startup.config=$dir/gatehouse.toml
admin.port=$(free_port)
management.port=$mgmt
admin.initial.password=bench-only-password
pa.ehcache.PingFederateReferenceTokenCache.maxEntriesLocalHeap=$3
PROPS
  taskset -c "$PROXY_CPU" "$GATEHOUSE" --properties "$dir/run.properties" \
    2>"$dir/stderr.log" &
  pids+=($!)
  eval "${1}_pid=$!"
  eval "${1}_metrics=http://127.0.0.1:$mgmt/metrics"
  eval "${1}_ready=http://127.0.0.1:$mgmt/readyz"
}
taskset -c "$PROXY_CPU" "$BARE" "127.0.0.1:$bare_port" "127.0.0.1:$backend_port" \
  2>"$work/bare-proxy.log" &
bare_pid=$!; pids+=("$bare_pid")
start_gatehouse gh "$gh_port" 10000
start_gatehouse gh_nocache "$gh_nocache_port" 0

for port in "$backend_port" "$nginx_port" "$hap_plain_port" "$hap_rs256_port" "$hap_es256_port" \
  "$gh_port" "$gh_nocache_port" "$bare_port"; do
  wait_tcp "$port"
done
wait_http "$gh_ready"; wait_http "$gh_nocache_ready"
nginx_worker=$(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -1)
backend_master=$(cat "$work/backend/nginx.pid")
at=http://127.0.0.1

# Nothing is measured unless every proxy accepts valid tokens and refuses invalid ones.
for url in "$at:$gh_port/open/bench" "$at:$hap_plain_port/bench"; do
  code=$(status_of "$url" "")
  [ "$code" = 200 ] || { echo "pre-check $url: answered $code" >&2; exit 1; }
done
precheck haproxy-rs256 "$at:$hap_rs256_port/bench" "$tok/rs256.tokens" "$tok/rs256.bad" \
  "$tok/es256.tokens"
precheck haproxy-es256 "$at:$hap_es256_port/bench" "$tok/es256.tokens" "$tok/es256.bad" \
  "$tok/rs256.tokens"
for alg in rs256 es256; do
  precheck "gatehouse-$alg" "$at:$gh_port/bench" "$tok/$alg.tokens" "$tok/$alg.bad"
  precheck "gatehouse-$alg-nocache" "$at:$gh_nocache_port/bench" "$tok/$alg.tokens" "$tok/$alg.bad"
done

: > "$work/raw.txt"
if [ "$INTERLEAVE" = 1 ]; then
  ORDER=$(for _ in $(seq "$ROUNDS"); do echo "$SCENARIOS"; done); MEASURE_ROUNDS=1
else
  ORDER=$SCENARIOS; MEASURE_ROUNDS=$ROUNDS
fi
for scenario in $ORDER; do
  alg=$(cut -d- -f2 <<<"$scenario")
  case $scenario in
    backend) measure "$scenario" "$at:$backend_port/bench" "$tok/rs256.tokens" - "$backend_master" ;;
    nginx) measure "$scenario" "$at:$nginx_port/bench" "$tok/rs256.tokens" - \
      "$(cat "$work/proxy/nginx.pid")" "$nginx_worker" ;;
    haproxy-plain) measure "$scenario" "$at:$hap_plain_port/bench" "$tok/rs256.tokens" - "$hap_pid" ;;
    bare-hyper) measure "$scenario" "$at:$bare_port/bench" "$tok/rs256.tokens" - "$bare_pid" ;;
    haproxy-rs256) measure "$scenario" "$at:$hap_rs256_port/bench" "$tok/rs256.tokens" - "$hap_pid" ;;
    haproxy-es256) measure "$scenario" "$at:$hap_es256_port/bench" "$tok/es256.tokens" - "$hap_pid" ;;
    gatehouse-plain) measure "$scenario" "$at:$gh_port/open/bench" "$tok/rs256.tokens" \
      "$gh_metrics" "$gh_pid" ;;
    gatehouse-*-one) measure "$scenario" "$at:$gh_port/bench" "$tok/$alg.one" "$gh_metrics" "$gh_pid" ;;
    gatehouse-*-rotating) measure "$scenario" "$at:$gh_port/bench" "$tok/$alg.tokens" \
      "$gh_metrics" "$gh_pid" ;;
    gatehouse-*-nocache) measure "$scenario" "$at:$gh_nocache_port/bench" "$tok/$alg.tokens" \
      "$gh_nocache_metrics" "$gh_nocache_pid" ;;
    *) echo "unknown scenario $scenario (known: $ALL_SCENARIOS)" >&2; exit 2 ;;
  esac
done

python3 "$here/summarise_tokens.py" "$work/raw.txt" "$DURATION" "$CONNECTIONS" "$ROUNDS" "$TOKENS"
