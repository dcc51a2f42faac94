#!/usr/bin/env bash
# Load benchmark of web sessions (a browser application behind an OpenID Connect login),
# measured in ONE run on loopback:
# - the backend directly, and nginx as a plain reverse proxy (no auth): the baseline, as run.sh;
# - bare-proxy (benches/src/bin/bare_proxy.rs): hyper's server and client with nothing else, the
#   yardstick of what any hyper-based proxy can reach here (bare-hyper);
# - Gatehouse proxying an unprotected application (gatehouse-plain);
# - Gatehouse protecting a Web application with a web session, every request carrying a valid
#   session cookie `PA.web` (an encrypted JWE, the default) minted by real logins through the
#   gateway and the OpenID provider fixture: one session repeated (gatehouse-web-one), 1,000
#   sessions in turn (gatehouse-web-rotating), and 1,000 sessions on an application that also
#   maps the identity into headers (gatehouse-web-headers).
# The proxy under test is pinned to CPU 0; wrk and the backend share CPU 1. Every response wrk
# counts must be a 200 (not the gateway's 302 to the provider): the script fails otherwise.
# Prints a Markdown table with req/s, p50, p99, errors, non-200 answers, CPU µs per request, the
# CPU the session check adds to gatehouse-plain, the ratio to nginx, and the target.
#
# Usage: benches/load/websessions.sh   (DURATION=20s CONNECTIONS=64 ROUNDS=3 SESSIONS=1000
#                                       SCENARIOS="nginx gatehouse-plain gatehouse-web-one ..."
#                                       KEEP=1 keeps the work directory: configurations, logs,
#                                       cookies; INTERLEAVE=0 runs all rounds of a scenario
#                                       back to back)
# Needs Node.js >= 20.18 with npm (the provider fixture runs `npm ci` the first time).
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
SESSIONS=${SESSIONS:-1000}
ALL_SCENARIOS="backend nginx bare-hyper gatehouse-plain gatehouse-web-one gatehouse-web-rotating
  gatehouse-web-headers"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
COOKIE=PA.web # <cookieName>.<audience> of the web session below
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d /tmp/gatehouse-websessions.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# shellcheck source=benches/load/common.sh
source "$here/common.sh"

fail() { # message
  echo "$1" >&2
  for log in "$work/gh/stderr.log" "$work/minter.log"; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}

# Status of a request with the given Cookie header (empty: none).
status_of() { # url cookie
  local cookie=()
  [ -n "$2" ] && cookie=(-H "Cookie: $2")
  curl -s -o /dev/null -w '%{http_code}' "${cookie[@]}" "$1"
}

measure() { # name url sessions-file pids...
  local name=$1 url=$2 sessions=$3; shift 3
  local out
  out=$(SESSIONS_FILE=$sessions taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" \
    -s "$here/websessions.lua" "$url")
  check_all_200 "$name warm-up" "$out"
  for round in $(seq "$MEASURE_ROUNDS"); do
    local before after
    before=$(cpu_us "$@")
    out=$(SESSIONS_FILE=$sessions taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
      -s "$here/websessions.lua" "$url")
    after=$(cpu_us "$@")
    echo "$name round=$round $(grep '^RESULT' <<<"$out") $(grep '^CHECK' <<<"$out" | cut -d' ' -f2-)" \
      "cpu_us=$((after - before))" | tee -a "$work/raw.txt" >&2
    check_all_200 "$name round $round" "$out"
  done
}

# wrk's output must hold a CHECK line with non200=0.
check_all_200() { # what wrk-output
  local non200
  non200=$(sed -n 's/^CHECK non200=\([0-9]*\).*/\1/p' <<<"$2")
  [ -n "$non200" ] || fail "$1: wrk printed no CHECK line: $2"
  [ "$non200" = 0 ] || fail "$1: $non200 responses were not 200 (a refused session is a 302)"
}

# shellcheck disable=SC2119 # no extra packages
install_tools
command -v node >/dev/null || fail "Node.js >= 20.18 with npm is needed for the provider fixture"
cd "$root"
cargo build --release -q --bin gatehouse
cargo build --release -q -p gatehouse-benches --bin web-sessions --bin bare-proxy

backend_port=$(free_port); nginx_port=$(free_port); gh_port=$(free_port); bare_port=$(free_port)
gh_mgmt_port=$(free_port); gh_admin_port=$(free_port)

# Backend: nginx answering a small fixed body, on the load CPU. Under /headers/ it names the
# user that Gatehouse's identity mapping sent (a body of about the same size).
# shellcheck disable=SC2016 # nginx variables
nginx_conf backend "$backend_port" 'location / { return 200 "hello from the backend\n"; }
    location /headers/ { return 200 "hello $http_x_user\n"; }' ''
taskset -c "$LOAD_CPU" nginx -c "$work/backend/nginx.conf" -p "$work/backend" &
pids+=($!)

# nginx as a plain reverse proxy with upstream keep-alive, on the proxy CPU (as run.sh).
# shellcheck disable=SC2016 # nginx variables
nginx_conf proxy "$nginx_port" 'location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }' \
  "upstream backend { server 127.0.0.1:$backend_port; keepalive 128; }"
taskset -c "$PROXY_CPU" nginx -c "$work/proxy/nginx.conf" -p "$work/proxy" &
pids+=($!)

taskset -c "$PROXY_CPU" "$target_dir/release/bare-proxy" "127.0.0.1:$bare_port" \
  "127.0.0.1:$backend_port" 2>"$work/bare-proxy.log" &
bare_pid=$!; pids+=("$bare_pid")

# The session minter starts the OpenID provider, writes its issuer, waits for the gateway to
# redirect /web/bench to it, then logs $SESSIONS users in and writes their cookies. It keeps
# the provider running until the end (--serve), so that the gateway can still start logins.
at=http://127.0.0.1
"$target_dir/release/web-sessions" --serve --count "$SESSIONS" "$work/sessions" "$at:$gh_port" \
  /web/bench "$COOKIE" 2>"$work/minter.log" &
minter=$!; pids+=("$minter")
wait_minter() { # file seconds
  local deadline=$((SECONDS + $2))
  until [ -s "$work/sessions/$1" ]; do
    kill -0 "$minter" 2>/dev/null || fail "the session minter stopped before writing $1"
    [ $SECONDS -lt $deadline ] || fail "timed out waiting for the session minter's $1"
    sleep 0.2
  done
}
wait_minter issuer 660 # npm ci may take up to 10 minutes the first time
issuer=$(cat "$work/sessions/issuer")

# Gatehouse: a Web application at /web whose every request needs a session of web session 1
# (audience `web`, cookie PA.web, Encrypted: JWE dir + A128CBC-HS256), the same at /headers
# with the subject and e-mail mapped into headers, and an unprotected application at /open
# (the proxying cost without a session check, as run.sh measures it). Cookies are re-issued at
# most every updateTokenWindowInSeconds: 3600 s (the longest allowed, longer than a run)
# stands for browsers that store a re-issued cookie, which wrk does not.
mkdir -p "$work/gh"
cat > "$work/gh/gatehouse.toml" <<TOML
[[engineListeners]]
id = 2
name = "bench"
port = $gh_port
secure = false

[[virtualHosts]]
id = 1
host = "*"
port = $gh_port

[[sites]]
id = 1
name = "backend"
targets = ["127.0.0.1:$backend_port"]

[oidcProvider]
issuer = "$issuer"

[webSessionManagement]
updateTokenWindowInSeconds = 3600

[[webSessions]]
id = 1
name = "web"
audience = "web"
secureCookie = false
scopes = ["profile", "email", "groups"]
clientCredentials = { clientId = "gatehouse-web", clientSecret = "gatehouse-web-secret", authMethod = "client_secret_basic" }

[[identityMappings]]
id = 1
name = "headers"
type = "Header"
configuration = { attributeHeaderMappings = [{ subject = true, headerName = "X-User" }, { attributeName = "email", headerName = "X-Email" }] }

[[applications]]
id = 1
name = "web"
contextRoot = "/web"
virtualHostIds = [1]
siteId = 1
webSessionId = 1

[[resources]]
id = 1
applicationId = 1
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]

[[applications]]
id = 2
name = "headers"
contextRoot = "/headers"
virtualHostIds = [1]
siteId = 1
webSessionId = 1
identityMappingIds = { Web = 1 }

[[resources]]
id = 2
applicationId = 2
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]

[[applications]]
id = 3
name = "open"
contextRoot = "/open"
virtualHostIds = [1]
siteId = 1

[[resources]]
id = 3
applicationId = 3
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]
unprotected = true
TOML
cat > "$work/gh/run.properties" <<PROPS
pa.data.dir=$work/gh/data
pa.startup.config=$work/gh/gatehouse.toml
admin.port=$gh_admin_port
management.port=$gh_mgmt_port
admin.initial.password=bench-only-password
PROPS
taskset -c "$PROXY_CPU" "$target_dir/release/gatehouse" --properties "$work/gh/run.properties" \
  2>"$work/gh/stderr.log" &
gh_pid=$!; pids+=("$gh_pid")

wait_minter sessions 600
grep '^web-sessions:' "$work/minter.log" >&2
sessions=$work/sessions/sessions
head -1 "$sessions" > "$work/sessions/one"

wait_http "$at:$backend_port/"
wait_http "$at:$nginx_port/"
wait_http "$at:$bare_port/"
wait_http "$at:$gh_mgmt_port/readyz"
nginx_worker=$(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -1)
backend_master=$(cat "$work/backend/nginx.pid")

# Nothing is measured unless the gateway serves valid sessions and refuses the others.
expect() { # what want url cookie
  local code; code=$(status_of "$3" "$4")
  [ "$code" = "$2" ] || fail "pre-check: $1 answered $code, not $2"
}
first=$(head -1 "$sessions"); last=$(tail -1 "$sessions")
expect "the unprotected application" 200 "$at:$gh_port/open/bench" ""
expect "no session" 302 "$at:$gh_port/web/bench" ""
expect "the first session" 200 "$at:$gh_port/web/bench" "$first"
expect "the last session" 200 "$at:$gh_port/web/bench" "$last"
value=${first#"$COOKIE="}
mid=$((${#value} / 2))
if [ "${value:$mid:1}" = A ]; then swap=B; else swap=A; fi
expect "a tampered session" 302 "$at:$gh_port/web/bench" "$COOKIE=${value:0:$mid}$swap${value:$((mid + 1))}"
expect "a session under another audience's name" 302 "$at:$gh_port/web/bench" "PA.other=$value"
user=$(curl -s -H "Cookie: $last" "$at:$gh_port/headers/bench")
[ "$user" = "hello bench-$(printf %05d $((SESSIONS - 1)))" ] ||
  fail "pre-check: the identity mapping sent the wrong user: $user"
echo "pre-check: ok ($(wc -l < "$sessions") sessions)" >&2

: > "$work/raw.txt"
if [ "$INTERLEAVE" = 1 ]; then
  ORDER=$(for _ in $(seq "$ROUNDS"); do echo "$SCENARIOS"; done); MEASURE_ROUNDS=1
else
  ORDER=$SCENARIOS; MEASURE_ROUNDS=$ROUNDS
fi
for scenario in $ORDER; do
  case $scenario in
    backend) measure "$scenario" "$at:$backend_port/bench" "$sessions" "$backend_master" ;;
    nginx) measure "$scenario" "$at:$nginx_port/bench" "$sessions" \
      "$(cat "$work/proxy/nginx.pid")" "$nginx_worker" ;;
    bare-hyper) measure "$scenario" "$at:$bare_port/bench" "$sessions" "$bare_pid" ;;
    gatehouse-plain) measure "$scenario" "$at:$gh_port/open/bench" "$sessions" "$gh_pid" ;;
    gatehouse-web-one) measure "$scenario" "$at:$gh_port/web/bench" "$work/sessions/one" "$gh_pid" ;;
    gatehouse-web-rotating) measure "$scenario" "$at:$gh_port/web/bench" "$sessions" "$gh_pid" ;;
    gatehouse-web-headers) measure "$scenario" "$at:$gh_port/headers/bench" "$sessions" "$gh_pid" ;;
    *) echo "unknown scenario $scenario (known: $ALL_SCENARIOS)" >&2; exit 2 ;;
  esac
done

python3 "$here/summarise_websessions.py" "$work/raw.txt" "$DURATION" "$CONNECTIONS" "$ROUNDS" \
  "$(wc -l < "$sessions")"
