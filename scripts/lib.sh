# Shared pieces of Prism's scripts: idempotent installs and process helpers.
# Sourced, not run. Every install step checks first and skips what is there,
# so a second run costs seconds.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

TANSU_VERSION="0.6.0"
TRUNK_VERSION="0.21.14"   # 0.22 needs rustc 1.96
BINARYEN_VERSION="123.0.0" # Debian's binaryen 108 breaks the bundle at run time

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The Rust pieces every mode needs: fmt and clippy, the WASM target.
ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  local installed
  installed="$(rustup component list --installed 2>/dev/null || true)"
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$installed" || { log "adding rustup component $c"; rustup component add "$c"; }
  done
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# The Kafka-compatible broker for the no-Docker run and the tests.
ensure_tansu() {
  if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    return
  fi
  log "installing tansu $TANSU_VERSION (one-off, about 15-20 minutes on 2 cores)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql
}

# The page's build tools, all offline-capable: trunk, wasm-bindgen-cli at
# exactly the Cargo.lock version, wasm-opt from npm binaryen.
ensure_wasm_tools() {
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    log "installing trunk $TRUNK_VERSION (one-off, about 11 minutes)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
  local wbg
  wbg="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$ROOT/Cargo.lock")"
  [ -n "$wbg" ] || die "no wasm-bindgen version in Cargo.lock"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg"; then
    log "installing wasm-bindgen-cli $wbg (one-off, about 3 minutes)"
    # Not --locked: its lockfile pins a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$wbg" --force
  fi
  if ! wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    ensure_apt npm npm
    log "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    npm install --global --silent "binaryen@$BINARYEN_VERSION"
    hash -r
    wasm-opt --version | grep -q "version ${BINARYEN_VERSION%%.*}" \
      || die "wasm-opt on PATH is not binaryen ${BINARYEN_VERSION%%.*}: $(command -v wasm-opt)"
  fi
}

# osmem-server (PyPI): a real Elasticsearch/OpenSearch REST server in
# memory, for the Elasticsearch sink's tests and a quick local look.
ensure_osmem() {
  python3 -c 'import osmem_server' 2>/dev/null && return
  log "installing osmem-server (pip)"
  python3 -m pip install --quiet --disable-pip-version-check osmem-server
}

# DuckDB (PyPI), for the README's lake queries and their test.
DUCKDB_VERSION=2.0.0
ensure_duckdb() {
  python3 -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null && return
  log "installing duckdb $DUCKDB_VERSION (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
}

# Prints the osmem-server binary inside its Python package.
osmem_bin() {
  python3 -c 'import osmem_server, os; print(os.path.join(os.path.dirname(osmem_server.__file__), "bin", "osmem-server"))'
}

# Debian's Chromium and its driver, for the browser tests.
ensure_chromium() {
  ensure_apt chromium chromium
  ensure_apt chromedriver chromium-driver
}

build_page() {
  log "building the page (trunk build --release)"
  TRUNK_SKIP_VERSION_CHECK=true trunk build --release
}

APT_UPDATED=""
ensure_apt() { # ensure_apt COMMAND PACKAGE
  command -v "$1" >/dev/null && return
  command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get: install $2 by hand"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    $sudo apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing $2"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

# Starts tansu on 127.0.0.1:PORT with its SQLite file in DIR; sets TANSU_PID.
start_tansu() { # start_tansu DIR PORT
  local dir="$1" port="$2"
  mkdir -p "$dir"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use; set PRISM_KAFKA_PORT to another port"
  fi
  # Its own session, so a Ctrl-C in the terminal reaches the producer first
  # and the broker stays up until the producer has flushed.
  (cd "$dir" && exec setsid tansu broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" >"$dir/tansu.log" 2>&1) &
  TANSU_PID=$!
  wait_for_port "$port" 20 || die "tansu did not start; see $dir/tansu.log"
}

# Runs a worker and starts it again whenever it exits with an error (a
# sink exits when it finds itself stalled, for its supervisor to start it
# afresh); a clean exit ends it. SIGTERM/SIGINT are passed on to the worker.
supervise() { # supervise NAME COMMAND...
  local name="$1" child=""
  shift
  trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi; exit 0' TERM INT
  while true; do
    "$@" &
    child=$!
    if wait "$child"; then
      return 0
    fi
    log "$name exited with an error; starting it again in 2 s"
    sleep 2
  done
}

wait_for_port() { # wait_for_port PORT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

wait_for_http() { # wait_for_http URL SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints one metric's value from a /metrics endpoint (empty if unreachable).
metric_value() { # metric_value METRICS_URL NAME
  curl -fsS "$1" 2>/dev/null | awk -v m="$2" '$1 ~ "^"m {print $2}'
}

# Waits until a sink has consumed its first record, then until it has
# written N; prints the seconds between the two.
time_sink_to() { # time_sink_to METRICS_URL N PID
  local t0 t1
  until [ -n "$(metric_value "$1" prism_sink_records_consumed_total)" ] \
    && [ "$(metric_value "$1" prism_sink_records_consumed_total)" != "0" ]; do
    kill -0 "$3" 2>/dev/null || die "the sink exited"
    sleep 0.05
  done
  t0="$(date +%s.%N)"
  until [ "$(metric_value "$1" prism_sink_records_written_total || echo 0)" -ge "$2" ] 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || die "the sink exited"
    sleep 0.1
  done
  t1="$(date +%s.%N)"
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", b - a}'
}
