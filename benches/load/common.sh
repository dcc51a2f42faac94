# Shared helpers of the load benchmarks (run.sh, tokens.sh): tool installation, ports, waiting,
# nginx configurations and per-process CPU time. Sourced; expects `$work` to be set.

# Installs wrk and nginx, plus the given extra packages (named like their command), if missing.
install_tools() { # extra-package...
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  for extra in "$@"; do
    command -v "$extra" >/dev/null || [ -x "/usr/sbin/$extra" ] || missing+=("$extra")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    local sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  PATH=$PATH:/usr/sbin
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null "$1"; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $1" >&2; exit 1; }
    sleep 0.1
  done
}

nginx_conf() { # name port body [http-level]
  mkdir -p "$work/$1"
  cat > "$work/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/$1/access.log;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2 reuseport;
    $3
  }
  $4
}
CONF
}

# CPU time (µs) used so far by processes (all their threads): utime + stime from /proc.
cpu_us() { # pid...
  local total=0 ticks; ticks=$(getconf CLK_TCK)
  for p in "$@"; do
    # shellcheck disable=SC2046
    set -- $(sed 's/^.*) //' "/proc/$p/stat")
    total=$((total + (${12} + ${13}) * 1000000 / ticks))
  done
  echo "$total"
}

plain_gatehouse() { # dir port backend-port: writes dir/gatehouse.toml (a plain listener, any
  # host, one unprotected application at /) and dir/run.properties for it
  local dir=$1 port=$2 backend=$3
  mkdir -p "$dir"
  cat > "$dir/gatehouse.toml" <<TOML
[[engineListeners]]
id = 2
name = "bench"
port = $port
secure = false

[[virtualHosts]]
id = 1
host = "*"
port = $port

[[sites]]
id = 1
name = "backend"
targets = ["127.0.0.1:$backend"]

[[applications]]
id = 1
name = "bench"
contextRoot = "/"
virtualHostIds = [1]
siteId = 1

[[resources]]
id = 1
applicationId = 1
name = "all"
pathPatterns = [{ type = "WILDCARD", pattern = "/*" }]
unprotected = true
TOML
  cat > "$dir/run.properties" <<PROPS
pa.data.dir=$dir/data
pa.startup.config=$dir/gatehouse.toml
admin.port=$(free_port)
management.port=$(free_port)
admin.initial.password=bench-only-password
PROPS
}

# The bearer-token validator of tokens.sh and instructions.sh (TOML): id 2, keys from the
# backend's /jwks.json, the issuer and audience the tokens were minted for.
token_validator_toml() { # jwks-port issuer audience
  cat <<TOML
[[accessTokenValidators]]
id = 2
name = "local"
[accessTokenValidators.configuration]
jwksUrl = "http://127.0.0.1:$1/jwks.json"
issuer = "$2"
audience = "$3"
allowedAlgorithms = ["RS256", "ES256"]
TOML
}
