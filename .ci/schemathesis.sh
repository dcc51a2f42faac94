#!/usr/bin/env bash
# Fuzzes the admin REST API (/pa-admin-api/v3) with schemathesis against a throwaway node.
#
# Needs a built node binary (target/debug/gatehouse, or GATEHOUSE_BIN, e.g. the tests' gatehouse-e2e); builds
# nothing itself. Starts the node on free loopback ports in a temp dir, waits for the OpenAPI
# document, runs schemathesis with the checks `not_a_server_error` and
# `response_schema_conformance`, and exits non-zero on any failure. The node is always stopped.
#
# The node starts from a document with one object of each kind (so `/{collection}/{id}` finds
# something), and the run has two passes: every operation except the two that replace the whole
# configuration (`/config/import`, `/config/revisions/{id}/restore`), then those two. A panic in
# the node log fails the run too.
#
# Arguments, if any, replace the two passes by one `schemathesis run` with them added, e.g.
#   bash .ci/schemathesis.sh --include-path-regex /sites
# Environment knobs (defaults are sized for CI: a 2-core machine, about 2 minutes):
#   GATEHOUSE_BIN      node binary              (target/debug/gatehouse)
#   ST_MAX_EXAMPLES    test cases per operation (25)
#   ST_SEED            hypothesis seed          (random; printed by schemathesis)
#   ST_TIMEOUT         hard cap on all schemathesis passes together, seconds (240)
#   ST_REPORT_DIR      where the reports (junit, ndjson) and, on failure, the node log go
#                      (default: inside the temp dir, removed on exit)
#   ST_CACHE_DIR       where the schemathesis venv is kept (~/.cache/gatehouse-ci)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

st_version=4.32.5
bin=${GATEHOUSE_BIN:-$root/target/debug/gatehouse}
max_examples=${ST_MAX_EXAMPLES:-25}
st_timeout=${ST_TIMEOUT:-240}
password='St-fuzz-Passw0rd-42'
base=/pa-admin-api/v3

if [[ ! -x $bin ]]; then
    echo "schemathesis.sh: $bin missing: run 'cargo build -p gatehouse-admin' first" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-st.XXXXXX")
node_pid=
st_pid=
# Running, and not a zombie waiting to be reaped.
node_alive() {
    [[ -n $node_pid ]] && kill -0 "$node_pid" 2>/dev/null &&
        [[ $(ps -o stat= -p "$node_pid" 2>/dev/null) != Z* ]]
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local rc=$?
    if [[ -n $st_pid ]]; then
        kill -TERM "$st_pid" 2>/dev/null || true
        wait "$st_pid" 2>/dev/null || true
    fi
    if node_alive; then
        kill -TERM "$node_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$node_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$node_pid" 2>/dev/null || true
        wait "$node_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f $tmp/node.log ]]; then
        echo "== node log (warnings, errors and panics; last 40)"
        grep -E -A1 'WARN|ERROR|panicked' "$tmp/node.log" |
            grep -v 'while pa.startup.config is set' | tail -n 40 || true
        if [[ -n ${ST_REPORT_DIR:-} ]] && mkdir -p "$ST_REPORT_DIR"; then
            cp "$tmp/node.log" "$ST_REPORT_DIR/node.log" || true
        fi
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four distinct free loopback ports (admin, management, engine listener, config-query).
read -r admin_port mgmt_port engine_port cc_port < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

# The startup document: the embedded default listens on 3000, so the engine listener moves to a
# free port (the run never collides with another node on this machine), and one object of each
# kind, with small ids, gives GET/PUT/DELETE on `/{collection}/{id}` something to find besides
# 404. Nothing here is contacted: the engine gets no traffic during the run.
cat >"$tmp/startup.toml" <<EOF
[[engineListeners]]
id = 1
name = "Default Engine Listener"
port = $engine_port
secure = true

[[virtualHosts]]
id = 1
host = "localhost"
port = $engine_port

[[virtualHosts]]
id = 2
host = "*.example.com"
port = $engine_port

[[sites]]
id = 1
name = "loopback"
targets = ["127.0.0.1:9"]

[[sites]]
id = 2
name = "internal"
targets = ["api.internal:8443"]
secure = true
trustedCertificateGroupId = 3

[[certificates]]
id = 1
alias = "fuzz CA"
fileData = """
-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUaCJWvhYSKpggTsI335vTO/2VCfswCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRZ2F0ZWhvdXNlIGZ1enogQ0EwIBcNMjYxMjAyMDcwNzU2WhgP
MjEyNjExMDgwNzA3NTZaMBwxGjAYBgNVBAMMEWdhdGVob3VzZSBmdXp6IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIjc8kQcTEz6VIKI1fDozKgT1U07ZrK8E
VoodEjBzX024MmabczbD8YB4fE92/vSkhgE+LD/hT6tNh6Nfmdc6/6NTMFEwHQYD
VR0OBBYEFItKUApcU8Tvgo7A0mUPRAPgJL6VMB8GA1UdIwQYMBaAFItKUApcU8Tv
go7A0mUPRAPgJL6VMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
AL7cFUrT/eBN3D9EqEeLFBCS1AJqi0xD3IMjX5suNX2uAiAptDC/ghib2Sb12irc
3zhRG73rOntFaFoSQUTgTgzK9Q==
-----END CERTIFICATE-----
"""

[[trustedCertificateGroups]]
id = 3
name = "fuzz"
certIds = [1]

[[rules]]
id = 1
name = "Read-only"
type = "HttpMethod"
configuration = { methods = ["GET", "HEAD"] }

[[rules]]
id = 2
name = "Closed"
type = "Rejection"
configuration = { rejectionHandlerId = 1 }

[[ruleSets]]
id = 1
name = "either"
successCriteria = "SuccessIfAnyOneSucceeds"
elementType = "Rule"
policy = [1, 2]

[[rejectionHandlers]]
id = 1
name = "JSON refusal"
type = "ErrorTemplate"
configuration = { responseCode = 403, contentType = "JSON", template = '{"error":"forbidden"}' }

[[globalUnprotectedResources]]
id = "1"
name = "Favicon"
wildcardPath = "/favicon.ico"

[[redirects]]
id = "1"
source = { host = "example.com", port = 443 }
target = { host = "www.example.com", port = 443 }

[[identityMappings]]
id = 1
name = "headers"
type = "Header"
configuration = { attributeHeaderMappings = [{ subject = true, attributeName = "sub", headerName = "X-User" }] }

[[accessTokenValidators]]
id = 2
name = "jwks"
configuration = { jwksUrl = "https://127.0.0.1:9/jwks", issuer = "https://127.0.0.1:9", audience = "api" }

[oidcProvider]
issuer = "https://127.0.0.1:9"

[oauthAuthServer]
introspectionEndpoint = "https://127.0.0.1:9/introspect"
clientCredentials = { clientId = "gatehouse", clientSecret = "fuzz-secret" }

[[applications]]
id = 1
name = "Echo"
contextRoot = "/echo"
virtualHostIds = [1]
siteId = 1
policy = { Web = [{ type = "Rule", id = 1 }] }

[[applications]]
id = 2
name = "API"
contextRoot = "/api"
applicationType = "API"
accessValidatorId = 2
identityMappingIds = { API = 1 }
virtualHostIds = [1, 2]
siteId = 2

[[resources]]
id = 1
applicationId = 1
name = "Everything"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]
unprotected = true

[[resources]]
id = 2
applicationId = 2
name = "Reads"
methods = ["GET"]
pathPatterns = [{ pattern = "/items/*" }]
policy = { API = [{ type = "RuleSet", id = 1 }] }
EOF

cat >"$tmp/run.properties" <<EOF
pa.data.dir=$tmp/data
pa.startup.config=$tmp/startup.toml
admin.port=$admin_port
admin.bindAddress=127.0.0.1
management.port=$mgmt_port
clusterconfig.port=$cc_port
clusterconfig.bindAddress=127.0.0.1
engine.http.bindAddress=127.0.0.1
admin.initial.password=$password
EOF

"$bin" --properties "$tmp/run.properties" >"$tmp/node.log" 2>&1 &
node_pid=$!

origin="https://127.0.0.1:$admin_port"
doc_url="$origin$base/api-docs/openapi.json"
deadline=$((SECONDS + 30))
until curl -ksf -o /dev/null --max-time 2 "$doc_url"; do
    if ! node_alive; then
        echo "schemathesis.sh: the node exited before serving the admin API" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "schemathesis.sh: no OpenAPI document at $doc_url after 30 s" >&2
        exit 1
    fi
    sleep 0.2
done
echo "== node up: admin API at $origin$base (pid $node_pid)"

# schemathesis: the pinned version if it is on PATH, else installed once into a cached venv.
st=
for cand in schemathesis st; do
    if command -v "$cand" >/dev/null &&
        "$cand" --version 2>/dev/null | grep -qxE "(schemathesis|st), version ${st_version//./\\.}"; then
        st=$(command -v "$cand")
        break
    fi
done
if [[ -z $st ]]; then
    venv=${ST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-ci}/schemathesis-$st_version
    if [[ ! -x $venv/bin/schemathesis ]]; then
        echo "== installing schemathesis $st_version into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$st_version"
    fi
    st=$venv/bin/schemathesis
fi
"$st" --version

report_dir=$(realpath -m "${ST_REPORT_DIR:-$tmp/report}")
# One worker: with two, schemathesis on CPython 3.11 now and then dies of "SystemError: AST
# constructor recursion depth mismatch" (CPython gh-106905), and the node answers fast enough.
args=(
    run "$doc_url"
    --tls-verify false
    --auth "Administrator:$password"
    --header "X-XSRF-Header: schemathesis"
    --checks "not_a_server_error,response_schema_conformance"
    --max-examples "$max_examples"
    --generation-with-security-parameters false
    --continue-on-failure
    --request-timeout 20
    --workers 1
    --suppress-health-check "too_slow,filter_too_much"
    --generation-database none
    --no-color
    --report "junit,ndjson"
)
[[ -n ${ST_SEED:-} ]] && args+=(--seed "$ST_SEED")

# Two passes, so that the seeded objects are still there while the other operations run:
# everything except the two calls that replace the whole configuration, then those two.
# With arguments (e.g. `--include-path-regex /sites`), one pass with them added instead.
replace_all='/config/(import|revisions/\{id\}/restore)$'
if (($# > 0)); then
    passes=("custom")
else
    passes=("objects" "replace-all")
fi

status=0
run_start=$SECONDS
for pass in "${passes[@]}"; do
    case $pass in
        custom) extra=("$@") ;;
        objects) extra=(--exclude-path-regex "$replace_all") ;;
        replace-all) extra=(--include-path-regex "$replace_all") ;;
    esac
    left=$((st_timeout - (SECONDS - run_start)))
    if ((left < 10)); then
        echo "schemathesis.sh: no time left for pass '$pass' (ST_TIMEOUT=${st_timeout})" >&2
        status=1
        break
    fi
    echo "== schemathesis pass '$pass': ${args[*]/$password/***} ${extra[*]} --report-dir $report_dir/$pass"
    start=$SECONDS
    rc=0
    # From the temp dir: schemathesis and hypothesis leave .schemathesis/ and .hypothesis/ in the
    # cwd. In the background, so that a signal to this script is handled at once (by `wait`).
    (cd "$tmp" && exec timeout --kill-after=10 "$left" "$st" "${args[@]}" "${extra[@]}" \
        --report-dir "$report_dir/$pass") &
    st_pid=$!
    wait "$st_pid" || rc=$?
    st_pid=
    echo "== pass '$pass' finished in $((SECONDS - start)) s with status $rc"
    if ((rc == 124 || rc == 137)); then
        echo "schemathesis.sh: schemathesis ran over the ${st_timeout} s budget" >&2
    fi
    ((rc == 0)) || status=1
    if ! node_alive; then
        echo "schemathesis.sh: the node died during the run" >&2
        status=1
        break
    fi
done
if grep -q 'panicked at' "$tmp/node.log"; then
    echo "schemathesis.sh: the node panicked during the run (see the node log below)" >&2
    status=1
fi
echo "== schemathesis: ${#passes[@]} pass(es) in $((SECONDS - run_start)) s, status $status"
exit "$status"
