#!/usr/bin/env bash
# Single-node Kafka (KRaft) for development and CI, run as a plain JVM process from jars that
# Maven fetches (deploy/kafka/pom.xml) — no tarball, no Docker.
#
#   deploy/scripts/kafka.sh fetch|start|stop|status
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#              KAFKA_DATA_DIR (<repo>/.dealreg/kafka: data, logs, pid file, server.properties),
#              KAFKA_HEAP_OPTS (-Xms256m -Xmx512m), KAFKA_START_TIMEOUT (60 seconds).
# status exits 0 when running, 3 when stopped.
#
# SASL mode (KAFKA_SASL=1): the client listener on KAFKA_PORT is SASL_PLAINTEXT with
# SCRAM-SHA-512 and the StandardAuthorizer is on (no ACL, no access), see docs/kafka-security.md.
#   KAFKA_SASL_ADMIN_PASSWORD   password of the super user `admin` (also the inter-broker login)
#   KAFKA_SASL_USERS            more SCRAM users, "name=password name2=password2", created when
#                               the storage is formatted (a data dir is formatted once: use a
#                               fresh KAFKA_DATA_DIR to change them)
# The controller listener uses SASL/PLAIN (KRaft controllers cannot check SCRAM) with the super
# user `controller`, password KAFKA_SASL_CONTROLLER_PASSWORD.
# With KAFKA_TLS_PORT and KAFKA_TLS_PEM (one PEM file: the broker's unencrypted PKCS#8 private
# key and its certificate chain) a SASL_SSL listener on KAFKA_TLS_PORT is added as well.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_DIR="$ROOT/deploy/kafka"
LIB="$KAFKA_DIR/lib"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
DATA_DIR="${KAFKA_DATA_DIR:-$ROOT/.dealreg/kafka}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
PID_FILE="$DATA_DIR/kafka.pid"
LOG_DIR="$DATA_DIR/logs"
PROPS="$DATA_DIR/server.properties"
SASL="${KAFKA_SASL:-0}"
SASL_ADMIN_PASSWORD="${KAFKA_SASL_ADMIN_PASSWORD:-dealreg-dev-admin-secret}"
SASL_CONTROLLER_PASSWORD="${KAFKA_SASL_CONTROLLER_PASSWORD:-dealreg-dev-controller-secret}"
SASL_USERS="${KAFKA_SASL_USERS:-}"
TLS_PORT="${KAFKA_TLS_PORT:-}"
TLS_PEM="${KAFKA_TLS_PEM:-}"

log() { echo "kafka.sh: $*" >&2; }

# The marker holds the pom's hash, so editing the pom (e.g. a new Kafka version) re-fetches.
fetch() {
  local want; want="$(sha256sum "$KAFKA_DIR/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$LIB/.complete" && "$(cat "$LIB/.complete")" == "$want" ]]; then
    return 0
  fi
  log "fetching Kafka jars with Maven into $LIB"
  local t0=$SECONDS tmp="$LIB.tmp.$$"
  rm -rf "$tmp"
  # Maven 3.8.7 prints stray ANSI resets even with -q -B, so keep its output for failures only.
  if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_DIR/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; log "Maven failed"; return 1
  fi
  rm -f "$tmp.log"
  echo "$want" >"$tmp/.complete"
  rm -rf "$LIB"; mv "$tmp" "$LIB"
  rm -rf "$KAFKA_DIR/target"
  log "fetched $(find "$LIB" -name "*.jar" | wc -l) jars in $((SECONDS - t0))s"
}

# A pid counts only if that process is alive (not a zombie) and is our broker: guards against
# a stale pid file whose pid was reused by something else.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"kafka.Kafka $PROPS"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# zstd-jni and snappy unpack native libraries into java.io.tmpdir, which must allow exec
# (a noexec /tmp breaks compressed produce/fetch), so it lives inside the data dir.
# shellcheck disable=SC2206
JAVA=(java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  -Djava.io.tmpdir="$DATA_DIR/tmp" -Dkafka.logs.dir="$LOG_DIR"
  -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" -cp "$LIB/*")

now_ms() { date +%s%3N; }

# SASL mode: the client listener becomes SASL_PLAINTEXT/SCRAM-SHA-512 and ACLs are enforced.
render_sasl() {
  sed -i -e '/^listeners=/d' -e '/^advertised.listeners=/d' \
      -e '/^listener.security.protocol.map=/d' -e '/^inter.broker.listener.name=/d' "$PROPS"
  cat >>"$PROPS" <<PROPERTIES

# --- SASL mode (kafka.sh, KAFKA_SASL=1) ---
listeners=SASL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL:SASL_PLAINTEXT
inter.broker.listener.name=SASL
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$SASL_ADMIN_PASSWORD";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$SASL_CONTROLLER_PASSWORD" user_controller="$SASL_CONTROLLER_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:controller
allow.everyone.if.no.acl.found=false
PROPERTIES
  if [[ -n "$TLS_PORT" && -n "$TLS_PEM" ]]; then
    sed -i -e "s#^listeners=SASL://[^,]*#&,TLS://127.0.0.1:$TLS_PORT#" \
        -e "s#^advertised.listeners=SASL://[^,]*#&,TLS://127.0.0.1:$TLS_PORT#" \
        -e "s#^listener.security.protocol.map=.*#&,TLS:SASL_SSL#" "$PROPS"
    cat >>"$PROPS" <<PROPERTIES
listener.name.tls.ssl.keystore.type=PEM
listener.name.tls.ssl.keystore.location=$TLS_PEM
listener.name.tls.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.tls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPERTIES
  fi
}

# --add-scram arguments of the SCRAM users (admin first) for `StorageTool format`.
scram_args() {
  local user
  echo "--add-scram"; echo "SCRAM-SHA-512=[name=admin,password=$SASL_ADMIN_PASSWORD]"
  for user in $SASL_USERS; do
    echo "--add-scram"; echo "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]"
  done
}

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid, port $PORT)"; return 0
  fi
  fetch
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then log "port $p is already in use by another process"; return 1; fi
  done
  mkdir -p "$DATA_DIR/data" "$DATA_DIR/tmp" "$LOG_DIR"
  rm -f "$PID_FILE"
  sed -e "s#@KAFKA_PORT@#$PORT#g" -e "s#@KAFKA_CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      -e "s#@KAFKA_LOG_DIRS@#$DATA_DIR/data#g" "$KAFKA_DIR/server.properties.template" >"$PROPS"
  chmod 600 "$PROPS"
  local format_args=()
  if [[ "$SASL" == 1 ]]; then
    render_sasl
    mapfile -t format_args < <(scram_args)
  fi

  # KRaft storage must be formatted once; --standalone makes this node the sole voter of a
  # dynamic quorum (it writes the initial voter set, so no controller.quorum.voters).
  if [[ ! -f "$DATA_DIR/data/meta.properties" ]]; then
    local cluster_id; cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid | tail -n1)"
    "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$PROPS" \
      "${format_args[@]}" >"$LOG_DIR/format.log" 2>&1 || { cat "$LOG_DIR/format.log" >&2; return 1; }
  fi

  local t0; t0="$(now_ms)"
  # Only log lines written after this offset belong to this start.
  local offset=0; [[ -f "$LOG_DIR/server.log" ]] && offset="$(stat -c %s "$LOG_DIR/server.log")"
  # setsid: detach from the caller's process group so its Ctrl-C / job teardown doesn't reach
  # the broker; stop it with `kafka.sh stop`. setsid execs in place, so $! is the JVM's pid.
  setsid "${JAVA[@]}" kafka.Kafka "$PROPS" >>"$LOG_DIR/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"

  while :; do
    if ! kill -0 "$pid" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]]; then
      log "broker exited during startup; last log lines:"
      tail -n 30 "$LOG_DIR/server.log" "$LOG_DIR/stdout.log" >&2 2>/dev/null || true
      rm -f "$PID_FILE"; return 1
    fi
    if port_open "$PORT" && tail -c "+$((offset + 1))" "$LOG_DIR/server.log" 2>/dev/null \
        | grep -q "Kafka Server started"; then
      break
    fi
    if (( $(now_ms) - t0 >= START_TIMEOUT * 1000 )); then
      log "broker not ready after ${START_TIMEOUT}s; log: $LOG_DIR/server.log"
      tail -n 30 "$LOG_DIR/server.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  local ms=$(( $(now_ms) - t0 ))
  log "started (pid $pid) on 127.0.0.1:$PORT in $((ms / 1000)).$((ms % 1000 / 100))s"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"; log "not running"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    running_pid >/dev/null || { rm -f "$PID_FILE"; log "stopped (pid $pid)"; return 0; }
    sleep 0.2
  done
  log "pid $pid did not exit within 30s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

status() {
  if pid="$(running_pid)"; then echo "running (pid $pid, 127.0.0.1:$PORT)"; else echo "stopped"; return 3; fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
