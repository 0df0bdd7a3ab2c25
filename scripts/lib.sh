# Shared pieces of Prism's scripts: idempotent installs and process helpers.
# Sourced, not run. Every install step checks first and skips what is there,
# so a second run costs seconds.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION="0.21.14"   # 0.22 needs rustc 1.96
BINARYEN_VERSION="123.0.0" # Debian's binaryen 108 breaks the bundle at run time

log() { printf '\033[1;34m==>\033[0m %s %s\n' "$(date -u +%T)" "$*" >&2; }
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

# Java and Maven, for the engines (Kafka, HDFS, OpenSearch run from Maven
# Central jars). Debian's JDK 17 and Maven where they are missing.
ensure_java() {
  ensure_apt java openjdk-17-jdk-headless
  ensure_apt mvn maven
  local v
  v="$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')"
  [ "${v%%.*}" -ge 17 ] 2>/dev/null || die "java on PATH is version $v; the engines need 17 or newer"
}

# Resolves an engine's jars (engines/NAME/pom.xml, dependencies only) into a
# cache keyed by the POM's content, once, and prints their directory.
ENGINES_CACHE="${PRISM_ENGINES_CACHE:-$HOME/.cache/prism/engines}"
ensure_engine_jars() { # ensure_engine_jars NAME
  local name="$1" pom="$ROOT/engines/$1/pom.xml" key dir
  key="$(sha256sum "$pom" | cut -c1-16)"
  dir="$ENGINES_CACHE/$name-$key"
  if [ ! -f "$dir/.complete" ]; then
    ensure_java >&2
    log "resolving the $name jars from Maven Central (one-off)"
    rm -rf "$dir.tmp"
    mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$dir.tmp" >&2 || die "mvn could not resolve $pom"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
  fi
  printf '%s\n' "$dir"
}

# Apache Kafka's jars (engines/kafka/pom.xml); sets KAFKA_JARS.
ensure_kafka() {
  KAFKA_JARS="$(ensure_engine_jars kafka)" || exit 1
  export KAFKA_JARS
}

# Apache Hadoop's HDFS jars (engines/hdfs/pom.xml); sets HDFS_JARS.
ensure_hdfs() {
  HDFS_JARS="$(ensure_engine_jars hdfs)" || exit 1
  export HDFS_JARS
}

# The launcher in engines/NAME/src compiled against the jars in JARS
# (cached by content); prints its classes directory.
ensure_engine_launcher() { # ensure_engine_launcher NAME JARS
  local name="$1" jars="$2" src="$ROOT/engines/$1/src" key classes
  key="$( (cd "$src" && find . -name '*.java' | sort | xargs cat; echo "$jars") | sha256sum | cut -c1-16)"
  classes="$ENGINES_CACHE/$name-launcher-$key"
  if [ ! -f "$classes/.complete" ]; then
    log "compiling the $name launcher (engines/$name/src)"
    rm -rf "$classes.tmp"
    mkdir -p "$classes.tmp"
    local -a sources
    mapfile -t sources < <(find "$src" -name '*.java')
    javac -nowarn -d "$classes.tmp" -cp "$jars/*" "${sources[@]}" >&2 \
      || die "javac could not compile engines/$name/src"
    rm -rf "$classes"
    mv "$classes.tmp" "$classes"
    touch "$classes/.complete"
  fi
  printf '%s\n' "$classes"
}

# OpenSearch's jars (engines/search/pom.xml) and its launcher; sets
# SEARCH_JARS and SEARCH_CLASSES.
ensure_search() {
  SEARCH_JARS="$(ensure_engine_jars search)" || exit 1
  SEARCH_CLASSES="$(ensure_engine_launcher search "$SEARCH_JARS")" || exit 1
  export SEARCH_JARS SEARCH_CLASSES
}

# Elasticsearch 7.10's jars (engines/elasticsearch/pom.xml) and its
# launcher; sets ELASTIC_JARS and ELASTIC_CLASSES.
ensure_elasticsearch() {
  ELASTIC_JARS="$(ensure_engine_jars elasticsearch)" || exit 1
  ELASTIC_CLASSES="$(ensure_engine_launcher elasticsearch "$ELASTIC_JARS")" || exit 1
  export ELASTIC_JARS ELASTIC_CLASSES
}

# What Hadoop 3.5's daemons and tools need opened on Java 17 (they reach into
# these packages by reflection; a missing one fails late, when first used).
hadoop_java_opts() {
  local p
  printf '%s\n' -XX:+IgnoreUnrecognizedVMOptions -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
  for p in java.io java.lang java.lang.reflect java.math java.net java.nio java.text java.util \
    java.util.concurrent java.util.zip sun.nio.ch sun.security.util sun.security.x509; do
    printf '%s\n' "--add-opens=java.base/$p=ALL-UNNAMED"
  done
}

# The page's build tools, all offline-capable: trunk, wasm-bindgen-cli at
# exactly the Cargo.lock version, wasm-opt from npm binaryen.
ensure_wasm_tools() {
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    # A debug build: trunk only drives cargo, wasm-bindgen and wasm-opt, and
    # its release profile (fat LTO, one codegen unit) took 11 minutes of a
    # fresh machine's setup. Measured here: installed in 4 min 51 s instead,
    # and `trunk build --release` of the page took the same 9 s either way.
    log "installing trunk $TRUNK_VERSION (one-off, about 5 minutes)"
    cargo install trunk --version "$TRUNK_VERSION" --locked --debug
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

# DuckDB (PyPI), for the README's lake queries and their test.
DUCKDB_VERSION=2.0.0
ensure_duckdb() {
  python3 -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null && return
  log "installing duckdb $DUCKDB_VERSION (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
}

# Spark SQL for the analysts' side of the lake (scripts/spark-sql): PySpark
# from PyPI, which bundles Spark, its spark-sql shell and Hadoop's client;
# Hive's JSON SerDe from Maven (engines/spark/pom.xml). Sets SPARK_HOME and
# SPARK_JARS.
PYSPARK_VERSION=4.3.0
ensure_spark() {
  if ! python3 -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then
    log "installing pyspark $PYSPARK_VERSION (pip, about 450 MB, one-off)"
    python3 -m pip install --quiet --disable-pip-version-check "pyspark==$PYSPARK_VERSION"
  fi
  SPARK_HOME="$(python3 -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')"
  SPARK_JARS="$(ensure_engine_jars spark)" || exit 1
  export SPARK_HOME SPARK_JARS
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

# Starts `scripts/engine ARGS...` in the background, in its own session (so
# a Ctrl-C in the terminal reaches Prism's processes first and the engine
# stays up until they have flushed), with its output in LOG, and waits up to
# SECONDS for its `ready` line. Sets ENGINE_PID and ENGINE_ADDRESS.
start_engine() { # start_engine LOG SECONDS NAME [ARGS...]
  local out="$1" secs="$2" i
  shift 2
  : >"$out"
  setsid "$ROOT/scripts/engine" "$@" >>"$out" 2>&1 &
  ENGINE_PID=$!
  for ((i = 0; i < secs * 10; i++)); do
    ENGINE_ADDRESS="$(sed -n 's/^ready //p' "$out" | head -n1)"
    [ -n "$ENGINE_ADDRESS" ] && return 0
    kill -0 "$ENGINE_PID" 2>/dev/null || die "scripts/engine $1 exited; see $out"
    sleep 0.1
  done
  die "scripts/engine $1 was not ready within $secs s; see $out"
}

# Starts `scripts/engine NAME` on 127.0.0.1:PORT with its data in DIR (kept
# across runs); PORT_SETTING is the variable a user sets to move it. Sets
# ENGINE_PID (the launcher: SIGTERM stops the engine cleanly),
# ENGINE_ADDRESS (its `ready` address) and ENGINE_JVM (its first java
# process: the broker or the node itself, for kill -9 and CPU figures).
start_local_engine() { # start_local_engine NAME DIR PORT PORT_SETTING
  local name="$1" dir="$2" port="$3"
  port_free "$port" || die "port $port is already in use; set $4 to another port"
  mkdir -p "$dir"
  start_engine "$dir/engine.log" 300 "$name" --port "$port" --dir "$dir"
  ENGINE_JVM="$(pgrep -P "$ENGINE_PID" java | head -n1)"
  [ -n "$ENGINE_JVM" ] || die "no java process under scripts/engine $name ($ENGINE_PID)"
}

# A single-node Kafka broker: KAFKA_PID, KAFKA_JVM, KAFKA_BROKERS.
start_kafka() { # start_kafka DIR PORT
  start_local_engine kafka "$1" "$2" PRISM_KAFKA_PORT
  KAFKA_PID="$ENGINE_PID" KAFKA_JVM="$ENGINE_JVM" KAFKA_BROKERS="$ENGINE_ADDRESS"
}

# HDFS (a NameNode on PORT and a DataNode): HDFS_PID, HDFS_URL.
start_hdfs() { # start_hdfs DIR PORT
  start_local_engine hdfs "$1" "$2" PRISM_HDFS_PORT
  HDFS_PID="$ENGINE_PID" HDFS_URL="$ENGINE_ADDRESS"
}

# One OpenSearch node: SEARCH_PID, SEARCH_JVM, SEARCH_URL.
start_search() { # start_search DIR PORT
  start_local_engine search "$1" "$2" PRISM_SEARCH_PORT
  SEARCH_PID="$ENGINE_PID" SEARCH_JVM="$ENGINE_JVM" SEARCH_URL="$ENGINE_ADDRESS"
}

# The Hadoop version engines/hdfs/pom.xml pins.
hadoop_version() {
  sed -n 's|.*<hadoop.version>\(.*\)</hadoop.version>.*|\1|p' "$ROOT/engines/hdfs/pom.xml"
}

# The Kafka version engines/kafka/pom.xml pins.
kafka_version() {
  sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$ROOT/engines/kafka/pom.xml"
}

# The OpenSearch version engines/search/pom.xml pins.
search_version() {
  sed -n 's|.*<opensearch.version>\(.*\)</opensearch.version>.*|\1|p' "$ROOT/engines/search/pom.xml"
}

# CPU seconds (user + system) a process has used so far.
cpu_s() { # cpu_s PID
  awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"
}

# CPU seconds PID has used since it had used BEFORE (an earlier cpu_s).
cpu_since() { # cpu_since PID BEFORE
  awk -v a="$2" -v b="$(cpu_s "$1")" 'BEGIN {printf "%.1f", b - a}'
}

port_free() { # port_free PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
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

# Waits until FILE contains TEXT; fails when SECONDS pass or process PID
# exits first.
wait_for_log() { # wait_for_log FILE TEXT SECONDS PID
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# SIGTERM, then SIGKILL if PID has not exited within SECONDS.
stop_process() { # stop_process PID SECONDS
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
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

# A free port on 127.0.0.1 below the kernel's ephemeral range, picked at
# random: an engine binding it seconds later cannot lose it to the local end
# of an outgoing connection (those take ephemeral ports).
free_port() {
  python3 - <<'PY'
import random, socket
low, high = 20000, int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for port in random.sample(range(low, high), high - low):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
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
