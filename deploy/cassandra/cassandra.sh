#!/usr/bin/env bash
# A single-node Apache Cassandra 5.0.9 for tests and local clusters, from Maven Central artifacts.
#
#   deploy/cassandra/cassandra.sh start  [DIR]   fetch the jars (once), start, wait until 127.0.0.1:9042 answers
#   deploy/cassandra/cassandra.sh stop   [DIR]   stop the node started from DIR, by its PID
#   deploy/cassandra/cassandra.sh status [DIR]   say whether it runs and answers (exit 0) or not (exit 1)
#
# DIR (default $LORAPLEX_CASSANDRA_DIR, else /tmp/loraplex-cassandra) holds the jars (lib/), the
# generated cassandra.yaml and logback.xml, the data, system.log and cassandra.pid. The node runs
# on the default JDK 17 ($CASSANDRA_JAVA to choose another java), with the --add-exports/--add-opens
# of Cassandra's conf/jvm17-server.options, a 1 GiB heap, and listens on 127.0.0.1 only: native
# protocol on $CASSANDRA_PORT (default 9042), gossip on 7000.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
command="${1:-}"
dir="${2:-${LORAPLEX_CASSANDRA_DIR:-/tmp/loraplex-cassandra}}"
port="${CASSANDRA_PORT:-9042}"
version="5.0.9"
pidfile="$dir/cassandra.pid"
start_timeout=240

usage() {
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

find_java() {
  if [ -n "${CASSANDRA_JAVA:-}" ]; then echo "$CASSANDRA_JAVA"; return; fi
  for candidate in /usr/lib/jvm/java-17-openjdk*/bin/java /usr/lib/jvm/temurin-17*/bin/java; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  command -v java || { echo "cassandra.sh: no java found; set CASSANDRA_JAVA to a JDK 17 java" >&2; exit 1; }
}

fetch_jars() {
  if [ -f "$dir/lib/cassandra-all-$version.jar" ]; then return; fi
  echo "cassandra.sh: fetching cassandra-all $version and its dependencies into $dir/lib"
  mkdir -p "$dir/lib"
  "$repo/mvnw" -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dir/lib"
}

write_config() {
  mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/cdc_raw"
  cat > "$dir/cassandra.yaml" <<EOF
# written by deploy/cassandra/cassandra.sh: one node on 127.0.0.1, for tests and local clusters
cluster_name: loraplex
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: 7000
start_native_transport: true
native_transport_port: $port
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:7000"
data_file_directories:
  - $dir/data
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
EOF
  cat > "$dir/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{20} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
}

start() {
  if pid="$(running_pid)"; then
    echo "cassandra.sh: already running (pid $pid) from $dir"
  else
    if answers; then
      echo "cassandra.sh: port $port already answers, but not a node started from $dir" >&2
      exit 1
    fi
    fetch_jars
    write_config
    local java
    java="$(find_java)"
    # the JPMS flags of Cassandra 5.0's conf/jvm17-server.options
    local jpms=(
      -Djdk.attach.allowAttachSelf=true
      --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
      --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
      --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
      --add-exports java.sql/java.sql=ALL-UNNAMED
      --add-exports java.base/java.lang.ref=ALL-UNNAMED
      --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
      --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
      --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
      --add-opens java.base/java.lang.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
      --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
      --add-opens java.base/jdk.internal.math=ALL-UNNAMED
      --add-opens java.base/jdk.internal.module=ALL-UNNAMED
      --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
      --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
      --add-opens java.base/sun.nio.ch=ALL-UNNAMED
      --add-opens java.base/java.io=ALL-UNNAMED
      --add-opens java.base/java.lang.reflect=ALL-UNNAMED
      --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
      --add-opens java.base/java.lang=ALL-UNNAMED
      --add-opens java.base/java.util=ALL-UNNAMED
      -Dio.netty.tryReflectionSetAccessible=true
    )
    echo "cassandra.sh: starting Cassandra $version from $dir (log: $dir/system.log)"
    nohup "$java" -Xms1G -Xmx1G -XX:+UseG1GC -Xss512k "${jpms[@]}" \
        -Dcassandra.config="file://$dir/cassandra.yaml" \
        -Dcassandra.storagedir="$dir" \
        -Dcassandra.logdir="$dir" \
        -Dlogback.configurationFile="$dir/logback.xml" \
        -Dcassandra.ring_delay_ms=100 \
        -Dcassandra.skip_wait_for_gossip_to_settle=0 \
        -cp "$dir/lib/*" org.apache.cassandra.service.CassandraDaemon \
        > "$dir/stdout.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
  fi
  local waited=0
  until answers; do
    if ! running_pid > /dev/null; then
      echo "cassandra.sh: Cassandra exited during start-up; the end of $dir/system.log:" >&2
      tail -n 30 "$dir/system.log" "$dir/stdout.log" >&2 || true
      rm -f "$pidfile"
      exit 1
    fi
    if [ "$waited" -ge "$start_timeout" ]; then
      echo "cassandra.sh: port $port did not answer within ${start_timeout}s; stopping it" >&2
      stop
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "cassandra.sh: Cassandra answers on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "cassandra.sh: not running from $dir"
    rm -f "$pidfile"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "cassandra.sh: pid $pid did not stop within 60s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "cassandra.sh: stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    if answers; then
      echo "cassandra.sh: running (pid $pid), answering on 127.0.0.1:$port"
      return 0
    fi
    echo "cassandra.sh: running (pid $pid), not answering on 127.0.0.1:$port yet"
    return 1
  fi
  echo "cassandra.sh: not running from $dir"
  return 1
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
