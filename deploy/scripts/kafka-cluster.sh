#!/usr/bin/env bash
# A three-node KRaft Kafka cluster on this machine (each node a combined broker + controller),
# from the same Maven-fetched jars as deploy/scripts/kafka.sh: for the chaos run and for trying
# replication by hand. Never for production.
#
#   deploy/scripts/kafka-cluster.sh start|stop|status|bootstrap|kill N|restart N
#
# Environment: KAFKA_CLUSTER_BASE_PORT (29092): node N's broker listens on BASE+N-1 and its
#              controller on BASE+N+2 (so 29092-29094 and 29095-29097 by default);
#              KAFKA_CLUSTER_DIR (<repo>/.dealreg/kafka-cluster-<base>: node-N/{data,logs,...});
#              KAFKA_HEAP_OPTS (-Xms128m -Xmx384m), KAFKA_START_TIMEOUT (90 seconds).
# Topics default to replication factor 3 with min.insync.replicas 2. `kill N` SIGKILLs node N
# (found by its pid file, never by name); `restart N` starts it again on its old data.
# status exits 0 when all three run, 3 otherwise. bootstrap prints the bootstrap servers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_DIR="$ROOT/deploy/kafka"
LIB="$KAFKA_DIR/lib"
BASE="${KAFKA_CLUSTER_BASE_PORT:-29092}"
DIR="${KAFKA_CLUSTER_DIR:-$ROOT/.dealreg/kafka-cluster-$BASE}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
NODES=(1 2 3)

log() { echo "kafka-cluster.sh: $*" >&2; }
broker_port() { echo $((BASE + $1 - 1)); }
controller_port() { echo $((BASE + $1 + 2)); }
node_dir() { echo "$DIR/node-$1"; }
voters() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
bootstrap() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(broker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

java_cmd() { # node -> the JVM command line, in the array JAVA
  local dir; dir="$(node_dir "$1")"
  # shellcheck disable=SC2206
  JAVA=(java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Djava.io.tmpdir="$dir/tmp"
    -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties"
    -cp "$LIB/*")
}

# A pid counts only if that process is alive (not a zombie) and runs this node's properties.
running_pid() {
  local dir pid; dir="$(node_dir "$1")"
  [[ -f "$dir/kafka.pid" ]] || return 1
  pid="$(cat "$dir/kafka.pid")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"kafka.Kafka $dir/server.properties"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_properties() {
  local n=$1 dir; dir="$(node_dir "$n")"
  local bp cp; bp="$(broker_port "$n")"; cp="$(controller_port "$n")"
  cat >"$dir/server.properties" <<EOF
# Node $n of a local three-node KRaft cluster (deploy/scripts/kafka-cluster.sh).
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$bp,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$bp
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=12
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=4
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.segment.bytes=16777216
log.retention.check.interval.ms=60000
EOF
}

# Every node's storage is formatted once with the same cluster id; the static voter list in
# controller.quorum.voters makes the three a quorum (no --standalone).
format_all() {
  local n cluster_id="" need=0
  for n in "${NODES[@]}"; do [[ -f "$(node_dir "$n")/data/meta.properties" ]] || need=1; done
  ((need)) || return 0
  java_cmd 1
  cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid | tail -n1)"
  for n in "${NODES[@]}"; do
    local dir; dir="$(node_dir "$n")"
    rm -rf "$dir/data"; mkdir -p "$dir/data"
    java_cmd "$n"
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; return 1; }
  done
  log "formatted three nodes, cluster id $cluster_id"
}

launch() { # node: start the JVM in the background (setsid), record its pid
  local n=$1 dir; dir="$(node_dir "$n")"
  if pid="$(running_pid "$n")"; then log "node $n already running (pid $pid)"; return 0; fi
  local p
  for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
    if port_open "$p"; then log "port $p is already in use by another process"; return 1; fi
  done
  java_cmd "$n"
  # Only log lines written after this offset belong to this start.
  local offset=0; [[ -f "$dir/logs/server.log" ]] && offset="$(stat -c %s "$dir/logs/server.log")"
  echo "$offset" >"$dir/log.offset"
  setsid "${JAVA[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

wait_started() { # node
  local n=$1 dir; dir="$(node_dir "$n")"
  local offset; offset="$(cat "$dir/log.offset" 2>/dev/null || echo 0)"
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! running_pid "$n" >/dev/null; then
      log "node $n exited during startup; last log lines:"
      tail -n 30 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
      rm -f "$dir/kafka.pid"; return 1
    fi
    if port_open "$(broker_port "$n")" && tail -c "+$((offset + 1))" "$dir/logs/server.log" \
        2>/dev/null | grep -q "Kafka Server started"; then
      log "node $n started (pid $(cat "$dir/kafka.pid")) on 127.0.0.1:$(broker_port "$n")"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "node $n not ready after ${START_TIMEOUT}s; log: $dir/logs/server.log"; return 1
    fi
    sleep 0.3
  done
}

start() {
  "$ROOT/deploy/scripts/kafka.sh" fetch
  local n
  for n in "${NODES[@]}"; do
    mkdir -p "$(node_dir "$n")"/{data,tmp,logs}
    write_properties "$n"
  done
  format_all
  # All three at once: a controller quorum needs a majority before any broker can start.
  for n in "${NODES[@]}"; do launch "$n"; done
  for n in "${NODES[@]}"; do wait_started "$n"; done
  bootstrap
}

stop_node() { # node
  local n=$1 pid
  if ! pid="$(running_pid "$n")"; then rm -f "$(node_dir "$n")/kafka.pid"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    running_pid "$n" >/dev/null || { rm -f "$(node_dir "$n")/kafka.pid"; log "node $n stopped"; return 0; }
    sleep 0.2
  done
  log "node $n (pid $pid) did not exit within 30s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$(node_dir "$n")/kafka.pid"
}

stop() {
  local n
  # SIGTERM to all first so they shut down together (a lone survivor waits for a quorum).
  for n in "${NODES[@]}"; do
    if pid="$(running_pid "$n")"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for n in "${NODES[@]}"; do stop_node "$n"; done
}

kill_node() { # node: SIGKILL, as a crash
  local n=$1 pid
  if ! pid="$(running_pid "$n")"; then log "node $n is not running"; return 0; fi
  kill -KILL "$pid"
  for _ in $(seq 1 50); do running_pid "$n" >/dev/null || break; sleep 0.1; done
  rm -f "$(node_dir "$n")/kafka.pid"
  log "node $n killed (pid $pid)"
}

restart_node() { # node: start it again on its existing data
  local n=$1
  [[ -f "$(node_dir "$n")/data/meta.properties" ]] || { log "node $n was never formatted; run start"; return 1; }
  launch "$n"
  wait_started "$n"
}

status() {
  local n up=0
  for n in "${NODES[@]}"; do
    if pid="$(running_pid "$n")"; then
      echo "node $n running (pid $pid, 127.0.0.1:$(broker_port "$n"))"; up=$((up + 1))
    else
      echo "node $n stopped"
    fi
  done
  ((up == ${#NODES[@]})) || return 3
}

node_arg() {
  [[ "${1:-}" =~ ^[123]$ ]] || { echo "usage: $0 kill|restart 1|2|3" >&2; exit 2; }
  echo "$1"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  kill) kill_node "$(node_arg "${2:-}")" ;;
  restart) restart_node "$(node_arg "${2:-}")" ;;
  *) echo "usage: $0 start|stop|status|bootstrap|kill N|restart N" >&2; exit 2 ;;
esac
